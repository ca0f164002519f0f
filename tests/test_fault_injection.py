"""Fault injection through real parts: the host never breaks.

A real `LiteLLMModel` talks HTTP to the fake OpenAI server (`fault_server` adds streams cut off
mid-answer and garbage bytes), actions run in real sidecar kernels, hosts are real processes and
record directories are real (full, read-only) file systems. For every fault: `agent.run`
returns, the run ends with a state and an error text that say what went wrong and what to do,
every step that happened is in memory and in the record, and a record that cannot be written is
reported once while the run still finishes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import kill_if_running, wait_until_gone
from fault_server import Failure, FaultyOpenAIServer, Garbage, Reply, Truncated

from smoldepot_jupyter import CodeAgent, LiteLLMModel, load_run
from smoldepot_jupyter.agents.result import RunResult
from smoldepot_jupyter.events import Event, StepFinished
from smoldepot_jupyter.kernel import KernelExecutor
from smoldepot_jupyter.memory import ActionStep, PlanningStep
from smoldepot_jupyter.records import RecordWarning

# litellm reads pydantic attributes pydantic 2.11 deprecated; not ours to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:litellm.*"),
    pytest.mark.timeout(180),
]

KEY = "sk-test-not-real"
RETRIES = 2  # every model here gives up after 3 attempts
FIRST = "Thought: start.\n```python\nfirst = 6 * 7\nprint('first step', first)\n```"
REPO = Path(__file__).resolve().parent.parent


def code(body: str) -> str:
    return f"Thought: go\n```python\n{body}\n```"


FINAL = code("final_answer(first)")


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def server() -> Iterator[FaultyOpenAIServer]:
    with FaultyOpenAIServer() as fake:
        yield fake


@pytest.fixture(scope="module")
def sidecar() -> Iterator[KernelExecutor]:
    """One sidecar for the model-fault tests (none of them harms it)."""
    executor = KernelExecutor(default_timeout=60, interrupt_grace=2.0)
    executor.start()
    try:
        yield executor
    finally:
        pid = executor.pid
        executor.shutdown()
        kill_if_running(pid)


def model_for(server: FaultyOpenAIServer, **options: Any) -> LiteLLMModel:
    options.setdefault("num_retries", RETRIES)
    options.setdefault("retry_base_delay", 0.01)
    options.setdefault("timeout", 10.0)
    return LiteLLMModel("openai/test-model", api_base=server.base_url, api_key=KEY, **options)


class Watched:
    """A run's outcome with what the agent emitted while it ran."""

    def __init__(self, result: RunResult, events: list[Event], warned: list[Any]) -> None:
        self.result = result
        self.events = events
        self.record_warnings = [w for w in warned if issubclass(w.category, RecordWarning)]

    @property
    def emitted_steps(self) -> list[dict[str, Any]]:
        return [e.step for e in self.events if isinstance(e, StepFinished)]

    @property
    def actions(self) -> list[ActionStep]:
        return [s for s in self.result.steps if isinstance(s, ActionStep)]


def run_watched(agent: CodeAgent, task: str = "Find the number.") -> Watched:
    """`agent.run(task)` (which must return, not raise), with its events and warnings."""
    events: list[Event] = []
    unsubscribe = agent.subscribe(events.append)
    try:
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always", RecordWarning)
            result = agent.run(task)
    finally:
        unsubscribe()
    assert isinstance(result, RunResult)
    return Watched(result, events, warned)


def assert_every_step_kept(watched: Watched, recorded: bool = True) -> None:
    """Every step the agent emitted is in memory, and (when recorded) in the record."""
    emitted = watched.emitted_steps
    in_memory = [
        s.to_dict() for s in watched.result.steps if isinstance(s, ActionStep | PlanningStep)
    ]
    assert in_memory == emitted
    if recorded:
        record = load_run(watched.result.record_path)
        assert [s.to_dict() for s in record.steps] == emitted
        assert record.state == watched.result.state
        assert record.error == watched.result.error
        assert watched.record_warnings == []


def assert_ended_clearly(watched: Watched, state: str, *causes: str) -> str:
    """The run ended in `state` with an error text naming each of `causes` (case-insensitive)."""
    result = watched.result
    assert result.state == state, (result.state, result.error)
    assert result.error, f"a run ending {state!r} says nothing about why"
    for cause in causes:
        assert cause.lower() in result.error.lower(), result.error
    return result.error


def assert_first_step_ran(watched: Watched) -> None:
    first = watched.actions[0]
    assert first.observation.startswith("first step 42")
    assert first.error is None


# ----------------------------------------------------------------------------- model faults


def test_rate_limits_outlasting_the_retries_end_the_run_naming_http_429(server, sidecar, tmp_path):
    # Given a model whose server rate-limits every call after the first step
    server.script(Reply(FIRST), *[Failure(429, "rate limit reached for requests")] * 3)
    agent = CodeAgent([], model_for(server), executor=sidecar, record_dir=tmp_path)

    # When the agent runs
    watched = run_watched(agent)

    # Then the run ends in error saying the model is unavailable, why, and what to do
    error = assert_ended_clearly(watched, "error", "unavailable", "HTTP 429", "3 attempts failed")
    assert "num_retries" in error
    assert len(server.requests) == 1 + 3
    # And the step that happened is kept, in memory and in the record
    assert_first_step_ran(watched)
    assert_every_step_kept(watched)


def test_server_errors_outlasting_the_retries_end_the_run_naming_http_500(
    server, sidecar, tmp_path
):
    # Given a server that fails with 500 on every call after the first step
    server.script(Reply(FIRST), *[Failure(500, "upstream exploded")] * 3)
    agent = CodeAgent([], model_for(server), executor=sidecar, record_dir=tmp_path)

    # When the agent runs
    watched = run_watched(agent)

    # Then the run ends in error naming the status and the server's message
    assert_ended_clearly(watched, "error", "unavailable", "HTTP 500", "upstream exploded")
    assert_first_step_ran(watched)
    assert_every_step_kept(watched)


def test_server_errors_within_the_retries_are_absorbed_and_the_run_succeeds(
    server, sidecar, tmp_path
):
    # Given a server that fails twice (429, then 503) between two good replies
    server.script(Reply(FIRST), Failure(429, "busy"), Failure(503, "overloaded"), Reply(FINAL))
    agent = CodeAgent([], model_for(server), executor=sidecar, record_dir=tmp_path)

    # When the agent runs
    watched = run_watched(agent)

    # Then the retries hide the failures: the run succeeds with both steps
    assert (watched.result.state, watched.result.output, watched.result.error) == (
        "success",
        42,
        None,
    )
    assert len(server.requests) == 4
    assert len(watched.actions) == 2
    assert_every_step_kept(watched)


def test_model_timeouts_end_the_run_saying_it_timed_out(server, sidecar, tmp_path):
    # Given a server that answers each later call only after the client's timeout
    server.script(Reply(FIRST), *[Reply(FINAL, delay=3.0)] * 3)
    agent = CodeAgent([], model_for(server, timeout=0.5), executor=sidecar, record_dir=tmp_path)

    # When the agent runs
    started = time.monotonic()
    watched = run_watched(agent)

    # Then the run ends in error saying the call timed out and which setting to raise
    assert_ended_clearly(watched, "error", "unavailable", "timed out", "timeout (now 0.5 s)")
    assert time.monotonic() - started < 30
    assert_first_step_ran(watched)
    assert_every_step_kept(watched)


def test_a_stream_cut_off_mid_code_is_not_run_and_ends_the_run(server, sidecar, tmp_path):
    # Given a reply whose stream is cut (no finish, no [DONE]) right after its first line of code
    text = code("print('first half ran')\nprint('second half ran')")
    cut = len("Thought: go\n```python\nprint('first half ran')\n")
    server.script(Reply(FIRST), Truncated(text, chunk_size=1, after=1 + cut))
    agent = CodeAgent([], model_for(server), executor=sidecar, record_dir=tmp_path)

    # When the agent runs
    watched = run_watched(agent)

    # Then the half-received action is not run (before the fix, its first half ran and the
    # step went on as if the model had written only that)
    assert [a.observation.splitlines()[0] for a in watched.actions] == ["first step 42"]
    # And the run ends saying the stream broke, with the step before it kept
    assert_ended_clearly(watched, "error", "stream broke", "before the reply was complete")
    assert len(server.requests) == 2  # text was shown already: not retried
    assert_every_step_kept(watched)


def test_a_stream_cut_off_before_any_text_is_retried_and_the_run_succeeds(
    server, sidecar, tmp_path
):
    # Given a stream that is cut after its first (empty) chunk, then a good reply
    server.script(Reply(FIRST), Truncated(FINAL, after=1), Reply(FINAL))
    agent = CodeAgent([], model_for(server), executor=sidecar, record_dir=tmp_path)

    # When the agent runs
    watched = run_watched(agent)

    # Then the cut-off call is retried (nothing was shown yet) and the run succeeds
    assert (watched.result.state, watched.result.output) == ("success", 42)
    assert len(server.requests) == 3
    assert_every_step_kept(watched)


def test_empty_replies_end_the_run_out_of_steps_saying_there_is_no_answer(
    server, sidecar, tmp_path
):
    # Given a model that replies with nothing at all after the first step
    server.default = Reply("")
    server.script(Reply(FIRST))
    agent = CodeAgent([], model_for(server), executor=sidecar, max_steps=3, record_dir=tmp_path)

    # When the agent runs
    watched = run_watched(agent)

    # Then the run ends out of steps with no answer, and its error says what the steps lacked
    # (before the fix: state max_steps, output "" and no error text at all)
    assert watched.result.output == ""
    assert_ended_clearly(watched, "max_steps", "no answer", "the reply had no code block")
    assert [a.error for a in watched.actions[1:3]] == ["the reply had no code block"] * 2
    assert_first_step_ran(watched)
    assert_every_step_kept(watched)


def test_a_reply_without_code_is_a_step_with_that_error_and_the_run_goes_on(
    server, sidecar, tmp_path
):
    # Given a model that answers one step in prose only, then acts again
    server.script(Reply(FIRST), Reply("I believe the number is forty-two."), Reply(FINAL))
    agent = CodeAgent([], model_for(server), executor=sidecar, record_dir=tmp_path)

    # When the agent runs
    watched = run_watched(agent)

    # Then that step is kept with an error and an observation telling the model what to do
    prose = watched.actions[1]
    assert prose.code is None and prose.error == "the reply had no code block"
    assert "```python" in prose.observation
    # And the run goes on to the answer
    assert (watched.result.state, watched.result.output) == ("success", 42)
    assert_every_step_kept(watched)


@pytest.mark.parametrize(
    ("garbage", "cause"),
    [
        (Garbage(data=b"\x00\xff\xfe\x89PNG\r\n\x1a\n"), "UnicodeDecodeError"),
        (Garbage(data=b"data: {this is not json\n\n"), "JSONDecodeError"),
        (Garbage(data=b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", http=False), "not HTTP"),
    ],
    ids=["not-utf8", "not-json", "not-http"],
)
def test_garbage_bytes_from_the_server_end_the_run_saying_it_is_no_chat_stream(
    server, sidecar, tmp_path, garbage, cause
):
    # Given a server that answers every call after the first step with garbage
    server.script(Reply(FIRST), *[garbage] * 3)
    agent = CodeAgent([], model_for(server), executor=sidecar, record_dir=tmp_path)

    # When the agent runs
    watched = run_watched(agent)

    # Then the run ends in error saying what came back and what to check (not "is it running?")
    error = assert_ended_clearly(
        watched, "error", "not an OpenAI-style chat completion stream", cause, "api_base"
    )
    assert "running?" not in error
    assert_first_step_ran(watched)
    assert_every_step_kept(watched)


# ----------------------------------------------------------------------------- kernel faults


def test_sidecar_sigkilled_mid_step_is_restarted_and_the_step_says_state_was_lost(server, tmp_path):
    # Given an agent with its own sidecar, whose second action sleeps
    server.script(
        Reply(FIRST),
        Reply(code("print('sleeping', flush=True)\nimport time\ntime.sleep(60)")),
        Reply(code("final_answer('after the restart')")),
    )
    agent = CodeAgent(model=model_for(server), record_dir=tmp_path, step_timeout=120)
    pids: list[int] = []

    def kill_when_sleeping(event: Event) -> None:
        output = getattr(event, "output", None)
        if event.kind == "output_added" and "sleeping" in str(output.get("text", "")):
            pids.append(agent.executor.pid)
            os.kill(pids[-1], signal.SIGKILL)

    agent.subscribe(kill_when_sleeping)
    try:
        # When the sidecar is SIGKILLed while that action sleeps
        started = time.monotonic()
        watched = run_watched(agent)
        new_pid = agent.executor.pid
    finally:
        agent.close()
        for pid in pids:
            kill_if_running(pid)

    # Then the death is noticed at once, not after the step's two-minute deadline
    assert time.monotonic() - started < 60
    assert len(pids) == 1 and new_pid != pids[0]
    # And the killed step says so, and that every variable was lost
    killed = watched.actions[1]
    assert killed.error is not None and "KernelRestarted" in killed.error
    assert "restarted" in killed.observation and "lost" in killed.observation
    # And the run goes on in the new sidecar to its answer, every step kept
    assert (watched.result.state, watched.result.output) == ("success", "after the restart")
    assert_every_step_kept(watched)


# ----------------------------------------------------------------------------- host faults

HOST_SCRIPT = """
import sys
from smoldepot_jupyter import CodeAgent, ScriptedModel

def code(body):
    return "Thought: go\\n```python\\n" + body + "\\n```"

agent = CodeAgent([], ScriptedModel([
    code("first = 'one'\\nprint(first)"),
    code("print('sleeping', flush=True)\\nimport time\\ntime.sleep(120)"),
    code("final_answer('never')"),
]), record_dir=sys.argv[1])

def report(event):
    if event.kind == "run_started":
        print("RECORD", agent.recorder.path_for(event.run_id), flush=True)
    elif event.kind == "step_finished":
        print("STEP", event.step.get("step_number"), flush=True)
    elif event.kind == "output_added" and "sleeping" in str(event.output.get("text", "")):
        print("SIDECAR", agent.executor.pid, flush=True)

agent.subscribe(report)
agent.run("Two steps, the second one slow.")
"""


def test_host_sigkilled_mid_run_leaves_a_record_with_its_steps_and_no_sidecar(tmp_path):
    # Given an agent run in a child process, its second action sleeping in the sidecar
    host = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOST_SCRIPT), str(tmp_path / "runs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    record_path = sidecar_pid = None
    steps_seen: list[int] = []
    try:
        for line in host.stdout:
            word, _, rest = line.strip().partition(" ")
            if word == "RECORD":
                record_path = rest
            elif word == "STEP":
                steps_seen.append(int(rest))
            elif word == "SIDECAR":
                sidecar_pid = int(rest)
                break
        assert record_path and sidecar_pid, "the child never reached its slow step"

        # When the host is SIGKILLed after the first step is in the record
        os.kill(host.pid, signal.SIGKILL)
        host.wait(timeout=30)

        # Then its record loads with the first step, as a run that did not finish
        record = load_run(record_path)
        assert (record.state, record.complete) == ("incomplete", False)
        assert steps_seen == [1]
        assert [s.observation for s in record.steps if isinstance(s, ActionStep)] == ["one"]
        # And the dead host's sidecar goes away by itself
        assert wait_until_gone(sidecar_pid, within=20), f"sidecar {sidecar_pid} outlived its host"
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        kill_if_running(sidecar_pid)


# ----------------------------------------------------------------------------- record faults


def _mount(*args: str) -> None:
    if shutil.which("mount") is None:
        pytest.skip("no mount command here: cannot make a full or read-only file system")
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mounting is not permitted here ({done.stderr.strip() or done.returncode})")


def _unmount(directory: Path) -> None:
    for _ in range(20):
        if subprocess.run(["umount", str(directory)], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    subprocess.run(["umount", "-l", str(directory)], capture_output=True)


@pytest.fixture
def full_directory(tmp_path) -> Iterator[Path]:
    """A 64 KiB tmpfs: the record of a run with large outputs does not fit."""
    directory = tmp_path / "full"
    directory.mkdir()
    _mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(directory))
    try:
        yield directory
    finally:
        _unmount(directory)


@pytest.fixture
def read_only_directory(tmp_path) -> Iterator[Path]:
    """A read-only bind mount (as root, chmod would not stop a write)."""
    directory = tmp_path / "read-only"
    directory.mkdir()
    _mount("--bind", str(directory), str(directory))
    try:
        _mount("-o", "remount,ro,bind", str(directory))
        yield directory
    finally:
        _unmount(directory)


def assert_warned_once(watched: Watched, directory: Path, reason: str) -> None:
    assert len(watched.record_warnings) == 1, [str(w.message) for w in watched.record_warnings]
    message = str(watched.record_warnings[0].message)
    assert str(directory) in message and reason in message and "goes on" in message


def test_record_directory_filling_up_mid_run_warns_once_and_the_run_finishes(
    server, sidecar, full_directory
):
    # Given a record directory with room for 64 KiB, and two runs whose outputs need more
    big = [Reply(code("print('x' * 30_000)")), Reply(code("print('y' * 50_000)"))]
    server.script(*big, Reply(code("final_answer('done')")))
    server.script(*big, Reply(code("final_answer('again')")))
    agent = CodeAgent([], model_for(server), executor=sidecar, record_dir=full_directory)

    # When both run
    first = run_watched(agent)
    second = run_watched(agent, "Once more.")

    # Then both finish with every step in memory
    assert (first.result.state, first.result.output) == ("success", "done")
    assert (second.result.state, second.result.output) == ("success", "again")
    assert_every_step_kept(first, recorded=False)
    assert_every_step_kept(second, recorded=False)
    assert [a.observation[:1] for a in second.actions] == ["x", "y", "("]
    # And the user is told once that the record could not be written, and why
    assert_warned_once(first, full_directory, "No space left on device")
    assert second.record_warnings == []
    # And what did get written still loads, as a run without its end
    assert load_run(first.result.record_path).state == "incomplete"


def test_record_directory_full_from_the_start_warns_once_and_the_run_finishes(
    server, sidecar, full_directory
):
    # Given a record directory that is already full
    (full_directory / "filler").write_bytes(b"\0" * 64 * 1024)
    server.script(Reply(FIRST), Reply(FINAL))
    agent = CodeAgent([], model_for(server), executor=sidecar, record_dir=full_directory)

    # When the agent runs
    watched = run_watched(agent)

    # Then the run finishes as if nothing happened, and the user is told once
    assert (watched.result.state, watched.result.output) == ("success", 42)
    assert_every_step_kept(watched, recorded=False)
    assert_warned_once(watched, full_directory, "No space left on device")


def test_read_only_record_directory_warns_once_and_the_run_finishes(
    server, sidecar, read_only_directory
):
    # Given a record directory on a read-only file system
    server.script(Reply(FIRST), Reply(FINAL))
    agent = CodeAgent([], model_for(server), executor=sidecar, record_dir=read_only_directory)

    # When the agent runs
    watched = run_watched(agent)

    # Then the run finishes with every step, and the user is told once that it has no record
    assert (watched.result.state, watched.result.output) == ("success", 42)
    assert_every_step_kept(watched, recorded=False)
    assert_warned_once(watched, read_only_directory, "Read-only file system")
    assert list(read_only_directory.iterdir()) == []
