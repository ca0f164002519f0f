"""Shared fixtures and helpers for the sidecar-kernel tests.

Every test talks to a real ipykernel (jupyter_client is never mocked). Tests that leave the kernel's
state intact share the session-scoped `executor`, each using its own variable names; tests that
kill, restart or configure a kernel specially build their own with `make_executor` (shut down after
the test) or `make_module_executor` (shared by one module).

Each test that uses one of these fixtures runs once per sandbox level (``process`` and ``bwrap``;
the bwrap run is skipped, with the reason, where bubblewrap cannot run). ``@pytest.mark.levels(
"process")`` narrows a test to the levels it is about.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from smoldepot_jupyter.kernel import Execution, KernelExecutor, bwrap_problem

#: The sandbox levels every executor test runs under.
LEVELS = ("process", "bwrap")

#: Fast restarts: a kernel that ignores an interrupt is restarted after this many seconds.
FAST_GRACE = 2.0


def process_gone(pid: int) -> bool:
    """Whether process `pid` no longer runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("State:"):
                    return "Z" in line.split(":", 1)[1]
    except OSError:
        return True
    return False


def wait_until_gone(pid: int, within: float = 15.0) -> bool:
    """Poll until process `pid` is gone; False if it still runs after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process_gone(pid):
            return True
        time.sleep(0.1)
    return process_gone(pid)


def kill_if_running(pid: int | None) -> None:
    """Clean up after a test that failed to stop a kernel (never leave orphans behind)."""
    if pid is not None and not process_gone(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, 9)


def stdout_text(execution: Execution) -> str:
    """Everything the action printed on stdout, as kept in its outputs."""
    return "".join(
        o["text"]
        for o in execution.outputs
        if o["output_type"] == "stream" and o["name"] == "stdout"
    )


def result_text(execution: Execution) -> str | None:
    """The text/plain of the action's execute_result (its last expression), if any."""
    for output in execution.outputs:
        if output["output_type"] == "execute_result":
            return output["data"]["text/plain"]
    return None


def value_of(executor: KernelExecutor, expression: str) -> str:
    """The repr the sidecar shows for `expression` (asserts that evaluating it worked)."""
    execution = executor.run(expression)
    assert execution.error is None, execution.observation()
    text = result_text(execution)
    assert text is not None, f"{expression!r} produced no result: {execution.outputs!r}"
    return text


def validate_outputs(outputs: list[dict[str, Any]]) -> None:
    """Fail unless `outputs` are valid nbformat v4 outputs of a code cell."""
    notebook = new_notebook(cells=[new_code_cell(source="x", outputs=outputs)])
    nbformat.validate(notebook, version=4)


def kept_output_chars(execution: Execution) -> int:
    """Characters kept in the outputs (stream text and every mime bundle's data)."""
    total = 0
    for output in execution.outputs:
        if output["output_type"] == "stream":
            total += len(output["text"])
        for value in output.get("data", {}).values():
            total += len(value) if isinstance(value, str) else len(str(value))
    return total


def assert_serves_next_action(executor: KernelExecutor) -> None:
    """The executor runs a further action normally."""
    execution = executor.run("print('next action', 6 * 7)", timeout=60)
    assert execution.error is None, execution.observation()
    assert stdout_text(execution) == "next action 42\n"


def start_like_in_production(ex: KernelExecutor) -> None:
    """Start `ex` without pytest's marker variable in its environment: ipykernel turns off the
    capture of file-descriptor output when it sees PYTEST_CURRENT_TEST."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("PYTEST_CURRENT_TEST", raising=False)
        ex.start()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "levels(*names): the sandbox levels a test runs under")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that uses an executor fixture under each sandbox level."""
    if "sandbox_level" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("levels")
    levels = marker.args if marker else LEVELS
    params = []
    for level in levels:
        problem = bwrap_problem() if level == "bwrap" else None
        marks = [pytest.mark.skip(reason=f"bwrap level: {problem}")] if problem else []
        params.append(pytest.param(level, id=level, marks=marks))
    metafunc.parametrize("sandbox_level", params, scope="session")


@pytest.fixture(scope="session")
def sidecar_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working directory of the shared sidecars: a folder of their own, never the repo."""
    return tmp_path_factory.mktemp("sidecar-cwd")


@pytest.fixture(scope="session")
def executor(sandbox_level: str, sidecar_home: Path) -> Iterator[KernelExecutor]:
    """One shared sidecar per level for tests that keep its state intact (no tools registered)."""
    # The default interrupt_grace: nothing run here should need a restart, even on a slow machine.
    ex = KernelExecutor(
        default_timeout=120, sandbox=sandbox_level, cwd=sidecar_home / sandbox_level
    )
    start_like_in_production(ex)
    try:
        yield ex
    finally:
        pid = ex.pid
        ex.shutdown()
        kill_if_running(pid)


@pytest.fixture
def sidecar_dir(executor: KernelExecutor, request: pytest.FixtureRequest) -> Path:
    """A fresh folder inside the shared sidecar's working directory: what a test puts there the
    sidecar sees at every level (under bwrap, the host's other folders are not there)."""
    folder = Path(executor.cwd) / request.node.name.replace("[", "-").replace("]", "")
    folder.mkdir(parents=True, exist_ok=False)
    return folder


@pytest.fixture
def make_executor(sandbox_level: str, tmp_path: Path) -> Iterator[Callable[..., KernelExecutor]]:
    """Build a started executor with the given options (at this test's sandbox level, in the
    test's `tmp_path` unless told otherwise); it is shut down after the test."""
    created: list[tuple[KernelExecutor, list[int]]] = []

    def make(*, start: bool = True, **options: Any) -> KernelExecutor:
        options.setdefault("interrupt_grace", FAST_GRACE)
        options.setdefault("default_timeout", 120)
        options.setdefault("sandbox", sandbox_level)
        options.setdefault("cwd", tmp_path)
        ex = KernelExecutor(**options)
        pids: list[int] = []
        created.append((ex, pids))
        if start:
            start_like_in_production(ex)
            if ex.pid is not None:
                pids.append(ex.pid)
        return ex

    yield make
    for ex, pids in created:
        if ex.pid is not None:
            pids.append(ex.pid)
        ex.shutdown()
        for pid in pids:
            kill_if_running(pid)


@pytest.fixture(scope="module")
def make_module_executor(
    sandbox_level: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., KernelExecutor]]:
    """Like `make_executor`, for executors shared by the tests of one module."""
    created: list[KernelExecutor] = []

    def make(**options: Any) -> KernelExecutor:
        options.setdefault("default_timeout", 120)
        options.setdefault("sandbox", sandbox_level)
        options.setdefault("cwd", tmp_path_factory.mktemp("module-cwd"))
        ex = KernelExecutor(**options)
        created.append(ex)
        start_like_in_production(ex)
        return ex

    yield make
    for ex in created:
        pid = ex.pid
        ex.shutdown()
        kill_if_running(pid)
