"""The notebook front door: ``%%agent`` / ``%agent``, their `SmolDepot` configuration, and the
per-notebook session. Loaded by ``%load_ext smoldepot_jupyter``."""

from __future__ import annotations

import atexit
import os
from typing import Any

from .arguments import usage_text
from .config import FINAL_RENDERS, SmolDepot
from .magics import AgentMagics, AgentRunError, agent_cell_without_body
from .session import NotebookSession, RunOptions

__all__ = [
    "FINAL_RENDERS",
    "AgentMagics",
    "AgentRunError",
    "NotebookSession",
    "RunOptions",
    "SmolDepot",
    "load",
    "unload",
    "usage_text",
]

_loaded: dict[int, AgentMagics] = {}


def load(shell: Any) -> AgentMagics | None:
    """Register the magics on `shell`, start the sidecar and the litellm import in the background.

    Inside a sidecar kernel itself this does nothing: no sidecar of a sidecar."""
    if os.environ.get("SMOLDEPOT_SIDECAR") == "1":
        return None
    if id(shell) in _loaded:
        return _loaded[id(shell)]
    magics = AgentMagics(shell)
    shell.register_magics(magics)
    cleanup = getattr(shell, "input_transformers_cleanup", None)
    if isinstance(cleanup, list) and agent_cell_without_body not in cleanup:
        cleanup.append(agent_cell_without_body)
    _loaded[id(shell)] = magics
    magics.session.prewarm()
    if isinstance(magics.settings.model, str) or os.environ.get("SMOLDEPOT_MODEL"):
        from ..models import warm_litellm_import

        warm_litellm_import()
    atexit.register(magics.session.shutdown)
    return magics


def unload(shell: Any) -> None:
    """Stop the session's background run and sidecar."""
    magics = _loaded.pop(id(shell), None)
    if magics is not None:
        cleanup = getattr(shell, "input_transformers_cleanup", None)
        if isinstance(cleanup, list) and agent_cell_without_body in cleanup:
            cleanup.remove(agent_cell_without_body)
        magics.session.shutdown()
        if magics.settings in shell.configurables:
            shell.configurables.remove(magics.settings)
