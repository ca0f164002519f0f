"""The observation: the text the model reads after each action."""

from __future__ import annotations

import re

import pytest

from smoldepot_jupyter.kernel.execution import PRINTED_BLANK, PRINTED_NOTHING

pytestmark = pytest.mark.timeout(120)

ANSI = re.compile(r"\x1b\[")


def test_observation_collapses_carriage_returns_as_a_terminal_would(executor):
    # Given a progress counter that rewrites its line with \r
    code = "for p in (10, 50, 100):\n    print(f'\\rprogress {p:3d}%', end='')\nprint()"

    # When it runs
    observation = executor.run(code).observation()

    # Then only the final state of the line is shown
    assert observation == "progress 100%"


def test_observation_applies_backspaces_as_a_terminal_would(executor):
    # Given output that steps back with \b and overwrites
    observation = executor.run("print('abc\\b\\bXY')").observation()

    # Then the overwritten characters are replaced
    assert observation == "aXY"


def test_observation_shows_text_plain_of_results_and_displays(executor):
    # Given an action that displays a value and ends in an expression
    code = "from IPython.display import display\ndisplay({'shown': [1, 2]})\n6 * 7"

    # When it runs
    observation = executor.run(code).observation()

    # Then both appear as their text/plain form, in order
    assert observation == "{'shown': [1, 2]}\n42"


def test_observation_shows_one_line_per_image_with_its_size(executor):
    # Given an action displaying two PNG images of known sizes, between two prints
    code = (
        "import io\n"
        "from matplotlib.figure import Figure\n"
        "from IPython.display import Image, display\n"
        "def png(w, h):\n"
        "    fig = Figure(figsize=(w / 100, h / 100), dpi=100)\n"
        "    fig.add_subplot().plot([1, 2])\n"
        "    buffer = io.BytesIO()\n"
        "    fig.savefig(buffer, format='png')\n"
        "    return buffer.getvalue()\n"
        "print('before', flush=True)\n"
        "display(Image(data=png(640, 480)))\n"
        "display(Image(data=png(300, 200)))\n"
        "print('after')\n"
    )

    # When it runs
    observation = executor.run(code).observation()

    # Then each image is one line naming its type and size, and no base64 leaks in
    assert observation == "before\n[image/png 640x480]\n[image/png 300x200]\nafter"


def test_observation_truncates_head_and_tail_and_says_how_much_was_cut(executor):
    # Given an action printing 10,000 numbered lines (about 49,000 characters)
    execution = executor.run("for i in range(10_000):\n    print(f'line {i}')")

    # When the observation is limited to 2,000 characters
    observation = execution.observation(max_chars=2_000)

    # Then the beginning and the end are kept and the cut is stated
    assert observation.startswith("line 0\nline 1\n")
    assert observation.endswith("line 9998\nline 9999")
    match = re.search(r"\[\.\.\. ([\d,]+) characters \(([\d,]+) lines\) cut", observation)
    assert match, observation
    total = len("".join(f"line {i}\n" for i in range(10_000)))
    cut = int(match.group(1).replace(",", ""))
    assert total - 2_000 <= cut < total
    assert len(observation) < 2_000 + 200


def test_observation_is_not_cut_when_it_fits(executor):
    # Given a short output
    execution = executor.run("print('short')")

    # Then max_chars larger than it changes nothing
    assert execution.observation(max_chars=100) == "short"


def test_observation_of_an_action_without_output_says_so(executor):
    # Given an action that prints nothing
    observation = executor.run("quiet_value = 3").observation()

    # Then the observation is not empty, so the model knows it ran
    assert observation.strip()
    assert "printed nothing" in observation


def test_observation_of_an_action_that_printed_only_empty_values_says_they_are_empty(executor):
    # Given an action whose printed values are empty strings
    execution = executor.run("blank_values = ['', '']\nfor v in blank_values:\n    print(v)")

    # Then the observation does not claim silence: it says the printed values were empty
    assert execution.observation() == PRINTED_BLANK
    assert executor.run("silent_value = ''").observation() == PRINTED_NOTHING


def test_observation_of_an_error_shows_the_action_line_and_exception(executor):
    # Given an action failing on its second line
    execution = executor.run("numbers = [1, 2]\nnumbers[5]")

    # Then the observation shows the failing line of the action and the exception
    observation = execution.observation()
    assert "----> 2 numbers[5]" in observation
    assert "\nIndexError: list index out of range\nHint: " in observation


def test_observation_collapses_library_frames(executor):
    # Given an error raised deep inside the standard library
    execution = executor.run("import json\njson.loads('{not json')")
    raw = "\n".join(execution.error.traceback)

    # Then the observation keeps the action's frame and the raising frame's line,
    # but not the library source around it
    observation = execution.observation()
    assert "json.loads('{not json')" in observation
    assert "frames in library code" in observation
    assert "JSONDecodeError: Expecting property name" in observation
    assert "_default_decoder.decode(s)" in raw
    assert "_default_decoder.decode(s)" not in observation
    assert len(observation) < len(raw)


def test_errors_carry_no_ansi_colour_codes(executor):
    # Given an action raising an error
    execution = executor.run("def inner():\n    raise ValueError('plain text')\ninner()")

    # Then the error fields, the error output and the observation are plain text
    error = execution.error
    assert error is not None
    assert (error.ename, error.evalue) == ("ValueError", "plain text")
    assert error.traceback
    assert not any(ANSI.search(line) for line in error.traceback)
    output = next(o for o in execution.outputs if o["output_type"] == "error")
    assert not any(ANSI.search(line) for line in output["traceback"])
    assert not ANSI.search(execution.observation())
    assert "\x1b" not in execution.observation()


def test_observation_lists_outputs_then_error(executor):
    # Given an action that prints, then fails
    observation = executor.run("print('partial work')\nraise RuntimeError('then failed')")

    # Then the printed text comes before the traceback
    text = observation.observation()
    assert text.startswith("partial work\n")
    assert text.rstrip().endswith("RuntimeError: then failed")


def test_observation_strips_ansi_codes_from_printed_text_and_messages(executor):
    # Given an action printing coloured text and raising an exception with a coloured message
    code = "print('\\x1b[31mred alert\\x1b[0m')\nraise ValueError('\\x1b[1mbold claim\\x1b[0m')"

    # When it runs
    execution = executor.run(code)

    # Then the observation and the error carry the text without escape codes
    observation = execution.observation()
    assert "\x1b" not in observation
    assert observation.startswith("red alert\n")
    assert "ValueError: bold claim" in observation
    assert execution.error.evalue == "bold claim"


def test_a_comprehension_frame_on_the_same_line_is_not_shown_twice(executor):
    # Given an error raised inside a list comprehension of the action
    execution = executor.run("values = [1, 0]\nratios = [1 / v for v in values]")

    # Then the failing line appears once, and the comprehension frame keeps its header
    observation = execution.observation()
    assert observation.count("ratios = [1 / v for v in values]") == 1
    assert "in <listcomp>" in observation
    assert observation.rstrip().endswith("ZeroDivisionError: division by zero")


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        ("a, b = 3.5", "Hint: the right side of `a, b = ...` on the marked line is a single float"),
        ("a, b = [1, 2, 3]", "does not have as many items as there are names on the left"),
        ("[][0]", "shorter than the index, maybe empty"),
        ("import pandas as pd\npd.Series([1]).iloc[3]", "shorter than the index, maybe empty"),
        ("{'a': 1}['b']", "print its keys (`list(d)`, `df.columns`)"),
        ("[3, 1].sort()[0]", "the value used on the marked line is None"),
        ("from math import isprime", "Hint: math has no isprime: do not guess where a name"),
        ("best = max(h['r'] for h in [{'r': 5}])\nbest['r']", "is a single int, not the list"),
    ],
)
def test_errors_small_models_misread_end_with_a_hint(executor, code, hint):
    observation = executor.run(code).observation()
    last_line = observation.rstrip().splitlines()[-1]
    assert last_line.startswith("Hint: ") and hint in last_line


def test_other_errors_get_no_hint(executor):
    observation = executor.run("1 / 0").observation()
    assert "Hint:" not in observation
    assert observation.rstrip().endswith("ZeroDivisionError: division by zero")


def test_a_warning_repeated_by_a_later_action_is_shown_once(executor):
    code = "import warnings\nwarnings.warn('the old way goes away', FutureWarning)\nprint('ran')"
    first = executor.run(code).observation()
    again = executor.run(code).observation()
    assert "FutureWarning: the old way goes away" in first
    assert again == "ran"


def test_a_warning_with_another_text_is_still_shown(executor):
    executor.run("import warnings\nwarnings.warn('first text', UserWarning)")
    observation = executor.run("warnings.warn('second text', UserWarning)").observation()
    assert "UserWarning: second text" in observation
