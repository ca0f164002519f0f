"""smoldepot_jupyter: a code agent that lives in the notebook.

The model writes Python; a sidecar Jupyter kernel runs it; every step shows inline. The public
names below are imported on first use, so ``import smoldepot_jupyter`` (and ``%load_ext``) stays
fast: litellm and jupyter_client load only when needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "CodeAgent": "smoldepot_jupyter.agents",
    "ToolCallingAgent": "smoldepot_jupyter.agents",
    "RunResult": "smoldepot_jupyter.agents",
    "tool": "smoldepot_jupyter.tools",
    "Tool": "smoldepot_jupyter.tools",
    "LiteLLMModel": "smoldepot_jupyter.models",
    "ScriptedModel": "smoldepot_jupyter.models",
    "ReplayModel": "smoldepot_jupyter.models",
    "load_run": "smoldepot_jupyter.records",
    "KernelExecutor": "smoldepot_jupyter.kernel",
}

__all__ = [
    "CodeAgent",
    "KernelExecutor",
    "LiteLLMModel",
    "ReplayModel",
    "RunResult",
    "ScriptedModel",
    "Tool",
    "ToolCallingAgent",
    "__version__",
    "load_run",
    "tool",
]

if TYPE_CHECKING:
    from .agents import CodeAgent, RunResult, ToolCallingAgent
    from .kernel import KernelExecutor
    from .models import LiteLLMModel, ReplayModel, ScriptedModel
    from .records import load_run
    from .tools import Tool, tool


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext smoldepot_jupyter``: register ``%%agent`` and ``%agent``."""
    from .magic import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext smoldepot_jupyter``: stop the session's sidecar."""
    from .magic import unload

    unload(ipython)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'smoldepot_jupyter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
