"""`SidecarProcess`: owns one sidecar kernel's life (launch, restart, interrupt, kill).

It is to the executor what jupyter_client's manager is to its client: it starts the kernel
through a kernelspec and its provisioner (the user's own for ``process``, the bubblewrap
provisioner for ``bwrap``), keeps the private folder that holds the connection file and
sockets, and kills everything at shutdown. It never talks to the running kernel.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client import BlockingKernelClient, KernelManager
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from .bwrap import PROVISIONER_NAME
from .kernelspec import sandbox_kernelspec
from .levels import SandboxChoice
from .limits import ResourceLimits

__all__ = ["KernelStartError", "LaunchSettings", "SidecarProcess"]

_KERNEL_ARGS = [
    "--HistoryManager.enabled=False",
    "--InteractiveShell.colors=nocolor",
    "--IPKernelApp.quiet=True",
]
_SANDBOX_KERNEL = "smoldepot-bwrap"
_WORKDIR_PREFIX = "smoldepot-"


class KernelStartError(RuntimeError):
    """The sidecar kernel could not be started; the message includes what the kernel printed."""


@dataclass
class LaunchSettings:
    """How to launch a sidecar: the kernelspec, the level, and what the sandbox lets through."""

    kernel_name: str = "python3"
    choice: SandboxChoice = field(
        default_factory=lambda: SandboxChoice("process", "process", "asked for")
    )
    cwd: str | None = None
    network: bool = False
    sandbox_paths: tuple[str, ...] = ()
    hidden_paths: tuple[str, ...] = ()
    limits: ResourceLimits = field(default_factory=ResourceLimits)


def _remove_orphaned_workdirs() -> None:
    """Remove the private folders of sidecars whose host died without removing them (a
    sandboxed kernel cannot: it never sees the folder's parent)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_WORKDIR_PREFIX}*"):
        try:
            host = int((folder / "host.pid").read_text())
            os.kill(host, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError):
            continue


def _stop(km: KernelManager, workdir: str, log: Any) -> None:
    """Kill a sidecar for good; safe at interpreter exit and when already dead."""
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


class SidecarProcess:
    """One sidecar kernel process and its private folder; started by `start`, gone after
    `shutdown` (idempotent; also at interpreter exit)."""

    def __init__(self, settings: LaunchSettings, env: dict[str, str]) -> None:
        self.settings = settings
        self.env = env
        self.km: KernelManager | None = None
        self.workdir: str | None = None
        #: The folder the kernel may see: connection file, sockets, IPython's own files.
        self.private_dir: str | None = None
        self._finalizer: weakref.finalize | None = None

    @property
    def cwd(self) -> str:
        """The working directory of the sidecar."""
        return os.path.abspath(self.settings.cwd or os.getcwd())

    def recreate_cwd(self) -> bool:
        """Re-create a working directory that was deleted (by model code, say); True if it was."""
        if os.path.isdir(self.cwd):
            return False
        os.makedirs(self.cwd, exist_ok=True)
        return True

    def start(self) -> BlockingKernelClient:
        """Launch the kernel; return a client with its channels started."""
        self._check_cwd()
        self.recreate_cwd()
        _remove_orphaned_workdirs()
        workdir = tempfile.mkdtemp(prefix=_WORKDIR_PREFIX)
        os.chmod(workdir, 0o700)
        Path(workdir, "host.pid").write_text(str(os.getpid()))
        private = os.path.join(workdir, "sidecar")
        os.mkdir(private, 0o700)
        try:
            km = self._manager(workdir, private)
        except Exception as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            raise KernelStartError(self._start_failure(exc)) from exc
        env = dict(self.env)
        env["IPYTHONDIR"] = os.path.join(private, "ipython")
        env["MPLCONFIGDIR"] = os.path.join(private, "matplotlib")
        # The kernel's own stderr (startup errors) goes to a log kept for error messages.
        log = open(os.path.join(workdir, "kernel.log"), "wb")  # noqa: SIM115
        try:
            km.start_kernel(
                cwd=self.cwd,
                env=env,
                extra_arguments=list(_KERNEL_ARGS),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        except Exception as exc:
            log.close()
            shutil.rmtree(workdir, ignore_errors=True)
            raise KernelStartError(self._start_failure(exc)) from exc
        self.km, self.workdir, self.private_dir = km, workdir, private
        self._finalizer = weakref.finalize(self, _stop, km, workdir, log)
        kc = km.client()
        kc.start_channels()
        return kc

    def _check_cwd(self) -> None:
        if self.settings.choice.level != "bwrap":
            return
        home = os.path.realpath(os.path.expanduser("~"))
        cwd = os.path.realpath(self.cwd)
        if cwd == "/" or home == cwd or home.startswith(cwd.rstrip("/") + "/"):
            raise KernelStartError(
                f"the working directory {cwd} holds your home folder: under sandbox='bwrap' the "
                "model's code could read and change every file in it. Run from a project "
                "folder, set SmolDepot.cwd (cwd=) to one, or use sandbox='process'."
            )

    def _start_failure(self, exc: Exception) -> str:
        if isinstance(exc, NoSuchKernel):
            return (
                f"there is no kernel named {self.settings.kernel_name!r}: "
                "`jupyter kernelspec list` shows the installed ones"
            )
        if isinstance(exc, ValueError):  # a sandbox path that does not exist, say
            return f"could not start the sidecar kernel: {exc}"
        if isinstance(exc, ModuleNotFoundError) and PROVISIONER_NAME in str(exc):
            return (
                f"the kernel provisioner {PROVISIONER_NAME!r} is not registered: reinstall "
                "smoldepot_jupyter (`pip install -e .` in a checkout) so its entry point exists"
            )
        return (
            f"could not start the sidecar kernel {self.settings.kernel_name!r}: {exc}. "
            "Check that ipykernel is installed (`pip install ipykernel`) or pass another "
            "kernel_name."
        )

    def _manager(self, workdir: str, private: str) -> KernelManager:
        options: dict[str, Any] = {
            "transport": "ipc",
            "ip": os.path.join(private, "kernel"),
            "connection_file": os.path.join(private, "kernel.json"),
        }
        if self.settings.choice.level != "bwrap":
            return KernelManager(kernel_name=self.settings.kernel_name, **options)
        kernels = os.path.join(workdir, "kernels")
        self._write_sandbox_spec(os.path.join(kernels, _SANDBOX_KERNEL))
        specs = KernelSpecManager(kernel_dirs=[kernels], ensure_native_kernel=False)
        return KernelManager(kernel_name=_SANDBOX_KERNEL, kernel_spec_manager=specs, **options)

    def _write_sandbox_spec(self, folder: str) -> None:
        """A kernelspec that runs the chosen kernel's command under the bwrap provisioner."""
        settings = self.settings
        hidden = [os.path.abspath(p) for p in settings.hidden_paths]
        for path in hidden:
            with contextlib.suppress(OSError):
                os.makedirs(path, exist_ok=True)
        spec = sandbox_kernelspec(
            settings.kernel_name,
            network=settings.network,
            paths=settings.sandbox_paths,
            hidden=hidden,
            limits=settings.limits,
            relocate=False,
        )
        os.makedirs(folder)
        Path(folder, "kernel.json").write_text(json.dumps(spec, indent=1))

    # ----------------------------------------------------------------- life of the process

    def is_alive(self) -> bool:
        """Whether the kernel process (bwrap, under that level) runs."""
        km = self.km
        return km is not None and km.is_alive()

    @property
    def pid(self) -> int | None:
        """The launched process's id (bwrap's under that level); None when not running."""
        km = self.km
        if km is None or not km.has_kernel:
            return None
        return getattr(km.provisioner, "pid", None)

    @property
    def process_limit_by(self) -> str | None:
        """How the sandbox's process count is enforced (None outside bwrap)."""
        km = self.km
        return getattr(getattr(km, "provisioner", None), "process_limit_by", None)

    def exit_code(self) -> int | None:
        """The exit code of a kernel that ended, else None."""
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        return None if process is None else process.poll()

    def interrupt(self) -> None:
        """Interrupt the running code (a signal, or a control message under bwrap)."""
        km = self.km
        if km is not None:
            with contextlib.suppress(Exception):
                km.interrupt_kernel()

    def restart(self) -> bool:
        """Kill the kernel and every process it started, then launch it again; True when the
        working directory had been deleted and was re-created first."""
        assert self.km is not None
        self._check_cwd()
        recreated = self.recreate_cwd()
        try:
            self.km.restart_kernel(now=True)
        except Exception as exc:
            raise KernelStartError(f"could not restart the sidecar kernel: {exc}") from exc
        return recreated

    def log_tail(self) -> str:
        """The end of what the kernel wrote to stderr (startup errors)."""
        if not self.workdir:
            return ""
        try:
            return Path(self.workdir, "kernel.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def shutdown(self) -> None:
        """Kill the kernel and remove the private folder (idempotent)."""
        finalizer, self._finalizer = self._finalizer, None
        self.km = None
        self.workdir = self.private_dir = None
        if finalizer is not None:
            finalizer()
