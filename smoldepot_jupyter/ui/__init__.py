"""The run view: a live ipywidgets view fed by events, and static HTML/Markdown/text renderings
of the same state, so a run reads the same with or without a widget manager.

The names below are imported on first use (ipywidgets loads only when a view is made).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "RUN_MIMETYPE": "smoldepot_jupyter.ui.state",
    "STATUSES": "smoldepot_jupyter.ui.state",
    "ActionView": "smoldepot_jupyter.ui.state",
    "PlanningView": "smoldepot_jupyter.ui.state",
    "RunViewState": "smoldepot_jupyter.ui.state",
    "ToolCallView": "smoldepot_jupyter.ui.state",
    "apply": "smoldepot_jupyter.ui.state",
    "render_html": "smoldepot_jupyter.ui.static",
    "render_markdown": "smoldepot_jupyter.ui.text",
    "render_text": "smoldepot_jupyter.ui.text",
    "RunView": "smoldepot_jupyter.ui.widget",
    "FINAL_RENDERS": "smoldepot_jupyter.ui.display",
    "RunDisplay": "smoldepot_jupyter.ui.display",
    "static_bundle": "smoldepot_jupyter.ui.display",
}

__all__ = [
    "FINAL_RENDERS",
    "RUN_MIMETYPE",
    "STATUSES",
    "ActionView",
    "PlanningView",
    "RunDisplay",
    "RunView",
    "RunViewState",
    "ToolCallView",
    "apply",
    "render_html",
    "render_markdown",
    "render_text",
    "static_bundle",
]

if TYPE_CHECKING:
    from .display import FINAL_RENDERS, RunDisplay, static_bundle
    from .state import (
        RUN_MIMETYPE,
        STATUSES,
        ActionView,
        PlanningView,
        RunViewState,
        ToolCallView,
        apply,
    )
    from .static import render_html
    from .text import render_markdown, render_text
    from .widget import RunView


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'smoldepot_jupyter.ui' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
