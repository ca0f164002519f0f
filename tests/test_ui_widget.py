"""The live ipywidgets view: fed by events (from any thread), throttled while text streams."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import ipywidgets as widgets
import pytest
from test_ui_state import ERROR, FIGURE, RUN, STREAM_1, TABLE, run_events

from smoldepot_jupyter.events import ActionParsed, EventBus, ModelDelta, OutputAdded, RunStarted
from smoldepot_jupyter.ui.static import render_html
from smoldepot_jupyter.ui.widget import RunView


def descendants(widget: widgets.Widget) -> Iterator[widgets.Widget]:
    yield widget
    for child in getattr(widget, "children", ()):
        yield from descendants(child)


def html_showing(view: RunView, text: str) -> widgets.HTML:
    """The HTML widget of the view whose value contains `text`."""
    found = [w for w in descendants(view.widget) if isinstance(w, widgets.HTML) and text in w.value]
    assert found, f"no widget shows {text!r}"
    return found[-1]


def output_widgets(view: RunView) -> list[widgets.Output]:
    return [w for w in descendants(view.widget) if isinstance(w, widgets.Output)]


@pytest.fixture
def view() -> Iterator[RunView]:
    view = RunView()
    yield view
    view.close()


def started() -> RunStarted:
    return RunStarted(run_id=RUN, task="count", model_id="m", max_steps=3)


def test_output_widgets_hold_the_nbformat_output_dicts(view):
    for event in run_events():
        view(event)

    outputs = [w.outputs for w in output_widgets(view)]

    stream = {"output_type": "stream", "name": "stdout", "text": STREAM_1}
    assert outputs == [(), (stream,), (FIGURE, TABLE, ERROR), ()]


def test_throttling_limits_updates_and_the_final_text_is_complete(view):
    view(started())
    view(ModelDelta(run_id=RUN, step=1, text="Thought:"))
    view.flush()
    thought = html_showing(view, "Thought:")
    updates = []
    for widget in descendants(view.widget):
        if isinstance(widget, widgets.HTML):
            widget.observe(updates.append, names="value")
    tokens = [f" tok{i}" for i in range(2_000)]

    for token in tokens:
        view(ModelDelta(run_id=RUN, step=1, text=token))
    view(ActionParsed(run_id=RUN, step=1, thought="Thought:" + "".join(tokens), code="x = 1"))

    assert len(updates) < 100, f"{len(updates)} widget updates for 2,000 deltas"
    assert "Thought:" + "".join(tokens) in thought.value


def test_streamed_text_is_shown_after_a_pause_without_further_events(view):
    view(started())
    view(ModelDelta(run_id=RUN, step=1, text="first"))
    view.flush()
    thought = html_showing(view, "first")

    view(ModelDelta(run_id=RUN, step=1, text=" second"))  # within the throttle window
    deadline = time.monotonic() + 2.0
    while "first second" not in thought.value and time.monotonic() < deadline:
        time.sleep(0.01)

    assert "first second" in thought.value


def test_events_from_worker_threads_are_all_applied(view):
    bus = EventBus([view])
    bus.emit(started())

    def produce(step: int) -> None:
        for index in range(50):
            output = {"output_type": "stream", "name": "stdout", "text": f"{step}:{index}\n"}
            bus.emit(OutputAdded(run_id=RUN, step=step, index=index, output=output))

    workers = [threading.Thread(target=produce, args=(step,)) for step in (1, 2, 3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    view.flush()

    shown = sorted(output_widgets(view), key=lambda w: w.outputs[0]["text"])
    assert [len(w.outputs) for w in shown] == [50, 50, 50]
    assert [o["text"] for o in shown[0].outputs] == [f"1:{i}\n" for i in range(50)]


def test_earlier_steps_fold_and_the_latest_opens(view):
    for event in run_events():
        view(event)

    accordion = next(w for w in descendants(view.widget) if isinstance(w, widgets.Accordion))

    assert accordion.selected_index == len(accordion.children) - 1 == 3
    assert [t.split(" ·")[0] for t in accordion.titles] == ["Plan", "Step 1", "Step 2", "Step 3"]


def test_long_outputs_scroll_in_their_box(view):
    for event in run_events():
        view(event)

    layouts = [w.layout for w in output_widgets(view)]

    assert all(lay.max_height and lay.overflow == "auto" for lay in layouts)


def test_widget_shows_the_same_code_and_header_as_the_static_html(view):
    for event in run_events():
        view(event)

    code = html_showing(view, '<pre class="sd-code"><span class="n">unit</span>')
    header = html_showing(view, "sd-header")

    html = render_html(view.state)
    assert code.value in html and header.value in html
    assert '<span class="n">squares</span>' in code.value
    assert "success" in header.value and "step 3/5" in header.value
    assert "5,400 tokens in · 240 out" in header.value


def test_final_answer_box_appears_when_the_run_ends(view):
    events = run_events()
    for event in events[:-2]:
        view(event)
    final = view.widget.children[-1]
    assert final.layout.display == "none"

    for event in events[-2:]:
        view(event)

    assert final.layout.display is None
    assert "Final answer" in final.value and "55" in final.value
