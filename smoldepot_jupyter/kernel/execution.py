"""What one action produced: outputs, error, final answer, tool calls, timing, observation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .observation import outputs_to_text, strip_ansi, truncate_middle

__all__ = [
    "PRINTED_BLANK",
    "PRINTED_NOTHING",
    "Execution",
    "ExecutionError",
    "SidecarObject",
    "ToolCall",
]

#: How deep `Execution.to_dict` copies a value from the sidecar; deeper parts become a repr.
MAX_DEPTH = 100
#: The longest repr kept for a value that is not JSON (the middle is cut).
MAX_REPR = 20_000
#: The observation of an action that showed nothing at all.
PRINTED_NOTHING = "(the action ran and printed nothing)"
#: The observation of an action whose output was only whitespace, e.g. ``print("")``: telling
#: it apart from silence shows that a value printed was empty.
PRINTED_BLANK = "(the action printed only blank lines: the values it printed are empty)"


@dataclass
class ExecutionError:
    """The exception an action raised, as the kernel reported it (ANSI codes removed)."""

    ename: str
    evalue: str
    traceback: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.ename}: {self.evalue}"


@dataclass
class SidecarObject:
    """A value from the sidecar that is not JSON: only its type and repr reach the host.

    The real object stays in the sidecar; ``pull(name, trust=True)`` fetches it.
    """

    type: str
    repr: str

    def __str__(self) -> str:
        return self.repr

    def __repr__(self) -> str:
        return self.repr


@dataclass
class ToolCall:
    """One bridged call from model code to a host tool."""

    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    result: Any = None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Execution:
    """The outcome of running one code action in the sidecar.

    `outputs` are nbformat v4 output dicts in arrival order (consecutive stream chunks of the
    same stream are merged, as notebooks show them). `has_final_answer` tells "no answer" apart
    from an answer of ``None``. `files_read` lists the data files the action opened for reading
    (relative to the working directory when inside it).
    """

    code: str
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: ExecutionError | None = None
    final_answer: Any = None
    has_final_answer: bool = False
    tool_calls: list[ToolCall] = field(default_factory=list)
    duration: float = 0.0
    timed_out: bool = False
    restarted: bool = False
    execution_count: int | None = None
    dropped_output_chars: int = 0
    files_read: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the action ran to its end (or to final_answer) without an error."""
        return self.error is None and not self.timed_out and not self.restarted

    def observation(self, max_chars: int = 10_000) -> str:
        """The text the model reads next: outputs, then the error, then notes; never empty."""
        text = outputs_to_text(self.outputs)
        printed_blank = bool(text) and not text.strip()
        if self.error is not None and not any(
            o.get("output_type") == "error" for o in self.outputs
        ):
            text += f"{self.error.ename}: {strip_ansi(self.error.evalue)}\n"
        text = truncate_middle(text, max_chars)
        notes = list(self.notes)
        if self.dropped_output_chars:
            notes.insert(
                0,
                f"[{self.dropped_output_chars:,} characters of output were dropped: over the "
                "output limit of one action. Print less, e.g. df.head() or a summary.]",
            )
        if notes:
            text = text + ("\n" if text and not text.endswith("\n") else "") + "\n".join(notes)
        if not text.strip():
            text = PRINTED_BLANK if printed_blank else PRINTED_NOTHING
        return text.rstrip("\n")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field (non-JSON tool results as their repr). Values from
        the sidecar are copied only `MAX_DEPTH` levels deep: a deeper part becomes a
        ``{"type", "repr"}`` placeholder, so any value the sidecar sent can be recorded."""
        data = {f.name: _jsonable(getattr(self, f.name)) for f in fields(self) if f.name != "error"}
        data["error"] = None if self.error is None else _jsonable(asdict(self.error))
        data["tool_calls"] = [_jsonable(_call_dict(call)) for call in self.tool_calls]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Execution:
        """Rebuild an Execution from `to_dict` output."""
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        error = data.pop("error", None)
        calls = data.pop("tool_calls", [])
        answer = data.pop("final_answer", None)
        if isinstance(answer, dict) and set(answer) == {"type", "repr"}:
            answer = SidecarObject(**answer)
        return cls(
            **data,
            final_answer=answer,
            error=ExecutionError(**error) if error else None,
            tool_calls=[ToolCall(**c) for c in calls],
        )


def _call_dict(call: ToolCall) -> dict[str, Any]:
    # Not `asdict`: it copies the arguments recursively, without a bound on their depth.
    return {f.name: getattr(call, f.name) for f in fields(call)}


def _jsonable(value: Any, depth: int = 0) -> Any:
    """`value` as JSON data, at most `MAX_DEPTH` levels deep; what is not JSON (or lies
    deeper) becomes ``{"type": <type name>, "repr": <repr, cut to MAX_REPR characters>}``."""
    if isinstance(value, SidecarObject):
        return {"type": value.type, "repr": value.repr}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if depth < MAX_DEPTH:
        if isinstance(value, list | tuple):
            return [_jsonable(v, depth + 1) for v in value]
        if isinstance(value, dict):
            return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    return {"type": type(value).__name__, "repr": bounded_repr(value)}


def bounded_repr(value: Any, max_chars: int = MAX_REPR) -> str:
    """``repr(value)``, cut in the middle to `max_chars`; never raises (a value too deeply
    nested to show, or whose repr fails, is described instead)."""
    try:
        text = repr(value)
    except RecursionError:
        return f"<{type(value).__name__} nested too deeply to show>"
    except Exception as exc:
        return f"<{type(value).__name__} object (repr failed: {type(exc).__name__})>"
    return truncate_middle(text, max_chars)
