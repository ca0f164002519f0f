"""Did-you-mean: the sidecar names the key, column, attribute or file an action meant."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(120)

FRAME = (
    "import pandas as pd\n"
    "data = pd.DataFrame({'Sex': ['M'], 'Diameter': [0.3], 'Whole weight': [2.0], 'Rings': [3]})\n"
)


def last_lines(observation: str, n: int = 2) -> list[str]:
    return observation.rstrip().splitlines()[-n:]


def test_a_column_differing_in_case_is_suggested(executor):
    execution = executor.run(FRAME + "data['diameter'].mean()")
    error_line, hint = last_lines(execution.observation())
    assert error_line == "KeyError: 'diameter'. Did you mean: 'Diameter'?"
    assert hint.startswith("Hint: keys and column names must match exactly")
    assert execution.error.evalue == "'diameter'. Did you mean: 'Diameter'?"


def test_a_column_differing_in_spaces_and_underscores_is_suggested(executor):
    observation = executor.run(FRAME + "data['whole_weight']").observation()
    assert "KeyError: 'whole_weight'. Did you mean: 'Whole weight'?" in observation


def test_several_missing_columns_get_one_suggestion_each(executor):
    observation = executor.run(FRAME + "data[['diameter', 'Rings', 'rings']]").observation()
    assert "not in index\". Did you mean: 'Diameter', 'Rings'?" in observation


def test_with_no_close_column_the_columns_are_listed(executor):
    error_line, hint = last_lines(executor.run(FRAME + "data['height']").observation())
    assert error_line == "KeyError: 'height'. Columns of data: 'Sex', 'Diameter', " + (
        "'Whole weight', 'Rings'"
    )
    assert hint.startswith("Hint: that key is not there: use one of the names the message lists")


def test_a_dict_key_differing_in_case_is_suggested(executor):
    observation = executor.run("d = {'alpha': 1, 'beta': 2}\nd['Alpha']").observation()
    assert "KeyError: 'Alpha'. Did you mean: 'alpha'?" in observation


def test_the_keys_are_not_listed_when_there_are_many(executor):
    code = "many = {f'key{i}': i for i in range(100)}\nmany['zzz']"
    error_line = last_lines(executor.run(code).observation())[0]
    assert error_line == "KeyError: 'zzz'"


def test_a_key_missing_inside_a_function_the_action_defined_is_suggested(executor):
    code = FRAME + "def column(table):\n    return table['sexx']\ncolumn(data)"
    observation = executor.run(code).observation()
    assert "KeyError: 'sexx'. Did you mean: 'Sex'?" in observation


def test_a_key_of_another_type_is_left_as_it_is(executor):
    error_line = last_lines(executor.run("counts = {1: 2}\ncounts[3]").observation())[0]
    assert error_line == "KeyError: 3"


def test_the_marked_key_still_equals_the_missing_key(executor):
    executor.run("d = {'alpha': 1}\nd['Alpha']")
    code = "import sys\nk = sys.last_value.args[0]\n"
    code += "print(k == 'Alpha', hash(k) == hash('Alpha'), k)"
    assert executor.run(code).observation() == "True True Alpha"


def test_a_mapping_whose_keys_fail_still_shows_the_plain_error(executor):
    code = (
        "import collections.abc\n"
        "class Broken(collections.abc.Mapping):\n"
        "    def __getitem__(self, key):\n"
        "        raise KeyError(key)\n"
        "    def __iter__(self):\n"
        "        raise RuntimeError('no iteration')\n"
        "    def __len__(self):\n"
        "        raise RuntimeError('no length')\n"
        "broken = Broken()\n"
        "broken['a']"
    )
    error_line = last_lines(executor.run(code).observation())[0]
    assert error_line == "KeyError: 'a'"


def test_an_attribute_differing_in_case_is_suggested(executor):
    observation = executor.run(FRAME + "data.diameter").observation()
    assert "'DataFrame' object has no attribute 'diameter'. Did you mean: 'Diameter'?" in (
        observation
    )


def test_a_misspelled_module_attribute_is_suggested(executor):
    observation = executor.run("import math\nmath.sqr(4)").observation()
    assert "module 'math' has no attribute 'sqr'. Did you mean: 'sqrt'?" in observation


def test_a_groupby_column_not_found_lists_the_columns(executor):
    code = FRAME + "data.groupby('Sex')['Close Price'].mean()"
    error_line = last_lines(executor.run(code).observation())[0]
    assert error_line == (
        "KeyError: 'Column not found: Close Price'. Columns of data: 'Sex', 'Diameter', "
        "'Whole weight', 'Rings'"
    )


def test_groupby_columns_not_found_get_a_suggestion(executor):
    code = FRAME + "data.groupby('Sex')[['rings']].mean()"
    observation = executor.run(code).observation()
    assert "KeyError: \"Columns not found: 'rings'\". Did you mean: 'Rings'?" in observation


def test_an_integer_key_points_to_iloc(executor):
    code = FRAME + "top = data[data['Rings'] > 5]['Rings']\ntop[0]"
    error_line, hint = last_lines(executor.run(code).observation())
    assert error_line == "KeyError: 0"
    assert hint == (
        "Hint: the key 0 is not there. On a pandas Series or DataFrame, `[n]` looks up the "
        "label n, not the n-th item: use `.iloc[n]` for that."
    )


def test_a_file_name_close_to_an_existing_file_is_suggested(executor, sidecar_dir):
    (sidecar_dir / "beauty and the labor market.csv").write_text("a\n1\n")
    wrong = str(sidecar_dir / "beauty_and_labor_market.csv")
    observation = executor.run(f"import pandas as pd\npd.read_csv({wrong!r})").observation()
    right = str(sidecar_dir / "beauty and the labor market.csv")
    assert f"No such file or directory: {wrong!r}. Did you mean: {right!r}?" in observation


def test_with_no_close_file_the_visible_files_are_listed(executor, sidecar_dir):
    for name in ("sales.csv", "notes.txt", ".hidden"):
        (sidecar_dir / name).write_text("")
    missing = str(sidecar_dir / "zzz.json")
    error_line = last_lines(executor.run(f"open({missing!r})").observation())[-1]
    assert error_line == (
        f"FileNotFoundError: [Errno 2] No such file or directory: {missing!r}. "
        f"Files in {str(sidecar_dir)!r}: 'notes.txt', 'sales.csv'"
    )


def test_a_missing_folder_leaves_the_error_as_it_is(executor, sidecar_dir):
    missing = str(sidecar_dir / "no_such_folder" / "data.csv")
    error_line = last_lines(executor.run(f"open({missing!r})").observation())[-1]
    assert error_line == f"FileNotFoundError: [Errno 2] No such file or directory: {missing!r}"


def test_other_slips_on_the_failing_line_are_named_at_once(executor):
    code = FRAME + "r = data['diameter'].corr(data['rings'])"
    error_line = last_lines(executor.run(code).observation())[0]
    assert error_line == (
        "KeyError: 'diameter'. Did you mean: 'Diameter'? And 'Rings' for 'rings' on the same line?"
    )


def test_a_name_error_shows_the_action_with_the_name_corrected(executor):
    code = "sequence_mRNA = 'AUG'\nlength = len(sequence_mrna)\nprint(length, 'sequence_mrna')"
    observation = executor.run(code).observation()
    corrected = "sequence_mRNA = 'AUG'\nlength = len(sequence_mRNA)\nprint(length, 'sequence_mrna')"
    assert observation.endswith(
        "NameError: name 'sequence_mrna' is not defined. Did you mean: 'sequence_mRNA'? "
        f"Your code with sequence_mRNA:\n```python\n{corrected}\n```"
    )  # the name is corrected where it is code, not inside a string


def test_a_name_error_in_a_long_action_shows_only_the_failing_line_corrected(executor):
    code = "long_total = 1\n" + "x = 0\n" * 60 + "print(long_Total + 1)"
    last = last_lines(executor.run(code).observation(), 1)[0]
    assert last == (
        "NameError: name 'long_Total' is not defined. Did you mean: 'long_total'? "
        "The failing line with long_total: print(long_total + 1)"
    )


def test_a_name_error_inside_an_earlier_function_shows_that_line_corrected(executor):
    executor.run("def scaled(values):\n    return [v * factr for v in values]")
    last = last_lines(executor.run("factor = 2\nscaled([1])").observation(), 1)[0]
    assert last == (
        "NameError: name 'factr' is not defined. Did you mean: 'factor'? "
        "The failing line with factor: return [v * factor for v in values]"
    )
