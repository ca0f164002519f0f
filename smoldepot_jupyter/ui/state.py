"""What the run view shows, as one immutable value rebuilt from events by a pure reducer.

`apply(state, event)` returns a new `RunViewState`; the live widget and the static HTML, Markdown
and text renderings are all drawn from it, so they never disagree. `to_json()` is the payload of
the ``application/vnd.smoldepot.run+json`` mimetype (see docs/run-json.md).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from ..events import (
    ActionParsed,
    AnswerFormatted,
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
)
from ..memory import from_jsonable, to_jsonable
from ..usage import TokenUsage

__all__ = [
    "RUN_MIMETYPE",
    "SCHEMA_VERSION",
    "STATUSES",
    "ActionView",
    "ErrorNote",
    "PlanningView",
    "RunViewState",
    "ToolCallView",
    "apply",
    "format_value",
]

#: The mimetype whose payload is `RunViewState.to_json()`.
RUN_MIMETYPE = "application/vnd.smoldepot.run+json"
#: The version of that payload (docs/run-json-schema.json); raised when a field is added,
#: removed or changes meaning.
SCHEMA_VERSION = 4
#: What `RunViewState.status` can be: "running", then the run's end state.
STATUSES = ("running", "success", "max_steps", "interrupted", "error")


def format_value(value: Any) -> str:
    """A value as the view shows it: strings as they are, anything else as its repr."""
    return value if isinstance(value, str) else repr(value)


@dataclass(frozen=True)
class ToolCallView:
    """One tool call an action made: what it was called with and what came back."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    result_repr: str = ""
    error: str | None = None
    seconds: float = 0.0

    @property
    def call_text(self) -> str:
        """The call as Python would write it: ``name(1, key='value')``."""
        parts = [repr(a) for a in self.args]
        parts += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(parts)})"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "args": to_jsonable(list(self.args)),
            "kwargs": to_jsonable(dict(self.kwargs)),
            "result_repr": self.result_repr,
            "error": self.error,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class PlanningView:
    """A plan: streamed text while the model writes it, then the plan as parsed."""

    type: ClassVar[str] = "planning"

    streamed: str = ""
    plan: str | None = None
    token_usage: TokenUsage = field(default_factory=TokenUsage)
    duration: float | None = None
    finished: bool = False

    @property
    def text(self) -> str:
        """The plan once written, the text streamed so far before that."""
        return self.plan if self.plan is not None else self.streamed

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "plan": self.text,
            "finished": self.finished,
            "token_usage": self.token_usage.to_dict(),
            "duration": self.duration,
        }


@dataclass(frozen=True)
class ActionView:
    """One action step: thought, code, outputs (nbformat dicts by index), tool calls, and what
    the step ended with (observation, error, final answer)."""

    type: ClassVar[str] = "action"

    number: int
    streamed: str = ""
    thought: str = ""
    code: str | None = None
    parsed: bool = False
    outputs: tuple[dict[str, Any], ...] = ()
    tool_calls: tuple[ToolCallView, ...] = ()
    observation: str = ""
    error: str | None = None
    is_final_answer: bool = False
    final_answer: Any = None
    is_best_answer_fallback: bool = False
    requests: tuple[str, ...] = ()
    temperature: float | None = None
    token_usage: TokenUsage = field(default_factory=TokenUsage)
    duration: float | None = None
    finished: bool = False

    @property
    def thought_text(self) -> str:
        """The parsed thought once the action was parsed; the raw streamed text before."""
        return self.thought if self.parsed else self.streamed

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "step_number": self.number,
            "thought": self.thought_text,
            "parsed": self.parsed,
            "code": self.code,
            "outputs": [copy.deepcopy(o) for o in self.outputs],
            "tool_calls": [c.to_json() for c in self.tool_calls],
            "observation": self.observation,
            "error": self.error,
            "is_final_answer": self.is_final_answer,
            "final_answer": to_jsonable(self.final_answer),
            "is_best_answer_fallback": self.is_best_answer_fallback,
            "requests": list(self.requests),
            "temperature": self.temperature,
            "token_usage": self.token_usage.to_dict(),
            "duration": self.duration,
            "finished": self.finished,
        }


@dataclass(frozen=True)
class ErrorNote:
    """An error the run reported (`step` is None outside a step)."""

    step: int | None
    message: str


StepView = PlanningView | ActionView


@dataclass(frozen=True)
class RunViewState:
    """Everything the run view shows. Build it only with `apply` (or `from_events`).

    The state follows the first run it sees: events of another run id are ignored, so a view
    left subscribed to an agent is not overwritten by the next run. `step` is the number of the
    latest action step; `steps` holds planning and action steps in the order they began.
    When the answer-form call (``format_answer=True``) rewrote the answer, `answer_rewritten` is
    True and `answer_as_given` is the answer before the rewrite.
    """

    run_id: str | None = None
    task: str = ""
    model_id: str = ""
    sandbox: str = ""
    tools: tuple[str, ...] = ()
    status: str = "running"
    max_steps: int | None = None
    step: int = 0
    token_usage: TokenUsage = field(default_factory=TokenUsage)
    started_at: float | None = None
    updated_at: float | None = None
    duration: float | None = None
    steps: tuple[StepView, ...] = ()
    final_answer: Any = None
    has_final_answer: bool = False
    answer_rewritten: bool = False
    answer_as_given: Any = None
    error: str | None = None
    errors: tuple[ErrorNote, ...] = ()

    @property
    def finished(self) -> bool:
        """True once the run ended (whatever its end state)."""
        return self.status != "running"

    @property
    def elapsed(self) -> float:
        """Seconds since the run started: its duration once finished, else up to the latest
        event (event timestamps only: the view never reads the clock for this)."""
        if self.duration is not None:
            return self.duration
        if self.started_at is None or self.updated_at is None:
            return 0.0
        return max(self.updated_at - self.started_at, 0.0)

    @property
    def action_steps(self) -> tuple[ActionView, ...]:
        return tuple(s for s in self.steps if isinstance(s, ActionView))

    def apply(self, event: Event) -> RunViewState:
        """This state with `event` applied (the state itself is not changed)."""
        return apply(self, event)

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> RunViewState:
        """The state after `events` (e.g. ``load_run(path).events``)."""
        state = cls()
        for event in events:
            state = apply(state, event)
        return state

    def to_json(self) -> dict[str, Any]:
        """The JSON-able payload of ``application/vnd.smoldepot.run+json``."""
        return {
            "version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "task": self.task,
            "model_id": self.model_id,
            "sandbox": self.sandbox,
            "tools": list(self.tools),
            "status": self.status,
            "step": self.step,
            "max_steps": self.max_steps,
            "token_usage": self.token_usage.to_dict(),
            "started_at": self.started_at,
            "elapsed": self.elapsed,
            "steps": [s.to_json() for s in self.steps],
            "has_final_answer": self.has_final_answer,
            "final_answer": to_jsonable(self.final_answer),
            "answer_rewritten": self.answer_rewritten,
            "answer_as_given": to_jsonable(self.answer_as_given),
            "error": self.error,
            "errors": [{"step": e.step, "message": e.message} for e in self.errors],
        }


# ----------------------------------------------------------------------------- the reducer

_T = TypeVar("_T")


def _evolve(obj: _T, **changes: Any) -> _T:
    """A copy of the frozen dataclass `obj` with `changes` (what `dataclasses.replace` does,
    without re-running ``__init__``: several times faster, and this runs for every streamed
    token)."""
    fields = obj.__dict__
    if not changes.keys() <= fields.keys():
        unknown = ", ".join(sorted(changes.keys() - fields.keys()))
        raise TypeError(f"{type(obj).__name__} has no field {unknown}")
    new = object.__new__(type(obj))
    new.__dict__.update(fields)
    new.__dict__.update(changes)
    return new


def apply(state: RunViewState, event: Event) -> RunViewState:
    """The state after `event`: a pure function (no clock, no I/O, `state` left unchanged)."""
    if state.run_id is None:
        state = _evolve(state, run_id=event.run_id)
    elif event.run_id != state.run_id:
        return state
    started = state.started_at if state.started_at is not None else event.timestamp
    updated = max(state.updated_at or event.timestamp, event.timestamp)
    state = _evolve(state, started_at=started, updated_at=updated)
    handler = _HANDLERS.get(type(event))
    return handler(state, event) if handler is not None else state


def _run_started(state: RunViewState, event: RunStarted) -> RunViewState:
    return _evolve(
        state,
        task=event.task,
        model_id=event.model_id,
        sandbox=event.sandbox,
        max_steps=event.max_steps,
        tools=tuple(event.tools),
        started_at=event.timestamp,
    )


def _model_delta(state: RunViewState, event: ModelDelta) -> RunViewState:
    if event.step is None:
        index, plan = _find_open_plan(state)
        return _put(state, index, _evolve(plan, streamed=plan.streamed + event.text))
    index, action = _find_action(state, event.step)
    return _put(state, index, _evolve(action, streamed=action.streamed + event.text))


def _model_call_finished(state: RunViewState, event: ModelCallFinished) -> RunViewState:
    state = _evolve(state, token_usage=state.token_usage + event.token_usage)
    step: StepView
    if event.step is None:
        index, step = _find_open_plan(state)
    else:
        index, step = _find_action(state, event.step)
    return _put(state, index, _evolve(step, streamed=event.text, token_usage=event.token_usage))


def _action_parsed(state: RunViewState, event: ActionParsed) -> RunViewState:
    index, action = _find_action(state, event.step)
    return _put(state, index, _evolve(action, thought=event.thought, code=event.code, parsed=True))


def _output(state: RunViewState, event: OutputAdded | OutputChanged) -> RunViewState:
    if event.index < 0:
        return state
    index, action = _find_action(state, event.step)
    outputs = list(action.outputs)
    while len(outputs) <= event.index:
        outputs.append({"output_type": "stream", "name": "stdout", "text": ""})
    outputs[event.index] = copy.deepcopy(dict(event.output))
    return _put(state, index, _evolve(action, outputs=tuple(outputs)))


def _tool_call_finished(state: RunViewState, event: ToolCallFinished) -> RunViewState:
    number = event.step
    if number <= 0 and state.step > 0:  # a call outside a step: shown with the latest step
        number = state.step
    index, action = _find_action(state, number)
    call = ToolCallView(
        name=event.name,
        args=tuple(event.args),
        kwargs=dict(event.kwargs),
        result_repr=event.result_repr,
        error=event.error,
        seconds=event.seconds,
    )
    return _put(state, index, _evolve(action, tool_calls=(*action.tool_calls, call)))


def _step_finished(state: RunViewState, event: StepFinished) -> RunViewState:
    data = event.step
    duration = (data.get("timing") or {}).get("duration")
    usage = TokenUsage.from_dict(data.get("token_usage"))
    if data.get("type") == "planning":
        index, plan = _find_unrecorded_plan(state)
        text = plan.plan if plan.plan is not None else str(data.get("plan", ""))
        finished = _evolve(plan, plan=text, token_usage=usage, duration=duration, finished=True)
        return _put(state, index, finished)
    if data.get("type") != "action":
        return state
    index, action = _find_action(state, int(data.get("step_number") or state.step or 1))
    changes: dict[str, Any] = {
        "observation": str(data.get("observation") or ""),
        "error": data.get("error"),
        "is_final_answer": bool(data.get("is_final_answer")),
        "final_answer": from_jsonable(data.get("final_answer")),
        "is_best_answer_fallback": bool(data.get("is_best_answer_fallback")),
        "requests": tuple(str(text) for text in data.get("requests") or ()),
        "temperature": data.get("temperature"),
        "token_usage": usage,
        "duration": duration,
        "finished": True,
    }
    if not action.parsed and (data.get("thought") or data.get("code")):
        changes.update(thought=data.get("thought") or "", code=data.get("code"), parsed=True)
    execution = data.get("execution") or {}
    if not action.outputs and execution.get("outputs"):
        changes["outputs"] = tuple(copy.deepcopy(o) for o in execution["outputs"])
    if not action.tool_calls and execution.get("tool_calls"):
        changes["tool_calls"] = tuple(_recorded_call(c) for c in execution["tool_calls"])
    return _put(state, index, _evolve(action, **changes))


def _recorded_call(data: dict[str, Any]) -> ToolCallView:
    result = from_jsonable(data.get("result"))
    return ToolCallView(
        name=str(data.get("name", "?")),
        args=tuple(from_jsonable(data.get("args") or [])),
        kwargs=from_jsonable(data.get("kwargs") or {}),
        result_repr="" if data.get("error") else repr(result),
        error=data.get("error"),
        seconds=float(data.get("seconds") or 0.0),
    )


def _planning_finished(state: RunViewState, event: PlanningFinished) -> RunViewState:
    index, plan = _find_open_plan(state)
    return _put(state, index, _evolve(plan, plan=event.plan, finished=True))


def _final_answer(state: RunViewState, event: FinalAnswer) -> RunViewState:
    return _evolve(state, final_answer=event.output, has_final_answer=True)


def _answer_formatted(state: RunViewState, event: AnswerFormatted) -> RunViewState:
    if not event.accepted:
        return state
    return _evolve(state, answer_rewritten=True, answer_as_given=event.original)


def _run_finished(state: RunViewState, event: RunFinished) -> RunViewState:
    changes: dict[str, Any] = {
        "status": event.state,
        "error": event.error,
        "duration": event.duration or max(event.timestamp - (state.started_at or 0.0), 0.0),
    }
    if event.token_usage.total_tokens:
        changes["token_usage"] = event.token_usage
    if event.state in ("success", "max_steps") and not state.has_final_answer:
        changes.update(final_answer=event.output, has_final_answer=True)
    return _evolve(state, **changes)


def _error(state: RunViewState, event: ErrorEvent) -> RunViewState:
    return _evolve(state, errors=(*state.errors, ErrorNote(event.step, event.message)))


_HANDLERS: dict[type, Any] = {
    RunStarted: _run_started,
    ModelDelta: _model_delta,
    ModelCallFinished: _model_call_finished,
    ActionParsed: _action_parsed,
    OutputAdded: _output,
    OutputChanged: _output,
    ToolCallFinished: _tool_call_finished,
    StepFinished: _step_finished,
    PlanningFinished: _planning_finished,
    AnswerFormatted: _answer_formatted,
    FinalAnswer: _final_answer,
    RunFinished: _run_finished,
    ErrorEvent: _error,
}


# ----------------------------------------------------------------------------- finding steps
#
# `_find_*` returns where a step is in `state.steps` (None: not there yet, a new one is returned)
# and `_put` writes it back there, or appends it.


def _find_action(state: RunViewState, number: int) -> tuple[int | None, ActionView]:
    for index in range(len(state.steps) - 1, -1, -1):
        step = state.steps[index]
        if isinstance(step, ActionView) and step.number == number:
            return index, step
    return None, ActionView(number=number)


def _find_open_plan(state: RunViewState) -> tuple[int | None, PlanningView]:
    """The plan being written: the last step when it is a plan not yet finished, else a new one."""
    if state.steps:
        last = state.steps[-1]
        if isinstance(last, PlanningView) and not last.finished:
            return len(state.steps) - 1, last
    return None, PlanningView()


def _find_unrecorded_plan(state: RunViewState) -> tuple[int | None, PlanningView]:
    """The latest plan whose step was not recorded yet (its `StepFinished` comes after the
    `PlanningFinished`), else a new one."""
    for index in range(len(state.steps) - 1, -1, -1):
        step = state.steps[index]
        if isinstance(step, PlanningView):
            return (index, step) if step.duration is None else (None, PlanningView())
    return None, PlanningView()


def _put(state: RunViewState, index: int | None, step: StepView) -> RunViewState:
    steps = list(state.steps)
    if index is None:
        steps.append(step)
    else:
        steps[index] = step
    latest = max(state.step, step.number) if isinstance(step, ActionView) else state.step
    return _evolve(state, steps=tuple(steps), step=latest)
