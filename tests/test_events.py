"""Events: their JSON form, the bus that delivers them, and the console printer."""

from __future__ import annotations

import io
import json
import threading
import time
import warnings

import pytest

from smoldepot_jupyter.events import (
    ActionParsed,
    ConsolePrinter,
    ErrorEvent,
    EventBus,
    EventFormatError,
    FinalAnswer,
    ModelCallFinished,
    ModelDelta,
    ObserverWarning,
    OutputAdded,
    OutputChanged,
    PlanningFinished,
    RunFinished,
    RunStarted,
    StepFinished,
    ToolCallFinished,
    event_from_dict,
    new_run_id,
)
from smoldepot_jupyter.kernel.execution import SidecarObject
from smoldepot_jupyter.memory import ActionStep
from smoldepot_jupyter.usage import Timing, TokenUsage

RUN = "20250101-000000-abcd"
STREAM = {"output_type": "stream", "name": "stdout", "text": "hi\n"}

ONE_OF_EACH = [
    RunStarted(run_id=RUN, task="Count", model_id="ollama/qwen", max_steps=5, tools=["lookup"]),
    ModelDelta(run_id=RUN, step=1, text="Thou"),
    ModelCallFinished(run_id=RUN, step=1, text="Thought: go", token_usage=TokenUsage(10, 2, 8)),
    ActionParsed(run_id=RUN, step=1, thought="go", code="print('hi')"),
    OutputAdded(run_id=RUN, step=1, index=0, output=STREAM),
    OutputChanged(run_id=RUN, step=1, index=0, output={**STREAM, "text": "hi\nthere\n"}),
    ToolCallFinished(
        run_id=RUN,
        step=1,
        name="lookup",
        args=["pi"],
        kwargs={"n": 2},
        result_repr="3.14",
        error=None,
        seconds=0.5,
    ),
    StepFinished(run_id=RUN, step=ActionStep(step_number=1, observation="hi").to_dict()),
    PlanningFinished(run_id=RUN, plan="1. count"),
    FinalAnswer(run_id=RUN, output={"rows": 3}),
    RunFinished(
        run_id=RUN,
        state="success",
        output={"rows": 3},
        token_usage=TokenUsage(10, 2),
        duration=1.5,
        error=None,
    ),
    ErrorEvent(run_id=RUN, step=None, message="model timed out, retrying"),
]


@pytest.mark.parametrize("event", ONE_OF_EACH, ids=lambda e: e.kind)
def test_every_event_round_trips_through_json(event):
    # when an event goes through JSON and back / then it is the same event
    data = json.loads(json.dumps(event.to_dict()))
    assert data["kind"] == event.kind and data["run_id"] == RUN
    assert event_from_dict(data) == event


def test_values_that_are_not_json_are_written_as_their_repr():
    event = FinalAnswer(run_id=RUN, output=frozenset({7}))
    data = json.loads(json.dumps(event.to_dict()))
    assert data["output"] == {"type": "frozenset", "repr": "frozenset({7})"}
    assert event_from_dict(data).output == SidecarObject("frozenset", "frozenset({7})")


def test_an_unknown_event_kind_is_refused():
    with pytest.raises(EventFormatError, match="unknown event kind 'telepathy'"):
        event_from_dict({"kind": "telepathy", "run_id": RUN})


def test_an_event_missing_fields_is_refused():
    with pytest.raises(EventFormatError, match="malformed 'plan"):
        event_from_dict({"kind": "planning_finished", "run_id": RUN})


def test_a_run_can_only_finish_in_a_known_state():
    with pytest.raises(ValueError, match="success, max_steps, interrupted, error"):
        RunFinished(run_id=RUN, state="done")


def test_a_step_object_given_to_step_finished_is_frozen_as_its_dict():
    # given a step object that the loop may still change
    step = ActionStep(step_number=2, observation="before", timing=Timing(1.0, 2.0))
    event = StepFinished(run_id=RUN, step=step)
    # when the step changes after the event was made
    step.observation = "after"
    # then the event still holds the step as it was
    assert event.step["observation"] == "before"
    assert event.memory_step == ActionStep(
        step_number=2, observation="before", timing=Timing(1.0, 2.0)
    )


def test_run_ids_are_distinct_and_safe_as_file_names():
    ids = {new_run_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(c.isalnum() or c == "-" for run_id in ids for c in run_id)


def test_an_observer_that_raises_does_not_stop_the_others():
    # given a failing observer between two working ones
    seen_before, seen_after = [], []

    def broken(event):
        raise RuntimeError("widget gone")

    bus = EventBus([seen_before.append, broken, seen_after.append])
    # when events are emitted
    with pytest.warns(ObserverWarning, match=r"broken raised RuntimeError: widget gone"):
        for event in ONE_OF_EACH:
            bus.emit(event)
    # then every other observer got every event, in order
    assert seen_before == ONE_OF_EACH
    assert seen_after == ONE_OF_EACH


def test_a_failing_observer_is_reported_only_once():
    def broken(event):
        raise ValueError("bad")

    bus = EventBus([broken])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for event in ONE_OF_EACH:
            bus.emit(event)
    assert len([w for w in caught if issubclass(w.category, ObserverWarning)]) == 1


def test_unsubscribing_stops_delivery():
    seen = []
    bus = EventBus()
    unsubscribe = bus.subscribe(seen.append)
    bus.emit(ONE_OF_EACH[0])
    unsubscribe()
    unsubscribe()
    bus.emit(ONE_OF_EACH[1])
    assert seen == [ONE_OF_EACH[0]] and bus.observers == ()


def test_an_event_emitted_by_an_observer_follows_the_current_one_for_everyone():
    # given an observer that reports an error event when it sees a step finish
    bus = EventBus()
    first, second = [], []
    error = ErrorEvent(run_id=RUN, step=1, message="noticed")

    def reacting(event):
        first.append(event)
        if isinstance(event, StepFinished):
            bus.emit(error)

    bus.subscribe(reacting)
    bus.subscribe(second.append)
    step = ONE_OF_EACH[7]
    # when the step finishes
    bus.emit(step)
    # then both observers see the step first, then the error
    assert first == [step, error] and second == [step, error]


def test_events_emitted_from_many_threads_are_delivered_one_at_a_time():
    # given an observer that notices overlapping calls
    inside, overlaps, seen = [0], [], []

    def slow(event):
        inside[0] += 1
        time.sleep(0.0001)
        if inside[0] > 1:
            overlaps.append(event)
        seen.append(event)
        inside[0] -= 1

    bus = EventBus([slow])

    # when eight threads emit 200 events each
    def emit_many(n):
        for i in range(200):
            bus.emit(ModelDelta(run_id=f"run{n}", step=1, text=str(i)))

    threads = [threading.Thread(target=emit_many, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then every event arrived, never two at once, each thread's in order
    assert not overlaps and len(seen) == 1600
    for n in range(8):
        assert [e.text for e in seen if e.run_id == f"run{n}"] == [str(i) for i in range(200)]


def a_printed_run(stream) -> None:
    bus = EventBus([ConsolePrinter(stream)])
    step = ActionStep(
        step_number=1,
        thought="count rows",
        code="print(len(df))",
        observation="3",
        token_usage=TokenUsage(1200, 34),
        timing=Timing(0.0, 2.5),
    )
    for event in [
        RunStarted(run_id=RUN, task="Count the rows", model_id="m", max_steps=5, tools=["lookup"]),
        ModelCallFinished(run_id=RUN, step=1, text="...", token_usage=TokenUsage(1200, 34)),
        ActionParsed(run_id=RUN, step=1, thought="count rows", code="print(len(df))"),
        ToolCallFinished(run_id=RUN, step=1, name="lookup", args=["pi"], result_repr="3.14"),
        StepFinished(run_id=RUN, step=step),
        FinalAnswer(run_id=RUN, output=3),
        RunFinished(
            run_id=RUN, state="success", output=3, token_usage=TokenUsage(1200, 34), duration=2.5
        ),
    ]:
        bus.emit(event)


def test_console_printer_shows_thought_code_observation_and_a_status_line():
    stream = io.StringIO()
    a_printed_run(stream)
    text = stream.getvalue()
    assert "Task: Count the rows" in text
    assert "Thought: count rows\nCode:\n    print(len(df))\n" in text
    assert "tool lookup('pi') -> 3.14" in text
    assert "Observation:\n3\n" in text
    assert "[step 1 · 1,200 tokens in, 34 out · total 1,234 · 2.5 s]" in text
    assert "Final answer: 3" in text and "success in 2.5 s" in text
    assert "\x1b[" not in text


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_console_printer_uses_colour_only_on_a_terminal(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = Terminal()
    a_printed_run(stream)
    assert "\x1b[" in stream.getvalue()
