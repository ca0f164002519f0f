"""Showing a run in a notebook: the live widget together with static fallbacks in one mimebundle,
and the display updated in place to its final form when the run ends.

Widget state is often not saved with a notebook, so the widget is never the only record: the
bundle also carries ``text/html``, ``text/markdown``, ``text/plain`` and the run JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .state import RUN_MIMETYPE, RunViewState
from .static import render_html
from .text import render_markdown, render_text
from .widget import RunView

__all__ = ["FINAL_RENDERS", "WIDGET_MIMETYPE", "RunDisplay", "static_bundle"]

WIDGET_MIMETYPE = "application/vnd.jupyter.widget-view+json"
#: What a finished run's display becomes: the static renderings only, the live widget only, or
#: the widget with the static renderings as alternatives.
FINAL_RENDERS = ("static", "widgets", "both")


def static_bundle(state: RunViewState) -> dict[str, Any]:
    """The static mimetypes of a run: HTML, Markdown, plain text and the run JSON."""
    return {
        "text/plain": render_text(state),
        "text/html": render_html(state),
        "text/markdown": render_markdown(state),
        RUN_MIMETYPE: state.to_json(),
    }


def _filtered(
    bundle: dict[str, Any], include: Iterable[str] | None, exclude: Iterable[str] | None
) -> dict[str, Any]:
    if include:
        wanted = set(include)
        bundle = {k: v for k, v in bundle.items() if k in wanted}
    if exclude:
        unwanted = set(exclude)
        bundle = {k: v for k, v in bundle.items() if k not in unwanted}
    return bundle


class RunDisplay:
    """A displayable run: `view`'s widget plus the static renderings of its state.

    ``display(RunDisplay(view))`` shows the widget where a widget manager runs, and the static
    HTML or Markdown wherever it does not (a notebook saved without widget state, nbconvert,
    GitHub); a terminal prints the text. `show()` displays it with a display id, and `finish()`
    updates that display in place when the run ends.
    """

    def __init__(self, view: RunView) -> None:
        self.view = view
        self.handle: Any = None

    @property
    def display_id(self) -> str | None:
        """The id of the display `show()` made (None before)."""
        return None if self.handle is None else self.handle.display_id

    def bundle(self, render: str = "both") -> dict[str, Any]:
        """The mimebundle for `render`: "static" (no widget view), or "widgets" / "both" (the
        widget view and the static renderings: widget state is often not saved, so no setting
        leaves a notebook without the run)."""
        if render not in FINAL_RENDERS:
            raise ValueError(
                f"final_render must be one of {', '.join(map(repr, FINAL_RENDERS))}, not {render!r}"
            )
        self.view.flush()
        state = self.view.state
        if render == "static":
            return static_bundle(state)
        widget_view = {
            WIDGET_MIMETYPE: {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.view.widget.model_id,
            }
        }
        return {**widget_view, **static_bundle(state)}

    def _repr_mimebundle_(
        self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> dict[str, Any]:
        return _filtered(self.bundle("both"), include, exclude)

    def __str__(self) -> str:
        return render_text(self.view.state)

    def __repr__(self) -> str:
        state = self.view.state
        return f"<RunDisplay run={state.run_id!r} status={state.status!r} steps={len(state.steps)}>"

    def show(self) -> RunDisplay:
        """Display the run (widget and static fallbacks) with a display id; returns self."""
        from IPython.display import display

        self.handle = display(self, display_id=True)
        return self

    def finish(self, final_render: str = "static") -> None:
        """Update the display in place to the run's final form (see `bundle` for the choices);
        without a display id (`show()` not called) only check `final_render`."""
        bundle = self.bundle(final_render)
        if self.handle is not None:
            self.handle.update(bundle, raw=True)
