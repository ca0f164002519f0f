"""Replaying recorded runs: recorded words, real execution, divergence shown where it happens."""

from __future__ import annotations

import shutil
import time

import pytest
from notebook_helpers import SETUP, result_of, run_notebook, texts

from smoldepot_jupyter import CodeAgent, ScriptedModel, tool
from smoldepot_jupyter.export import export_notebook
from smoldepot_jupyter.export.replay import replay_run
from smoldepot_jupyter.kernel import KernelExecutor
from smoldepot_jupyter.memory import ActionStep


@tool
def weather(city: str) -> str:
    """Today's weather in a city (a network service in real life).

    Args:
        city: The city.
    """
    return {"Oslo": "snow", "Rome": "sun"}[city]


def code(body: str) -> str:
    return f"Thought: go\n```python\n{body}\n```"


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "notes.txt").write_text("alpha\n")
    return tmp_path


def record_a_run(workdir, replies, tools=(weather,)):
    with (
        KernelExecutor(cwd=workdir) as executor,
        CodeAgent(
            list(tools), ScriptedModel(replies), executor=executor, record_dir=workdir
        ) as agent,
    ):
        return agent.run("Check the weather and the notes.")


def replay(workdir, recorded, **options):
    """Replay `recorded` in a fresh sidecar in `workdir`: (result, divergences, error events)."""
    errors = []
    with KernelExecutor(cwd=workdir) as executor:
        result, divergences = replay_run(
            recorded.record_path,
            executor=executor,
            observers=[lambda e: errors.append(e) if e.kind == "error" else None],
            **options,
        )
    return result, divergences, errors


REPLIES = [
    code("w = weather('Oslo')\nprint(w)"),
    code("print(open('notes.txt').read().strip())"),
    code("final_answer(f'{w} / alpha')"),
]


def test_replay_reproduces_the_run_with_recorded_tool_results(workdir):
    recorded = record_a_run(workdir, REPLIES)
    with KernelExecutor(cwd=workdir) as executor:
        replayed, divergences = replay_run(recorded.record_path, executor=executor)
    assert replayed.output == recorded.output == "snow / alpha"
    assert divergences == []


def test_replay_says_where_execution_diverged(workdir):
    recorded = record_a_run(workdir, REPLIES)
    (workdir / "notes.txt").write_text("beta\n")
    replayed, divergences, seen = replay(workdir, recorded)
    assert len(divergences) == 1
    assert "step 2" in divergences[0] and "alpha" in divergences[0] and "beta" in divergences[0]
    assert seen and seen[0].step == 2
    assert replayed.output == "snow / alpha"  # the recorded model still says alpha


def test_replay_says_when_the_same_code_computes_another_final_answer(workdir):
    recorded = record_a_run(workdir, [code("final_answer(open('notes.txt').read().strip())")])
    (workdir / "notes.txt").write_text("beta\n")
    replayed, divergences, seen = replay(workdir, recorded)
    assert replayed.output == "beta"
    answer = [d for d in divergences if "final answer" in d]
    assert answer == [
        "replay diverged at the final answer: the recording answered 'alpha'; now 'beta'"
    ]
    assert seen[-1].message == answer[0] and seen[-1].step == 1


def test_replay_says_when_it_answers_where_the_recorded_run_did_not(workdir):
    recorded = record_a_run(workdir, [code("final_answer(open('later.txt').read())")])
    assert recorded.state == "error"  # the file was missing and the script had no more turns
    (workdir / "later.txt").write_text("found")
    replayed, divergences, _ = replay(workdir, recorded)
    assert replayed.output == "found"
    assert divergences[-1] == "the replay answered; the recorded run gave no answer"


def test_replay_of_a_dataframe_answer_finds_no_divergence(workdir):
    answer = "import pandas as pd\nfinal_answer(pd.DataFrame({'n': [1.5, float('nan')]}))"
    recorded = record_a_run(workdir, [code(answer)])
    _, divergences, _ = replay(workdir, recorded)
    assert divergences == []


def test_replay_of_an_answer_holding_nan_finds_no_divergence(workdir):
    recorded = record_a_run(workdir, [code("final_answer({'mean': 1.5, 'gap': float('nan')})")])
    _, divergences, _ = replay(workdir, recorded)
    assert divergences == []


def test_replay_uses_live_tools_when_given(workdir):
    recorded = record_a_run(workdir, REPLIES)

    @tool
    def weather(city: str) -> str:
        """Live weather.

        Args:
            city: The city.
        """
        return "rain"

    _, divergences, _ = replay(workdir, recorded, tools=[weather])
    assert "step 1" in divergences[0] and "rain" in divergences[0]


def test_replay_at_presentation_speed_waits_between_words(workdir):
    recorded = record_a_run(workdir, REPLIES)
    with KernelExecutor(cwd=workdir) as executor:
        started = time.monotonic()
        replay_run(recorded.record_path, executor=executor, delay=0.05)
    words = sum(len(turn.split()) for turn in [*REPLIES])
    assert time.monotonic() - started >= words * 0.05 * 0.8


def test_replaying_a_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run record or notebook"):
        replay_run(tmp_path / "nope.jsonl")


def test_agent_replay_in_a_notebook_shows_the_run_and_returns_the_answer(workdir):
    recorded = record_a_run(workdir, REPLIES)
    notebook = run_notebook(
        [
            "%load_ext smoldepot_jupyter",
            SETUP,
            "%config SmolDepot.record_dir = 'runs'",
            f"%%agent --replay {recorded.record_path}\nReplaying the weather demo.",
            f"%agent replay {recorded.record_path}",
            "%agent replay /no/such/run.jsonl",
        ],
        workdir,
    )
    assert result_of(notebook.cells[3]) == "'snow / alpha'"
    assert "weather" in texts(notebook.cells[3])
    assert result_of(notebook.cells[4]) == "'snow / alpha'"
    assert "cannot replay /no/such/run.jsonl" in texts(notebook.cells[5])


PLOT_REPLIES = [
    code("import matplotlib.pyplot as plt\nplt.bar([2, 3, 5], [1, 1, 1])\nplt.show()"),
    code("final_answer(5)"),
]

# Stands in for matplotlib where it is not installed (a `pip install -e .` without extras).
NO_MATPLOTLIB = 'raise ModuleNotFoundError("No module named \'matplotlib\'", name="matplotlib")\n'


def test_a_replay_model_run_that_now_errors_where_the_recording_showed_a_figure_says_so(workdir):
    # given a run recorded where matplotlib drew a figure
    recorded = record_a_run(workdir, PLOT_REPLIES, tools=())
    plotted = next(step for step in recorded.steps if isinstance(step, ActionStep))
    assert any("image/png" in output.get("data", {}) for output in plotted.execution.outputs)
    # when a %%agent cell plays it back with a ReplayModel where matplotlib cannot be imported
    (workdir / "matplotlib").mkdir()
    (workdir / "matplotlib" / "__init__.py").write_text(NO_MATPLOTLIB)
    notebook = run_notebook(
        [
            "%load_ext smoldepot_jupyter",
            "from smoldepot_jupyter import ReplayModel\n"
            f"%config SmolDepot.model = ReplayModel({str(recorded.record_path)!r})\n"
            "%config SmolDepot.record_dir = 'runs'",
            "%%agent\nPlot the primes, then give the largest.",
        ],
        workdir,
    )
    # then the run view says where the replay went another way
    shown = texts(notebook.cells[2])
    assert "replay diverged at step 1: the recording had no error; now error" in shown
    assert "ModuleNotFoundError" in shown
    assert result_of(notebook.cells[2]) == "5"


def test_replay_of_an_exported_notebook_finds_no_divergence(workdir):
    # given a run exported as a notebook
    recorded = record_a_run(workdir, REPLIES)
    exported = export_notebook(recorded, workdir / "exported.ipynb")
    # when the notebook is replayed
    with KernelExecutor(cwd=workdir) as executor:
        replayed, divergences = replay_run(exported, executor=executor)
    # then it gives the recorded answer, and nothing is reported as different
    assert replayed.output == "snow / alpha"
    assert divergences == []


def test_a_one_line_agent_replay_cell_replays_the_run(workdir):
    # given a recorded run at run.jsonl
    recorded = record_a_run(workdir, REPLIES)
    shutil.copy(recorded.record_path, workdir / "run.jsonl")
    # when a cell holds only the README's line, with no task below it
    notebook = run_notebook(
        [
            "%load_ext smoldepot_jupyter\n%config SmolDepot.record_dir = 'runs'",
            "%%agent --replay run.jsonl --delay 0.03",
        ],
        workdir,
    )
    # then the run is replayed and its answer is the cell's value
    assert "cell body is empty" not in texts(notebook.cells[1])
    assert result_of(notebook.cells[1]) == "'snow / alpha'"
