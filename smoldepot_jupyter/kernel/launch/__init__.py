"""How a sidecar is launched and killed: one launcher per level, each a jupyter_client kernelspec
and provisioner (``process``: the kernelspec as installed; ``bwrap``: `BwrapProvisioner`)."""

from .bwrap import PROVISIONER_NAME, BwrapProvisioner, SandboxPath, parse_sandbox_path
from .kernelspec import install_sandbox_kernelspec, sandbox_kernelspec
from .levels import SANDBOX_LEVELS, SandboxChoice, SandboxUnavailable, bwrap_problem, choose_level
from .limits import ResourceLimits
from .sidecar import KernelStartError, LaunchSettings, SidecarProcess

__all__ = [
    "PROVISIONER_NAME",
    "SANDBOX_LEVELS",
    "BwrapProvisioner",
    "KernelStartError",
    "LaunchSettings",
    "ResourceLimits",
    "SandboxChoice",
    "SandboxPath",
    "SandboxUnavailable",
    "SidecarProcess",
    "bwrap_problem",
    "choose_level",
    "install_sandbox_kernelspec",
    "parse_sandbox_path",
    "sandbox_kernelspec",
]
