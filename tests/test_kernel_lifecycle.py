"""The sidecar's life: start, prewarm, restart, interrupt, shutdown, and no orphans left behind."""

from __future__ import annotations

import gc
import inspect
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import (
    kill_if_running,
    process_gone,
    result_text,
    stdout_text,
    value_of,
    wait_until_gone,
)

from smoldepot_jupyter.kernel import Execution, KernelExecutor, KernelStartError

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[1]


def test_public_api_has_the_specified_signature():
    # Given the package's public names
    from smoldepot_jupyter.kernel import Execution as ImportedExecution
    from smoldepot_jupyter.kernel import KernelExecutor as ImportedExecutor

    # When the constructor's signature is read
    parameters = inspect.signature(ImportedExecutor).parameters

    # Then it takes the documented options with their defaults, the last three keyword-only
    assert ImportedExecution is Execution
    expected = {
        "kernel_name": "python3",
        "cwd": None,
        "env_allowlist": (),
        "authorized_imports": None,
        "startup_timeout": 60,
        "max_output_bytes": 1_000_000,
        "input_handler": None,
        "default_timeout": 300,
        "interrupt_grace": 5,
        "push_limit_bytes": 256 * 2**20,
        "sandbox": "auto",
        "network": False,
        "sandbox_paths": (),
        "hidden_paths": (),
        "limits": None,
        "tool_timeout": 300.0,
        "max_tool_result_chars": 16 * 2**20,
        "max_pull_bytes": 512 * 2**20,
    }
    assert list(parameters) == list(expected)
    assert {name: p.default for name, p in parameters.items()} == expected
    keyword_only = [n for n, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert keyword_only == list(expected)[7:]
    for method in (
        "start",
        "prewarm",
        "run",
        "interrupt",
        "restart",
        "shutdown",
        "push",
        "pull",
        "register_tools",
        "is_alive",
    ):
        assert callable(getattr(ImportedExecutor, method)), method


def test_context_manager_starts_the_kernel_and_stops_it_on_exit():
    # Given an executor used as a context manager
    with KernelExecutor() as ex:
        # When it is entered, a kernel process runs
        pid = ex.pid
        assert isinstance(pid, int)
        assert ex.is_alive()
        assert not process_gone(pid)
    # Then leaving the block stops that process
    try:
        assert wait_until_gone(pid, within=10), f"kernel {pid} still runs after shutdown"
        assert not ex.is_alive()
    finally:
        kill_if_running(pid)


def test_shutdown_stops_the_kernel_process_and_is_idempotent(make_executor):
    # Given a started executor
    ex = make_executor()
    pid = ex.pid
    assert not process_gone(pid)

    # When it is shut down (twice)
    ex.shutdown()
    ex.shutdown()

    # Then the kernel process is gone and the executor says it is not alive
    assert wait_until_gone(pid, within=10), f"kernel {pid} still runs after shutdown()"
    assert not ex.is_alive()
    assert ex.pid is None


def test_run_starts_the_kernel_when_not_started(make_executor):
    # Given an executor that was never started
    ex = make_executor(start=False)
    assert not ex.is_alive()

    # When an action runs
    execution = ex.run("21 * 2")

    # Then the kernel was started for it and the action ran
    assert execution.error is None, execution.observation()
    assert result_text(execution) == "42"
    assert ex.is_alive()


def test_state_persists_between_actions(executor):
    # Given a variable and a function defined by one action
    first = executor.run("persist_value = 41\ndef persist_inc(x):\n    return x + 1")
    assert first.error is None, first.observation()

    # When a later action uses them
    second = executor.run("persist_inc(persist_value)")

    # Then they are still there
    assert second.error is None, second.observation()
    assert result_text(second) == "42"


def test_transport_is_ipc_with_connection_file_in_private_directory(executor):
    # Given a running executor
    km = executor._process.km

    # Then it talks over IPC sockets, and the connection file lives in a 0700 directory
    assert km.transport == "ipc"
    directory = Path(km.connection_file).parent
    assert Path(km.connection_file).is_file()
    # (permission bits: jupyter_client adds the sticky bit, which grants nobody access)
    assert directory.stat().st_mode & 0o777 == 0o700
    # and the IPC socket files are in that private directory too
    assert Path(km.ip).parent == directory


def test_cwd_option_sets_the_sidecar_working_directory(make_executor, tmp_path):
    # Given a working directory holding a data file
    (tmp_path / "data.txt").write_text("from the cwd")

    # When an executor is started with cwd set to it
    ex = make_executor(cwd=tmp_path)
    execution = ex.run("import os\nprint(os.getcwd())\nprint(open('data.txt').read())")

    # Then the sidecar runs there: relative paths resolve in it
    assert execution.error is None, execution.observation()
    cwd, content = stdout_text(execution).splitlines()
    assert os.path.realpath(cwd) == os.path.realpath(tmp_path)
    assert content == "from the cwd"


def descendants(pid: int) -> list[int]:
    """The host pids of every process below `pid` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def test_shutdown_also_stops_processes_started_by_model_code(make_executor):
    # Given model code that started a long-running child process, and a detached one
    ex = make_executor()
    before = set(descendants(ex.pid))
    execution = ex.run(
        "import subprocess\n"
        "child = subprocess.Popen(['sleep', '600'])\n"
        "daemon = subprocess.Popen(['sleep', '601'], start_new_session=True)\n"
    )
    assert execution.error is None, execution.observation()
    started = [p for p in descendants(ex.pid) if p not in before]
    assert len(started) >= 2
    if ex.sandbox_level == "process":
        # (a process that left the session is only reachable under bwrap's pid namespace)
        started = started[:1]

    # When the executor shuts down
    try:
        ex.shutdown()

        # Then the children are gone too
        for pid in started:
            assert wait_until_gone(pid, within=10), f"process {pid} outlived the sidecar"
    finally:
        for pid in started:
            kill_if_running(pid)


def test_restart_loses_variables_but_keeps_tools(make_executor):
    # Given a kernel with a variable and a registered tool
    def double(x: int) -> int:
        """Twice x."""
        return 2 * x

    ex = make_executor()
    ex.register_tools([double])
    assert ex.run("kept_before_restart = 1").error is None
    old_pid = ex.pid

    # When the executor is restarted
    ex.restart()

    # Then the variable is gone, the tool still works, and a new process runs
    lost = ex.run("kept_before_restart")
    assert lost.error is not None and lost.error.ename == "NameError"
    assert value_of(ex, "double(21)") == "42"
    assert ex.pid != old_pid
    assert wait_until_gone(old_pid, within=10)


def test_prewarm_starts_the_kernel_in_the_background(make_executor):
    # Given an executor that is prewarmed (returns at once, starting in a thread)
    ex = make_executor(start=False)
    ex.prewarm()
    deadline = time.monotonic() + 60
    while not ex.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ex.is_alive(), "prewarm() did not start the kernel within 60 s"

    # When the first action runs
    started = time.monotonic()
    execution = ex.run("print('warm')")

    # Then it works, without a cold start of its own
    assert execution.error is None, execution.observation()
    assert stdout_text(execution) == "warm\n"
    assert time.monotonic() - started < 30


@pytest.mark.timeout(30)
def test_run_immediately_after_prewarm_works(make_executor):
    # Given an executor that was just prewarmed (its start is still under way)
    ex = make_executor(start=False)
    ex.prewarm()

    # When the first action runs at once
    execution = ex.run("print('warm at once')")

    # Then it waits for the background start and runs (it must not deadlock with it)
    assert execution.error is None, execution.observation()
    assert stdout_text(execution) == "warm at once\n"


@pytest.mark.timeout(30)
def test_prewarm_failure_surfaces_on_first_run_naming_the_kernel(make_executor):
    # Given an executor for a kernel that does not exist, prewarmed
    ex = make_executor(start=False, kernel_name="no-such-kernel")
    ex.prewarm()

    # When the first action runs, Then the start failure is raised, naming the kernel
    with pytest.raises(KernelStartError, match="no-such-kernel"):
        ex.run("1 + 1")


def test_start_of_unknown_kernel_raises_kernel_start_error(make_executor):
    # Given an executor for a kernel that does not exist
    ex = make_executor(start=False, kernel_name="no-such-kernel")

    # When it is started, Then KernelStartError names the kernel
    with pytest.raises(KernelStartError, match="no-such-kernel"):
        ex.start()
    assert not ex.is_alive()


def test_interrupt_from_another_thread_stops_the_action_and_keeps_state(executor):
    # Given a variable, and a listener that, once the action is sleeping, starts a timer
    # thread calling interrupt()
    assert executor.run("kept_through_interrupt = 'still here'").error is None
    timers = []

    def interrupt_soon(event, index, output):
        if event == "add" and not timers:
            timers.append(threading.Timer(0.5, executor.interrupt))
            timers[0].start()

    # When a long action is interrupted from that thread
    started = time.monotonic()
    try:
        execution = executor.run(
            "import time\nprint('sleeping', flush=True)\ntime.sleep(30)\nprint('slept')",
            timeout=120,
            on_output=interrupt_soon,
        )
    finally:
        for timer in timers:
            timer.cancel()
    elapsed = time.monotonic() - started

    # Then it ends early with a KeyboardInterrupt, the kernel was not restarted, state is kept
    assert elapsed < 25
    assert execution.error is not None and execution.error.ename == "KeyboardInterrupt"
    assert not execution.timed_out and not execution.restarted
    assert stdout_text(execution) == "sleeping\n"
    assert "interrupted" in execution.observation().lower()
    assert value_of(executor, "kept_through_interrupt") == "'still here'"


def test_garbage_collected_executor_stops_its_kernel():
    # Given a started executor referenced only by a local name
    ex = KernelExecutor()
    ex.start()
    pid = ex.pid
    assert pid is not None and not process_gone(pid)

    # When the last reference goes and the garbage collector runs
    del ex
    gc.collect()

    # Then its kernel process is stopped
    try:
        assert wait_until_gone(pid, within=10), f"kernel {pid} outlived its executor"
    finally:
        kill_if_running(pid)


def test_sigkilled_host_leaves_no_kernel_running(tmp_path, sandbox_level):
    # Given a host process that started a sidecar and then just waits
    script = tmp_path / "host.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, time
            sys.path.insert(0, {str(REPO)!r})
            from smoldepot_jupyter.kernel import KernelExecutor
            ex = KernelExecutor(sandbox={sandbox_level!r}, cwd={str(tmp_path)!r})
            ex.start()
            print(ex.pid, ex._process.workdir, flush=True)
            time.sleep(600)
            """
        )
    )
    host = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    kernel_pid = workdir = None
    try:
        line = host.stdout.readline()
        assert line.split()[:1] and line.split()[0].isdigit(), (
            f"host did not report a pid: {line!r} {host.stderr.read()}"
        )
        kernel_pid, workdir = int(line.split()[0]), line.split()[1]
        assert not process_gone(kernel_pid)

        # When the host is SIGKILLed (no chance to clean up)
        host.send_signal(signal.SIGKILL)
        host.wait(timeout=30)

        # Then the kernel notices its parent is gone and exits by itself
        assert wait_until_gone(kernel_pid, within=15), f"kernel {kernel_pid} orphaned"
        # and the next sidecar started on this machine removes the dead host's private folder
        with KernelExecutor(sandbox=sandbox_level, cwd=tmp_path):
            assert not os.path.exists(workdir)
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        kill_if_running(kernel_pid)
        if workdir:  # the killed host could not remove its private directory itself
            shutil.rmtree(workdir, ignore_errors=True)


def test_execution_of_a_plain_action_reports_success(executor):
    # Given a simple action
    # When it runs
    execution = executor.run("lifecycle_sum = sum(range(10))\nprint(lifecycle_sum)")

    # Then the Execution reports a clean run
    assert isinstance(execution, Execution)
    assert execution.error is None
    assert execution.ok
    assert not execution.timed_out and not execution.restarted
    assert execution.has_final_answer is False and execution.final_answer is None
    assert execution.tool_calls == []
    assert execution.notes == []
    assert execution.dropped_output_chars == 0
    assert execution.duration > 0
    assert stdout_text(execution) == "45\n"
