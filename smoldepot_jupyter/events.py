"""The typed event stream of a run, and the bus observers subscribe to.

The agent loop emits; the widget view, the console printer, the run recorder and the exporter
only observe. An observer that fails is reported and skipped: it never stops the run.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TextIO

from .memory import from_jsonable, step_from_dict, to_jsonable
from .usage import TokenUsage

__all__ = [
    "RUN_STATES",
    "ActionParsed",
    "AnswerFormatted",
    "ConsolePrinter",
    "ErrorEvent",
    "Event",
    "EventBus",
    "EventFormatError",
    "FinalAnswer",
    "ModelCallFinished",
    "ModelDelta",
    "Observer",
    "ObserverWarning",
    "OutputAdded",
    "OutputChanged",
    "PlanningFinished",
    "RunFinished",
    "RunStarted",
    "StepFinished",
    "ToolCallFinished",
    "event_from_dict",
    "new_run_id",
]

logger = logging.getLogger(__name__)

RUN_STATES = ("success", "max_steps", "interrupted", "error")


def new_run_id() -> str:
    """A fresh run id that sorts by start time and is safe as a file name."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(4)


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happened in run `run_id` at `timestamp` (seconds since the epoch)."""

    kind: ClassVar[str] = "event"
    _decoded: ClassVar[tuple[str, ...]] = ()

    run_id: str
    timestamp: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict with a ``"kind"`` key; values that are not JSON become their repr."""
        data: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            data[f.name] = value.to_dict() if isinstance(value, TokenUsage) else to_jsonable(value)
        return data


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    """A run began: the task, the model, the step budget, the tools it may call, and where its
    code runs (`sandbox`: the level in force and why; empty for agents that run no code)."""

    kind: ClassVar[str] = "run_started"

    task: str
    model_id: str
    max_steps: int
    tools: list[str] = field(default_factory=list)
    sandbox: str = ""


@dataclass(frozen=True, kw_only=True)
class ModelDelta(Event):
    """A piece of streamed model text (`step` is None for a planning call)."""

    kind: ClassVar[str] = "model_delta"

    step: int | None
    text: str


@dataclass(frozen=True, kw_only=True)
class ModelCallFinished(Event):
    """A model call ended: its whole text and tokens (what a replay plays back)."""

    kind: ClassVar[str] = "model_call_finished"

    step: int | None
    text: str
    token_usage: TokenUsage = field(default_factory=TokenUsage)


@dataclass(frozen=True, kw_only=True)
class ActionParsed(Event):
    """The model's text was parsed into a thought and the code to run (None if no code)."""

    kind: ClassVar[str] = "action_parsed"

    step: int
    thought: str
    code: str | None


@dataclass(frozen=True, kw_only=True)
class OutputAdded(Event):
    """The running action produced output number `index` (an nbformat v4 output dict)."""

    kind: ClassVar[str] = "output_added"

    step: int
    index: int
    output: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class OutputChanged(Event):
    """Output number `index` changed (a stream grew, a display was updated): its new value."""

    kind: ClassVar[str] = "output_changed"

    step: int
    index: int
    output: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class ToolCallFinished(Event):
    """A tool call from the action returned (`result_repr`) or failed (`error`)."""

    kind: ClassVar[str] = "tool_call_finished"
    _decoded: ClassVar[tuple[str, ...]] = ("args", "kwargs")

    step: int
    name: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    result_repr: str = ""
    error: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class StepFinished(Event):
    """A step is complete; `step` is its dict (a step object given here is stored as its dict,
    so the event cannot change after it was emitted)."""

    kind: ClassVar[str] = "step_finished"

    step: dict[str, Any]

    def __post_init__(self) -> None:
        if not isinstance(self.step, dict):
            object.__setattr__(self, "step", self.step.to_dict())

    @property
    def memory_step(self) -> Any:
        """The step rebuilt as a memory step object."""
        return step_from_dict(self.step)


@dataclass(frozen=True, kw_only=True)
class PlanningFinished(Event):
    """The model wrote (or revised) its plan."""

    kind: ClassVar[str] = "planning_finished"

    plan: str


@dataclass(frozen=True, kw_only=True)
class FinalAnswer(Event):
    """The run produced its answer."""

    kind: ClassVar[str] = "final_answer"
    _decoded: ClassVar[tuple[str, ...]] = ("output",)

    output: Any


@dataclass(frozen=True, kw_only=True)
class AnswerFormatted(Event):
    """The answer-form call (``format_answer=True``) ran: `reply` is what the model wrote,
    `output` the answer kept (`reply` cleaned, or `original` when the rewrite was refused)."""

    kind: ClassVar[str] = "answer_formatted"
    _decoded: ClassVar[tuple[str, ...]] = ("original", "output")

    original: Any
    reply: str
    output: Any
    accepted: bool
    token_usage: TokenUsage = field(default_factory=TokenUsage)


@dataclass(frozen=True, kw_only=True)
class RunFinished(Event):
    """The run ended: `state` is one of `RUN_STATES`; `error` says why when it is "error"."""

    kind: ClassVar[str] = "run_finished"
    _decoded: ClassVar[tuple[str, ...]] = ("output",)

    state: str
    output: Any = None
    token_usage: TokenUsage = field(default_factory=TokenUsage)
    duration: float = 0.0
    error: str | None = None

    def __post_init__(self) -> None:
        if self.state not in RUN_STATES:
            raise ValueError(f"run state {self.state!r} is not one of {', '.join(RUN_STATES)}")


@dataclass(frozen=True, kw_only=True)
class ErrorEvent(Event):
    """Something went wrong that the run reports and survives (`step` is None outside a step)."""

    kind: ClassVar[str] = "error"

    step: int | None
    message: str


_EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        RunStarted,
        ModelDelta,
        ModelCallFinished,
        ActionParsed,
        OutputAdded,
        OutputChanged,
        ToolCallFinished,
        StepFinished,
        PlanningFinished,
        AnswerFormatted,
        FinalAnswer,
        RunFinished,
        ErrorEvent,
    )
}


class EventFormatError(ValueError):
    """A dict that is not an event this version knows (unknown kind or missing fields)."""


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from its `to_dict` form; unknown keys are ignored."""
    kind = data.get("kind") if isinstance(data, dict) else None
    cls = _EVENT_TYPES.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise EventFormatError(
            f"unknown event kind {kind!r}: expected one of {', '.join(_EVENT_TYPES)}"
        )
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name == "token_usage":
            value = TokenUsage.from_dict(value)
        elif f.name in cls._decoded:
            value = from_jsonable(value)
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise EventFormatError(f"malformed {kind!r} event: {exc}") from None


Observer = Callable[[Event], Any]


class ObserverWarning(RuntimeWarning):
    """An event observer raised; it was skipped for that event and the run went on."""


class EventBus:
    """Delivers each event to every subscribed observer, in order, one event at a time.

    `emit` is thread-safe: events from several threads are delivered one after another, and an
    event emitted by an observer is delivered after the current one reaches every observer.
    An observer that raises is skipped for that event and reported once (`ObserverWarning`).
    """

    def __init__(self, observers: Iterable[Observer] = ()) -> None:
        self._lock = threading.RLock()
        self._subscriptions: list[tuple[object, Observer]] = []
        self._pending: deque[Event] = deque()
        self._delivering = False
        self._reported: set[object] = set()
        for observer in observers:
            self.subscribe(observer)

    @property
    def observers(self) -> tuple[Observer, ...]:
        """The subscribed observers, in delivery order."""
        with self._lock:
            return tuple(observer for _, observer in self._subscriptions)

    def subscribe(self, observer: Observer) -> Callable[[], None]:
        """Deliver every following event to `observer`; call the result to unsubscribe."""
        if not callable(observer):
            raise TypeError(f"an observer must be callable with one event, not {observer!r}")
        token = object()
        with self._lock:
            self._subscriptions.append((token, observer))

        def unsubscribe() -> None:
            with self._lock:
                self._subscriptions[:] = [s for s in self._subscriptions if s[0] is not token]

        return unsubscribe

    def emit(self, event: Event) -> None:
        """Deliver `event` to every observer. Never raises an observer's `Exception`."""
        with self._lock:
            self._pending.append(event)
            if self._delivering:
                return
            self._delivering = True
            try:
                while self._pending:
                    current = self._pending.popleft()
                    for token, observer in list(self._subscriptions):
                        self._deliver(token, observer, current)
            finally:
                self._delivering = False

    def _deliver(self, token: object, observer: Observer, event: Event) -> None:
        try:
            observer(event)
        except Exception as exc:
            if token in self._reported:
                logger.debug("observer %s raised again on %s", _name(observer), event.kind)
                return
            self._reported.add(token)
            warnings.warn(
                f"event observer {_name(observer)} raised {type(exc).__name__}: {exc} "
                f"(on a {event.kind} event); the run goes on, and further errors from this "
                "observer are not reported",
                ObserverWarning,
                stacklevel=3,
            )


def _name(observer: Observer) -> str:
    name = getattr(observer, "__qualname__", None) or type(observer).__qualname__
    module = getattr(observer, "__module__", None) or type(observer).__module__
    return f"{module}.{name}" if module else name


_STYLES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


class ConsolePrinter:
    """An observer that prints a run's progress as plain text, for scripts and terminals.

    Thought, code, tool calls, observation and a status line per step; colour only when the
    stream is a terminal (and ``NO_COLOR`` is unset), unless `color` says otherwise.
    `stream_model=True` also echoes the model's text as it streams.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        color: bool | None = None,
        stream_model: bool = False,
        max_observation_chars: int = 2_000,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        if color is None:
            isatty = getattr(self.stream, "isatty", None)
            color = bool(isatty and isatty()) and not os.environ.get("NO_COLOR")
        self.color = color
        self.stream_model = stream_model
        self.max_observation_chars = max_observation_chars
        self._streaming = False
        self._total = TokenUsage()

    def __call__(self, event: Event) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is None:
            return
        if self._streaming and not isinstance(event, ModelDelta):
            self._write("\n")
            self._streaming = False
        handler(event)
        self.stream.flush()

    def _style(self, text: str, *styles: str) -> str:
        if not self.color or not styles:
            return text
        codes = ";".join(_STYLES[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"

    def _write(self, text: str) -> None:
        self.stream.write(text)

    def _line(self, text: str = "", *styles: str) -> None:
        self._write(self._style(text, *styles) + "\n")

    def _on_run_started(self, event: RunStarted) -> None:
        tools = ", ".join(event.tools) or "none"
        self._total = TokenUsage()
        self._line(
            f"── run {event.run_id} · {event.model_id} · up to {event.max_steps} steps · "
            f"tools: {tools}",
            "bold",
        )
        self._line(f"Task: {event.task}")

    def _on_model_delta(self, event: ModelDelta) -> None:
        if self.stream_model:
            self._write(self._style(event.text, "dim"))
            self._streaming = True

    def _on_model_call_finished(self, event: ModelCallFinished) -> None:
        self._total = self._total + event.token_usage

    def _on_planning_finished(self, event: PlanningFinished) -> None:
        self._line("Plan:", "bold")
        self._line(event.plan.rstrip())

    def _on_action_parsed(self, event: ActionParsed) -> None:
        self._line(f"── step {event.step}", "bold", "cyan")
        if event.thought.strip():
            self._line(f"Thought: {event.thought.strip()}")
        if event.code:
            self._line("Code:", "bold")
            for line in event.code.rstrip("\n").split("\n"):
                self._line(f"    {line}", "yellow")

    def _on_tool_call_finished(self, event: ToolCallFinished) -> None:
        arguments = [repr(a) for a in event.args]
        arguments += [f"{k}={v!r}" for k, v in event.kwargs.items()]
        call = f"{event.name}({', '.join(arguments)})"
        if event.error:
            self._line(f"  tool {call} failed: {event.error} ({event.seconds:.2f} s)", "red")
        else:
            self._line(f"  tool {call} -> {event.result_repr} ({event.seconds:.2f} s)", "dim")

    def _on_step_finished(self, event: StepFinished) -> None:
        step = event.step
        if step.get("type") != "action":
            return
        observation = (step.get("observation") or "").rstrip()
        if observation and not step.get("is_final_answer"):
            if len(observation) > self.max_observation_chars:
                cut = len(observation) - self.max_observation_chars
                observation = (
                    observation[: self.max_observation_chars] + f"\n[… {cut:,} characters more]"
                )
            self._line("Observation:", "bold")
            self._line(observation)
        if step.get("error"):
            self._line(f"Error: {step['error']}", "red")
        usage = TokenUsage.from_dict(step.get("token_usage"))
        seconds = (step.get("timing") or {}).get("duration")
        status = (
            f"[step {step.get('step_number')} · {usage.prompt_tokens:,} tokens in, "
            f"{usage.completion_tokens:,} out · total {self._total.total_tokens:,}"
        )
        if seconds is not None:
            status += f" · {seconds:.1f} s"
        self._line(status + "]", "dim")

    def _on_final_answer(self, event: FinalAnswer) -> None:
        self._line(f"Final answer: {event.output}", "bold", "green")

    def _on_answer_formatted(self, event: AnswerFormatted) -> None:
        self._total = self._total + event.token_usage
        if event.accepted:
            self._line(f"Answer as the run gave it: {event.original}", "dim")
            self._line("  (rewritten in the task's form by one more model call)", "dim")
        else:
            self._line("Answer-form call: the answer is kept as given", "dim")

    def _on_run_finished(self, event: RunFinished) -> None:
        styles = ("bold", "green") if event.state == "success" else ("bold", "red")
        text = (
            f"── {event.state} in {event.duration:.1f} s · "
            f"{event.token_usage.total_tokens:,} tokens"
        )
        if event.error:
            text += f" · {event.error}"
        self._line(text, *styles)

    def _on_error(self, event: ErrorEvent) -> None:
        where = f" (step {event.step})" if event.step is not None else ""
        self._line(f"Error{where}: {event.message}", "red")
