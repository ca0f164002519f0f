"""The live run view: ipywidgets fed by events (`view(event)`), drawn from `RunViewState`.

Events may come from a worker thread: state changes happen under a lock, and outputs reach the
`Output` widgets by assigning their ``outputs`` trait, never with ``with out:``. Streamed model
text is shown at most `throttle` seconds apart; every other event shows at once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import ipywidgets as widgets

from ..events import Event, ModelDelta
from .state import ActionView, RunViewState, StepView, apply
from .static import (
    ROOT_CLASS,
    STYLESHEET,
    code_html,
    final_html,
    header_html,
    step_notes_html,
    step_title,
    thought_html,
    tool_calls_html,
)

__all__ = ["RunView"]

logger = logging.getLogger(__name__)

_OUTPUT_LABEL = '<div class="sd-label">Output</div>'


def _show(widget: widgets.HTML, value: str) -> None:
    """Set an HTML widget's value (only when it changed), hidden while empty."""
    display = None if value else "none"
    if widget.value == value and widget.layout.display == display:
        return
    with widget.hold_sync():
        widget.value = value
        widget.layout.display = display


class _StepCard:
    """The widgets of one step; `show(step)` brings them up to date with that step's state."""

    def __init__(self, output_max_height: str) -> None:
        hidden = {"display": "none"}
        self.thought = widgets.HTML(layout=widgets.Layout(**hidden))
        self.code = widgets.HTML(layout=widgets.Layout(**hidden))
        self.tools = widgets.HTML(layout=widgets.Layout(**hidden))
        self.output_label = widgets.HTML(_OUTPUT_LABEL, layout=widgets.Layout(**hidden))
        self.outputs = widgets.Output(
            layout=widgets.Layout(max_height=output_max_height, overflow="auto", **hidden)
        )
        self.notes = widgets.HTML(layout=widgets.Layout(**hidden))
        self.box = widgets.VBox(
            [self.thought, self.code, self.tools, self.output_label, self.outputs, self.notes]
        )
        self.shown: StepView | None = None

    @property
    def widgets(self) -> list[widgets.Widget]:
        parts = [self.thought, self.code, self.tools, self.output_label, self.outputs, self.notes]
        return [*parts, self.box]

    def show(self, step: StepView) -> None:
        old, self.shown = self.shown, step
        if step is old:
            return
        _show(self.thought, thought_html(step))
        if not isinstance(step, ActionView):
            return
        previous = old if isinstance(old, ActionView) else None
        if previous is None or previous.code != step.code:
            _show(self.code, code_html(step.code))
        if previous is None or previous.tool_calls is not step.tool_calls:
            _show(self.tools, tool_calls_html(step.tool_calls))
        if previous is None or previous.outputs is not step.outputs:
            display = None if step.outputs else "none"
            with self.outputs.hold_sync():
                self.outputs.outputs = step.outputs
                self.outputs.layout.display = display
            self.output_label.layout.display = display
        _show(self.notes, step_notes_html(step))


class RunView:
    """The live view of one run, built from ipywidgets; an event observer (``view(event)``).

    `widget` is the root (a VBox): a header (status badge, model, step n/max, tokens, elapsed,
    the task), one card per step in an Accordion (earlier steps fold, the latest opens), and a
    final-answer box. `state` is the `RunViewState` the view shows. Streamed model text updates
    the view at most once every `throttle` seconds (the rest is shown by a trailing flush, and
    at once by the next event of another kind); `flush()` shows everything now.
    """

    def __init__(self, *, throttle: float = 0.05, output_max_height: str = "30em") -> None:
        self.throttle = throttle
        self.output_max_height = output_max_height
        self._lock = threading.RLock()
        self._state = RunViewState()
        self._shown: RunViewState | None = None
        self._pending = False
        self._last_sync = float("-inf")
        self._timer: threading.Timer | None = None
        self._closed = False

        self._style = widgets.HTML(
            f"<style>{STYLESHEET}</style>", layout=widgets.Layout(display="none")
        )
        self._header = widgets.HTML()
        self._steps = widgets.Accordion(layout=widgets.Layout(display="none"))
        self._final = widgets.HTML(layout=widgets.Layout(display="none"))
        self._cards: list[_StepCard] = []
        self.widget = widgets.VBox([self._style, self._header, self._steps, self._final])
        self.widget.add_class(ROOT_CLASS)
        self._sync()

    @property
    def state(self) -> RunViewState:
        """The state the view shows (all events applied, including those not yet drawn)."""
        with self._lock:
            return self._state

    def __call__(self, event: Event) -> None:
        """Apply `event` and update the widgets (streamed text: at most every `throttle` s)."""
        with self._lock:
            self._state = apply(self._state, event)
            if self._closed:
                return
            if isinstance(event, ModelDelta):
                wait = self.throttle - (time.monotonic() - self._last_sync)
                if wait > 0:
                    self._pending = True
                    self._flush_later(wait)
                    return
            self._sync()

    def flush(self) -> None:
        """Draw every event applied so far."""
        with self._lock:
            if not self._closed:
                self._sync()

    def close(self) -> None:
        """Close the view's widgets (their comms) and stop its pending flush."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            for card in self._cards:
                for widget in card.widgets:
                    widget.close()
            for widget in (self._style, self._header, self._steps, self._final, self.widget):
                widget.close()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any] | None:
        from .display import RunDisplay

        return RunDisplay(self)._repr_mimebundle_(include=include, exclude=exclude)

    # ------------------------------------------------------------------ drawing

    def _flush_later(self, wait: float) -> None:
        if self._timer is not None:
            return
        timer = threading.Timer(wait, self._flush_pending)
        timer.daemon = True
        self._timer = timer
        timer.start()

    def _flush_pending(self) -> None:
        with self._lock:
            self._timer = None
            if not self._pending or self._closed:
                return
            try:
                self._sync()
            except Exception:
                logger.exception("the run view could not draw streamed text")

    def _sync(self) -> None:
        """Bring the widgets up to date with `_state`, touching only what changed."""
        state, shown = self._state, self._shown
        self._pending = False
        self._last_sync = time.monotonic()
        if state is shown:
            return
        self._shown = state
        _show(self._header, header_html(state))
        self._sync_steps(state)
        _show(self._final, final_html(state))

    def _sync_steps(self, state: RunViewState) -> None:
        added = len(state.steps) > len(self._cards)
        while len(self._cards) < len(state.steps):
            self._cards.append(_StepCard(self.output_max_height))
        for card, step in zip(self._cards, state.steps, strict=False):
            card.show(step)
        titles = tuple(step_title(s) for s in state.steps)
        if not added and titles == tuple(self._steps.titles):
            return
        with self._steps.hold_sync():
            if added:
                self._steps.children = tuple(card.box for card in self._cards)
                self._steps.layout.display = None
            self._steps.titles = titles
            if added:
                self._steps.selected_index = len(self._cards) - 1
