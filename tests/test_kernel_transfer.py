"""Moving values: push (host -> sidecar, by pickle) and pull (sidecar -> host, safe formats)."""

from __future__ import annotations

import datetime
import fractions

import numpy as np
import pandas as pd
import pytest
from conftest import value_of

from smoldepot_jupyter.kernel import PullRefused, TransferError

pytestmark = pytest.mark.timeout(120)


# ----------------------------------------------------------------------------- push


def test_push_binds_a_copy_of_a_host_value_in_the_sidecar(executor):
    # Given a host value that JSON could not carry
    value = {"when": datetime.date(2024, 5, 1), "pair": (1, 2), "tags": {"a"}}

    # When it is pushed
    executor.push("pushed_value", value)

    # Then model code sees an equal value of the same types
    assert value_of(executor, "import datetime\npushed_value == " + repr(value)) == "True"
    assert value_of(executor, "type(pushed_value['pair']).__name__") == "'tuple'"


def test_push_of_a_dataframe_arrives_as_a_dataframe(executor):
    # Given a DataFrame on the host
    frame = pd.DataFrame({"city": ["Oslo", "Lima"], "temp": [3.5, 19.0]})

    # When it is pushed and used in the sidecar
    executor.push("pushed_frame", frame)

    # Then the sidecar can compute with it
    assert value_of(executor, "float(pushed_frame['temp'].sum())") == "22.5"


def test_push_over_the_size_limit_raises_transfer_error_and_binds_nothing(make_executor):
    # Given an executor with a 1 kB push limit
    ex = make_executor(push_limit_bytes=1_000)

    # When a bigger value is pushed
    with pytest.raises(TransferError, match="push limit"):
        ex.push("too_big", "x" * 5_000)

    # Then the name is not bound in the sidecar, and small values still go through
    assert value_of(ex, "'too_big' in globals()") == "False"
    ex.push("small_enough", "x" * 10)
    assert value_of(ex, "len(small_enough)") == "10"


def test_push_to_a_tool_name_is_refused(make_executor):
    # Given an executor with a tool
    def helper():
        """A tool."""
        return 1

    ex = make_executor(start=False)
    ex.register_tools([helper])

    # When a value is pushed under the tool's name or final_answer, Then it is refused
    with pytest.raises(ValueError, match="helper"):
        ex.push("helper", 1)
    with pytest.raises(ValueError, match="final_answer"):
        ex.push("final_answer", 1)


def test_push_to_an_invalid_name_is_refused(executor):
    with pytest.raises(ValueError, match="not a valid Python variable name"):
        executor.push("not a name", 1)


# ----------------------------------------------------------------------------- pull


def test_pull_returns_json_values(executor):
    # Given a JSON-like value in the sidecar
    executor.run("pull_json = {'name': 'Ada', 'scores': [1, 2.5, None], 'ok': True}")

    # When it is pulled, Then the host gets an equal value
    assert executor.pull("pull_json") == {"name": "Ada", "scores": [1, 2.5, None], "ok": True}


def test_pull_returns_a_dataframe(executor):
    # Given a DataFrame in the sidecar
    executor.run(
        "import pandas as pd\n"
        "pull_frame = pd.DataFrame({'a': [1, 2, 3], 'b': ['x', 'y', 'z']},"
        " index=pd.Index([10, 20, 30], name='id'))"
    )

    # When it is pulled
    frame = executor.pull("pull_frame")

    # Then the host has the same frame (values, dtypes, index)
    expected = pd.DataFrame(
        {"a": [1, 2, 3], "b": ["x", "y", "z"]}, index=pd.Index([10, 20, 30], name="id")
    )
    pd.testing.assert_frame_equal(frame, expected)


def test_pull_returns_a_series_with_its_name(executor):
    # Given a named Series in the sidecar
    executor.run("import pandas as pd\npull_series = pd.Series([1.5, 2.5], name='price')")

    # When it is pulled
    series = executor.pull("pull_series")

    # Then it is a Series with the same values and name
    pd.testing.assert_series_equal(series, pd.Series([1.5, 2.5], name="price"))


def test_pull_returns_a_numpy_array(executor):
    # Given a numpy array in the sidecar
    executor.run("import numpy as np\npull_array = np.arange(12, dtype=np.int32).reshape(3, 4)")

    # When it is pulled
    array = executor.pull("pull_array")

    # Then the host has an equal array of the same dtype and shape
    assert isinstance(array, np.ndarray)
    assert array.dtype == np.int32
    np.testing.assert_array_equal(array, np.arange(12, dtype=np.int32).reshape(3, 4))


def test_pull_returns_a_number_computed_by_pandas(executor):
    # Given a number computed by pandas (a numpy.float64, which json.dumps accepts as a float)
    executor.run("import pandas as pd\npull_mean = pd.Series([1.0, 2.0, 3.0]).mean()")

    # When it is pulled without trust
    mean = executor.pull("pull_mean")

    # Then the host gets the number, as final_answer() would send it
    assert mean == 2.0


def test_pull_of_a_dataframe_never_returns_changed_values(executor):
    # Given a DataFrame whose column mixes strings and numbers (parquet cannot store it)
    executor.run("import pandas as pd\npull_mixed = pd.DataFrame({'m': ['a', 1, 2.5]})")

    # When it is pulled without trust
    try:
        frame = executor.pull("pull_mixed")
    except PullRefused as refused:
        # Then refusing is acceptable, if it says how to move it exactly
        assert "trust=True" in str(refused)
        return

    # or else the host gets exactly the same values, not their text
    assert frame["m"].tolist() == ["a", 1, 2.5]


def test_pull_of_another_type_without_trust_is_refused_naming_type_and_option(executor):
    # Given a value that is neither JSON, a frame nor an array
    executor.run("from fractions import Fraction\npull_fraction = Fraction(1, 3)")

    # When it is pulled without trust, Then PullRefused names its type and the option
    with pytest.raises(PullRefused) as refused:
        executor.pull("pull_fraction")
    message = str(refused.value)
    assert "Fraction" in message
    assert "trust=True" in message


def test_pull_of_another_type_with_trust_returns_it(executor):
    # Given a value that needs pickle
    executor.run("from fractions import Fraction\npull_trusted = (Fraction(1, 3), {2, 3})")

    # When it is pulled with trust, Then the host gets the real object
    assert executor.pull("pull_trusted", trust=True) == (fractions.Fraction(1, 3), {2, 3})


def test_pull_of_a_missing_name_raises_name_error(executor):
    # When a name that does not exist in the sidecar is pulled
    # Then NameError names it
    with pytest.raises(NameError, match="no_such_variable_anywhere"):
        executor.pull("no_such_variable_anywhere")


def test_pull_does_not_add_outputs_or_disturb_the_next_action(executor):
    # Given a pull between two actions
    executor.run("between_pulls = 5")
    assert executor.pull("between_pulls") == 5

    # When the next action runs
    execution = executor.run("between_pulls + 1")

    # Then it only shows its own result
    assert [o["output_type"] for o in execution.outputs] == ["execute_result"]
