"""Kernelspecs for the bwrap provisioner: built for each sandboxed sidecar, or installed so that
JupyterLab, nbclient or any other Jupyter tool can start a sandboxed kernel too."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager

from .bwrap import PROVISIONER_NAME, parse_sandbox_path
from .limits import ResourceLimits

__all__ = ["install_sandbox_kernelspec", "sandbox_kernelspec"]

_PYTHON_NAMES = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info)}


def sandbox_kernelspec(
    base_kernel: str = "python3",
    *,
    network: bool = False,
    paths: Iterable[str] = (),
    hidden: Iterable[str] = (),
    limits: ResourceLimits | None = None,
    relocate: bool = True,
) -> dict[str, Any]:
    """The kernel.json of `base_kernel` run under bubblewrap: its argv, interrupts by message
    (a signal sent to bwrap would not reach the kernel), the provisioner and its settings
    (`relocate=False` when the caller's connection folder is already private to the kernel).
    Raises `NoSuchKernel` for an unknown base, ValueError for a sandbox path that is missing."""
    base = KernelSpecManager().get_kernel_spec(base_kernel)
    argv = list(base.argv)
    if argv and argv[0] in _PYTHON_NAMES:
        argv[0] = sys.executable
    paths = list(paths)
    for text in paths:  # checked now, so that a bad path is reported before anything starts
        parse_sandbox_path(text)
    limits = limits or ResourceLimits()  # the machine-dependent default resolves at launch
    return {
        "argv": argv,
        "display_name": f"{base.display_name} (bubblewrap)",
        "language": base.language,
        "env": dict(base.env),
        "interrupt_mode": "message",
        "metadata": {
            "kernel_provisioner": {
                "provisioner_name": PROVISIONER_NAME,
                "config": {
                    "network": network,
                    "paths": paths,
                    "hidden": list(hidden),
                    "memory_bytes": limits.memory_bytes,
                    "max_processes": limits.max_processes,
                    "file_size_bytes": limits.file_size_bytes,
                    "cpu_seconds": limits.cpu_seconds,
                    "relocate": relocate,
                },
            }
        },
    }


def install_sandbox_kernelspec(
    name: str = "python3-bwrap",
    *,
    base_kernel: str = "python3",
    network: bool = False,
    paths: Iterable[str] = (),
    user: bool = False,
    prefix: str | None = None,
) -> str:
    """Install a sandboxed kernelspec under `name` (for this user, under `prefix`, or system-
    wide); returns the folder it was installed to. Under such a kernel the sandbox's CPU time
    per action is not applied (that is done by smoldepot's sidecar setup); the rest is."""
    spec = sandbox_kernelspec(base_kernel, network=network, paths=paths)
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "kernel.json").write_text(json.dumps(spec, indent=1))
        return KernelSpecManager().install_kernel_spec(
            folder, kernel_name=name, user=user, prefix=prefix
        )
