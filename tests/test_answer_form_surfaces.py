"""The answer-form rewrite (``format_answer=True``) where users meet it: the run view and the
console show the answer as the run gave it beside the rewrite; a replay repeats the rewrite from
the record; an exported notebook shows and re-executes the rewritten answer; the magic's setting
and flag and the CLI's flag turn it on."""

from __future__ import annotations

import copy
import io

import nbclient
import nbformat
import pytest
from notebook_helpers import SETUP, result_of, run_notebook, texts
from test_cli import code as cli_code
from test_cli import smoldepot
from test_ui_display import validator

from smoldepot_jupyter import CodeAgent, ScriptedModel, load_run
from smoldepot_jupyter.agents.prompts import ANSWER_FORM_SYSTEM
from smoldepot_jupyter.events import AnswerFormatted, ConsolePrinter, ErrorEvent
from smoldepot_jupyter.export import export_notebook, run_from_notebook
from smoldepot_jupyter.export.replay import replay_run
from smoldepot_jupyter.kernel import KernelExecutor
from smoldepot_jupyter.models import ReplayModel
from smoldepot_jupyter.ui import RunViewState
from smoldepot_jupyter.ui.static import final_html
from smoldepot_jupyter.ui.text import render_markdown, render_text

TASK = "Give r. Answer format: @r[value], two decimals."
ACTION = "Thought: I compute it.\n```python\nfinal_answer(round(0.5746598, 4))\n```"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory):
    with KernelExecutor(cwd=tmp_path_factory.mktemp("work")) as executor:
        yield executor


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


def run_code_agent(sidecar, records, replies, *, format_answer=True, observers=()):
    model = ScriptedModel(replies)
    agent = CodeAgent(
        [],
        model,
        executor=sidecar,
        record_dir=records,
        format_answer=format_answer,
        observers=list(observers),
    )
    return agent.run(TASK)


@pytest.fixture(scope="module")
def rewritten(sidecar, records):
    """A recorded run whose answer 0.5747 the answer-form call rewrote as ``@r[0.57]``."""
    return run_code_agent(sidecar, records, [ACTION, "@r[0.57]"])


@pytest.fixture(scope="module")
def refused(sidecar, records):
    """A recorded run whose answer-form rewrite brought in a number of its own (refused)."""
    return run_code_agent(sidecar, records, [ACTION, "@r[0.57] @p[0.01]"])


def view_of(result) -> RunViewState:
    return RunViewState.from_events(load_run(result.record_path).events)


# ----------------------------------------------------------------------------- the run view


def test_the_run_view_holds_the_rewrite_and_the_answer_as_given(rewritten):
    state = view_of(rewritten)
    assert (state.final_answer, state.answer_rewritten, state.answer_as_given) == (
        "@r[0.57]",
        True,
        0.5747,
    )


def test_the_run_json_carries_the_answer_as_given_and_matches_the_schema(rewritten):
    payload = view_of(rewritten).to_json()
    validator()(payload)
    assert (payload["answer_rewritten"], payload["answer_as_given"]) == (True, 0.5747)


def test_the_final_answer_box_shows_both_answers(rewritten):
    html = final_html(view_of(rewritten))
    assert "@r[0.57]" in html and "As the run gave it" in html and "0.5747" in html


def test_markdown_and_plain_text_show_the_answer_as_given(rewritten):
    state = view_of(rewritten)
    assert "As the run gave it" in render_markdown(state) and "0.5747" in render_markdown(state)
    assert "as the run gave it: 0.5747" in render_text(state)


def test_a_refused_rewrite_leaves_the_view_with_the_answer_alone(refused):
    state = view_of(refused)
    assert (state.final_answer, state.answer_rewritten, state.answer_as_given) == (
        0.5747,
        False,
        None,
    )
    assert "As the run gave it" not in final_html(state)


def test_the_console_shows_the_answer_as_given_before_the_final_answer(sidecar, records):
    out = io.StringIO()
    printer = ConsolePrinter(out, color=False)
    run_code_agent(sidecar, records, [ACTION, "@r[0.57]"], observers=[printer])
    shown = out.getvalue()
    assert "Answer as the run gave it: 0.5747" in shown
    assert shown.index("Answer as the run gave it") < shown.index("Final answer: @r[0.57]")


# ----------------------------------------------------------------------------- replays


def test_a_replay_repeats_the_rewrite_from_the_record(rewritten, sidecar):
    replayed, divergences = replay_run(rewritten.record_path, executor=sidecar)
    assert (replayed.output, divergences) == ("@r[0.57]", [])


def test_a_replay_of_a_refused_rewrite_refuses_it_again(refused, sidecar):
    replayed, _ = replay_run(refused.record_path, executor=sidecar)
    assert replayed.output == 0.5747


def test_replaying_without_a_recorded_rewrite_keeps_the_answer_and_says_why(sidecar, records):
    plain = run_code_agent(sidecar, records, [ACTION], format_answer=False)
    seen = []
    agent = CodeAgent(
        [], ReplayModel(plain.record_path), executor=sidecar, format_answer=True, record_dir=None
    )
    agent.subscribe(seen.append)
    assert agent.run(TASK).output == 0.5747
    errors = [e.message for e in seen if isinstance(e, ErrorEvent)]
    assert any("answer-form call failed" in m and "without format_answer" in m for m in errors)


def test_the_answer_form_call_does_not_take_a_steps_recorded_turn(rewritten):
    model = ReplayModel(rewritten.record_path)
    assert load_run(rewritten.record_path).model_turns == [ACTION]
    form = [{"role": "system", "content": ANSWER_FORM_SYSTEM}, {"role": "user", "content": ""}]
    assert model.generate(form).text == "@r[0.57]"
    assert model.generate([{"role": "user", "content": TASK}]).text == ACTION


# ----------------------------------------------------------------------------- export


@pytest.fixture(scope="module")
def exported(rewritten, tmp_path_factory):
    return export_notebook(rewritten, tmp_path_factory.mktemp("export") / "run.ipynb")


def test_the_exported_final_cell_sets_the_rewrite_and_names_the_answer_as_given(exported):
    last = nbformat.read(exported, as_version=4).cells[-1]
    assert "_final_answer = '@r[0.57]'" in last.source
    assert "rewritten in the task's form" in last.source and "0.5747" in last.source


def test_the_exported_notebook_reexecutes_to_the_rewritten_answer(exported):
    notebook = copy.deepcopy(nbformat.read(exported, as_version=4))
    nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(exported.parent)}},
    ).execute()
    results = [o for o in notebook.cells[-1].outputs if o.output_type == "execute_result"]
    assert [r.data["text/plain"] for r in results] == ["'@r[0.57]'"]


def test_a_notebook_read_back_replays_the_rewrite(exported, sidecar):
    record = run_from_notebook(exported)
    formatted = [e for e in record.events if isinstance(e, AnswerFormatted)]
    assert [(e.original, e.reply, e.accepted) for e in formatted] == [(0.5747, "@r[0.57]", True)]
    replayed, _ = replay_run(exported, executor=sidecar)
    assert replayed.output == "@r[0.57]"


# ----------------------------------------------------------------------------- magic and CLI


@pytest.fixture(scope="module")
def magic_cells(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("magic")
    return run_notebook(
        [
            "%load_ext smoldepot_jupyter",
            SETUP,
            "%config SmolDepot.record_dir = 'runs'\n"
            "%config SmolDepot.final_render = 'static'\n"
            "answer = code('final_answer(round(0.5746598, 4))')",
            "%config SmolDepot.model = ScriptedModel([answer, '@r[0.57]'])\n"
            "%config SmolDepot.format_answer = True",
            f"%%agent\n{TASK}",
            "%config SmolDepot.format_answer = False\n"
            "%config SmolDepot.model = ScriptedModel([answer, '@r[0.57]'])",
            f"%%agent --format-answer\n{TASK}",
            "%config SmolDepot.model = ScriptedModel([answer])",
            f"%%agent\n{TASK}",
            "%agent",
        ],
        workdir,
    )


def test_the_format_answer_setting_turns_the_rewrite_on_in_the_magic(magic_cells):
    assert result_of(magic_cells.cells[4]) == "'@r[0.57]'"
    assert "As the run gave it" in texts(magic_cells.cells[4])


def test_the_format_answer_flag_turns_the_rewrite_on_for_one_run(magic_cells):
    assert result_of(magic_cells.cells[6]) == "'@r[0.57]'"


def test_the_magic_leaves_the_answer_alone_by_default(magic_cells):
    assert result_of(magic_cells.cells[8]) == "0.5747"


def test_the_magic_usage_names_the_flag(magic_cells):
    assert "--format-answer" in texts(magic_cells.cells[9])


def test_the_cli_flag_rewrites_the_answer_and_says_so(tmp_path):
    done = smoldepot(
        "run",
        TASK,
        "--format-answer",
        cwd=tmp_path,
        replies=[cli_code("final_answer(round(0.5746598, 4))"), "@r[0.57]"],
    )
    assert done.returncode == 0, done.stderr
    assert "Answer as the run gave it: 0.5747" in done.stdout
    assert "Final answer: @r[0.57]" in done.stdout
