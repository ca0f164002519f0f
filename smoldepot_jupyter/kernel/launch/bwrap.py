"""The ``bwrap`` level: a jupyter_client kernel provisioner that starts the kernel in bubblewrap.

Registered as the ``smoldepot-bwrap-provisioner`` entry point, so any kernelspec that names it
(``metadata.kernel_provisioner``) is sandboxed, in JupyterLab too. The kernel gets its own user,
pid, ipc, uts and network namespaces; the system and the Python environment read-only; the
working directory read-write; a private ``/tmp`` and an empty ``$HOME`` but for listed paths;
the files of ``/etc`` that only their owner may read masked; resource limits (see `limits`).
Killing bwrap ends the sandbox's pid namespace, so no process it started outlives the kernel.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.launcher import launch_kernel
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Bool, Float, Integer, List, Unicode

from .limits import ProcessCgroup, ResourceLimits

__all__ = [
    "PROVISIONER_NAME",
    "BwrapPolicy",
    "BwrapProvisioner",
    "SandboxPath",
    "bwrap_command",
    "parse_sandbox_path",
]

#: The entry point name kernelspecs use to ask for this provisioner.
PROVISIONER_NAME = "smoldepot-bwrap-provisioner"

_SYSTEM_DIRS = ("/usr", "/etc", "/opt/conda")
_MERGED_USR_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class SandboxPath:
    """A host path made visible in the sandbox at the same place, read-only unless writable."""

    path: str
    writable: bool = False


def parse_sandbox_path(text: str) -> SandboxPath:
    """``"~/data"`` (read-only), ``"~/out:rw"`` (writable), ``"/x:ro"``; ``~`` is expanded."""
    writable = False
    if text.endswith((":rw", ":ro")):
        text, mode = text[:-3], text[-2:]
        writable = mode == "rw"
    path = os.path.abspath(os.path.expanduser(text))
    if not os.path.exists(path):
        raise ValueError(
            f"sandbox path {text!r} does not exist ({path}); create it or remove it from "
            "sandbox_paths"
        )
    return SandboxPath(path, writable)


@dataclass
class BwrapPolicy:
    """Everything that decides what the sandbox sees; `bwrap_command` turns it into bwrap flags."""

    cwd: str
    private_dirs: list[str] = field(default_factory=list)
    network: bool = False
    paths: list[SandboxPath] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    python_dirs: list[str] = field(default_factory=list)


@functools.lru_cache(maxsize=1)
def _owner_only_in_etc() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Files and folders under /etc that others may not read (/etc/shadow, private keys): the
    sandbox runs as the same user, so they are masked rather than left to permissions."""
    files, folders = [], []
    for root, dirs, names in os.walk("/etc", onerror=lambda _: None):
        for name in list(dirs):
            path = os.path.join(root, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if not os.path.islink(path) and not mode & 0o004:
                folders.append(path)
                dirs.remove(name)
        for name in names:
            path = os.path.join(root, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if not os.path.islink(path) and os.path.isfile(path) and not mode & 0o004:
                files.append(path)
    return tuple(files), tuple(folders)


def python_dirs(executable: str) -> list[str]:
    """The folders an interpreter needs: its prefixes, site-packages, user site, the folders
    its ``.pth`` files add (editable installs) and ``PYTHONPATH``. Asked of the interpreter
    itself when it is not this one."""
    # A virtualenv's python is a link to its base interpreter: compare the paths, not targets.
    if os.path.abspath(executable) == os.path.abspath(sys.executable):
        return _dirs_of_this_python()
    return list(_dirs_of_other_python(os.path.abspath(executable)))


def _dirs_of_this_python() -> list[str]:
    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable)}
    found.add(os.path.dirname(os.path.realpath(sys.executable)))
    sites = [*site.getsitepackages(), site.getusersitepackages()]
    found.update(sites)
    for folder in sites:
        found.update(_pth_dirs(folder))
    found.update(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)
    return sorted(p for p in found if p and os.path.isdir(p))


@functools.lru_cache(maxsize=8)
def _dirs_of_other_python(executable: str) -> tuple[str, ...]:
    script = (
        "import json, os, site, sys\n"
        "d = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable)}\n"
        "d.update(site.getsitepackages() + [site.getusersitepackages()])\n"
        "d.update(p for p in sys.path if p and os.path.isdir(p))\n"
        "print(json.dumps(sorted(d)))\n"
    )
    try:
        out = subprocess.run(
            [executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        return tuple(p for p in json.loads(out) if os.path.isdir(p))
    except (OSError, ValueError, subprocess.SubprocessError):
        return (os.path.dirname(os.path.dirname(executable)),)


def _pth_dirs(folder: str) -> list[str]:
    found = []
    try:
        names = [n for n in os.listdir(folder) if n.endswith(".pth")]
    except OSError:
        return found
    for name in names:
        try:
            lines = Path(folder, name).read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            line = line.strip()
            if line and not line.startswith(("#", "import ")) and os.path.isdir(line):
                found.append(os.path.abspath(line))
    return found


def _covered(path: str, by: Iterable[str]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in by)


def bwrap_command(policy: BwrapPolicy, command: list[str], bwrap: str = "bwrap") -> list[str]:
    """The bwrap argv that runs `command` under `policy` (mount order matters: tmpfs first,
    then what is bound inside it)."""
    home = os.path.expanduser("~")
    argv = [bwrap, "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    argv += ["--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    argv += ["--hostname", "sandbox"]
    argv += ["--share-net"] if policy.network else ["--unshare-net"]
    for directory in _SYSTEM_DIRS:
        if os.path.isdir(directory):
            argv += ["--ro-bind", directory, directory]
    for name in _MERGED_USR_LINKS:
        path = f"/{name}"
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    files, folders = _owner_only_in_etc()
    for path in files:
        argv += ["--ro-bind", "/dev/null", path]
    for path in folders:
        argv += ["--tmpfs", path, "--remount-ro", path]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    if home not in ("/", "") and not _covered("/tmp", [home]):
        argv += ["--tmpfs", home]
    system = [*_SYSTEM_DIRS, "/tmp"]
    for directory in sorted(set(policy.python_dirs)):
        if not _covered(directory, system) or _covered(directory, ["/tmp"]):
            argv += ["--ro-bind", directory, directory]
    for extra in policy.paths:
        argv += ["--bind" if extra.writable else "--ro-bind", extra.path, extra.path]
    argv += ["--bind", policy.cwd, policy.cwd]
    # The Python environment stays read-only even inside the working directory (a project's
    # .venv, an editable install's source): the host imports from it too.
    for directory in sorted(set(policy.python_dirs)):
        if directory != policy.cwd and _covered(directory, [policy.cwd]):
            argv += ["--ro-bind", directory, directory]
    for directory in policy.private_dirs:
        argv += ["--bind", directory, directory]
    visible = [policy.cwd, *(p.path for p in policy.paths)]
    for hidden in policy.hidden:
        if os.path.isdir(hidden) and _covered(hidden, visible):
            argv += ["--tmpfs", hidden, "--remount-ro", hidden]
    argv += ["--chdir", policy.cwd, "--unsetenv", "JPY_PARENT_PID"]
    return [*argv, "--", *command]


@functools.lru_cache(maxsize=1)
def _spawner() -> ThreadPoolExecutor:
    """The one thread that starts every sandbox; idle, it lives until the process exits."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="smoldepot-bwrap-spawner")


class BwrapProvisioner(LocalProvisioner):
    """A `LocalProvisioner` that wraps the kernel's command in bubblewrap.

    Its settings come from the kernelspec's ``metadata.kernel_provisioner.config``. The kernel
    should use ``"interrupt_mode": "message"``: a signal sent to bwrap does not reach it.
    """

    network = Bool(False, config=True, help="Let the sandbox reach the network.")
    paths = List(Unicode(), config=True, help="Host paths to show: 'path' or 'path:rw'.")
    hidden = List(Unicode(), config=True, help="Folders under bound paths to hide.")
    memory_bytes = Integer(None, allow_none=True, config=True, help="Address space per process.")
    max_processes = Integer(512, allow_none=True, config=True, help="Processes of the sandbox.")
    file_size_bytes = Integer(8 * 2**30, allow_none=True, config=True, help="Largest file.")
    cpu_seconds = Float(None, allow_none=True, config=True, help="CPU time per action.")
    bwrap = Unicode("bwrap", config=True, help="The bubblewrap executable.")
    relocate = Bool(
        True,
        config=True,
        help=(
            "Move the connection file and the sockets (IPC) into a private folder the sandbox "
            "may see: Jupyter's runtime folder holds every other kernel's connection file, and "
            "TCP ports on the host's loopback are out of the sandbox's network namespace."
        ),
    )

    _cgroup: ProcessCgroup | None = None
    _relocated: str | None = None
    process_limit_by = "not started"

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Put the connection file and IPC sockets in a private folder (kept across restarts,
        so clients stay connected), then prepare the launch as a local kernel."""
        km = self.parent
        if self.relocate and km is not None:
            if self._relocated is None:
                self._relocated = tempfile.mkdtemp(prefix="smoldepot-bwrap-")
            km.transport = "ipc"
            km.cache_ports = False
            km.ip = os.path.join(self._relocated, "kernel")
            km.connection_file = os.path.join(self._relocated, "kernel.json")
        return await super().pre_launch(**kwargs)

    def limits(self) -> ResourceLimits:
        """The resource limits this provisioner applies."""
        return ResourceLimits(
            self.memory_bytes, self.max_processes, self.file_size_bytes, self.cpu_seconds
        ).resolved()

    def _private_dirs(self) -> list[str]:
        """The folders of the connection file and the IPC sockets: the sandbox needs them."""
        km = self.parent
        dirs = {os.path.dirname(os.path.abspath(km.connection_file))}
        if getattr(km, "transport", "tcp") == "ipc":
            dirs.add(os.path.dirname(os.path.abspath(km.ip)))
        return sorted(dirs)

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        """Start `cmd` inside bubblewrap, with the resource limits applied before exec."""
        cwd = os.path.abspath(kwargs.get("cwd") or os.getcwd())
        policy = BwrapPolicy(
            cwd=cwd,
            private_dirs=self._private_dirs(),
            network=self.network,
            paths=[parse_sandbox_path(p) for p in self.paths],
            hidden=list(self.hidden),
            python_dirs=python_dirs(cmd[0]),
        )
        limits = self.limits()
        self._remove_cgroup()
        if limits.max_processes is not None:
            self._cgroup = ProcessCgroup.create(limits.max_processes)
        use_nproc = self._cgroup is None and os.geteuid() != 0
        if self._cgroup is not None:
            self.process_limit_by = "a pids cgroup"
        elif use_nproc:
            self.process_limit_by = "RLIMIT_NPROC"
        else:
            self.process_limit_by = "not enforced: root without a writable pids cgroup"
        cgroup = self._cgroup

        def before_exec() -> None:
            limits.apply_rlimits(use_nproc)
            if cgroup is not None:
                cgroup.join()

        env = dict(kwargs.pop("env", None) or os.environ)
        env.pop("JPY_PARENT_PID", None)
        options = self._scrub_kwargs({**kwargs, "env": env, "preexec_fn": before_exec})
        command = bwrap_command(policy, cmd, self.bwrap)
        # --die-with-parent follows the *thread* that started bwrap: start it from one that
        # lives as long as this process, not from a prewarm or run thread that ends.
        try:
            launched = _spawner().submit(launch_kernel, command, **options)
        except RuntimeError:  # the interpreter is shutting down: no new thread may start
            self.process = launch_kernel(command, **options)
        else:
            self.process = launched.result()
        self.pid = self.process.pid
        try:
            self.pgid = os.getpgid(self.pid)
        except OSError:
            self.pgid = None
        self.cwd = cwd
        return self.connection_info

    def _remove_cgroup(self) -> None:
        cgroup, self._cgroup = self._cgroup, None
        if cgroup is not None:
            cgroup.remove()

    async def cleanup(self, restart: bool = False) -> None:
        """Release the connection ports and remove the sandbox's cgroup."""
        await super().cleanup(restart=restart)
        self._remove_cgroup()
        if not restart and self._relocated is not None:
            shutil.rmtree(self._relocated, ignore_errors=True)
            self._relocated = None
