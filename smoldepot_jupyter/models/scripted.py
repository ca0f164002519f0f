"""`ScriptedModel`: a model that plays a script, for tests that read like the conversation.

It streams like a real model (word by word to `on_delta`, cut by stop sequences and
`stop_when`), records every prompt it was given, and reports a deterministic token usage.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..usage import TokenUsage
from .base import ModelError, ModelResponse, _TextStream

__all__ = ["ScriptExhausted", "ScriptedModel"]

Reply = str | ModelResponse | BaseException
_WORDS = re.compile(r"\s*\S+\s*|\s+")


class ScriptExhausted(ModelError):
    """A `ScriptedModel` was called more often than replies were scripted."""


class ScriptedModel:
    """Answers each call with the next scripted reply.

    `replies` is a list (one reply per call, in order) or a callable ``(messages) -> reply``.
    A reply is a string, a `ModelResponse` (e.g. with tool calls), or an exception instance,
    which is raised. `calls` holds a deep copy of the messages of every call.

    Usage is counted as characters / 4 (rounded up): prompt from the messages (roles and contents),
    completion from the returned text, and cached prompt tokens from the prefix this prompt
    shares with the previous one, like a server with prefix caching, so tests can check that
    prompts grow append-only.
    """

    def __init__(
        self,
        replies: Sequence[Reply] | Callable[[list[dict[str, Any]]], Reply],
        model_id: str = "scripted",
    ) -> None:
        self.model_id = model_id
        self._replies = replies if callable(replies) else list(replies)
        self.calls: list[list[dict[str, Any]]] = []
        self.temperatures: list[float | None] = []
        self._previous_prompt = ""
        self._lock = threading.Lock()

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        # A model is a service, not a value: configuration (traitlets deep-copies config values)
        # must hand on this very object, with its recorded calls and connections.
        return self

    def __repr__(self) -> str:
        return f"ScriptedModel({self.model_id!r}, calls={len(self.calls)})"

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
        """Play the next reply; see `Model.generate` (`max_tokens`, `tools` and `temperature`
        are not used; the temperatures asked for are kept in `temperatures`)."""
        self.temperatures.append(temperature)
        started = time.monotonic()
        with self._lock:
            recorded = copy.deepcopy(messages)
            self.calls.append(recorded)
            reply = self._next_reply(copy.deepcopy(messages))
            prompt = _prompt_text(recorded)
            cached = _common_prefix(prompt, self._previous_prompt)
            self._previous_prompt = prompt
        if isinstance(reply, BaseException):
            raise reply
        scripted = reply if isinstance(reply, ModelResponse) else ModelResponse(text=str(reply))
        stream = _TextStream(stop, on_delta, stop_when)
        for word in _WORDS.findall(scripted.text):
            if stream.feed(word):
                break
        usage = scripted.usage
        if usage.total_tokens == 0:
            usage = TokenUsage(_tokens(len(prompt)), _tokens(len(stream.text)), cached // 4)
        return ModelResponse(
            text=stream.text,
            tool_calls=copy.deepcopy(scripted.tool_calls),
            usage=usage,
            model_id=scripted.model_id or self.model_id,
            finish_reason=stream.finish_reason
            or scripted.finish_reason
            or ("tool_calls" if scripted.tool_calls else "stop"),
            seconds=time.monotonic() - started,
        )

    def _next_reply(self, messages: list[dict[str, Any]]) -> Reply:
        if callable(self._replies):
            return self._replies(messages)
        call = len(self.calls)
        if call > len(self._replies):
            last = _preview(messages[-1].get("content") if messages else "")
            raise ScriptExhausted(
                f"ScriptedModel '{self.model_id}' got call {call} but only {len(self._replies)} "
                f"replies were scripted; add a reply for this call (its last message: {last})"
            )
        return self._replies[call - 1]


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    parts = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, str):
            content = json.dumps(content, sort_keys=True, default=str)
        parts.append(f"{message.get('role', '')}: {content}")
    return "\n".join(parts)


def _common_prefix(a: str, b: str) -> int:
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _tokens(chars: int) -> int:
    return (chars + 3) // 4


def _preview(content: Any, limit: int = 80) -> str:
    text = content if isinstance(content, str) else json.dumps(content, default=str)
    return repr(text if len(text) <= limit else text[:limit] + "...")
