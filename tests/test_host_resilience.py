"""The host never breaks: whatever the sidecar sends (deep nesting, forged bridge messages, huge
payloads, output from stray threads), whatever model code rebinds in the sidecar, and whatever a
host tool does (raise SystemExit, never return, return too much), the action ends, the step is
recorded, and the next action is unaffected. Real kernels throughout; only the model is scripted.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
import warnings

import pytest
from conftest import assert_serves_next_action, result_text, stdout_text, value_of

from smoldepot_jupyter import CodeAgent, ScriptedModel, load_run
from smoldepot_jupyter.events import ErrorEvent, RunStarted
from smoldepot_jupyter.kernel import ExecutionInterrupted, TransferError
from smoldepot_jupyter.kernel.execution import Execution
from smoldepot_jupyter.kernel.transfer import decode_pulled
from smoldepot_jupyter.memory import ActionStep
from smoldepot_jupyter.records import RecordWarning, RunRecorder

pytestmark = pytest.mark.timeout(180)

#: Sidecar code defining ``deep(n)``: a list nested `n` levels deep.
DEEP = "def deep(n):\n    v = []\n    for _ in range(n):\n        v = [v]\n    return v\n"

#: Sidecar code binding ``raw`` (the kernel's input, as the stubs use it) and ``prefix``.
RAW = "import json\nraw = __smoldepot__._kernel_input\nprefix = __smoldepot__._state['prefix']\n"

#: Released at the end of each test: slow tools wait on it, so no thread outlives its test.
RELEASE = threading.Event()


class ToolBaseException(BaseException):
    """A BaseException subclass of the tool's own."""


def echo(value=None):
    """The nesting depth of `value` (lists only)."""
    depth = 0
    while isinstance(value, list) and value:
        value, depth = value[0], depth + 1
    return depth


def exits():
    """Raises SystemExit."""
    raise SystemExit(3)


def interrupts():
    """Raises KeyboardInterrupt itself (no one pressed Ctrl-C)."""
    raise KeyboardInterrupt("raised by the tool")


def generator_exit():
    """Raises GeneratorExit."""
    raise GeneratorExit("raised by the tool")


def own_base_exception():
    """Raises a BaseException subclass."""
    raise ToolBaseException("raised by the tool")


def slow():
    """Takes a minute unless released."""
    RELEASE.wait(60)
    return "slow done"


def big_text():
    """Two million characters of text."""
    return "x" * 2_000_000


def big_bytes():
    """Two million bytes (sent pickled)."""
    return b"x" * 2_000_000


def ctrl_c_on_host():
    """Delivers SIGINT to the host's main thread, as Ctrl-C does, then waits."""
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
    RELEASE.wait(60)
    return "not reached"


TOOLS = [echo, exits, interrupts, generator_exit, own_base_exception, slow, big_text, big_bytes]


@pytest.fixture(autouse=True)
def _release_slow_tools():
    RELEASE.clear()
    yield
    RELEASE.set()


@pytest.fixture(scope="module")
def tools_ex(make_module_executor):
    """A sidecar with the tools above and short tool limits."""
    ex = make_module_executor(
        interrupt_grace=2.0, tool_timeout=1.0, max_tool_result_chars=1_000_000
    )
    ex.register_tools(TOOLS)
    return ex


@pytest.fixture(scope="module")
def tamper_ex(make_module_executor):
    """A sidecar that model code tampers with (each test checks it was put right)."""
    ex = make_module_executor(interrupt_grace=2.0)
    ex.register_tools([echo])
    return ex


@contextlib.contextmanager
def python_default_recursion_limit():
    """The host at Python's default recursion limit (1000), as in a plain script: IPython
    (jedi) raises it to 3000 once imported, which hides recursion in the host's own code.
    Entered after the sidecar started, since starting one may import it."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def code(body: str) -> str:
    return f"Thought: go\n```python\n{body}\n```"


def quick(ex, source: str, within: float = 30.0):
    """Run `source`; assert that it ended on its own, well within `within` seconds."""
    started = time.monotonic()
    execution = ex.run(source, timeout=within)
    assert not execution.timed_out and not execution.restarted, execution.observation()
    assert time.monotonic() - started < within
    return execution


def record_of(ex, tmp_path, tools, replies):
    """Run a CodeAgent on `ex` with scripted `replies`; its result and its loaded record."""
    agent = CodeAgent(tools, ScriptedModel(replies), executor=ex, record_dir=tmp_path)
    result = agent.run("Do it.")
    return result, load_run(result.record_path)


def action_steps(record) -> list[ActionStep]:
    return [s for s in record.steps if isinstance(s, ActionStep)]


# ----------------------------------------------------------------------------- deep messages


def test_bridge_request_nested_200000_deep_gets_an_error_reply(tools_ex):
    # Given model code that read the private prefix and hand-builds a tool call whose
    # arguments are nested 200,000 deep
    args = "'[' * 200_000 + ']' * 200_000"
    source = RAW + (
        f'reply = json.loads(raw(prefix + \'{{"tool": "echo", "args": \' + {args} + '
        "', \"kwargs\": {}}'))\nprint(reply.get('error', 'NO ERROR'))"
    )

    # When it sends it through the kernel's input
    execution = quick(tools_ex, source)

    # Then the host answered with an error saying why, and serves the next action
    assert execution.error is None, execution.observation()
    assert "nested too deeply" in stdout_text(execution)
    assert execution.tool_calls == []
    assert_serves_next_action(tools_ex)


def test_input_with_the_prefix_and_200000_deep_json_is_answered(executor):
    # Given model code that calls input() with the private prefix and deep JSON after it
    source = "prefix = __smoldepot__._state['prefix']\n" + (
        "text = input(prefix + '[' * 200_000 + ']' * 200_000)\nprint(text[:40])"
    )

    # When it runs
    execution = quick(executor, source)

    # Then input() returned the host's error reply instead of leaving the kernel waiting
    assert execution.error is None, execution.observation()
    assert '{"error": "malformed bridge request' in stdout_text(execution)
    assert_serves_next_action(executor)


def test_user_interrupt_while_the_input_handler_asks_still_answers_the_kernel(make_executor):
    # Given an input handler that the user interrupts (Ctrl-C while being asked)
    def handler(prompt: str, password: bool) -> str:
        raise KeyboardInterrupt

    ex = make_executor(input_handler=handler)

    # When model code calls input()
    started = time.monotonic()
    with pytest.raises(ExecutionInterrupted):
        ex.run("answer = input('Name? ')\nprint('after', answer)", timeout=60)

    # Then the action ended as interrupted at once, and the next action is served
    assert time.monotonic() - started < 20
    assert_serves_next_action(ex)


def test_display_nested_too_deeply_to_keep_is_left_out_with_a_note(executor):
    # Given an action that displays JSON nested 2,500 deep between two prints (with the
    # recursion limit raised, as IPython 8 does on importing jedi, so the sidecar can send it)
    source = DEEP + (
        "import sys\nsys.setrecursionlimit(10_000)\n"
        "from IPython.display import display\nprint('before')\n"
        "display({'application/json': {'a': deep(2500)}, 'text/plain': 'deep'}, raw=True)\n"
        "print('after')"
    )

    # When it runs
    execution = quick(executor, source)

    # Then the other outputs are kept, the deep one is left out with a note saying so
    assert execution.error is None, execution.observation()
    assert stdout_text(execution) == "before\nafter\n"
    assert any("display_data" in note and "left out" in note for note in execution.notes)
    json.dumps(execution.to_dict())
    assert_serves_next_action(executor)


# ----------------------------------------------------------------------------- tools raising


@pytest.mark.parametrize(
    ("tool", "raised"),
    [
        ("exits", "SystemExit: 3"),
        ("interrupts", "KeyboardInterrupt: raised by the tool"),
        ("generator_exit", "GeneratorExit: raised by the tool"),
        ("own_base_exception", "ToolBaseException: raised by the tool"),
    ],
)
def test_tool_raising_a_base_exception_is_a_tool_error_in_the_sidecar(tools_ex, tool, raised):
    # When model code calls a host tool that raises a BaseException
    source = f"try:\n    {tool}()\nexcept ToolError as exc:\n    print('tool error:', exc)"
    execution = quick(tools_ex, source)

    # Then the model sees a ToolError naming it, the call is recorded, the host goes on
    assert execution.error is None, execution.observation()
    assert stdout_text(execution) == f"tool error: tool {tool!r} failed: {raised}\n"
    (call,) = execution.tool_calls
    assert call.name == tool and call.error == raised
    assert_serves_next_action(tools_ex)


def test_agent_run_with_a_tool_raising_system_exit_records_the_step(make_executor, tmp_path):
    # Given an agent whose tool raises SystemExit
    from smoldepot_jupyter import tool

    @tool
    def shutdown_everything() -> str:
        """Tries to end the host process."""
        raise SystemExit("bye")

    replies = [code("shutdown_everything()"), code("final_answer('still here')")]

    # When the model calls it, then answers
    result, record = record_of(make_executor(), tmp_path, [shutdown_everything], replies)

    # Then the run finished, and the step with the tool error is in the record
    assert (result.state, result.output) == ("success", "still here")
    first = action_steps(record)[0]
    assert "ToolError" in first.observation and "SystemExit: bye" in first.observation
    assert first.execution.tool_calls[0].error == "SystemExit: bye"


def test_host_interrupt_while_a_tool_runs_ends_the_action_as_interrupted(make_executor):
    # Given a tool during which the user presses Ctrl-C on the host
    ex = make_executor()
    ex.register_tools([ctrl_c_on_host])

    # When model code calls it
    started = time.monotonic()
    with pytest.raises(ExecutionInterrupted) as interrupted:
        ex.run("ctrl_c_on_host()\nprint('not reached')", timeout=60)

    # Then the action ended as interrupted (not a tool error), quickly, and the next is served
    assert time.monotonic() - started < 20
    (call,) = interrupted.value.execution.tool_calls
    assert "interrupted" in call.error
    RELEASE.set()
    assert_serves_next_action(ex)


# ----------------------------------------------------------------------------- deep values


def test_execution_with_a_600_deep_answer_and_tool_argument_converts_to_json(tools_ex):
    with python_default_recursion_limit():
        # Given an action that passes a 600-deep value to a tool and gives it as its answer
        execution = quick(tools_ex, DEEP + "v = deep(600)\nprint(echo(v))\nfinal_answer(v)")
        assert stdout_text(execution) == "600\n"

        # When the execution is converted to JSON (as the recorder does)
        data = json.loads(json.dumps(execution.to_dict()))

    # Then it converts; parts deeper than the bound are a {type, repr} placeholder
    answer = data["final_answer"]
    for _ in range(100):
        answer = answer[0]
    assert answer["type"] == "list" and answer["repr"].startswith("[[[[")
    assert Execution.from_dict(data).tool_calls[0].name == "echo"


def test_final_answer_nested_600_deep_is_recorded(make_executor, tmp_path):
    # Given a host at Python's default recursion limit and an answer nested 600 deep
    ex = make_executor()
    with python_default_recursion_limit():
        # When the agent's run ends with it
        result, record = record_of(ex, tmp_path, [], [code(DEEP + "final_answer(deep(600))")])

    # Then the run succeeded and the step is in its record
    assert result.state == "success" and echo(result.output) == 600
    assert record.complete and record.damaged_lines == []
    (step,) = action_steps(record)
    assert step.is_final_answer and step.execution.has_final_answer


def test_tool_argument_nested_600_deep_is_recorded(make_executor, tmp_path):
    # Given a tool, a host at Python's default recursion limit, and a 600-deep argument
    from smoldepot_jupyter import tool

    @tool
    def depth_of(value: list) -> int:
        """How deeply `value` is nested.

        Args:
            value: A nested list.
        """
        return echo(value)

    ex = make_executor()
    with python_default_recursion_limit():
        # When the model passes it to the tool
        replies = [code(DEEP + "print(depth_of(deep(600)))"), code("final_answer('done')")]
        result, record = record_of(ex, tmp_path, [depth_of], replies)

    # Then the step with the tool call is recorded
    assert result.state == "success"
    first = action_steps(record)[0]
    assert first.observation == "600"
    assert first.execution.tool_calls[0].name == "depth_of"


def test_final_answer_too_deep_for_the_sidecar_is_a_clear_tool_error(executor):
    # When model code gives an answer nested deeper than the sidecar can encode
    execution = quick(executor, DEEP + "final_answer(deep(5000))")

    # Then it is a ToolError saying what to do, not a RecursionError; no answer was given
    assert not execution.has_final_answer
    assert execution.error is not None and execution.error.ename == "ToolError"
    assert "nested too deeply" in execution.error.evalue
    assert_serves_next_action(executor)


def test_tool_argument_too_deep_for_the_sidecar_is_a_clear_tool_error(tools_ex):
    # When model code calls a tool with an argument nested deeper than the sidecar can encode
    execution = quick(tools_ex, DEEP + "echo(deep(5000))")

    # Then it is a ToolError saying what to do; the host was not called
    assert execution.error is not None and execution.error.ename == "ToolError"
    assert "nested too deeply" in execution.error.evalue
    assert execution.tool_calls == []


def test_recorder_writes_an_event_too_deep_for_json(tmp_path):
    # Given a recorder, and an event whose dict is nested deeper than json.dumps can go
    class DeepError(ErrorEvent):
        def to_dict(self):
            value: list = []
            for _ in range(5000):
                value = [value]
            return {**super().to_dict(), "message": value}

    recorder = RunRecorder(tmp_path)
    recorder(RunStarted(run_id="deep", task="t", model_id="m", max_steps=1))

    # When it records the event
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordWarning)
        recorder(DeepError(run_id="deep", step=1, message="x"))

    # Then the line is written, its deep part as a placeholder, and the record loads
    line = recorder.path_for("deep").read_text(encoding="utf-8").splitlines()[-1]
    assert '"repr"' in line
    recorder.close()
    assert load_run(recorder.path_for("deep")).damaged_lines == []


# ----------------------------------------------------------------------------- tool limits


def test_tool_that_does_not_return_in_time_is_abandoned_with_an_error(tools_ex):
    # When model code calls a tool that runs past the tool time limit (1 s here)
    started = time.monotonic()
    execution = quick(tools_ex, "try:\n    slow()\nexcept ToolError as exc:\n    print(exc)")

    # Then the sidecar got an error saying so soon after the limit; the call says it
    assert time.monotonic() - started < 15
    assert "did not return within 1 s" in stdout_text(execution)
    (call,) = execution.tool_calls
    assert "abandoned" in call.error


def test_tools_still_work_after_one_was_abandoned(tools_ex):
    # Given a tool call that was abandoned
    quick(tools_ex, "try:\n    slow()\nexcept ToolError:\n    pass")

    # When the next action calls a tool
    execution = quick(tools_ex, "print(echo([[1]]))")

    # Then it runs at once on a fresh thread
    assert execution.error is None, execution.observation()
    assert stdout_text(execution) == "2\n"


def test_tool_result_over_the_size_limit_is_refused_with_a_clear_error(tools_ex):
    # When a tool returns more than the result limit (1,000,000 characters here) as JSON
    execution = quick(tools_ex, "try:\n    big_text()\nexcept ToolError as exc:\n    print(exc)")

    # Then the model gets an error naming the size and the limit, and nothing was sent
    text = stdout_text(execution)
    assert "over the limit of 1,000,000" in text and "2,000,0" in text
    (call,) = execution.tool_calls
    assert call.result is None and "too large" in call.error


def test_pickled_tool_result_over_the_size_limit_is_refused(tools_ex):
    # When a tool returns bytes (sent pickled) over the result limit
    execution = quick(tools_ex, "try:\n    big_bytes()\nexcept ToolError as exc:\n    print(exc)")

    # Then it is refused the same way
    assert "over the limit of 1,000,000" in stdout_text(execution)
    assert "pickled" in stdout_text(execution)


def test_tool_result_under_the_limits_arrives_whole(tools_ex):
    # When a tool returns a small result within the time and size limits
    execution = quick(tools_ex, "echo([[[[1]]]])")

    # Then it arrives as before
    assert result_text(execution) == "4"
    assert execution.tool_calls[0].result == 4


# ----------------------------------------------------------------------------- pull


def sidecar_payload(executor, expression: str, trust: bool = False) -> dict:
    """What the sidecar's send() would transfer for `expression`, made by the sidecar."""
    quick(executor, f"resilience_payload = __smoldepot__._encode({expression}, {trust})")
    return executor.pull("resilience_payload")


def test_parquet_payload_decoding_over_the_limit_is_refused_before_decoding(executor):
    # Given a frame of a million identical values: a payload of a few kilobytes
    payload = sidecar_payload(executor, "__import__('pandas').DataFrame({'a': [0.0] * 10**6})")
    assert payload["kind"] == "parquet" and len(payload["data"]) < 100_000

    # When it is decoded with a limit of 1 MB
    with pytest.raises(TransferError) as refused:
        decode_pulled("frame", payload, False, max_decoded_bytes=1_000_000)

    # Then it is refused naming the size, the limit and what to do
    message = str(refused.value)
    assert "8,000,000 bytes" in message and "1,000,000" in message
    assert "head(" in message


def test_parquet_payload_under_the_limit_decodes(executor):
    # Given a frame of 1,000 values (8 kB decoded)
    payload = sidecar_payload(executor, "__import__('pandas').DataFrame({'a': [1.5] * 1000})")

    # When it is decoded with a limit of 1 MB, then it arrives whole
    frame = decode_pulled("frame", payload, False, max_decoded_bytes=1_000_000)
    assert frame.shape == (1000, 1) and frame["a"].sum() == 1500


def test_npy_array_over_the_limit_is_refused(executor):
    # Given an array of 200,000 floats (1.6 MB)
    payload = sidecar_payload(executor, "__import__('numpy').zeros(200_000)")

    # When it is decoded with a limit of 1 MB, then its header alone refuses it
    with pytest.raises(TransferError, match=r"1,600,000 bytes.*shape \(200000,\)"):
        decode_pulled("arr", payload, False, max_decoded_bytes=1_000_000)


FORGE_NPY = """
import base64, io, numpy
from numpy.lib import format as npy
header = io.BytesIO()
npy.write_array_header_1_0(header, {{'descr': '<f8', 'fortran_order': False, 'shape': ({n},)}})
forged = header.getvalue() + bytes(64)
__smoldepot__._encode = lambda value, trust: {{
    'kind': 'npy', 'data': base64.b64encode(forged).decode('ascii')}}
resilience_forged = 1
"""


def test_forged_npy_header_claiming_gigabytes_is_refused_before_allocating(make_executor):
    # Given model code that makes the next pull send a .npy header claiming 10**10 floats
    ex = make_executor()
    quick(ex, FORGE_NPY.format(n=10**10))

    # When the host pulls a value
    with pytest.raises(TransferError) as refused:
        ex.pull("resilience_forged")

    # Then it is refused from the header alone, naming the size and the pull limit
    assert "80,000,000,000 bytes" in str(refused.value) and "pull limit" in str(refused.value)
    assert_serves_next_action(ex)


def test_forged_npy_header_claiming_more_data_than_sent_is_refused(make_executor):
    # Given a .npy header claiming a million floats followed by 64 bytes
    ex = make_executor()
    quick(ex, FORGE_NPY.format(n=10**6))

    # When the host pulls it, then it is refused as damaged
    with pytest.raises(TransferError, match="claims 8,000,000 bytes of data, but only 64"):
        ex.pull("resilience_forged")


# ----------------------------------------------------------------------------- sidecar plumbing


def test_replaced_sys_stdout_is_restored_and_reported(tamper_ex):
    # When model code replaces sys.stdout
    execution = quick(tamper_ex, "import io, sys\nsys.stdout = io.StringIO()\nprint('lost')")

    # Then the action's observation says it was restored, and the next action's print shows
    assert any("sys.stdout" in note and "restored" in note for note in execution.notes)
    assert_serves_next_action(tamper_ex)


def test_replaced_stdout_write_gets_the_output_budget_back(make_executor):
    # Given a sidecar keeping 1,000 characters of output, whose stdout.write model code replaced
    ex = make_executor(max_output_bytes=1_000)
    quick(ex, "import sys\nsys.stdout.write = sys.__stdout__.write")

    # When the next action prints 5,000 characters
    execution = quick(ex, "print('y' * 5000)")

    # Then the budget applies again: the output was cut and the cut reported
    assert 0 < len(stdout_text(execution)) <= 1_000
    assert execution.dropped_output_chars >= 4_000


def test_rebound_kernel_raw_input_never_sees_the_bridge_prefix(tamper_ex):
    # Given model code that rebinds the kernel's raw_input to log prompts and forge replies
    source = (
        "seen = []\nkernel = get_ipython().kernel\n"
        "kernel.raw_input = lambda prompt='': (seen.append(prompt), '{\"result\": -1}')[1]\n"
        "print(echo([[1]]), seen)"
    )

    # When a tool is called in that action and the next
    first = quick(tamper_ex, source)
    second = quick(tamper_ex, "print(echo([[[1]]]), seen)")

    # Then the real tool answered each time and the prefix never reached model code
    assert stdout_text(first) == "2 []\n" and stdout_text(second) == "3 []\n"
    assert any("kernel.raw_input" in note for note in first.notes)


@pytest.mark.parametrize(
    ("rebind", "check"),
    [
        ("globals()['final_answer'] = print", "final_answer(7)"),
        ("exec('ToolError = ValueError')", "print(ToolError.__module__)"),
        ("globals()['echo'] = lambda value=None: -1", "print(echo([[1]]))"),
        ("get_ipython().reset(new_session=False)", "print(echo([[1]]))"),
    ],
    ids=["final_answer", "ToolError", "tool-stub", "reset"],
)
def test_names_rebound_behind_the_guard_rail_are_restored(tamper_ex, rebind, check):
    # When model code rebinds a name the agent relies on where the guard-rail cannot see
    execution = quick(tamper_ex, rebind)

    # Then the next action has the real one, and an observation says it was restored (that
    # of the action itself, or, when the reset took the reporting with it, of the next)
    after = quick(tamper_ex, check)
    notes = execution.notes + after.notes
    assert any("restored" in note for note in notes), execution.observation()
    assert after.error is None, after.observation()
    if check.startswith("final_answer"):
        assert after.has_final_answer and after.final_answer == 7
    elif "ToolError" in check:
        assert stdout_text(after) != "builtins\n"
    else:
        assert stdout_text(after) == "2\n" and after.tool_calls


def test_unregistered_pre_execute_hook_is_registered_again(make_executor):
    # Given a sidecar keeping 1,000 characters of output, and an action that prints 900 and
    # removes the hook that starts each action's output budget
    ex = make_executor(max_output_bytes=1_000)
    source = (
        "print('a' * 900)\n"
        "get_ipython().events.unregister('pre_execute', __smoldepot__._pre_execute)"
    )
    first = quick(ex, source)
    assert any("pre_execute" in note for note in first.notes)

    # When the next action prints 900 characters
    second = quick(ex, "print('b' * 900)")

    # Then it has a budget of its own again: nothing was dropped
    assert stdout_text(second) == "b" * 900 + "\n"
    assert second.dropped_output_chars == 0


def test_replaced_builtins_input_does_not_outlive_its_action(tamper_ex):
    # Given model code that replaces builtins.input
    quick(tamper_ex, "import builtins\nbuiltins.input = lambda prompt='': 'forged'")

    # When the next action calls input()
    execution = quick(tamper_ex, "input('Name? ')")

    # Then it gets the guard's clear EOFError, not the forged value
    assert execution.error is not None and execution.error.ename == "EOFError"
    assert "no one to answer it" in execution.error.evalue


def test_rebound_smoldepot_module_name_is_restored_before_the_next_action(make_executor):
    # Given a sidecar keeping 1,000 characters, and model code rebinding __smoldepot__
    ex = make_executor(max_output_bytes=1_000)
    quick(ex, "__smoldepot__ = None")

    # When the next action prints too much
    execution = quick(ex, "print('c' * 5000)")

    # Then the facts of that action still reach the host
    assert execution.dropped_output_chars >= 4_000
    assert value_of(ex, "type(__smoldepot__).__name__") == "'module'"


# ----------------------------------------------------------------------------- thread output


def test_output_of_a_thread_from_an_earlier_action_is_not_in_a_later_one(executor):
    # Given a thread, started by one action, that prints every 50 ms
    start = (
        "import threading, time\nresilience_stop = threading.Event()\n"
        "def resilience_tick():\n    while not resilience_stop.is_set():\n"
        "        print('tick', flush=True)\n        time.sleep(0.05)\n"
        "threading.Thread(target=resilience_tick, daemon=True).start()\ntime.sleep(0.3)"
    )
    first = quick(executor, start)
    assert "tick" in stdout_text(first)

    # When a later action runs for half a second
    try:
        second = quick(executor, "import time\ntime.sleep(0.5)\nprint('second')")
    finally:
        quick(executor, "resilience_stop.set()")

    # Then its outputs hold only its own print; a note says what was left out
    assert stdout_text(second) == "second\n"
    assert any("threads started in earlier actions" in note for note in second.notes)


def test_output_of_a_thread_joined_within_its_action_is_kept(executor):
    # When an action starts a thread that prints, and joins it
    source = (
        "import threading\nt = threading.Thread(target=lambda: print('from thread'))\n"
        "t.start()\nt.join()\nprint('main')"
    )
    execution = quick(executor, source)

    # Then the thread's output is that action's
    assert stdout_text(execution) == "from thread\nmain\n"


def test_thread_pool_reused_by_a_later_action_shows_that_actions_output(executor):
    # Given a thread pool made (and used) by one action
    quick(
        executor,
        "from concurrent.futures import ThreadPoolExecutor\n"
        "resilience_pool = ThreadPoolExecutor(2)\nresilience_pool.submit(print, 'one').result()",
    )

    # When a later action gives it work that prints
    execution = quick(executor, "resilience_pool.submit(print, 'two').result()")

    # Then that output is the later action's
    assert stdout_text(execution) == "two\n"
    quick(executor, "resilience_pool.shutdown()")


# ----------------------------------------------------------------------------- records


@pytest.fixture
def recorded_run(make_executor, tmp_path):
    """The record of a real three-step run: its path and its lines."""
    replies = [code("print('one')"), code("print('two')"), code("final_answer('three')")]
    result, _ = record_of(make_executor(), tmp_path, [], replies)
    path = result.record_path
    return path, path.read_text(encoding="utf-8").splitlines(keepends=True)


def middle_step_line(lines: list[str]) -> int:
    """The index of the line holding the first action step's StepFinished."""
    return next(
        i
        for i, line in enumerate(lines)
        if '"step_finished"' in line and '"type": "action"' in line
    )


def load_with_warning(path):
    with pytest.warns(RecordWarning, match="damaged") as caught:
        record = load_run(path)
    return record, str(caught[0].message)


def test_record_with_a_corrupt_middle_line_keeps_every_other_line(recorded_run):
    # Given a record whose first step's line is overwritten with garbage
    path, lines = recorded_run
    index = middle_step_line(lines)
    lines[index] = "\x00\x7f garbage from a bad disk \x00\n"
    path.write_text("".join(lines), encoding="utf-8")

    # When it is loaded
    record, warning = load_with_warning(path)

    # Then everything else is there, and the record says which line it skipped
    assert record.damaged_lines == [index + 1] and f"line {index + 1}" in warning
    assert [s.step_number for s in action_steps(record)] == [2, 3]
    assert action_steps(record)[0].observation == "two"
    assert record.state == "success" and record.output == "three"
    assert record.complete is False and len(record.model_turns) == 3


def test_record_with_a_truncated_middle_line_keeps_every_other_line(recorded_run):
    # Given a record with a line cut off mid-write in the middle (a crash, then more appended)
    path, lines = recorded_run
    index = middle_step_line(lines)
    lines[index] = lines[index][: len(lines[index]) // 2] + "\n"
    path.write_text("".join(lines), encoding="utf-8")

    # When it is loaded, then only that line is missing
    record, _ = load_with_warning(path)
    assert record.damaged_lines == [index + 1]
    assert [s.step_number for s in action_steps(record)] == [2, 3]
    assert record.output == "three"


def test_record_with_an_unreadable_step_in_the_middle_keeps_the_others(recorded_run):
    # Given a record whose first step is valid JSON that is not a step
    path, lines = recorded_run
    index = middle_step_line(lines)
    data = json.loads(lines[index])
    data["step"] = {"type": "action", "step_number": "not a number", "timing": 5}
    lines[index] = json.dumps(data) + "\n"
    path.write_text("".join(lines), encoding="utf-8")

    # When it is loaded, then that line is skipped and named, the rest loaded
    record, _ = load_with_warning(path)
    assert record.damaged_lines == [index + 1]
    assert [s.step_number for s in action_steps(record)] == [2, 3]


def test_with_no_tool_time_limit_a_tool_runs_in_the_calling_thread(make_executor):
    # Given a tool bound to the thread that made it (a sqlite3 connection, as a notebook makes)
    import sqlite3

    connection = sqlite3.connect(":memory:")

    def count_rows() -> int:
        """Rows in a table made on this thread."""
        return connection.execute("select 41 + 1").fetchone()[0]

    ex = make_executor(tool_timeout=None)
    ex.register_tools([count_rows])

    # When model code calls it
    execution = ex.run("print(count_rows())")

    # Then it ran on the thread that owns the connection
    assert execution.error is None, execution.observation()
    assert stdout_text(execution) == "42\n"
