"""Faults and hostile input: the host survives, the Execution says what happened, and the next
action is served, with state kept unless the kernel had to restart (and then it says so)."""

from __future__ import annotations

import os
import signal
import time

import pytest
from conftest import (
    assert_serves_next_action,
    kept_output_chars,
    stdout_text,
    validate_outputs,
    value_of,
)

pytestmark = pytest.mark.timeout(180)

LOST = "all variables"


def keep(executor, name: str) -> None:
    """Define `name` in the sidecar so a test can check later that state was kept."""
    execution = executor.run(f"{name} = 'kept {name}'")
    assert execution.error is None, execution.observation()


def assert_kept(executor, name: str) -> None:
    assert value_of(executor, name) == f"'kept {name}'"


def assert_lost(executor, name: str) -> None:
    execution = executor.run(name)
    assert execution.error is not None and execution.error.ename == "NameError"


def assert_restart_reported(execution) -> None:
    assert execution.restarted is True
    assert execution.error is not None
    assert execution.error.ename == "KernelRestarted"
    observation = execution.observation()
    assert "restarted" in observation
    assert LOST in observation and "lost" in observation


# ----------------------------------------------------------------------------- errors


def test_syntax_error_is_reported_and_state_kept(executor):
    # Given some state
    keep(executor, "before_syntax_error")

    # When an action does not parse
    execution = executor.run("def broken(:\n    pass")

    # Then the model sees a SyntaxError, and the next action runs with state kept
    assert execution.error is not None and execution.error.ename == "SyntaxError"
    assert "SyntaxError" in execution.observation()
    assert not execution.restarted
    assert_kept(executor, "before_syntax_error")


def test_two_hundred_frame_traceback_gives_a_short_observation(executor):
    # Given a chain of 200 distinct functions, the last of which raises
    chain = "".join(f"def step{i}():\n    return step{i + 1}()\n" for i in range(200))
    code = chain + "def step200():\n    raise ValueError('bottom of the chain')\nstep0()\n"
    keep(executor, "before_deep_traceback")

    # When it runs
    execution = executor.run(code)

    # Then the full traceback is kept on the error, but the observation stays short
    assert execution.error is not None and execution.error.ename == "ValueError"
    assert len("\n".join(execution.error.traceback)) > 10_000
    observation = execution.observation()
    assert len(observation) < 3_000
    assert "ValueError: bottom of the chain" in observation
    assert "> 403 step0()" in observation  # the action's own line
    assert "raise ValueError('bottom of the chain')" in observation  # the raising line
    assert "more frames" in observation
    assert_kept(executor, "before_deep_traceback")


def test_recursion_bomb_raises_recursion_error_and_state_kept(executor):
    # Given some state
    keep(executor, "before_recursion")

    # When an action recurses without end
    execution = executor.run("def forever(n):\n    return forever(n + 1)\nforever(0)", timeout=120)

    # Then it is a RecursionError with a short observation, and the kernel lives on
    assert execution.error is not None and execution.error.ename == "RecursionError"
    assert not execution.restarted
    assert len(execution.observation()) < 3_000
    assert "RecursionError" in execution.observation()
    assert_kept(executor, "before_recursion")


@pytest.mark.parametrize("call", ["sys.exit()", "sys.exit(3)", "exit()", "quit()"])
def test_exit_ends_only_the_action_and_keeps_the_kernel(executor, call):
    # Given some state
    keep(executor, "before_exit")
    old_pid = executor.pid

    # When an action calls an exit function, then prints
    execution = executor.run(f"import sys\nprint('before')\n{call}\nprint('after')")

    # Then only that action ended: same kernel, state kept, and the model is told so
    assert stdout_text(execution) == "before\n"
    assert execution.error is not None and execution.error.ename == "SystemExit"
    assert not execution.restarted
    assert any("final_answer" in note for note in execution.notes)
    assert "kernel" in execution.observation() and "remain" in execution.observation()
    assert executor.pid == old_pid
    assert_kept(executor, "before_exit")


def test_raised_keyboard_interrupt_is_an_ordinary_error(executor):
    # Given some state
    keep(executor, "before_keyboard_interrupt")

    # When an action raises KeyboardInterrupt itself
    execution = executor.run("raise KeyboardInterrupt")

    # Then it is reported as that error; the kernel goes on
    assert execution.error is not None and execution.error.ename == "KeyboardInterrupt"
    assert not execution.timed_out and not execution.restarted
    assert "KeyboardInterrupt" in execution.observation()
    assert_kept(executor, "before_keyboard_interrupt")


# ----------------------------------------------------------------------------- deadlines


@pytest.mark.parametrize(
    "code",
    ["while True:\n    pass", "import time\ntime.sleep(1e9)"],
    ids=["busy-loop", "long-sleep"],
)
def test_timeout_interrupts_and_keeps_state(executor, code):
    # Given some state
    keep(executor, "before_timeout")

    # When an action runs past a 2 s timeout
    started = time.monotonic()
    execution = executor.run("partial_before_timeout = 1\n" + code, timeout=2)

    # Then it was interrupted (not restarted), says so, and kept what it assigned
    assert time.monotonic() - started < 30
    assert execution.timed_out is True
    assert execution.restarted is False
    assert execution.error is not None and execution.error.ename == "TimeoutError"
    observation = execution.observation()
    assert "time limit" in observation
    assert "kept" in observation
    assert_kept(executor, "before_timeout")
    assert value_of(executor, "partial_before_timeout") == "1"


def test_interrupt_ignoring_busy_loop_is_ended_by_a_restart(make_executor):
    # Given state, and an action that ignores SIGINT and spins
    ex = make_executor(interrupt_grace=2)
    keep(ex, "before_stubborn_loop")
    code = (
        "import signal\nsignal.signal(signal.SIGINT, lambda *args: None)\nwhile True:\n    pass\n"
    )

    # When it runs past its timeout
    started = time.monotonic()
    execution = ex.run(code, timeout=2)

    # Then the kernel was restarted, the Execution says so and that variables were lost
    assert time.monotonic() - started < 60
    assert execution.timed_out is True
    assert_restart_reported(execution)
    assert "time limit" in execution.observation()
    assert_lost(ex, "before_stubborn_loop")
    assert_serves_next_action(ex)


# ----------------------------------------------------------------------------- kernel death


@pytest.mark.parametrize(
    "code",
    ["import os\nos._exit(1)", "import os\nos.kill(os.getpid(), 9)"],
    ids=["os._exit", "sigkill-self"],
)
def test_kernel_death_is_noticed_quickly_and_reported_as_a_restart(make_executor, code):
    # Given state in a kernel
    ex = make_executor()
    keep(ex, "before_death")
    old_pid = ex.pid

    # When an action kills its own kernel (with a long timeout, so only death can end it)
    started = time.monotonic()
    execution = ex.run(code, timeout=600)

    # Then run() returns soon, reporting the restart and the lost variables
    assert time.monotonic() - started < 60
    assert execution.timed_out is False
    assert_restart_reported(execution)
    assert "died" in execution.observation()
    assert ex.pid != old_pid
    assert_lost(ex, "before_death")
    assert_serves_next_action(ex)


def test_frozen_kernel_is_noticed_by_its_heartbeat_and_restarted(make_executor):
    # Given state in a kernel
    ex = make_executor()
    keep(ex, "before_freeze")

    # When an action freezes its own process (SIGSTOP: alive, but answering nothing)
    started = time.monotonic()
    execution = ex.run("import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)", timeout=600)

    # Then run() does not hang: the kernel is restarted and the Execution says so
    assert time.monotonic() - started < 60
    assert_restart_reported(execution)
    assert_lost(ex, "before_freeze")
    assert_serves_next_action(ex)


def test_kernel_death_between_actions_is_reported_on_the_next_action(make_executor):
    # Given state in a kernel that then dies while idle (OOM killer, a stray signal...)
    ex = make_executor()
    keep(ex, "before_idle_death")
    old_pid = ex.pid
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while ex.is_alive() and time.monotonic() < deadline:  # until the process was reaped
        time.sleep(0.1)
    assert not ex.is_alive()

    # When the next action runs
    execution = ex.run("print('in a new kernel')")

    # Then it runs in a new kernel, and the Execution says the variables were lost
    assert stdout_text(execution) == "in a new kernel\n", execution.observation()
    assert execution.restarted is True
    assert LOST in execution.observation()
    assert_lost(ex, "before_idle_death")


def test_ipython_ask_exit_does_not_lose_state_silently(make_executor):
    # Given state in a kernel
    ex = make_executor()
    keep(ex, "before_ask_exit")

    # When an action asks IPython to exit, and the next action reads the state
    asked = ex.run("get_ipython().ask_exit()\nprint('after ask_exit')")
    deadline = time.monotonic() + 3  # (ipykernel, if it exits, does so within a second)
    while ex.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    following = ex.run("before_ask_exit")

    # Then the exit ended only that action, as exit() does, and the state is still there
    assert "after ask_exit" not in stdout_text(asked)
    assert "ended only this action" in asked.observation()
    assert following.error is None and not following.restarted
    assert value_of(ex, "before_ask_exit") == "'kept before_ask_exit'"


def test_kernel_killed_from_outside_during_an_action_is_noticed(make_executor):
    # Given a kernel busy with a long action, killed by someone else once it is sleeping
    ex = make_executor()
    pid = ex.pid

    def kill_when_sleeping(event, index, output):
        if event == "add":
            os.kill(pid, signal.SIGKILL)

    # When the action runs (with a long timeout, so only the death can end it)
    started = time.monotonic()
    execution = ex.run(
        "import time\nprint('sleeping', flush=True)\ntime.sleep(600)",
        timeout=600,
        on_output=kill_when_sleeping,
    )

    # Then run() returns soon with the restart reported, and the executor works again
    assert time.monotonic() - started < 60
    assert execution.timed_out is False
    assert_restart_reported(execution)
    assert_serves_next_action(ex)


# ----------------------------------------------------------------------------- output floods


def test_hundred_megabytes_of_output_in_chunks_is_cheap_and_bounded(executor):
    # Given some state
    keep(executor, "before_flood")

    # When an action writes 100 MB in 1 MB chunks
    started = time.monotonic()
    execution = executor.run(
        "import sys\nfor _ in range(100):\n    sys.stdout.write('y' * 10**6)\nprint('end')",
        timeout=120,
    )

    # Then the host keeps at most the budget, counts the rest, and says so
    assert time.monotonic() - started < 60
    assert execution.error is None
    assert kept_output_chars(execution) <= executor.max_output_bytes
    assert execution.dropped_output_chars >= 99 * 10**6
    assert "characters of output were dropped" in execution.observation()
    assert len(execution.observation()) < 12_000
    assert_kept(executor, "before_flood")


def test_invalid_utf8_and_nul_bytes_on_stdout_do_not_break_anything(executor):
    # Given some state
    keep(executor, "before_bad_bytes")

    # When an action writes invalid UTF-8 and NUL bytes to stdout, at fd and Python level
    code = (
        "import os, sys, time\n"
        "os.write(1, b'\\xff\\xfe\\x00abc\\n')\n"
        "sys.stdout.write('a\\x00b\\n')\n"
        "sys.stdout.flush()\n"
        "time.sleep(1)  # let ipykernel forward the fd-level bytes\n"
    )
    execution = executor.run(code)

    # Then the outputs are valid notebook outputs and the observation is clean text
    assert execution.error is None, execution.observation()
    validate_outputs(execution.outputs)
    observation = execution.observation()
    assert "\x00" not in observation
    assert "abc" in observation
    assert "ab\n" in observation + "\n"
    assert_kept(executor, "before_bad_bytes")


def test_ten_thousand_tiny_prints_arrive_merged_and_complete(executor):
    # When an action prints 10,000 short lines
    execution = executor.run("for i in range(10_000):\n    print(i)")

    # Then they arrive as one merged stdout output, all of them, and the observation is cut
    assert execution.error is None
    assert len(execution.outputs) == 1
    assert stdout_text(execution) == "".join(f"{i}\n" for i in range(10_000))
    observation = execution.observation()
    assert observation.startswith("0\n1\n2\n")
    assert observation.endswith("9998\n9999")
    assert "cut from the middle" in observation
    assert_serves_next_action(executor)


# ----------------------------------------------------------------------------- forged bridge


def test_input_with_a_forged_prefix_is_treated_as_plain_input(executor):
    # When model code calls input() with a prompt that imitates the bridge's prefix
    code = 'reply = input(\'\\x00smoldepot:0000000000000000\\x00{"tool": "x"}\')'
    execution = executor.run(code)

    # Then it is model input like any other: no tool call, EOFError as for plain input()
    assert execution.tool_calls == []
    assert execution.error is not None and execution.error.ename == "EOFError"
    assert "no one to answer" in execution.error.evalue
    assert_serves_next_action(executor)


def test_real_prefix_with_malformed_json_is_answered_with_an_error(executor):
    # Given some state
    keep(executor, "before_malformed")

    # When model code sends the real prefix followed by malformed JSON, and shows the reply
    code = "print(input(__smoldepot__._state['prefix'] + '{not json'))"
    execution = executor.run(code)

    # Then the host refuses it as malformed, and the model can see that
    assert execution.tool_calls == []
    assert "malformed" in execution.observation()
    assert not execution.restarted
    assert_kept(executor, "before_malformed")


def test_fifty_megabyte_bridge_request_is_refused_as_too_large(executor):
    # Given some state
    keep(executor, "before_huge_request")

    # When model code sends a 50 MB request with the real prefix, and shows the reply
    code = "print(input(__smoldepot__._state['prefix'] + 'x' * 50_000_000))"
    started = time.monotonic()
    execution = executor.run(code, timeout=120)

    # Then the host refuses it as too large and survives
    assert time.monotonic() - started < 60
    assert execution.tool_calls == []
    assert "too large" in execution.observation()
    assert not execution.restarted
    assert_kept(executor, "before_huge_request")
