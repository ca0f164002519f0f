"""The agent's memory: typed steps as plain dataclasses, their JSON form, and the chat messages
the next model call is built from (append-only, so provider prompt caches keep hitting)."""

from __future__ import annotations

import base64
import io
import numbers
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .kernel.execution import Execution, SidecarObject
from .usage import Timing, TokenUsage

__all__ = [
    "ActionStep",
    "AgentMemory",
    "FinalAnswerStep",
    "MemoryStep",
    "PlanningStep",
    "TaskStep",
    "from_jsonable",
    "image_url",
    "step_from_dict",
    "to_jsonable",
]

_MAX_DEPTH = 64
_MAX_REPR = 20_000
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_NO_ANSWER = "(no final answer)"
_EMPTY_OUTPUT = "(empty response)"
_PLAN_FOLLOW_UP = "Now carry out this plan, one step at a time."


def to_jsonable(value: Any) -> Any:
    """`value` as JSON-able data: JSON types as they are (tuples as lists, keys as strings),
    anything else as ``{"type": <type name>, "repr": <repr>}`` (the form `Execution` uses)."""
    return _to_jsonable(value, 0)


def from_jsonable(value: Any) -> Any:
    """Undo `to_jsonable` as far as JSON allows: ``{"type", "repr"}`` dicts become
    `SidecarObject` (a value known only by its type and repr); the rest is returned as is."""
    if isinstance(value, dict):
        if set(value) == {"type", "repr"} and all(isinstance(v, str) for v in value.values()):
            return SidecarObject(type=value["type"], repr=value["repr"])
        return {k: from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_jsonable(v) for v in value]
    return value


def _to_jsonable(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, SidecarObject):
        return {"type": value.type, "repr": value.repr}
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and hasattr(value, "dtype"):
        return float(value)
    if depth < _MAX_DEPTH:
        if isinstance(value, list | tuple):
            return [_to_jsonable(v, depth + 1) for v in value]
        if isinstance(value, dict):
            return {str(k): _to_jsonable(v, depth + 1) for k, v in value.items()}
    return {"type": type(value).__name__, "repr": _safe_repr(value)}


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        return f"<{type(value).__name__} object (repr failed: {type(exc).__name__}: {exc})>"
    if len(text) > _MAX_REPR:
        cut = len(text) - _MAX_REPR
        text = f"{text[: _MAX_REPR // 2]}[… {cut:,} characters cut …]{text[-_MAX_REPR // 2 :]}"
    return text


def image_url(image: Any) -> str:
    """A picture given with a task as the URL the model reads it from: a PIL image (anything
    with ``save(file, format=...)``), PNG/JPEG/GIF/WebP bytes, the path of such a file, a
    ``data:image/...`` URL or an http(s) URL (the last two as they are)."""
    if isinstance(image, str) and image.startswith(("data:image/", "http://", "https://")):
        return image
    if isinstance(image, str | os.PathLike):
        try:
            data = Path(image).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read the image {os.fspath(image)!r}: {exc}") from None
    elif isinstance(image, bytes | bytearray):
        data = bytes(image)
    elif callable(getattr(image, "save", None)):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = buffer.getvalue()
    else:
        raise TypeError(
            f"an image must be a PIL image, image bytes, a file path or a URL, not "
            f"{type(image).__name__}"
        )
    mime = next((m for magic, m in _IMAGE_MAGIC if data.startswith(magic)), None)
    if mime is None or (mime == "image/webp" and data[8:12] != b"WEBP"):
        raise ValueError("not a PNG, JPEG, GIF or WebP image (its first bytes say otherwise)")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"RIFF", "image/webp"),
)


def _now() -> Timing:
    return Timing(start=time.time())


def _timing_from(data: dict[str, Any] | None) -> Timing:
    return Timing.from_dict(data) if data else _now()


@dataclass
class TaskStep:
    """The user's task, the names of the variables given with it (already in the kernel), and
    the pictures given with it (`images`: data or http(s) URLs, see `image_url`)."""

    type: ClassVar[str] = "task"

    task: str
    additional_args_names: list[str] = field(default_factory=list)
    timing: Timing = field(default_factory=_now)
    images: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "type": self.type,
            "task": self.task,
            "additional_args_names": list(self.additional_args_names),
            "timing": self.timing.to_dict(),
        }
        if self.images:
            data["images"] = list(self.images)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskStep:
        return cls(
            task=data["task"],
            additional_args_names=list(data.get("additional_args_names") or []),
            timing=_timing_from(data.get("timing")),
            images=[str(url) for url in data.get("images") or []],
        )

    def to_messages(self, images: bool = False) -> list[dict[str, Any]]:
        """One user message: the task, and the variables given with it. The task's pictures
        are always sent with it (`images` is about the pictures actions display)."""
        text = f"New task:\n{self.task}"
        if self.additional_args_names:
            names = ", ".join(self.additional_args_names)
            text += (
                f"\n\nVariables given with this task (already defined, use them by name): {names}"
            )
        if not self.images:
            return [{"role": "user", "content": text}]
        pictures = [{"type": "image_url", "image_url": {"url": url}} for url in self.images]
        return [{"role": "user", "content": [{"type": "text", "text": text}, *pictures]}]


@dataclass
class PlanningStep:
    """A plan the model wrote (before the first action, or revised every few steps)."""

    type: ClassVar[str] = "planning"

    plan: str
    model_output: str = ""
    token_usage: TokenUsage = field(default_factory=TokenUsage)
    timing: Timing = field(default_factory=_now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "plan": self.plan,
            "model_output": self.model_output,
            "token_usage": self.token_usage.to_dict(),
            "timing": self.timing.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanningStep:
        return cls(
            plan=data["plan"],
            model_output=data.get("model_output", ""),
            token_usage=TokenUsage.from_dict(data.get("token_usage")),
            timing=_timing_from(data.get("timing")),
        )

    def to_messages(self, images: bool = False) -> list[dict[str, Any]]:
        """The plan as an assistant message, then a short user message to proceed, so that roles
        keep alternating and the next call does not end on an assistant turn (which some
        providers treat as a prefix to continue)."""
        return [
            {"role": "assistant", "content": self.plan or _EMPTY_OUTPUT},
            {"role": "user", "content": _PLAN_FOLLOW_UP},
        ]


@dataclass
class ActionStep:
    """One model turn and what acting on it produced.

    `observation` is the text the model reads next; `error` says what went wrong (a parse error,
    an exception, a refused final answer). `is_best_answer_fallback` marks the last call made
    when the step budget ran out. `tool_calls_requested` is what a JSON tool-calling agent asked
    for; a code agent's calls are in `execution.tool_calls`. `requests` are the texts of user
    messages the agent added to this call after the run's own (a request for the best answer
    so far, the request when steps ran out), and `temperature` the sampling temperature when the
    call did not use the model's default, so a record shows everything the model was asked.
    """

    type: ClassVar[str] = "action"

    step_number: int
    model_output: str = ""
    thought: str = ""
    code: str | None = None
    tool_calls_requested: list[dict[str, Any]] = field(default_factory=list)
    execution: Execution | None = None
    observation: str = ""
    error: str | None = None
    token_usage: TokenUsage = field(default_factory=TokenUsage)
    timing: Timing = field(default_factory=_now)
    is_final_answer: bool = False
    final_answer: Any = None
    is_best_answer_fallback: bool = False
    requests: list[str] = field(default_factory=list)
    temperature: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "step_number": self.step_number,
            "model_output": self.model_output,
            "thought": self.thought,
            "code": self.code,
            "tool_calls_requested": to_jsonable(self.tool_calls_requested),
            "execution": None if self.execution is None else self.execution.to_dict(),
            "observation": self.observation,
            "error": self.error,
            "token_usage": self.token_usage.to_dict(),
            "timing": self.timing.to_dict(),
            "is_final_answer": self.is_final_answer,
            "final_answer": to_jsonable(self.final_answer),
            "is_best_answer_fallback": self.is_best_answer_fallback,
            "requests": list(self.requests),
            "temperature": self.temperature,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActionStep:
        execution = data.get("execution")
        return cls(
            step_number=int(data["step_number"]),
            model_output=data.get("model_output", ""),
            thought=data.get("thought", ""),
            code=data.get("code"),
            tool_calls_requested=list(data.get("tool_calls_requested") or []),
            execution=Execution.from_dict(execution) if execution else None,
            observation=data.get("observation", ""),
            error=data.get("error"),
            token_usage=TokenUsage.from_dict(data.get("token_usage")),
            timing=_timing_from(data.get("timing")),
            is_final_answer=bool(data.get("is_final_answer", False)),
            final_answer=from_jsonable(data.get("final_answer")),
            is_best_answer_fallback=bool(data.get("is_best_answer_fallback", False)),
            requests=[str(text) for text in data.get("requests") or []],
            temperature=data.get("temperature"),
        )

    def to_messages(self, images: bool = False, follow_up: str = "") -> list[dict[str, Any]]:
        """The model output as given (assistant), then what came of it (user).

        An empty output is sent as "(empty response)": several providers refuse empty messages.

        A step that ended the run (final answer, or the best-answer fallback) has no user turn:
        the model never saw one, and a following task then keeps roles alternating. With
        `images`, pictures the action displayed are attached for vision models. `follow_up`
        ends the user turn (the agent's reminder of what to reply); it is not part of the
        observation the view and the exports show.
        """
        said = self.model_output or _EMPTY_OUTPUT
        messages: list[dict[str, Any]] = [{"role": "assistant", "content": said}]
        if self.is_final_answer or self.is_best_answer_fallback:
            return messages
        parts = []
        if self.observation:
            parts.append(f"Observation:\n{self.observation}")
        if self.error and self.error not in self.observation:
            parts.append(f"Error:\n{self.error}")
        text = "\n\n".join(parts) or "Observation:\n(no output)"
        if follow_up:
            text += f"\n\n{follow_up}"
        pictures = self._image_parts() if images else []
        content: Any = [{"type": "text", "text": text}, *pictures] if pictures else text
        messages.append({"role": "user", "content": content})
        return messages

    def _image_parts(self) -> list[dict[str, Any]]:
        if self.execution is None:
            return []
        parts = []
        for output in self.execution.outputs:
            data = output.get("data") or {}
            for mime in _IMAGE_TYPES:
                if isinstance(data.get(mime), str):
                    payload = data[mime].replace("\n", "")
                    url = f"data:{mime};base64,{payload}"
                    parts.append({"type": "image_url", "image_url": {"url": url}})
                    break
        return parts


@dataclass
class FinalAnswerStep:
    """The run's answer, as returned to the caller."""

    type: ClassVar[str] = "final_answer"

    output: Any
    timing: Timing = field(default_factory=_now)
    #: The answer as the run gave it, when the answer-form call rewrote it (else None).
    rewritten_from: Any = None
    #: Tokens of the answer-form call (``format_answer=True``); zero without it.
    token_usage: TokenUsage = field(default_factory=TokenUsage)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "type": self.type,
            "output": to_jsonable(self.output),
            "timing": self.timing.to_dict(),
        }
        if self.rewritten_from is not None:
            data["rewritten_from"] = to_jsonable(self.rewritten_from)
        if self.token_usage.total_tokens:
            data["token_usage"] = self.token_usage.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinalAnswerStep:
        return cls(
            output=from_jsonable(data.get("output")),
            timing=_timing_from(data.get("timing")),
            rewritten_from=from_jsonable(data.get("rewritten_from")),
            token_usage=TokenUsage.from_dict(data.get("token_usage")),
        )

    def to_messages(self, images: bool = False) -> list[dict[str, Any]]:
        """Nothing: the answer is already in the action step that gave it."""
        return []


MemoryStep = TaskStep | PlanningStep | ActionStep | FinalAnswerStep

_STEP_TYPES: dict[str, type[MemoryStep]] = {
    cls.type: cls for cls in (TaskStep, PlanningStep, ActionStep, FinalAnswerStep)
}


def step_from_dict(data: dict[str, Any]) -> MemoryStep:
    """Rebuild a step from its `to_dict` form; the ``"type"`` key says which step it is."""
    kind = data.get("type") if isinstance(data, dict) else None
    cls = _STEP_TYPES.get(kind)  # type: ignore[arg-type]
    if cls is None:
        known = ", ".join(_STEP_TYPES)
        raise ValueError(f"not a memory step: type {kind!r} (expected one of {known})")
    return cls.from_dict(data)


@dataclass
class AgentMemory:
    """The system prompt and the steps so far; what the next model call is built from."""

    system_prompt: str = ""
    steps: list[MemoryStep] = field(default_factory=list)
    #: How many of the oldest action and planning steps the prompt leaves out to fit the
    #: model's context window (it only grows, so the prompt's prefix stays stable between
    #: elisions); the steps themselves stay in memory, the record and the view.
    elided_steps: int = 0

    def reset(self) -> None:
        """Forget every step (the system prompt stays)."""
        self.steps.clear()
        self.elided_steps = 0

    @property
    def token_usage(self) -> TokenUsage:
        """Tokens of every model call in memory, summed (the answer-form call, which a final
        answer's step holds, included: the same sum as a run's `RunResult.token_usage`)."""
        total = TokenUsage()
        for step in self.steps:
            if isinstance(step, ActionStep | PlanningStep | FinalAnswerStep):
                total = total + step.token_usage
        return total

    def to_messages(
        self, images: bool = False, follow_up: str = "", budget_chars: int | None = None
    ) -> list[dict[str, Any]]:
        """The chat messages for the next model call: the system prompt, then each step's messages.

        Append-only: each step's messages depend on that step alone, so what was sent for steps
        1..n is sent again byte for byte, whatever comes next. Pass `images=True` for a vision
        model to see the pictures actions displayed, and `follow_up` to end every observation
        with the same reminder (the same on every step, so the prefix stays cacheable).

        With `budget_chars`, when the messages would be longer, the oldest action and planning
        steps are left out in one large chunk (down to about half the budget, so the next cut is
        many steps away and prompt caches keep hitting meanwhile), with a note where they were;
        the tasks and the last two steps are always sent.
        """
        units: list[tuple[MemoryStep, list[dict[str, Any]]]] = []
        for step in self.steps:
            if isinstance(step, ActionStep):
                units.append((step, step.to_messages(images=images, follow_up=follow_up)))
            else:
                units.append((step, step.to_messages(images=images)))
        if budget_chars is not None:
            self._elide_to_fit(units, budget_chars - _NOTE_ROOM)
        messages: list[dict[str, Any]] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        elidable = 0
        left_out: list[MemoryStep] = []
        for step, step_messages in units:
            if isinstance(step, ActionStep | PlanningStep):
                elidable += 1
                if elidable <= self.elided_steps:
                    left_out.append(step)
                    continue
            if left_out:
                _note_left_out(messages, left_out)
                left_out = []
            messages.extend(step_messages)
        if left_out:
            _note_left_out(messages, left_out)
        return messages

    def _elide_to_fit(
        self, units: list[tuple[MemoryStep, list[dict[str, Any]]]], budget_chars: int
    ) -> None:
        sizes = [
            (isinstance(step, ActionStep | PlanningStep), sum(_chars(m) for m in step_messages))
            for step, step_messages in units
        ]
        elidable = [size for is_step, size in sizes if is_step]
        kept = len(self.system_prompt) + sum(size for is_step, size in sizes if not is_step)
        kept += sum(elidable[self.elided_steps :])
        if kept <= budget_chars:
            return
        target = budget_chars // 2
        last_allowed = max(0, len(elidable) - 2)
        while self.elided_steps < last_allowed and kept > target:
            kept -= elidable[self.elided_steps]
            self.elided_steps += 1

    def summary(self, max_chars: int = 1_000) -> str:
        """A short text of the runs in memory, each task and its final answer, for a following
        task that continues the conversation without the full history. Empty if no task yet."""
        runs: list[tuple[str, str]] = []
        answer: str | None = None
        for step in self.steps:
            if isinstance(step, TaskStep):
                if runs:
                    runs[-1] = (runs[-1][0], _NO_ANSWER if answer is None else answer)
                runs.append((step.task, ""))
                answer = None
            elif isinstance(step, FinalAnswerStep):
                answer = str(step.output)
            elif isinstance(step, ActionStep) and (
                step.is_final_answer or step.is_best_answer_fallback
            ):
                answer = str(step.final_answer)
        if not runs:
            return ""
        runs[-1] = (runs[-1][0], _NO_ANSWER if answer is None else answer)
        lines = ["Earlier tasks in this conversation and their final answers:"]
        for number, (task, result) in enumerate(runs, start=1):
            lines.append(f"Task {number}: {_clip(task, max_chars)}")
            lines.append(f"Answer {number}: {_clip(result, max_chars)}")
        return "\n".join(lines)

    def get_full_steps(self) -> list[dict[str, Any]]:
        """The steps as smolagents' `get_full_steps` gives them: one dict per step, with its
        keys (``code_action``, ``observations``, ``tool_calls``, ``token_usage`` as
        ``input_tokens``/``output_tokens``...). ``model_input_messages`` is None: the messages
        are not kept per step (`to_messages` makes them). Our own form is `to_dict`."""
        return [_smolagents_form(step, index) for index, step in enumerate(self.steps)]

    def get_succinct_steps(self) -> list[dict[str, Any]]:
        """`get_full_steps` without ``model_input_messages``, as in smolagents."""
        return [
            {k: v for k, v in step.items() if k != "model_input_messages"}
            for step in self.get_full_steps()
        ]

    def return_full_code(self) -> str:
        """The code of every action step, in order, as one script (blank lines between)."""
        return "\n\n".join(
            s.code for s in self.steps if isinstance(s, ActionStep) and s.code is not None
        )

    def to_dict(self) -> dict[str, Any]:
        return {"system_prompt": self.system_prompt, "steps": [s.to_dict() for s in self.steps]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentMemory:
        return cls(
            system_prompt=data.get("system_prompt", ""),
            steps=[step_from_dict(s) for s in data.get("steps", [])],
        )


#: Characters kept free for the note that says which steps were left out.
_NOTE_ROOM = 400


def _smolagents_form(step: MemoryStep, index: int) -> dict[str, Any]:
    """`step` as a dict with the keys smolagents' step of the same kind has."""
    if isinstance(step, TaskStep):
        return {"task": step.task, "task_images": list(step.images) or None}
    if isinstance(step, FinalAnswerStep):
        return {"output": to_jsonable(step.output)}
    usage = step.token_usage
    tokens = {
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    timing = {
        "start_time": step.timing.start,
        "end_time": step.timing.end,
        "duration": step.timing.duration,
    }
    said = {"role": "assistant", "content": step.model_output, "tool_calls": None, "raw": None}
    if isinstance(step, PlanningStep):
        return {
            "model_input_messages": None,
            "model_output_message": {**said, "token_usage": tokens},
            "plan": step.plan,
            "timing": timing,
            "token_usage": tokens,
        }
    if step.code is not None:
        calls = [{"name": "python_interpreter", "arguments": step.code}]
    else:
        calls = [
            {"name": c.get("name"), "arguments": c.get("arguments")}
            for c in step.tool_calls_requested
        ]
    error = None
    if step.is_best_answer_fallback:
        error = {"type": "AgentMaxStepsError", "message": "Reached max steps."}
    elif step.error is not None:
        kind = "AgentParsingError" if step.code is None and not calls else "AgentExecutionError"
        error = {"type": kind, "message": step.error}
    pictures = step._image_parts()
    return {
        "step_number": step.step_number,
        "timing": timing,
        "model_input_messages": None,
        "tool_calls": [
            {"id": f"call_{index}", "type": "function", "function": to_jsonable(call)}
            for call in calls
        ],
        "error": error,
        "model_output_message": {**said, "token_usage": tokens},
        "model_output": step.model_output,
        "code_action": step.code,
        "observations": step.observation or None,
        "observations_images": [p["image_url"]["url"] for p in pictures] or None,
        "action_output": to_jsonable(step.final_answer) if step.is_final_answer else None,
        "token_usage": tokens,
        "is_final_answer": step.is_final_answer,
    }


def _chars(message: dict[str, Any]) -> int:
    content = message.get("content", "")
    if isinstance(content, str):
        return len(content)
    return sum(len(str(part.get("text", part))) for part in content)


def _note_left_out(messages: list[dict[str, Any]], steps: list[MemoryStep]) -> None:
    """Say, in the user message before them, which steps the prompt leaves out."""
    numbers = [s.step_number for s in steps if isinstance(s, ActionStep)]
    which = f"steps {numbers[0]}-{numbers[-1]}" if numbers else "some planning"
    note = (
        f"[{len(steps)} earlier steps ({which}) are left out here to fit the model's context "
        "window; their code and outputs are kept in the run's record, and the variables they "
        "defined still exist in the Python session.]"
    )
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "user" and isinstance(last["content"], str):
        messages[-1] = {**last, "content": f"{last['content']}\n\n{note}"}
    else:
        messages.append({"role": "user", "content": note})


def _clip(text: str, max_chars: int) -> str:
    text = text.strip()
    return text if len(text) <= max_chars else text[:max_chars].rstrip() + " […]"
