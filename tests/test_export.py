"""Exporting a run as a notebook that re-executes, and reading such a notebook back for replay.

Runs are real: a `CodeAgent` with a scripted model acts in a real sidecar kernel working in a
temporary directory. Exported notebooks are re-executed by nbclient in a fresh kernel there.
"""

from __future__ import annotations

import copy
import csv

import nbclient
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from smoldepot_jupyter import CodeAgent, ScriptedModel, __version__, load_run, tool
from smoldepot_jupyter.export import export_notebook, notebook_from_run, run_from_notebook
from smoldepot_jupyter.kernel import KernelExecutor
from smoldepot_jupyter.kernel.execution import Execution, ExecutionError, ToolCall
from smoldepot_jupyter.memory import ActionStep, PlanningStep
from smoldepot_jupyter.records import RunRecord
from smoldepot_jupyter.tools import FunctionTool


@tool
def lookup(key: str) -> str:
    """Look up the code filed under a key.

    Args:
        key: The key to look up.
    """
    return f"{key.upper()}-{len(key)}"


@tool
def divide(a: float, b: float) -> float:
    """Divide a by b.

    Args:
        a: The dividend.
        b: The divisor.
    """
    return a / b


def code(body: str, thought: str = "I act.") -> str:
    return f"Thought: {thought}\n```python\n{body}\n```"


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The working directory of the runs and of the re-executions, with a CSV file in it."""
    directory = tmp_path_factory.mktemp("work")
    with open(directory / "scores.csv", "w", newline="") as stream:
        csv.writer(stream).writerows([["name", "score"], ["ada", 3], ["bob", 4]])
    return directory


@pytest.fixture(scope="module")
def sidecar(workdir):
    executor = KernelExecutor(cwd=workdir, interrupt_grace=2)
    try:
        yield executor
    finally:
        executor.shutdown()


@pytest.fixture(scope="module")
def run_agent(sidecar, tmp_path_factory):
    """Run a task with a scripted model on the module's sidecar; returns the RunResult."""
    records = tmp_path_factory.mktemp("runs")

    def run(replies, tools=(), task="Do the task.", **options):
        model = ScriptedModel(replies)
        with CodeAgent(
            list(tools), model, executor=sidecar, record_dir=records, **options
        ) as agent:
            return agent.run(task)

    return run


def reexecute(notebook, workdir):
    """A copy of `notebook` executed top to bottom in a fresh kernel in `workdir`."""
    executed = copy.deepcopy(notebook)
    client = nbclient.NotebookClient(
        executed,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return executed


def shown_answer(notebook) -> str:
    """The text/plain the last cell shows: the final answer."""
    last = notebook.cells[-1]
    assert last.source.strip().endswith("_final_answer"), last.source
    results = [o for o in last.outputs if o.output_type == "execute_result"]
    assert len(results) == 1, last.outputs
    return results[0].data["text/plain"]


def step_cell(notebook, number):
    return next(c for c in notebook.cells if c.id == f"step-{number}-code")


def stdout(cell) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


@pytest.fixture(scope="module")
def tools_run(run_agent):
    """A planned run calling one tool twice, with different results."""
    return run_agent(
        [
            "1. Look up both keys.\n2. Answer with both codes.",
            code("first = lookup('ab')\nsecond = lookup(key='xyz')\nprint(first, second)"),
            code("final_answer(first + ' ' + second)"),
        ],
        tools=[lookup],
        task="Look up the codes of ab and xyz.",
        planning_interval=10,
    )


@pytest.fixture(scope="module")
def tools_notebook(tools_run):
    return notebook_from_run(tools_run)


# --------------------------------------------------------------------------- re-execution


def test_tool_stubs_replay_the_recorded_results_in_call_order(tools_run, tools_notebook, workdir):
    assert tools_run.output == "AB-2 XYZ-3"
    tools = tools_notebook.cells[1].source
    assert "def lookup(*args, **kwargs):" in tools
    assert "key.upper()" not in tools  # a stub, not the tool

    executed = reexecute(tools_notebook, workdir)

    assert shown_answer(executed) == repr(tools_run.output)
    assert stdout(step_cell(executed, 1)) == stdout(step_cell(tools_notebook, 1)) == "AB-2 XYZ-3\n"


def test_a_tool_failure_is_replayed_as_the_same_tool_error(run_agent, workdir):
    result = run_agent(
        [
            code(
                "try:\n    divide(1, 0)\nexcept ToolError as exc:\n    message = str(exc)\n"
                "print(message)"
            ),
            code("final_answer(message)"),
        ],
        tools=[divide],
    )
    assert result.output == "tool 'divide' failed: ZeroDivisionError: division by zero"
    notebook = notebook_from_run(result)
    calls = step_cell(notebook, 1).metadata.smoldepot.tool_calls
    assert [(c.name, c.args, c.error) for c in calls] == [
        ("divide", [1, 0], "ZeroDivisionError: division by zero")
    ]

    executed = reexecute(notebook, workdir)

    assert shown_answer(executed) == repr(result.output)
    assert stdout(step_cell(executed, 1)) == result.output + "\n"


def test_a_run_that_reads_a_file_reexecutes_where_the_file_is(run_agent, workdir):
    result = run_agent(
        [
            code(
                "import csv\nwith open('scores.csv') as f:\n    rows = list(csv.DictReader(f))\n"
                "total = sum(int(row['score']) for row in rows)\nprint(total)"
            ),
            code("final_answer(total)"),
        ]
    )
    assert result.output == 7
    notebook = notebook_from_run(result)
    assert notebook.metadata.smoldepot.files_read == ["scores.csv"]
    assert step_cell(notebook, 1).metadata.smoldepot.files_read == ["scores.csv"]
    assert "`scores.csv`" in notebook.cells[0].source

    executed = reexecute(notebook, workdir)

    assert shown_answer(executed) == repr(result.output) == "7"


def test_a_plot_is_kept_as_an_image_and_drawn_again(run_agent, workdir):
    result = run_agent(
        [
            code(
                "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.title('squares')\n"
                "plt.show()"
            ),
            code("final_answer('plotted')"),
        ]
    )
    notebook = notebook_from_run(result)
    recorded = step_cell(notebook, 1).outputs
    assert [o.output_type for o in recorded] == ["display_data"]
    assert (
        recorded[0].data["image/png"] == result.steps[1].execution.outputs[0]["data"]["image/png"]
    )

    executed = reexecute(notebook, workdir)

    drawn = step_cell(executed, 1).outputs
    assert any("image/png" in o.get("data", {}) for o in drawn)
    assert shown_answer(executed) == repr("plotted")


def test_a_failed_step_is_tagged_and_reexecution_runs_past_it(run_agent, workdir):
    result = run_agent(
        [
            code("ratio = 1 / 0"),
            code("ratio = 1 / 2\nprint(ratio)", thought="Divide by two instead."),
            code("final_answer(ratio)"),
        ]
    )
    assert (result.state, result.output) == ("success", 0.5)
    notebook = notebook_from_run(result)
    failed, recovered, answered = (step_cell(notebook, n) for n in (1, 2, 3))
    assert failed.metadata.tags == ["raises-exception"]
    assert [o.ename for o in failed.outputs if o.output_type == "error"] == ["ZeroDivisionError"]
    assert failed.metadata.smoldepot.error == "ZeroDivisionError: division by zero"
    assert "tags" not in recovered.metadata
    # final_answer() ends its cell with a swallowed signal: the reply's status is "error"
    assert answered.metadata.tags == ["raises-exception"]
    assert answered.outputs == []
    assert "Divide by two instead." in notebook.cells[notebook.cells.index(recovered) - 1].source

    executed = reexecute(notebook, workdir)

    again = step_cell(executed, 1).outputs
    assert [o.ename for o in again if o.output_type == "error"] == ["ZeroDivisionError"]
    assert step_cell(executed, 3).outputs == []  # no traceback for final_answer()
    assert shown_answer(executed) == repr(0.5)


def test_without_the_tag_nbclient_stops_at_the_final_answer_cell(tools_notebook, workdir):
    notebook = copy.deepcopy(tools_notebook)
    del step_cell(notebook, 2).metadata["tags"]

    with pytest.raises(nbclient.exceptions.CellExecutionError):
        reexecute(notebook, workdir)


def test_live_tools_are_defined_from_their_source_and_run(tools_run, workdir):
    notebook = notebook_from_run(tools_run, live_tools=True, tools=[lookup])
    tools = notebook.cells[1].source
    assert "from smoldepot_jupyter import Tool, tool" in tools
    assert "@tool\ndef lookup(key: str) -> str:" in tools
    assert 'return f"{key.upper()}-{len(key)}"' in tools
    assert "_RECORDED_CALLS" not in tools
    assert notebook.metadata.smoldepot.live_tools == ["lookup"]

    executed = reexecute(notebook, workdir)

    assert shown_answer(executed) == repr(tools_run.output)


# ----------------------------------------------------------------------------- the notebook


def test_the_notebook_validates_and_keeps_no_secrets(run_agent, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET123")
    monkeypatch.setenv("SMOLDEPOT_EXPORT_TOKEN", "tok-SECRET456")
    result = run_agent(
        [
            code("import os\nprint(sorted(name for name in os.environ if name.endswith('_KEY')))"),
            code("final_answer('done')"),
        ]
    )

    path = export_notebook(result, tmp_path / "run.ipynb")

    text = path.read_text()
    nbformat.validate(nbformat.reads(text, as_version=4))
    notebook = nbformat.reads(text, as_version=4)
    assert (notebook.nbformat, notebook.nbformat_minor) == (4, 5)
    assert all(cell.get("id") for cell in notebook.cells)
    for secret in ("sk-test-SECRET123", "tok-SECRET456", "SECRET"):
        assert secret not in text
    for name in (
        "OPENAI_API_KEY",
        "SMOLDEPOT_EXPORT_TOKEN",
        "PYTEST_CURRENT_TEST",
        "JPY_PARENT_PID",
    ):
        assert name not in text


def test_cells_carry_their_step_tokens_timing_and_tool_calls(tools_run, tools_notebook):
    meta = tools_notebook.metadata.smoldepot
    assert (meta.model_id, meta.run_id, meta.state) == ("scripted", tools_run.run_id, "success")
    assert meta.package_version == __version__
    assert meta.final_answer == "AB-2 XYZ-3"
    assert meta.token_usage == tools_run.token_usage.to_dict()

    plan = next(c for c in tools_notebook.cells if c.metadata.smoldepot.kind == "planning")
    assert plan.metadata.smoldepot.plan.startswith("1. Look up both keys.")
    cell = step_cell(tools_notebook, 1)
    step = cell.metadata.smoldepot
    recorded = next(s for s in tools_run.steps if isinstance(s, ActionStep))
    assert step.step == 1
    assert step.token_usage == recorded.token_usage.to_dict()
    assert step.token_usage.prompt_tokens > 0
    assert step.timing.duration > 0
    assert step.model_output == recorded.model_output
    assert [(c.name, c.args, c.kwargs, c.result, c.error) for c in step.tool_calls] == [
        ("lookup", ["ab"], {}, "AB-2", None),
        ("lookup", [], {"key": "xyz"}, "XYZ-3", None),
    ]
    assert cell.execution_count == recorded.execution.execution_count
    assert "Look up the codes of ab and xyz." in tools_notebook.cells[0].source


def test_any_form_of_the_run_exports_the_same_notebook(tools_run, tools_notebook, tmp_path):
    record = load_run(tools_run.record_path)
    for form in (record, tools_run.record_path, str(tools_run.record_path)):
        assert notebook_from_run(form) == tools_notebook

    written = export_notebook(tools_run, tmp_path)

    assert written == tmp_path / f"{tools_run.run_id}.ipynb"
    assert nbformat.read(written, as_version=4) == tools_notebook


def test_run_from_notebook_rebuilds_the_run_for_replay(tools_run, tools_notebook, tmp_path):
    path = export_notebook(tools_run, tmp_path / "exported.ipynb")
    original = load_run(tools_run.record_path)

    rebuilt = run_from_notebook(path)

    assert rebuilt.model_turns == original.model_turns
    assert len(rebuilt.model_turns) == 3  # the plan, then two actions
    assert (rebuilt.task, rebuilt.model_id, rebuilt.run_id) == (
        original.task,
        original.model_id,
        original.run_id,
    )
    assert (rebuilt.state, rebuilt.output) == ("success", "AB-2 XYZ-3")
    assert [type(s) for s in rebuilt.steps] == [PlanningStep, ActionStep, ActionStep]
    first = rebuilt.steps[1]
    assert first.code == original.steps[1].code
    assert first.thought == original.steps[1].thought
    assert first.observation == original.steps[1].observation
    assert first.execution.outputs == original.steps[1].execution.outputs
    assert [c.result for c in first.execution.tool_calls] == ["AB-2", "XYZ-3"]
    assert rebuilt.steps[2].is_final_answer
    started = rebuilt.events[0]
    assert (started.max_steps, started.tools) == (20, ["final_answer", "lookup"])


def test_run_from_notebook_refuses_a_notebook_smoldepot_did_not_export(tmp_path):
    path = tmp_path / "other.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("1 + 1")]), path)

    with pytest.raises(ValueError, match="not exported by smoldepot"):
        run_from_notebook(path)


# ----------------------------------------------------------------------- the tools cell itself


class _Shell:
    """Enough of IPython's shell for the tools cell to run in this process."""

    def set_custom_exc(self, exc_tuple, handler):
        self.custom_exc = (exc_tuple, handler)


def _record_with_calls(calls: list[ToolCall]) -> RunRecord:
    execution = Execution(code="...", tool_calls=calls, execution_count=1)
    step = ActionStep(step_number=1, model_output="...", code="...", execution=execution)
    return RunRecord(run_id="r1", task="t", model_id="m", state="error", steps=[step])


def _run_tools_cell(notebook) -> dict:
    namespace = {"get_ipython": _Shell}
    exec(notebook.cells[1].source, namespace)
    return namespace


def test_stubs_replay_failures_and_reprs_and_refuse_extra_calls():
    record = _record_with_calls(
        [
            ToolCall("fetch", ["a"], {}, result={"rows": [1, 2]}),
            ToolCall("fetch", ["b"], {}, error="TimeoutError: too slow"),
            ToolCall("load", [], {}, result={"type": "DataFrame", "repr": "   x\n0  1"}),
        ]
    )
    notebook = notebook_from_run(record)
    assert "it returned a DataFrame, which is not JSON: its repr string is replayed" in (
        notebook.cells[1].source
    )
    namespace = _run_tools_cell(notebook)

    assert namespace["fetch"]("anything") == {"rows": [1, 2]}
    with pytest.raises(namespace["ToolError"], match="tool 'fetch' failed: TimeoutError: too slow"):
        namespace["fetch"]("b")
    with pytest.raises(RuntimeError, match=r"fetch\(\) was called 3 times, but the run recorded 2"):
        namespace["fetch"]("c")
    assert namespace["load"]() == "   x\n0  1"
    with pytest.raises(BaseException) as ended:
        namespace["final_answer"](42)
    assert not isinstance(ended.value, Exception)  # `except Exception` in model code misses it
    assert namespace["_final_answer"] == 42
    assert notebook.cells[-1].cell_type == "markdown"  # the run ended without an answer


def test_steps_that_cannot_run_again_are_skipped_and_still_round_trip():
    no_code = ActionStep(
        step_number=1,
        model_output="Let me think first.",
        thought="Let me think first.",
        error="the reply had no code block",
        observation="Write your action as a ```python block.",
    )
    hung = ActionStep(
        step_number=2,
        model_output="Wait.\n```python\nfetch()\nwhile True: pass\n```",
        code="fetch()\nwhile True: pass",
        execution=Execution(
            code="fetch()\nwhile True: pass",
            tool_calls=[ToolCall("fetch", [], {}, result=1)],
            error=ExecutionError("KernelRestarted", "the action ran past its time limit"),
            timed_out=True,
            restarted=True,
            execution_count=1,
        ),
    )
    record = _record_with_calls([ToolCall("fetch", [], {}, result=2)])
    record.steps[0].step_number = 3
    record.steps[:0] = [no_code, hung]

    notebook = notebook_from_run(record)

    nbformat.validate(notebook)
    assert step_cell(notebook, 2).metadata.tags == ["skip-execution", "raises-exception"]
    assert "Not run when this notebook is re-executed" in notebook.cells[3].source
    assert _run_tools_cell(notebook)["fetch"]() == 2  # the skipped step's call is not replayed
    thought = next(c for c in notebook.cells if c.id == "step-1")
    assert thought.metadata.smoldepot.kind == "action"
    assert "```python block." in thought.source
    rebuilt = run_from_notebook(notebook)
    assert rebuilt.model_turns == [s.model_output for s in record.steps]
    assert [s.code for s in rebuilt.steps] == [None, hung.code, "..."]
    assert rebuilt.steps[1].execution.timed_out


def test_live_tools_fall_back_to_stubs_when_the_source_cannot_stand_alone():
    prefix = "code-"

    def tag(text: str) -> str:
        return prefix + text

    closure = FunctionTool(
        tag,
        name="tag",
        description="Tag a text.",
        inputs={"text": {"type": "string", "description": "The text."}},
        output_type="string",
    )
    record = _record_with_calls(
        [ToolCall("tag", ["a"], {}, result="code-a"), ToolCall("lookup", ["k"], {}, result="K-1")]
    )

    notebook = notebook_from_run(record, live_tools=True, tools=[closure, lookup])

    source = notebook.cells[1].source
    assert "# tag: a stub, not the tool's source: it uses variables of the function" in source
    assert "@tool\ndef lookup(key: str) -> str:" in source
    assert notebook.cells[1].metadata.smoldepot.live == ["lookup"]
    namespace = _run_tools_cell(notebook)
    assert namespace["tag"]("a") == "code-a"
    assert namespace["lookup"]("abc") == "ABC-3"
    with pytest.raises(namespace["ToolError"], match="tool 'lookup' failed: AttributeError"):
        namespace["lookup"](None)


def test_live_tools_need_the_tools():
    with pytest.raises(ValueError, match="pass tools="):
        notebook_from_run(_record_with_calls([]), live_tools=True)


def test_a_request_the_agent_added_and_a_sampled_call_are_shown_and_round_trip():
    record = _record_with_calls([])
    step = record.steps[0]
    step.requests = ["Give your best final answer now."]
    step.temperature = 0.7

    notebook = notebook_from_run(record)

    markdown = next(c for c in notebook.cells if c.id == "step-1").source
    assert "**The agent asked:** Give your best final answer now." in markdown
    assert "sampled at temperature 0.7" in markdown
    rebuilt = run_from_notebook(notebook).steps[0]
    assert (rebuilt.requests, rebuilt.temperature) == (step.requests, 0.7)
