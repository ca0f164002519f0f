"""What every model shares: the `Model` protocol, `ModelResponse`, the errors, and stream cutting.

A model takes OpenAI-style messages and returns one `ModelResponse`; while it streams, text deltas
go to `on_delta`, and the stream ends early at a stop sequence or when `stop_when` says so.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..usage import TokenUsage

__all__ = [
    "Model",
    "ModelAuthError",
    "ModelContextWindowError",
    "ModelError",
    "ModelNotFoundError",
    "ModelResponse",
    "ModelUnavailableError",
    "NoModelConfigured",
]

#: `ModelResponse.finish_reason` when `stop_when` ended the stream (a complete action arrived).
FINISH_STOP_WHEN = "stop_when"


class ModelError(Exception):
    """A model call failed in a way the caller should report; the message says what to do."""


class ModelAuthError(ModelError):
    """The provider rejected the credentials (or none were found). Never retried."""


class ModelNotFoundError(ModelError):
    """The model id is unknown to litellm or to the server. Never retried."""


class ModelUnavailableError(ModelError):
    """Rate limits, server errors, timeouts or connection failures outlasted the retries."""


class ModelContextWindowError(ModelError):
    """The prompt is longer than the model's context window; shorten the history to go on."""


class NoModelConfigured(ModelError):
    """No model was given and none is set in the environment."""


@dataclass
class ModelResponse:
    """One model call's result.

    `tool_calls` holds native tool calls as ``{"id", "name", "arguments"}`` with `arguments` a
    dict (the raw string when the model wrote invalid JSON, so the agent can tell it so).
    `finish_reason` is the provider's ("stop", "length", "tool_calls") or ``"stop_when"`` when
    the caller cut the stream. `seconds` is the wall time of the call, retries included.
    """

    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: TokenUsage = field(default_factory=TokenUsage)
    model_id: str = ""
    finish_reason: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "tool_calls": copy.deepcopy(self.tool_calls),
            "usage": self.usage.to_dict(),
            "model_id": self.model_id,
            "finish_reason": self.finish_reason,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelResponse:
        return cls(
            text=data.get("text") or "",
            tool_calls=copy.deepcopy(list(data.get("tool_calls") or [])),
            usage=TokenUsage.from_dict(data.get("usage")),
            model_id=data.get("model_id") or "",
            finish_reason=data.get("finish_reason"),
            seconds=float(data.get("seconds") or 0.0),
        )


@runtime_checkable
class Model(Protocol):
    """Anything with a `model_id` and this `generate` is a model: `LiteLLMModel`, `ScriptedModel`,
    or your own class."""

    model_id: str

    def generate(
        self,
        messages: list[dict[str, Any]],
        *,
        stop: list[str] | None = None,
        max_tokens: int | None = None,
        tools: list[dict[str, Any]] | None = None,
        on_delta: Callable[[str], None] | None = None,
        stop_when: Callable[[str], bool] | None = None,
        temperature: float | None = None,
    ) -> ModelResponse:
        """Answer `messages`. Deltas go to `on_delta` as they arrive; the stream ends at the first
        of `stop` (not included in the text) or once `stop_when(text_so_far)` is true.
        `temperature` (None: the model's own default) samples this one call; a model that
        cannot honour it ignores it, and may say so with ``takes_temperature = False``."""
        ...


class _TextStream:
    """Accumulates streamed text, forwards it to `on_delta`, and says when to stop reading.

    The text never contains a stop sequence or what follows it, whether or not the provider
    honoured `stop` itself; `stop_when` is asked after every delta.
    """

    def __init__(
        self,
        stop: Sequence[str] | None,
        on_delta: Callable[[str], None] | None,
        stop_when: Callable[[str], bool] | None,
    ) -> None:
        self.text = ""
        self.emitted = False
        self.finish_reason: str | None = None
        self._stop = [s for s in (stop or []) if s]
        self._longest_stop = max((len(s) for s in self._stop), default=0)
        self._on_delta = on_delta
        self._stop_when = stop_when

    def feed(self, delta: str) -> bool:
        """Take one delta; True when the caller should stop reading the stream."""
        if not delta:
            return False
        previous = self.text
        text = previous + delta
        cut = self._first_stop(text, max(0, len(previous) - self._longest_stop + 1))
        if cut is not None:
            text = text[:cut]
        new = text[len(previous) :]
        self.text = text
        if new and self._on_delta is not None:
            self.emitted = True
            self._on_delta(new)
        if cut is not None:
            self.finish_reason = "stop"
            return True
        if self._stop_when is not None and self._stop_when(text):
            self.finish_reason = FINISH_STOP_WHEN
            return True
        return False

    def _first_stop(self, text: str, start: int) -> int | None:
        found = [i for i in (text.find(s, start) for s in self._stop) if i >= 0]
        return min(found) if found else None
