"""The ``smoldepot`` command, run as a user runs it: a subprocess with real sidecar kernels, the
model a ScriptedModel (through SMOLDEPOT_SCRIPTED_REPLIES) or litellm against a fake server.
Each test checks what the user sees: stdout, stderr and the exit status."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
from fake_openai_server import FakeOpenAIServer, Reply
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from smoldepot_jupyter.cli import DEFAULT_RECORD_DIR, SCRIPTED_REPLIES_VARIABLE
from smoldepot_jupyter.records import DEFAULT_DIRECTORY

TOOLS_MODULE = '''
from smoldepot_jupyter import tool


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


def shout(text: str) -> str:
    """Say a text loudly.

    Args:
        text: What to say.
    """
    return text.upper() + "!"


helpers = [shout]
not_a_tool = 42
'''


def code(body: str, thought: str = "I act.") -> str:
    return f"Thought: {thought}\n```python\n{body}\n```"


def cli_env(replies: list[str] | None = None) -> dict[str, str]:
    """The environment of a CLI process: no model configured unless `replies` are scripted."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SMOLDEPOT_MODEL", "SMOLDEPOT_API_BASE", SCRIPTED_REPLIES_VARIABLE)
        and k != "PYTEST_CURRENT_TEST"
    }
    env["NO_COLOR"] = "1"
    if replies is not None:
        env[SCRIPTED_REPLIES_VARIABLE] = json.dumps(replies)
    return env


def smoldepot(
    *args: str,
    cwd: Path,
    replies: list[str] | None = None,
    timeout: float = 120,
    env_changes: dict[str, str | None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m smoldepot_jupyter.cli ARGS`` in `cwd` and wait for it; `env_changes`
    sets variables of its environment (None: removes one)."""
    env = cli_env(replies)
    for name, value in (env_changes or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, "-m", "smoldepot_jupyter.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_id_in(output: str) -> str:
    match = re.search(r"── run (\S+) ·", output)
    assert match, output
    return match.group(1)


def assert_one_error_line(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("smoldepot: error: "), done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    for text in expected:
        assert text in lines[0]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder: a data file and a tools module."""
    folder = tmp_path_factory.mktemp("project")
    (folder / "data.csv").write_text("a,b\n1,2\n3,4\n5,6\n")
    (folder / "my_tools.py").write_text(TOOLS_MODULE)
    return folder


@pytest.fixture(scope="module")
def recorded(workdir: Path) -> subprocess.CompletedProcess[str]:
    """One run recorded in `workdir` (exported to run.ipynb too, when export is available)."""
    replies = [
        code('rows = open("data.csv").read().splitlines()\nprint(len(rows) - 1, "rows")', "Count."),
        code("final_answer(len(rows) - 1)", "Three rows."),
    ]
    return smoldepot(
        "run",
        "How many data rows?",
        "--file",
        "data.csv",
        "--export",
        "run.ipynb",
        cwd=workdir,
        replies=replies,
    )


@pytest.fixture(scope="module")
def tool_run(workdir: Path, recorded: subprocess.CompletedProcess[str]):
    """A second run recorded in `workdir`, after `recorded`, with tools from my_tools.py."""
    replies = [code('print(add(2, 3), shout("hi"))'), code("final_answer(add(20, 22))")]
    tools = "my_tools:add,my_tools:helpers"
    return smoldepot("run", "Use the tools.", "--tools", tools, cwd=workdir, replies=replies)


# ----------------------------------------------------------------------------- run


def test_run_shows_each_step_and_the_final_answer(recorded):
    assert recorded.returncode == 0, recorded.stderr
    out = recorded.stdout
    assert "── step 1" in out and "── step 2" in out
    assert "Thought: Count." in out
    assert 'rows = open("data.csv").read().splitlines()' in out
    assert "Observation:\n3 rows" in out
    assert re.search(r"\[step 1 · [\d,]+ tokens in, [\d,]+ out · total [\d,]+ · [\d.]+ s\]", out)
    assert "Final answer: 3" in out
    assert "── success" in out
    assert recorded.stderr == ""


def test_file_is_named_in_the_task_and_read_in_the_current_directory(recorded):
    assert "Task: How many data rows?\n\nFiles: data.csv\n" in recorded.stdout
    assert "Observation:\n3 rows" in recorded.stdout


def test_json_prints_the_run_result_and_progress_goes_to_stderr(tmp_path):
    done = smoldepot(
        "run", "Six times seven?", "--json", cwd=tmp_path, replies=[code("final_answer(6 * 7)")]
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["state"], result["output"]) == ("success", 42)
    assert [s["type"] for s in result["steps"]] == ["task", "action", "final_answer"]
    assert (tmp_path / result["record_path"]).is_file()
    assert "Final answer: 42" in done.stderr


def test_tools_are_imported_from_a_module_in_the_current_directory(tool_run):
    assert tool_run.returncode == 0, tool_run.stderr
    assert "tools: final_answer, add, shout" in tool_run.stdout
    assert "tool add(2, 3) -> 5" in tool_run.stdout
    assert "5 HI!" in tool_run.stdout
    assert "Final answer: 42" in tool_run.stdout


def test_run_with_litellm_against_an_openai_compatible_server(tmp_path):
    with FakeOpenAIServer() as server:
        server.script(
            Reply(code("print('from the server')")), Reply(code("final_answer('served')"))
        )
        done = smoldepot(
            "run", "Say something.", "--model", "openai/test", "--api-base", server.base_url,
            "--retries", "0",
            cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "openai/test" in done.stdout
    assert "Observation:\nfrom the server" in done.stdout
    assert "Final answer: served" in done.stdout
    assert len(server.requests) == 2


def test_smoldepot_api_base_serves_a_model_given_with_model(tmp_path):
    # given a local server named by SMOLDEPOT_API_BASE, and no provider key
    with FakeOpenAIServer() as server:
        server.script(Reply(code("final_answer('served')")))
        # when the model is named with --model (and no --api-base)
        done = smoldepot(
            "run", "Say something.", "--model", "openai/test", "--retries", "0",
            cwd=tmp_path,
            env_changes={"SMOLDEPOT_API_BASE": server.base_url, "OPENAI_API_KEY": None},
        )  # fmt: skip
    # then that server answers, rather than an error asking for OPENAI_API_KEY
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OPENAI_API_KEY" not in done.stdout + done.stderr
    assert "Final answer: served" in done.stdout
    assert len(server.requests) == 1


def test_export_writes_a_notebook_that_validates(recorded, workdir):
    assert "Exported the run to run.ipynb" in recorded.stdout
    notebook = nbformat.read(str(workdir / "run.ipynb"), as_version=4)
    nbformat.validate(notebook)
    assert any("final_answer(len(rows) - 1)" in cell.source for cell in notebook.cells)


def test_ctrl_c_ends_the_run_as_interrupted(tmp_path):
    replies = [code("import time\ntime.sleep(60)"), code("final_answer(1)")]
    process = subprocess.Popen(
        [sys.executable, "-m", "smoldepot_jupyter.cli", "run", "Wait a minute."],
        cwd=tmp_path,
        env=cli_env(replies),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell may start background jobs with SIGINT ignored; a terminal's Ctrl-C is not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        seen = []
        while "time.sleep(60)" not in "".join(seen):
            line = process.stdout.readline()
            assert line, "".join(seen) + process.stderr.read()
            seen.append(line)
        time.sleep(1.0)  # the action is running in the sidecar
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "── interrupted" in out
    assert err.startswith("smoldepot: interrupted")
    assert "Traceback (most recent call last)" not in err


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("args", "replies", "expected"),
    [
        (["run", "Hi."], None, ["no model configured", "--model", "SMOLDEPOT_MODEL"]),
        (["run", "Hi.", "--tools", "no_such_module:x"], [], ["no module named 'no_such_module'"]),
        (["run", "Hi.", "--tools", "my_tools:nope"], [], ["has no attribute 'nope'"]),
        (["run", "Hi.", "--tools", "my_tools:not_a_tool"], [], ["my_tools:not_a_tool", "not a"]),
        (["run", "Hi.", "--tools", "my_tools"], [], ["MODULE:ATTRIBUTE"]),
        (["run", "Hi.", "--file", "missing.csv"], [], ["missing.csv", "no such file"]),
        (["export", "missing.jsonl", "out.ipynb"], None, ["no run record at missing.jsonl"]),
        (["export", "19990101-000000-dead", "out.ipynb"], None, ["no run '19990101-000000-dead'"]),
        (["replay", "missing.jsonl"], None, ["no run record or notebook at missing.jsonl"]),
        (["execute", "missing.ipynb"], None, ["no notebook at missing.ipynb"]),
    ],
    ids=[
        "no-model",
        "tool-module-missing",
        "tool-attribute-missing",
        "not-a-tool",
        "tool-path-without-attribute",
        "missing-file",
        "missing-record",
        "unknown-run-id",
        "replay-missing-record",
        "execute-missing-notebook",
    ],
)
def test_errors_are_one_line_and_exit_2(workdir, args, replies, expected):
    done = smoldepot(*args, cwd=workdir, replies=replies)
    assert_one_error_line(done, *expected)


def test_unreachable_endpoint_is_one_error_line(tmp_path):
    done = smoldepot(
        "run", "Hi.", "--model", "openai/test", "--api-base", "http://127.0.0.1:9/v1",
        "--retries", "0",
        cwd=tmp_path,
    )  # fmt: skip
    assert_one_error_line(done, "openai/test", "unavailable", "http://127.0.0.1:9/v1")
    assert "── error" in done.stdout


# ----------------------------------------------------------------------------- recorded runs


def test_runs_lists_the_recorded_runs_newest_first(recorded, tool_run, workdir):
    done = smoldepot("runs", cwd=workdir)
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.strip().splitlines()
    assert header.split() == ["RUN", "ID", "STATE", "STEPS", "TASK"]
    assert [row.split()[0] for row in rows] == [
        run_id_in(tool_run.stdout),
        run_id_in(recorded.stdout),
    ]
    assert rows[0].split()[1:] == ["success", "2", "Use", "the", "tools."]
    assert rows[1].split()[1:3] == ["success", "2"]
    assert rows[1].endswith("How many data rows? Files: data.csv")


def test_runs_in_an_empty_folder_says_so(tmp_path):
    done = smoldepot("runs", "--record-dir", "nothing-here", cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, "No recorded runs in nothing-here.")


def test_replay_of_a_recorded_run_reaches_its_final_answer(recorded, workdir):
    record = workdir / DEFAULT_DIRECTORY / f"{run_id_in(recorded.stdout)}.jsonl"
    done = smoldepot("replay", str(record), cwd=workdir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Observation:\n3 rows" in done.stdout
    assert "Final answer: 3" in done.stdout
    assert "The replay matched the recording." in done.stdout


def test_replay_of_an_exported_notebook(recorded, workdir):
    done = smoldepot("replay", "run.ipynb", cwd=workdir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Final answer: 3" in done.stdout


def test_replay_of_an_exported_notebook_matches_the_recording(recorded, workdir):
    # given the notebook the recorded run was exported to
    # when it is replayed
    done = smoldepot("replay", "run.ipynb", cwd=workdir)
    # then the replay's answer is the recorded one: nothing is reported as different
    assert done.returncode == 0, done.stdout + done.stderr
    assert "divergence" not in done.stdout
    assert "The replay matched the recording." in done.stdout


def test_export_by_run_id(recorded, workdir):
    run_id = run_id_in(recorded.stdout)
    done = smoldepot("export", run_id[:-2], "by-id.ipynb", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Exported run {run_id} (success, 2 steps) to by-id.ipynb"
    nbformat.validate(nbformat.read(str(workdir / "by-id.ipynb"), as_version=4))


# ----------------------------------------------------------------------------- execute


def write_notebook(path: Path, *sources: str) -> Path:
    cells = [new_markdown_cell("# A notebook")]
    cells += [new_code_cell(textwrap.dedent(source)) for source in sources]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=cells), str(path))
    return path


def test_execute_prints_text_outputs_and_writes_nothing_back(tmp_path):
    folder = tmp_path / "notebooks"
    notebook = write_notebook(
        folder / "small.ipynb",
        'print("hello from a cell")',
        'open("beside.txt").read()',
        """
        from IPython.display import display
        bundle = {"text/plain": "RunView(success)", "text/html": "<b>run</b>",
                  "application/vnd.smoldepot.run+json": {"state": "success"}}
        display(bundle, raw=True)
        """,
    )
    (folder / "beside.txt").write_text("found beside the notebook")
    before = notebook.read_bytes()
    done = smoldepot("execute", str(notebook), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == (
        "── cell 2\nhello from a cell\n"
        "── cell 3\n'found beside the notebook'\n"
        "── cell 4\nRunView(success)\n"
    )
    assert notebook.read_bytes() == before


def test_execute_writes_the_executed_notebook_with_output(tmp_path):
    notebook = write_notebook(tmp_path / "one.ipynb", "21 * 2")
    done = smoldepot("execute", "one.ipynb", "--output", "done.ipynb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    executed = nbformat.read(str(tmp_path / "done.ipynb"), as_version=4)
    assert executed.cells[1].outputs[0]["data"]["text/plain"] == "42"
    assert nbformat.read(str(notebook), as_version=4).cells[1].outputs == []


def test_execute_exits_non_zero_when_a_cell_raises(tmp_path):
    notebook = write_notebook(
        tmp_path / "fails.ipynb", 'print("before")', "1 / 0", 'print("never")'
    )
    done = smoldepot("execute", str(notebook), cwd=tmp_path)
    assert done.returncode == 1
    assert "before" in done.stdout and "never" not in done.stdout
    assert "ZeroDivisionError" in done.stdout
    assert done.stderr.strip().splitlines() == [
        f"smoldepot: {notebook}: a cell raised ZeroDivisionError: division by zero"
    ]


def test_execute_exits_non_zero_naming_the_cell_whose_agent_run_ended_in_error(tmp_path):
    # given a notebook whose %%agent run ends in error (the model has no reply), then goes on
    notebook = write_notebook(
        tmp_path / "run_fails.ipynb",
        """
        %load_ext smoldepot_jupyter
        from smoldepot_jupyter import ScriptedModel
        %config SmolDepot.model = ScriptedModel([])
        """,
        "%%agent\nDo something.",
        'print("after the run")',
    )
    # when it is executed
    done = smoldepot("execute", str(notebook), cwd=tmp_path)
    # then every cell ran, the exit status is 1, and stderr names the cell and the run's error
    assert "Run error" in done.stdout and "after the run" in done.stdout
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        f"smoldepot: {notebook}: the agent run in cell 3 ended in error: ScriptedModel"
    )


# ----------------------------------------------------------------------------- help


def test_help_documents_the_commands_and_the_test_hook(tmp_path):
    done = smoldepot("run", "--help", cwd=tmp_path)
    assert done.returncode == 0
    assert SCRIPTED_REPLIES_VARIABLE in done.stdout
    for option in ("--model", "--api-base", "--tools", "--file", "--max-steps", "--export"):
        assert option in done.stdout
    top = smoldepot("--help", cwd=tmp_path).stdout
    for command in ("run", "replay", "export", "runs", "execute"):
        assert f"\n    {command} " in top
    assert DEFAULT_RECORD_DIR == DEFAULT_DIRECTORY
