"""Which isolation level a sidecar gets: ``auto`` resolves to ``bwrap`` where it works.

`choose_level` is the one place that decides, and it always says why, so the run view and
``%agent status`` can show the level in force and the reason for it.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass

__all__ = ["SANDBOX_LEVELS", "SandboxChoice", "SandboxUnavailable", "bwrap_problem", "choose_level"]

#: The levels a user may ask for.
SANDBOX_LEVELS = ("auto", "bwrap", "process")

_NO_BWRAP = (
    "bubblewrap is not installed: install it with `apt-get install bubblewrap` (Debian, Ubuntu), "
    "`dnf install bubblewrap` (Fedora) or `pacman -S bubblewrap` (Arch)"
)
_NO_USERNS = (
    "bubblewrap cannot create user namespaces here ({detail}). Enable them with "
    "`sudo sysctl -w kernel.unprivileged_userns_clone=1` (Debian) or "
    "`sudo sysctl -w user.max_user_namespaces=15000`; on Ubuntu 23.10 and later also "
    "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` (or an AppArmor profile "
    "for bwrap). In a container, run it with user namespaces allowed"
)


class SandboxUnavailable(RuntimeError):
    """``sandbox="bwrap"`` was asked for where bubblewrap cannot run; the message names the fix."""


@dataclass(frozen=True)
class SandboxChoice:
    """The level in force (``bwrap`` or ``process``), what was asked for, and why."""

    level: str
    requested: str
    reason: str

    def __str__(self) -> str:
        return f"{self.level} ({self.reason})"

    @property
    def fell_back(self) -> bool:
        """``auto`` could not sandbox: the user should be told."""
        return self.requested == "auto" and self.level != "bwrap"


@functools.lru_cache(maxsize=1)
def bwrap_problem() -> str | None:
    """None when bubblewrap works here with every namespace the sandbox uses, else what is wrong
    and how to fix it. Probed once per process (one run of ``bwrap ... true``, a few ms)."""
    path = shutil.which("bwrap")
    if path is None:
        return _NO_BWRAP
    command = [path, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"]
    try:
        probe = subprocess.run(command, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap at {path} could not be run ({exc})"
    if probe.returncode == 0:
        return None
    detail = (probe.stderr or probe.stdout).strip().splitlines()
    return _NO_USERNS.format(detail=detail[-1] if detail else f"exit code {probe.returncode}")


def choose_level(requested: str) -> SandboxChoice:
    """Resolve `requested` (one of `SANDBOX_LEVELS`). ``bwrap`` raises `SandboxUnavailable`
    where bubblewrap does not work; ``auto`` falls back to ``process`` and says why."""
    if requested not in SANDBOX_LEVELS:
        raise ValueError(
            f"unknown sandbox level {requested!r}: use one of {', '.join(SANDBOX_LEVELS)}"
        )
    if requested == "process":
        return SandboxChoice(
            "process",
            requested,
            "asked for: the code runs as you, with your files and network",
        )
    problem = bwrap_problem()
    if problem is None:
        why = "asked for" if requested == "bwrap" else "the default where bubblewrap works"
        return SandboxChoice("bwrap", requested, why)
    if requested == "bwrap":
        raise SandboxUnavailable(f"sandbox='bwrap' is not available: {problem}.")
    return SandboxChoice(
        "process",
        requested,
        f"bubblewrap unavailable, so the code runs as you, unsandboxed: {problem}",
    )
