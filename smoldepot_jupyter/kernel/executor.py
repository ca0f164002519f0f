"""`KernelExecutor`: runs actions in a sidecar ipykernel and never hangs doing it.

It talks to the sidecar: each action is one ``execute_request``, received on iopub, shell and
stdin in one zmq poll loop until both the reply and the idle status of that request arrived,
with a deadline, an interrupt, a restart when the interrupt is ignored, and death detection.
Tool calls arrive on stdin (see `bridge`). The process itself, launched at the sandbox level
asked for, is owned by a `SidecarProcess` (see `launch`).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import secrets
import threading
import time
from collections.abc import Collection, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import zmq
from jupyter_client import BlockingKernelClient

from . import sidecar_runtime, sidecar_suggestions
from .bridge import InputHandler, ToolBridge, _Pull
from .environment import sidecar_environment
from .execution import Execution, ExecutionError
from .guards import GuardRailViolation, check_action
from .launch import KernelStartError, LaunchSettings, ResourceLimits, SidecarProcess, choose_level
from .observation import strip_ansi
from .outputs import OutputCollector, OutputListener
from .receive import Request, apply_reply, receive
from .transfer import DEFAULT_MAX_DECODED_BYTES, TransferError, decode_pulled

__all__ = ["ExecutionInterrupted", "KernelExecutor", "KernelStartError"]

#: Evaluated after each action, answered in its execute_reply: no extra round trip.
#: (Reached through sys.modules: an action may have rebound the name ``__smoldepot__``.)
_USER_EXPRESSIONS = {"after": "__import__('sys').modules['__smoldepot__'].after_action()"}
_LOST_STATE = "all variables, imports and definitions were lost; re-create what you still need"
#: Where run records live by default, relative to the working directory: hidden under bwrap.
_RECORDS = ".smoldepot"


class ExecutionInterrupted(KeyboardInterrupt):
    """The host was interrupted (Ctrl-C, Kernel -> Interrupt) during an action.

    The sidecar was interrupted too; `execution` holds everything the action produced.
    """

    def __init__(self, execution: Execution) -> None:
        super().__init__("the action was interrupted")
        self.execution = execution


class KernelExecutor:
    """Runs Python actions in a dedicated ipykernel; state persists between actions.

    Use as a context manager, or call `start()` / `shutdown()`. `run(code)` returns an
    `Execution` and never raises for anything the code does; it never hangs either.
    `max_output_bytes` bounds what one action keeps (text characters, base64 for images).
    `sandbox` is ``"auto"`` (``bwrap`` where bubblewrap works, else ``process``), ``"bwrap"``
    or ``"process"``; `network`, `sandbox_paths` (``"path"`` or ``"path:rw"``), `hidden_paths`
    and `limits` shape the ``bwrap`` sandbox. A host tool may run `tool_timeout` seconds (None:
    no limit, and it runs in the calling thread) and return `max_tool_result_chars`; a pulled
    value may decode to `max_pull_bytes`.
    """

    def __init__(
        self,
        kernel_name: str = "python3",
        cwd: str | os.PathLike[str] | None = None,
        env_allowlist: Iterable[str] = (),
        authorized_imports: Collection[str] | None = None,
        startup_timeout: float = 60.0,
        max_output_bytes: int = 1_000_000,
        input_handler: InputHandler | None = None,
        *,
        default_timeout: float = 300.0,
        interrupt_grace: float = 5.0,
        push_limit_bytes: int = 256 * 2**20,
        sandbox: str = "auto",
        network: bool = False,
        sandbox_paths: Iterable[str] = (),
        hidden_paths: Iterable[str | os.PathLike[str]] = (),
        limits: ResourceLimits | None = None,
        tool_timeout: float | None = 300.0,
        max_tool_result_chars: int = 16 * 2**20,
        max_pull_bytes: int | None = DEFAULT_MAX_DECODED_BYTES,
    ) -> None:
        self.kernel_name = kernel_name
        self.cwd = os.fspath(cwd) if cwd is not None else None
        self.env_allowlist = tuple(env_allowlist)
        self.authorized_imports = (
            None if authorized_imports is None else frozenset(authorized_imports)
        )
        self.startup_timeout = startup_timeout
        self.max_output_bytes = max_output_bytes
        self.default_timeout = default_timeout
        self.interrupt_grace = interrupt_grace
        self.push_limit_bytes = push_limit_bytes
        #: The level in force and why (`SandboxChoice`); raises `SandboxUnavailable` for an
        #: explicit ``"bwrap"`` where bubblewrap cannot run.
        self.sandbox = choose_level(sandbox)
        hidden = [os.fspath(p) for p in hidden_paths]
        hidden.append(os.path.join(os.path.abspath(self.cwd or os.getcwd()), _RECORDS))
        self._settings = LaunchSettings(
            kernel_name=kernel_name,
            choice=self.sandbox,
            cwd=self.cwd,
            network=network,
            sandbox_paths=tuple(sandbox_paths),
            hidden_paths=tuple(hidden),
            limits=limits or ResourceLimits(),
        )
        self.max_pull_bytes = max_pull_bytes
        self._bridge = ToolBridge(
            prefix=f"\x00smoldepot:{secrets.token_hex(8)}\x00",
            tool_timeout=tool_timeout,
            max_result_chars=max_tool_result_chars,
        )
        self._bridge.input_handler = input_handler
        self._lock = threading.RLock()
        self._process: SidecarProcess | None = None
        self._kc: BlockingKernelClient | None = None
        self._poller: zmq.Poller | None = None
        self._prewarm_thread: threading.Thread | None = None
        self._prewarm_error: BaseException | None = None
        self._interrupt_requested = False
        self._cwd_recreated = False
        self.restarts = 0

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> KernelExecutor:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    @property
    def input_handler(self) -> InputHandler | None:
        """Answers model code's own ``input()``; None means such calls get a clear error."""
        return self._bridge.input_handler

    @input_handler.setter
    def input_handler(self, handler: InputHandler | None) -> None:
        self._bridge.input_handler = handler

    @property
    def tool_names(self) -> list[str]:
        """Names of the registered tools, as callable in the sidecar."""
        return sorted(self._bridge.tools)

    @property
    def pid(self) -> int | None:
        """The launched process's id (bwrap's under that level; None before start)."""
        return None if self._process is None else self._process.pid

    @property
    def sandbox_level(self) -> str:
        """``"bwrap"`` or ``"process"``: the isolation in force."""
        return self.sandbox.level

    def describe(self) -> str:
        """One line for the user: the level in force, why, and what it lets through."""
        choice = self.sandbox
        text = f"{choice.level} ({choice.reason})"
        if choice.level != "bwrap":
            return text
        settings = self._settings
        network = "network on" if settings.network else "no network"
        by = (self._process.process_limit_by if self._process else None) or "when started"
        limits = settings.limits.resolved().describe(by)
        paths = f"; also visible: {', '.join(settings.sandbox_paths)}" * bool(
            settings.sandbox_paths
        )
        return f"{text}: {network}; {limits}{paths}"

    def start(self) -> None:
        """Start the sidecar (no-op when running); raises `KernelStartError` on failure."""
        with self._lock:
            if self._process is not None and self._process.is_alive():
                return
            if self._process is not None:
                self._restart_kernel()
                return
            env = sidecar_environment(self.env_allowlist)
            env["SMOLDEPOT_SIDECAR"] = "1"
            process = SidecarProcess(self._settings, env)
            kc = process.start()
            self._process, self._kc = process, kc
            self._poller = zmq.Poller()
            for channel in (kc.iopub_channel, kc.shell_channel, kc.stdin_channel):
                self._poller.register(channel.socket, zmq.POLLIN)
            self._wait_ready_and_setup()

    def _kernel_log(self) -> str:
        return "" if self._process is None else strip_ansi(self._process.log_tail())

    def _wait_ready_and_setup(self) -> None:
        assert self._kc is not None
        try:
            self._kc.wait_for_ready(timeout=self.startup_timeout)
        except (RuntimeError, TimeoutError) as exc:
            log = self._kernel_log()
            self.shutdown()
            raise KernelStartError(
                f"the sidecar kernel did not become ready within {self.startup_timeout:g} s "
                f"({exc}).\nKernel output:\n{log or '(nothing)'}"
            ) from exc
        self._setup()

    def _setup(self) -> None:
        assert self._process is not None
        # Under bwrap the sandbox's folder is removed by the host alone.
        cleanup = self._process.workdir if self.sandbox.level != "bwrap" else None
        cpu = self._settings.limits.cpu_seconds if self.sandbox.level == "bwrap" else None
        code = (
            "import sys as _sd_sys, types as _sd_types\n"
            + _module_code("__smoldepot_suggestions__", sidecar_suggestions)
            + _module_code("__smoldepot__", sidecar_runtime)
            + "__smoldepot__ = _sd_module\n"
            f"_sd_module.install({self._bridge.prefix!r}, {int(self.max_output_bytes)}, "
            f"{cleanup!r})\n"
            f"_sd_module.limit_cpu_per_action({cpu!r})\n"
            "del _sd_sys, _sd_types, _sd_module\n"
        )
        self._internal(code, "set up the sidecar")
        if self._bridge.specs:
            self._install_stubs(list(self._bridge.specs.values()))

    def _install_stubs(self, specs: list[dict[str, Any]], removed: Iterable[str] = ()) -> None:
        self._internal(
            f"__smoldepot__.install_tools({json.dumps(specs)!r}, {json.dumps(sorted(removed))!r})",
            "define the tools",
        )

    def prewarm(self) -> None:
        """Start the sidecar in a background thread, so the first action need not wait."""
        with self._lock:
            if self._prewarm_thread is not None or self.is_alive():
                return
            self._prewarm_error = None
            self._prewarm_thread = threading.Thread(
                target=self._prewarm, name="smoldepot-prewarm", daemon=True
            )
            self._prewarm_thread.start()

    def _prewarm(self) -> None:
        try:
            self.start()
            import nbformat.v4  # noqa: F401 - warm the import the first output needs
        except BaseException as exc:  # reported by the next run()
            self._prewarm_error = exc

    def _join_prewarm(self) -> None:
        """Wait for a background start; raise what it raised. Called before taking the lock,
        which the starting thread holds."""
        thread = self._prewarm_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
            self._prewarm_thread = None
            error, self._prewarm_error = self._prewarm_error, None
            if error is not None:
                raise error

    def _ensure_started(self) -> bool:
        """Start the sidecar if needed; True when it had died and was restarted (state lost)."""
        if self.is_alive():
            return False
        died = self._process is not None
        self.start()
        return died

    def is_alive(self) -> bool:
        """Whether the sidecar process is running."""
        return self._process is not None and self._process.is_alive()

    def interrupt(self) -> None:
        """Interrupt the running action (callable from any thread); state is kept."""
        process = self._process
        if process is None:
            return
        self._interrupt_requested = True
        process.interrupt()

    def restart(self) -> None:
        """Restart the sidecar: every variable is lost; tools stay registered."""
        with self._lock:
            if self._process is None:
                self.start()
            else:
                self._restart_kernel()

    def _restart_kernel(self) -> None:
        assert self._process is not None
        self.restarts += 1
        self._cwd_recreated = self._process.restart() or self._cwd_recreated
        self._wait_ready_and_setup()

    def shutdown(self) -> None:
        """Stop the sidecar, every process it started, and remove its private folder
        (idempotent)."""
        thread = self._prewarm_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
            self._prewarm_thread = None
        process, kc = self._process, self._kc
        self._process = self._kc = self._poller = None
        if kc is not None:
            with contextlib.suppress(Exception):
                kc.stop_channels()
        if process is not None:
            process.shutdown()

    # ----------------------------------------------------------------- tools and values

    def register_tools(self, tools: Iterable[Any]) -> list[str]:
        """Offer host tools to model code; each gets a stub in the sidecar with the tool's name,
        signature and docstring. Returns the names registered."""
        with self._lock:
            specs = self._bridge.register(list(tools))
            if specs and self.is_alive():
                self._install_stubs(specs)
            return [spec["name"] for spec in specs]

    def use_tools(
        self,
        tools: Iterable[Any],
        input_handler: InputHandler | None = None,
        authorized_imports: Collection[str] | None = None,
    ) -> list[str]:
        """Make `tools` the only tools the sidecar can call, `input_handler` the one answering
        ``input()``, and `authorized_imports` the imports allowed: what one run sets on a shared
        sidecar belongs to that run. Stubs of tools no longer offered are removed."""
        with self._lock:
            before = set(self._bridge.tools)
            specs = self._bridge.replace(list(tools))
            self._bridge.input_handler = input_handler
            self.authorized_imports = (
                None if authorized_imports is None else frozenset(authorized_imports)
            )
            removed = before - set(self._bridge.tools)
            if self.is_alive() and (specs or removed):
                self._install_stubs(specs, removed)
            return [spec["name"] for spec in specs]

    def push(self, name: str, value: Any) -> None:
        """Bind `name` in the sidecar to a copy of `value` (sent by pickle)."""
        self._check_variable_name(name)
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        if len(data) > self.push_limit_bytes:
            raise TransferError(
                f"{name!r} is {len(data):,} bytes pickled, over the push limit of "
                f"{self.push_limit_bytes:,}; save it to a file in the working directory instead"
            )
        token = secrets.token_hex(8)
        self._join_prewarm()
        with self._lock:
            self._ensure_started()
            self._bridge.pushes[token] = data
            try:
                self._internal(f"__smoldepot__.receive({name!r}, {token!r})", f"push {name!r}")
            finally:
                self._bridge.pushes.pop(token, None)

    def pull(self, name: str, trust: bool = False) -> Any:
        """A copy of the sidecar variable `name`: JSON values, DataFrames/Series and arrays as is;
        anything else only with ``trust=True`` (pickle), else `PullRefused` says so."""
        self._check_variable_name(name, allow_builtin=True)
        token = secrets.token_hex(8)
        self._join_prewarm()
        with self._lock:
            self._ensure_started()
            slot = _Pull(trust=trust)
            self._bridge.pulls[token] = slot
            try:
                self._internal(
                    f"__smoldepot__.send({name!r}, {token!r}, {bool(trust)!r})", f"pull {name!r}"
                )
            finally:
                self._bridge.pulls.pop(token, None)
        if slot.payload is None:
            raise TransferError(f"the sidecar sent nothing for {name!r}")
        return decode_pulled(name, slot.payload, trust, self.max_pull_bytes)

    def _check_variable_name(self, name: str, allow_builtin: bool = False) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{name!r} is not a valid Python variable name")
        if not allow_builtin and name in self._bridge.protected_names:
            raise ValueError(f"{name!r} is a tool in the sidecar; push under another name")

    # ----------------------------------------------------------------- running code

    def run(
        self,
        code: str,
        timeout: float | None = None,
        on_output: OutputListener | None = None,
    ) -> Execution:
        """Run one action and report everything it did. `timeout` (seconds, default
        `default_timeout`) is a hard deadline: the action is interrupted, and the kernel
        restarted if it does not stop within `interrupt_grace`."""
        self._join_prewarm()
        with self._lock:
            died = self._ensure_started()
            execution = Execution(code=code)
            if died:
                execution.restarted = True
                execution.notes.append(
                    f"[The Python kernel had stopped since the last action; it was restarted "
                    f"before this one: {_LOST_STATE}.]"
                )
            if self._cwd_recreated:
                self._cwd_recreated = False
                execution.notes.append(
                    f"[The working directory {self._settings.cwd or os.getcwd()} had been "
                    "deleted; it was re-created, empty, when the kernel restarted.]"
                )
            started = time.perf_counter()
            try:
                check_action(code, self.authorized_imports, self._bridge.protected_names)
            except GuardRailViolation as refusal:
                execution.error = ExecutionError("GuardRailViolation", str(refusal))
                execution.duration = time.perf_counter() - started
                return execution
            self._interrupt_requested = False
            collector = OutputCollector(self.max_output_bytes, on_output)
            execution.outputs = collector.outputs
            try:
                self._request(code, execution, collector, timeout or self.default_timeout)
            finally:
                execution.outputs = collector.outputs
                execution.dropped_output_chars += collector.dropped_chars
                execution.duration = time.perf_counter() - started
            return execution

    def _internal(self, code: str, purpose: str) -> Execution:
        """Run host-made code silently (setup, transfers); raise if it fails."""
        execution = Execution(code=code)
        collector = OutputCollector(self.max_output_bytes)
        self._request(code, execution, collector, self.default_timeout, silent=True)
        if execution.restarted or execution.timed_out:
            raise TransferError(f"could not {purpose}: the sidecar did not answer in time")
        if execution.error is not None:
            if execution.error.ename == "NameError" and "no variable" in execution.error.evalue:
                raise NameError(execution.error.evalue)
            raise TransferError(f"could not {purpose}: {execution.error}")
        return execution

    def _request(
        self,
        code: str,
        execution: Execution,
        collector: OutputCollector,
        timeout: float,
        silent: bool = False,
    ) -> None:
        kc = self._kc
        assert kc is not None
        msg_id = kc.execute(
            code,
            silent=silent,
            store_history=not silent,
            allow_stdin=True,
            stop_on_error=False,
            user_expressions=_USER_EXPRESSIONS if not silent else {},
        )
        request = Request(
            client=kc,
            poller=self._poller,  # type: ignore[arg-type]
            bridge=self._bridge,
            msg_id=msg_id,
            execution=execution,
            collector=collector,
            interrupt=self.interrupt,
            kernel_alive=self.is_alive,
            interrupt_grace=self.interrupt_grace,
        )
        try:
            reply, failure = receive(request, timeout)
        except KeyboardInterrupt:
            self.interrupt()
            try:
                reply, failure = receive(request, 0.0, interrupted=True)
            except KeyboardInterrupt:
                reply, failure = None, None
            if failure is not None:
                self._recover(execution, failure)
            execution.outputs = collector.outputs
            raise ExecutionInterrupted(execution) from None
        if failure is not None:
            self._recover(execution, failure)
        elif reply is not None:
            apply_reply(reply, execution, timeout, self._interrupt_requested)

    def _recover(self, execution: Execution, what: str) -> None:
        """Restart a dead or unresponsive sidecar and say so in the execution."""
        exit_code = None if self._process is None else self._process.exit_code()
        how = f" (exit code {exit_code})" if exit_code not in (None, 0) else ""
        if execution.timed_out:
            what = "ran past its time limit and " + what
        execution.restarted = True
        execution.error = ExecutionError(
            "KernelRestarted", f"the Python kernel running this action {what}{how}"
        )
        try:
            self._restart_kernel()
            execution.notes.append(
                f"[The Python kernel {what}{how}; it was restarted: {_LOST_STATE}.]"
            )
        except KernelStartError as exc:
            execution.notes.append(f"[The Python kernel {what}{how} and could not restart: {exc}]")


def _module_code(name: str, module: ModuleType) -> str:
    """Sidecar code that runs `module`'s source as the module `name` (bound to `_sd_module`),
    importing nothing from smoldepot_jupyter there."""
    source = Path(module.__file__).read_text(encoding="utf-8")
    return (
        f"_sd_module = _sd_types.ModuleType({name!r})\n"
        f"exec(compile({source!r}, '<smoldepot>', 'exec'), _sd_module.__dict__)\n"
        f"_sd_sys.modules[{name!r}] = _sd_module\n"
    )
