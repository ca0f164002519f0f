"""Resource limits for a sandboxed sidecar: memory, processes, file size, CPU time per action.

Memory and file size are rlimits set in the launched process before it runs bwrap, so every
process of the sandbox inherits them. The process count is enforced by a pids cgroup where one
can be created (cgroup v2 with a delegated subtree, or the v1 pids hierarchy), else by
``RLIMIT_NPROC`` (which the kernel does not enforce for root: `describe` says so). CPU time
per action is applied by the sidecar itself before each action (see `sidecar_runtime`).
"""

from __future__ import annotations

import contextlib
import os
import resource
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessCgroup", "ResourceLimits", "default_memory_bytes"]

_GIB = 2**30


def default_memory_bytes() -> int:
    """Half of this machine's memory, at least 2 GiB: room for real data work, not for all."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 8 * _GIB
    return max(2 * _GIB, total // 2)


@dataclass(frozen=True)
class ResourceLimits:
    """Limits of one sandboxed sidecar; None lifts a limit.

    `memory_bytes` is the address space of each process (an allocation past it raises
    MemoryError), `max_processes` the processes and threads of the whole sandbox,
    `file_size_bytes` the largest file it may write, `cpu_seconds` the CPU time of one action
    (past it the action gets a `TimeoutError`; the step's wall-clock deadline still applies).
    """

    memory_bytes: int | None = None
    max_processes: int | None = 512
    file_size_bytes: int | None = 8 * _GIB
    cpu_seconds: float | None = 600.0

    def resolved(self) -> ResourceLimits:
        """These limits with the machine-dependent default filled in."""
        if self.memory_bytes is None:
            return ResourceLimits(
                default_memory_bytes(), self.max_processes, self.file_size_bytes, self.cpu_seconds
            )
        return self

    def apply_rlimits(self, use_nproc: bool) -> None:
        """Set the rlimits in this process (called in the child before exec)."""
        if self.memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (self.memory_bytes, self.memory_bytes))
        if self.file_size_bytes is not None:
            size = self.file_size_bytes
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        if use_nproc and self.max_processes is not None:
            count = self.max_processes
            resource.setrlimit(resource.RLIMIT_NPROC, (count, count))

    def describe(self, process_limit_by: str) -> str:
        """One line for the user: the limits in force and how the process count is enforced."""
        parts = []
        if self.memory_bytes is not None:
            parts.append(f"memory {self.memory_bytes / _GIB:.1f} GiB per process")
        if self.max_processes is not None:
            parts.append(f"{self.max_processes} processes ({process_limit_by})")
        if self.file_size_bytes is not None:
            parts.append(f"files up to {self.file_size_bytes / _GIB:.1f} GiB")
        if self.cpu_seconds is not None:
            parts.append(f"{self.cpu_seconds:g} s CPU per action")
        return ", ".join(parts) or "no resource limits"


def _own_cgroup_v2() -> Path | None:
    """This process's cgroup v2 folder, if the unified hierarchy is mounted."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("0::"):
            for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
                if (root / "cgroup.controllers").exists():
                    return root / line[3:].lstrip("/")
    return None


class ProcessCgroup:
    """A pids cgroup that holds every process of one sandbox (None of it when none can be made).

    `create` tries a child of this process's own cgroup v2 folder (writable when the user's
    session delegates it) with the pids controller, then the cgroup v1 pids hierarchy. The
    launched process joins it with `join` before exec; `remove` deletes it once empty.
    """

    def __init__(self, path: Path, procs: Path) -> None:
        self.path = path
        self.procs = procs

    @classmethod
    def create(cls, max_processes: int) -> ProcessCgroup | None:
        """A new cgroup limited to `max_processes`, or None where this process may not make one."""
        name = f"smoldepot-{secrets.token_hex(6)}"
        candidates = []
        own = _own_cgroup_v2()
        if own is not None and "pids" in _read(own / "cgroup.subtree_control").split():
            candidates.append(own / name)
        v1 = Path("/sys/fs/cgroup/pids")
        if (v1 / "cgroup.procs").exists():
            candidates.append(v1 / name)
        for path in candidates:
            try:
                path.mkdir()
            except OSError:
                continue
            try:
                (path / "pids.max").write_text(str(max_processes))
            except OSError:
                with contextlib.suppress(OSError):
                    path.rmdir()
                continue
            return cls(path, path / "cgroup.procs")
        return None

    def join(self) -> None:
        """Move the calling process into this cgroup (in the child, before exec)."""
        with open(self.procs, "w") as procs:
            procs.write(str(os.getpid()))

    def remove(self) -> None:
        """Delete the cgroup (its processes must be gone; a leftover one is killed first)."""
        for pid in _read(self.procs).split():
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid), 9)
        for _ in range(50):  # killed processes leave the cgroup once reaped
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
