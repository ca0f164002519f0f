"""The run view's state: a pure reducer from events (also the sample run the other ui tests use)."""

from __future__ import annotations

import base64
import struct
import zlib
from dataclasses import dataclass

from smoldepot_jupyter.events import (
    ActionParsed,
    ErrorEvent,
    Event,
    FinalAnswer,
    ModelCallFinished,
    ModelDelta,
    OutputAdded,
    OutputChanged,
    PlanningFinished,
    RunFinished,
    RunStarted,
    StepFinished,
    ToolCallFinished,
    event_from_dict,
)
from smoldepot_jupyter.kernel.execution import Execution, ExecutionError, ToolCall
from smoldepot_jupyter.memory import ActionStep, PlanningStep
from smoldepot_jupyter.ui.state import ActionView, PlanningView, RunViewState, apply
from smoldepot_jupyter.usage import Timing, TokenUsage

RUN = "20250101-120000-5a5a5a5a"
T0 = 1_700_000_000.0


def tiny_png(width: int = 3, height: int = 2) -> str:
    """A real PNG (red pixels), base64 as a kernel sends it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return base64.b64encode(png).decode() + "\n"


PNG = tiny_png()
TASK = "Square 1..5, plot them and give the sum. <script>alert('task')</script>"
PLAN = "1. Look up the unit.\n2. Plot the squares.\n3. Answer with the sum."
THOUGHT_1 = "I look up the unit first & compute the squares."
CODE_1 = (
    'unit = lookup_unit("square", system="SI")\n'
    "squares = [i * i for i in range(1, 6)]\n"
    'print("unit:", unit)\n'
    'print("squares:", squares)'
)
STREAM_1 = "unit: m²\nsquares: [1, 4, 9, 16, 25]\n"
THOUGHT_2 = "Now plot them, then divide by the count of <none>."
CODE_2 = (
    "import matplotlib.pyplot as plt\n"
    "plt.plot(squares)\n"
    "plt.show()\n"
    'display(HTML("<table><tr><td>sidecar-table</td></tr></table>"))\n'
    "ratio = sum(squares) / 0"
)
TRACEBACK = [
    "\x1b[0;31m---------------------------------------------------------------------------\x1b[0m",
    "\x1b[0;31mZeroDivisionError\x1b[0m                         Traceback (most recent call last)",
    "Cell \x1b[0;32mIn[2], line 5\x1b[0m\n\x1b[0;32m----> 5\x1b[0m ratio \x1b[38;5;241m=\x1b[39m "
    "\x1b[38;5;28msum\x1b[39m(squares) \x1b[38;5;241m/\x1b[39m \x1b[38;5;241m0\x1b[39m",
    "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero",
]
THOUGHT_3 = "The sum is 55; answer it."
CODE_3 = "final_answer(sum(squares))"

STREAM_OUTPUT = {"output_type": "stream", "name": "stdout", "text": "unit: m²\n"}
FIGURE = {
    "output_type": "display_data",
    "data": {"image/png": PNG, "text/plain": "<Figure size 640x480 with 1 Axes>"},
    "metadata": {},
}
TABLE = {
    "output_type": "display_data",
    "data": {
        "text/html": "<table><tr><td>sidecar-table</td></tr></table>",
        "text/plain": "<IPython.core.display.HTML object>",
    },
    "metadata": {},
}
ERROR = {
    "output_type": "error",
    "ename": "ZeroDivisionError",
    "evalue": "division by zero",
    "traceback": TRACEBACK,
}


@dataclass
class Clock:
    """Event timestamps one second apart, so the elapsed time is known."""

    now: float = T0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def _model_turn(clock: Clock, step: int | None, text: str, usage: TokenUsage) -> list[Event]:
    pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
    events: list[Event] = [
        ModelDelta(run_id=RUN, timestamp=clock(), step=step, text=p) for p in pieces
    ]
    events.append(
        ModelCallFinished(run_id=RUN, timestamp=clock(), step=step, text=text, token_usage=usage)
    )
    return events


def _reply(thought: str, code: str) -> str:
    return f"Thought: {thought}\n<code>\n{code}\n</code>"


def run_events() -> list[Event]:
    """A realistic run: a plan, a step with a tool call and a growing stream, a step with a
    figure, an HTML table and a traceback, a final-answer step, then the end of the run."""
    clock = Clock()
    ev: list[Event] = [
        RunStarted(
            run_id=RUN,
            timestamp=T0,
            task=TASK,
            model_id="ollama/qwen2.5-coder:1.5b",
            max_steps=5,
            tools=["lookup_unit", "final_answer"],
        )
    ]
    plan_usage = TokenUsage(900, 40, 0)
    start = clock.now
    ev += _model_turn(clock, None, PLAN, plan_usage)
    ev.append(PlanningFinished(run_id=RUN, timestamp=clock(), plan=PLAN))
    planning = PlanningStep(
        plan=PLAN, model_output=PLAN, token_usage=plan_usage, timing=Timing(start, clock.now)
    )
    ev.append(StepFinished(run_id=RUN, timestamp=clock(), step=planning))

    # step 1: a tool call, a stream that grows
    usage1 = TokenUsage(1200, 80, 900)
    start = clock.now
    ev += _model_turn(clock, 1, _reply(THOUGHT_1, CODE_1), usage1)
    ev.append(ActionParsed(run_id=RUN, timestamp=clock(), step=1, thought=THOUGHT_1, code=CODE_1))
    ev.append(
        ToolCallFinished(
            run_id=RUN,
            timestamp=clock(),
            step=1,
            name="lookup_unit",
            args=["square"],
            kwargs={"system": "SI"},
            result_repr="'m²'",
            seconds=0.012,
        )
    )
    ev.append(OutputAdded(run_id=RUN, timestamp=clock(), step=1, index=0, output=STREAM_OUTPUT))
    grown = {**STREAM_OUTPUT, "text": STREAM_1}
    ev.append(OutputChanged(run_id=RUN, timestamp=clock(), step=1, index=0, output=grown))
    execution = Execution(
        code=CODE_1,
        outputs=[grown],
        tool_calls=[ToolCall("lookup_unit", ["square"], {"system": "SI"}, "m²", None, 0.012)],
        duration=0.2,
    )
    step1 = ActionStep(
        step_number=1,
        model_output=_reply(THOUGHT_1, CODE_1),
        thought=THOUGHT_1,
        code=CODE_1,
        execution=execution,
        observation=execution.observation(),
        token_usage=usage1,
        timing=Timing(start, clock()),
    )
    ev.append(StepFinished(run_id=RUN, timestamp=clock.now, step=step1))

    # step 2: a figure, an HTML table, then an exception
    usage2 = TokenUsage(1500, 90, 1200)
    start = clock.now
    ev += _model_turn(clock, 2, _reply(THOUGHT_2, CODE_2), usage2)
    ev.append(ActionParsed(run_id=RUN, timestamp=clock(), step=2, thought=THOUGHT_2, code=CODE_2))
    for index, output in enumerate([FIGURE, TABLE, ERROR]):
        ev.append(OutputAdded(run_id=RUN, timestamp=clock(), step=2, index=index, output=output))
    execution = Execution(
        code=CODE_2,
        outputs=[FIGURE, TABLE, ERROR],
        error=ExecutionError("ZeroDivisionError", "division by zero", TRACEBACK),
        duration=0.8,
    )
    step2 = ActionStep(
        step_number=2,
        model_output=_reply(THOUGHT_2, CODE_2),
        thought=THOUGHT_2,
        code=CODE_2,
        execution=execution,
        observation=execution.observation(),
        error=str(execution.error),
        token_usage=usage2,
        timing=Timing(start, clock()),
    )
    ev.append(StepFinished(run_id=RUN, timestamp=clock.now, step=step2))

    # step 3: the final answer
    usage3 = TokenUsage(1800, 30, 1500)
    start = clock.now
    ev += _model_turn(clock, 3, _reply(THOUGHT_3, CODE_3), usage3)
    ev.append(ActionParsed(run_id=RUN, timestamp=clock(), step=3, thought=THOUGHT_3, code=CODE_3))
    ev.append(
        ToolCallFinished(
            run_id=RUN,
            timestamp=clock(),
            step=3,
            name="final_answer",
            args=[55],
            result_repr="55",
            seconds=0.001,
        )
    )
    execution = Execution(code=CODE_3, final_answer=55, has_final_answer=True, duration=0.1)
    step3 = ActionStep(
        step_number=3,
        model_output=_reply(THOUGHT_3, CODE_3),
        thought=THOUGHT_3,
        code=CODE_3,
        execution=execution,
        observation=execution.observation(),
        token_usage=usage3,
        timing=Timing(start, clock()),
        is_final_answer=True,
        final_answer=55,
    )
    ev.append(StepFinished(run_id=RUN, timestamp=clock.now, step=step3))
    ev.append(FinalAnswer(run_id=RUN, timestamp=clock(), output=55))
    total = plan_usage + usage1 + usage2 + usage3
    ev.append(
        RunFinished(
            run_id=RUN,
            timestamp=clock(),
            state="success",
            output=55,
            token_usage=total,
            duration=clock.now - T0,
        )
    )
    return ev


def build(events: list[Event]) -> RunViewState:
    return RunViewState.from_events(events)


# ----------------------------------------------------------------------------- tests


def test_deltas_stream_into_the_thought_then_the_parsed_thought_replaces_them():
    state = apply(RunViewState(), RunStarted(run_id=RUN, task="t", model_id="m", max_steps=3))
    for piece in ["Thought: I ", "will add", " 1 and 1\n<code>\n1 + 1"]:
        state = apply(state, ModelDelta(run_id=RUN, step=1, text=piece))
        assert isinstance(state.steps[-1], ActionView)
    assert state.steps[-1].thought_text == "Thought: I will add 1 and 1\n<code>\n1 + 1"

    state = apply(state, ActionParsed(run_id=RUN, step=1, thought="I will add", code="1 + 1"))

    step = state.steps[-1]
    assert step.thought_text == "I will add"
    assert step.code == "1 + 1"


def test_output_changed_replaces_the_output_at_its_index():
    state = build(run_events()[:1])
    first = {"output_type": "stream", "name": "stdout", "text": "1\n"}
    state = apply(state, OutputAdded(run_id=RUN, step=1, index=0, output=first))
    state = apply(state, OutputAdded(run_id=RUN, step=1, index=1, output=FIGURE))

    grown = {**first, "text": "1\n2\n"}
    state = apply(state, OutputChanged(run_id=RUN, step=1, index=0, output=grown))

    assert state.steps[-1].outputs == (grown, FIGURE)


def test_a_full_run_gives_status_tokens_steps_and_final_answer():
    events = run_events()

    state = build(events)

    assert (state.status, state.step, state.max_steps) == ("success", 3, 5)
    assert state.task == TASK and state.model_id == "ollama/qwen2.5-coder:1.5b"
    assert (state.token_usage.prompt_tokens, state.token_usage.completion_tokens) == (5400, 240)
    assert state.elapsed == events[-1].timestamp - T0
    plan, *actions = state.steps
    assert isinstance(plan, PlanningView) and plan.text == PLAN and plan.finished
    assert [a.number for a in actions] == [1, 2, 3]
    assert actions[0].tool_calls[0].call_text == "lookup_unit('square', system='SI')"
    assert actions[0].outputs[0]["text"] == STREAM_1
    assert actions[1].error == "ZeroDivisionError: division by zero"
    assert "division by zero" in actions[1].observation
    assert actions[2].is_final_answer and state.has_final_answer and state.final_answer == 55


def test_elapsed_follows_event_timestamps_while_running():
    events = run_events()

    state = build(events[:10])

    assert state.status == "running"
    assert state.elapsed == events[9].timestamp - T0


def test_a_recorded_run_gives_the_same_state_as_the_live_run():
    events = run_events()

    recorded = [event_from_dict(e.to_dict()) for e in events]

    assert build(recorded).to_json() == build(events).to_json()


def test_steps_finished_without_streamed_events_are_filled_from_the_step():
    events = [e for e in run_events() if isinstance(e, RunStarted | StepFinished | RunFinished)]

    state = build(events)

    step1, step2 = state.action_steps[:2]
    assert step1.code == CODE_1 and step1.outputs[0]["text"] == STREAM_1
    assert step1.tool_calls[0].name == "lookup_unit"
    assert [o["output_type"] for o in step2.outputs] == ["display_data", "display_data", "error"]


def test_events_of_another_run_are_ignored():
    state = build(run_events())

    after = apply(state, ModelDelta(run_id="another-run", step=1, text="noise"))

    assert after is state


def test_apply_leaves_the_given_state_unchanged():
    events = run_events()
    state = build(events[:5])
    before = state.to_json()

    apply(state, ModelDelta(run_id=RUN, step=None, text="more"))
    apply(state, ErrorEvent(run_id=RUN, step=None, message="boom"))

    assert state.to_json() == before


def test_a_failed_run_keeps_its_error_and_steps():
    events = run_events()[:-3]  # up to step 3's model call, no answer
    events += [
        ErrorEvent(run_id=RUN, step=3, message="model unreachable: connection refused"),
        RunFinished(run_id=RUN, state="error", error="model unreachable: connection refused"),
    ]

    state = build(events)

    assert state.status == "error" and not state.has_final_answer
    assert state.error == "model unreachable: connection refused"
    assert state.errors[0].step == 3
    assert [a.number for a in state.action_steps] == [1, 2, 3]
