"""`%%agent` in a real notebook: executed with nbclient in a real ipykernel, ScriptedModel set
through `%config`. One notebook is executed for the module; each test checks one behaviour."""

from __future__ import annotations

import subprocess
import sys

import pytest
from notebook_helpers import SETUP, errors_of, result_of, run_notebook, texts, visible_text

RUN_CELLS = [
    "%load_ext smoldepot_jupyter",
    SETUP
    + '''
@tool
def double(x: int) -> int:
    """Double a number.

    Args:
        x: The number to double.
    """
    return 2 * x

model = ScriptedModel([
    code("y = double(21)\\nprint(f'double is {y}')"),
    code("import matplotlib.pyplot as plt\\nplt.plot([1, 4, 9])\\nplt.show()"),
    code("final_answer(y)"),
    code("final_answer(y + 1)", thought="The stored y is still here."),
    code("final_answer({'braces': '{x}'})"),
])
''',
    "%config SmolDepot.model = model\n%config SmolDepot.record_dir = 'runs'",
    "%%agent\nDouble 21, then draw a small plot.",
    "%%agent\nAdd one to what you computed before.",
    "%%agent --json\nGive a dict with {braces} in it: {x}",
    "%agent history",
    "len(model.calls[3][1]['content'].split('Earlier tasks'))",
]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("magic")
    return run_notebook(RUN_CELLS, workdir), workdir


def test_final_answer_is_the_cells_value(executed):
    notebook, _ = executed
    assert result_of(notebook.cells[3]) == "42"


def test_static_html_shows_each_steps_code_and_observation(executed):
    notebook, _ = executed
    html = "".join(
        o["data"]["text/html"]
        for o in notebook.cells[3].outputs
        if o["output_type"] in ("display_data", "update_display_data") and "text/html" in o["data"]
    )
    shown = visible_text(html)
    assert "y = double(21)" in shown and "double is 42" in shown
    assert "plt.plot([1, 4, 9])" in shown and "data:image/png;base64," in html
    assert "final_answer(y)" in shown


def test_display_carries_markdown_text_and_the_run_json(executed):
    notebook, _ = executed
    display = next(o for o in notebook.cells[3].outputs if o["output_type"] == "display_data")
    assert {
        "text/html",
        "text/markdown",
        "text/plain",
        "application/vnd.smoldepot.run+json",
    } <= set(display["data"])


def test_widget_state_is_stored_in_the_notebook(executed):
    notebook, _ = executed
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any(model["model_name"] == "OutputModel" for model in state.values())


def test_variables_persist_across_cells_and_the_conversation_continues(executed):
    notebook, _ = executed
    assert result_of(notebook.cells[4]) == "43"
    assert result_of(notebook.cells[7]) == "2"  # the second run's task carried the summary


def test_braces_in_a_task_are_just_braces_and_json_gives_the_run(executed):
    notebook, _ = executed
    value = result_of(notebook.cells[5])
    assert "'state': 'success'" in value and "'braces': '{x}'" in value


def test_history_lists_the_runs(executed):
    notebook, _ = executed
    shown = texts(notebook.cells[6])
    assert "1. success" in shown and "3. success" in shown


def test_runs_are_recorded_in_the_configured_directory(executed):
    _, workdir = executed
    assert len(list((workdir / "runs").glob("*.jsonl"))) == 3


def test_nbconvert_html_of_the_executed_notebook_shows_every_step(executed, tmp_path):
    import nbformat

    notebook, _ = executed
    path = tmp_path / "executed.ipynb"
    nbformat.write(notebook, path)
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(path)],
        check=True,
        capture_output=True,
    )
    shown = visible_text((tmp_path / "executed.html").read_text())
    for expected in ("double is 42", "plt.plot([1, 4, 9])", "final_answer(y + 1)"):
        assert expected in shown


def test_a_model_named_in_the_notebook_is_served_from_smoldepot_api_base(tmp_path):
    import os

    from fake_openai_server import FakeOpenAIServer, Reply

    with FakeOpenAIServer() as server:
        server.script(Reply("Thought: say it\n```python\nfinal_answer('served')\n```"))
        # given a local server named by SMOLDEPOT_API_BASE, and no provider key
        env = {
            k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "SMOLDEPOT_MODEL")
        }
        env["SMOLDEPOT_API_BASE"] = server.base_url
        # when a cell names the model with --model (and no --api-base)
        notebook = run_notebook(
            ["%load_ext smoldepot_jupyter", "%%agent --model openai/test\nSay something."],
            tmp_path,
            env=env,
        )
    # then that server answers, rather than an error asking for OPENAI_API_KEY
    assert "OPENAI_API_KEY" not in texts(notebook.cells[1])
    assert result_of(notebook.cells[1]) == "'served'"
    assert len(server.requests) == 1


def test_no_error_outputs_in_a_normal_run(executed):
    notebook, _ = executed
    assert all(not errors_of(cell) for cell in notebook.cells)
