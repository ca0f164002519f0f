"""`KernelExecutor`: runs actions in a sidecar ipykernel and never hangs doing it.

It owns the sidecar's life (start, prewarm, restart, shutdown), sends each action as one
``execute_request``, and receives on iopub, shell and stdin in one zmq poll loop until both the
reply and the idle status of that request arrived, with a deadline, an interrupt, a restart when
the interrupt is ignored, and death detection. Tool calls arrive on stdin (see `bridge`).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Collection, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import zmq
from jupyter_client import BlockingKernelClient, KernelManager

from . import sidecar_runtime, sidecar_suggestions
from .bridge import InputHandler, ToolBridge, _Pull
from .environment import sidecar_environment
from .execution import Execution, ExecutionError
from .guards import GuardRailViolation, check_action
from .observation import strip_ansi
from .outputs import OutputCollector, OutputListener
from .receive import Request, apply_reply, receive
from .transfer import TransferError, decode_pulled

__all__ = ["ExecutionInterrupted", "KernelExecutor", "KernelStartError"]

_KERNEL_ARGS = [
    "--HistoryManager.enabled=False",
    "--InteractiveShell.colors=nocolor",
    "--IPKernelApp.quiet=True",
]
#: Evaluated after each action, answered in its execute_reply: no extra round trip.
_USER_EXPRESSIONS = {"after": "__smoldepot__.after_action()"}
_LOST_STATE = "all variables, imports and definitions were lost; re-create what you still need"


class KernelStartError(RuntimeError):
    """The sidecar kernel could not be started; the message includes what the kernel printed."""


class ExecutionInterrupted(KeyboardInterrupt):
    """The host was interrupted (Ctrl-C, Kernel -> Interrupt) during an action.

    The sidecar was interrupted too; `execution` holds everything the action produced.
    """

    def __init__(self, execution: Execution) -> None:
        super().__init__("the action was interrupted")
        self.execution = execution


def _shutdown(km: KernelManager, kc: BlockingKernelClient, workdir: str, log: Any) -> None:
    """Stop a sidecar for good; safe at interpreter exit and when already dead."""
    with contextlib.suppress(Exception):
        kc.stop_channels()
    try:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    except Exception:
        pid = getattr(getattr(km, "provisioner", None), "pid", None)
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
    log.close()
    shutil.rmtree(workdir, ignore_errors=True)


class KernelExecutor:
    """Runs Python actions in a dedicated ipykernel; state persists between actions.

    Use as a context manager, or call `start()` / `shutdown()`. `run(code)` returns an
    `Execution` and never raises for anything the code does; it never hangs either.
    `max_output_bytes` bounds what one action keeps (text characters, base64 for images).
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
        self._bridge = ToolBridge(prefix=f"\x00smoldepot:{secrets.token_hex(8)}\x00")
        self._bridge.input_handler = input_handler
        self._lock = threading.RLock()
        self._km: KernelManager | None = None
        self._kc: BlockingKernelClient | None = None
        self._poller: zmq.Poller | None = None
        self._workdir: str | None = None
        self._finalizer: weakref.finalize | None = None
        self._prewarm_thread: threading.Thread | None = None
        self._prewarm_error: BaseException | None = None
        self._interrupt_requested = False
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
        """The sidecar process id (None before start or for kernels without a local process)."""
        if self._km is None or not self._km.has_kernel:
            return None
        return getattr(self._km.provisioner, "pid", None)

    def start(self) -> None:
        """Start the sidecar (no-op when running); raises `KernelStartError` on failure."""
        with self._lock:
            if self._km is not None and self._km.is_alive():
                return
            if self._km is not None:
                self._restart_kernel()
                return
            workdir = tempfile.mkdtemp(prefix="smoldepot-")
            os.chmod(workdir, 0o700)
            km = KernelManager(
                kernel_name=self.kernel_name,
                transport="ipc",
                ip=os.path.join(workdir, "kernel"),
                connection_file=os.path.join(workdir, "kernel.json"),
            )
            env = sidecar_environment(self.env_allowlist)
            env["IPYTHONDIR"] = os.path.join(workdir, "ipython")
            env["SMOLDEPOT_SIDECAR"] = "1"
            # The kernel's own stderr (startup errors) goes to a log kept for error messages.
            log = open(os.path.join(workdir, "kernel.log"), "wb")  # noqa: SIM115
            try:
                km.start_kernel(
                    cwd=self.cwd or os.getcwd(),
                    env=env,
                    extra_arguments=list(_KERNEL_ARGS),
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            except Exception as exc:
                log.close()
                shutil.rmtree(workdir, ignore_errors=True)
                raise KernelStartError(
                    f"could not start the sidecar kernel {self.kernel_name!r}: {exc}. "
                    "Check that ipykernel is installed (`pip install ipykernel`) or pass another "
                    "kernel_name."
                ) from exc
            kc = km.client()
            kc.start_channels()
            self._km, self._kc, self._workdir = km, kc, workdir
            self._finalizer = weakref.finalize(self, _shutdown, km, kc, workdir, log)
            self._poller = zmq.Poller()
            for channel in (kc.iopub_channel, kc.shell_channel, kc.stdin_channel):
                self._poller.register(channel.socket, zmq.POLLIN)
            self._wait_ready_and_setup()

    def _kernel_log(self) -> str:
        if not self._workdir:
            return ""
        try:
            text = Path(self._workdir, "kernel.log").read_text(errors="replace")
        except OSError:
            return ""
        return strip_ansi(text[-2000:])

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
        code = (
            "import sys as _sd_sys, types as _sd_types\n"
            + _module_code("__smoldepot_suggestions__", sidecar_suggestions)
            + _module_code("__smoldepot__", sidecar_runtime)
            + "__smoldepot__ = _sd_module\n"
            f"_sd_module.install({self._bridge.prefix!r}, {int(self.max_output_bytes)}, "
            f"{self._workdir!r})\n"
            "del _sd_sys, _sd_types, _sd_module\n"
        )
        self._internal(code, "set up the sidecar")
        if self._bridge.specs:
            self._install_stubs(list(self._bridge.specs.values()))

    def _install_stubs(self, specs: list[dict[str, Any]]) -> None:
        self._internal(f"__smoldepot__.install_tools({json.dumps(specs)!r})", "define the tools")

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
        died = self._km is not None
        self.start()
        return died

    def is_alive(self) -> bool:
        """Whether the sidecar process is running."""
        return self._km is not None and self._km.is_alive()

    def interrupt(self) -> None:
        """Interrupt the running action (callable from any thread); state is kept."""
        km = self._km
        if km is None:
            return
        self._interrupt_requested = True
        with contextlib.suppress(Exception):
            km.interrupt_kernel()

    def restart(self) -> None:
        """Restart the sidecar: every variable is lost; tools stay registered."""
        with self._lock:
            if self._km is None:
                self.start()
            else:
                self._restart_kernel()

    def _restart_kernel(self) -> None:
        assert self._km is not None
        self.restarts += 1
        try:
            self._km.restart_kernel(now=True)
        except Exception as exc:
            raise KernelStartError(f"could not restart the sidecar kernel: {exc}") from exc
        self._wait_ready_and_setup()

    def shutdown(self) -> None:
        """Stop the sidecar and remove its private directory (idempotent)."""
        thread = self._prewarm_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
            self._prewarm_thread = None
        finalizer, self._finalizer = self._finalizer, None
        self._km = self._kc = self._poller = None
        self._workdir = None
        if finalizer is not None:
            finalizer()

    # ----------------------------------------------------------------- tools and values

    def register_tools(self, tools: Iterable[Any]) -> list[str]:
        """Offer host tools to model code; each gets a stub in the sidecar with the tool's name,
        signature and docstring. Returns the names registered."""
        with self._lock:
            specs = self._bridge.register(list(tools))
            if specs and self.is_alive():
                self._install_stubs(specs)
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
        return decode_pulled(name, slot.payload, trust)

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
        exit_code = None
        provisioner = getattr(self._km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        if process is not None:
            exit_code = process.poll()
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
