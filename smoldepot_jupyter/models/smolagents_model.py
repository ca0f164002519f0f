"""`SmolagentsModel`: a smolagents `Model` used as ours, so smolagents code can keep its model.

smolagents' models answer ``generate(messages, stop_sequences=..., ...)`` with a `ChatMessage`
(`.content`, `.tool_calls`, `.token_usage`); this adapter calls that and returns a
`ModelResponse`. It does not stream: the whole reply goes to `on_delta` once it has arrived.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import inspect
import io
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from ..usage import TokenUsage
from .base import ModelError, ModelResponse, _TextStream

__all__ = ["SmolagentsModel", "is_smolagents_model"]


def is_smolagents_model(model: Any) -> bool:
    """Whether `model` is an instance of smolagents' `Model` (without importing smolagents:
    a smolagents object can only exist once smolagents is imported)."""
    base = getattr(sys.modules.get("smolagents.models"), "Model", None)
    return isinstance(base, type) and isinstance(model, base)


class SmolagentsModel:
    """Our `Model` protocol over a smolagents `Model` (`LiteLLMModel`, `InferenceClientModel`,
    `TransformersModel`, a subclass of your own...). `resolve_model` wraps one for you, so
    ``CodeAgent(tools, model=smolagents_model)`` works as it is.

    Stop sequences go as `stop_sequences` (and are cut from the reply if the model ignored
    them); our tools' schemas as `tools_to_call_from`, when `generate` takes them (else a
    tool-calling agent reads a JSON block from the reply). `max_tokens` and `temperature` are
    passed where they mean something: to smolagents' API models (they forward keyword
    arguments to the provider) and to any `generate` that names them. Native tool calls come
    back as ours. A failing call is a `ModelError`, so the run ends in state "error" saying
    what the model raised.
    """

    def __init__(self, model: Any) -> None:
        if not callable(getattr(model, "generate", None)):
            raise TypeError(f"a smolagents model needs a generate() method; {model!r} has none")
        self.model = model
        self.model_id = str(getattr(model, "model_id", None) or type(model).__name__)
        #: Whether `temperature` reaches the model (the loop records a sampling temperature
        #: only for calls that used it).
        self.takes_temperature = self._forwards("temperature")

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self  # a model is a service, not a value (see ScriptedModel)

    def __repr__(self) -> str:
        return f"SmolagentsModel({type(self.model).__name__}, model_id={self.model_id!r})"

    def _takes(self, name: str) -> bool:
        """Whether the model's `generate` takes `name` (by name, or as any keyword)."""
        parameters = _parameters(self.model.generate)
        return name in parameters or "**" in parameters

    def _forwards(self, name: str) -> bool:
        """Whether option `name` means something to the model: its `generate` names it, or
        it is one of smolagents' API models, which pass keywords on to the provider."""
        parameters = _parameters(self.model.generate)
        is_api_model = any(c.__name__ == "ApiModel" for c in type(self.model).__mro__)
        return name in parameters or (is_api_model and "**" in parameters)

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
        """One call of the smolagents model; see `Model.generate`."""
        options: dict[str, Any] = {}
        if stop and self._takes("stop_sequences"):
            options["stop_sequences"] = list(stop)
        if tools and self._takes("tools_to_call_from"):
            options["tools_to_call_from"] = [_SchemaTool(schema) for schema in tools]
        if max_tokens is not None and self._forwards("max_tokens"):
            options["max_tokens"] = max_tokens
        if temperature is not None and self.takes_temperature:
            options["temperature"] = temperature
        started = time.monotonic()
        try:
            message = self.model.generate(_chat_messages(messages), **options)
        except Exception as exc:
            raise ModelError(
                f"the smolagents model {type(self.model).__name__} ({self.model_id}) raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        stream = _TextStream(stop, on_delta, stop_when)
        stream.feed(_text(getattr(message, "content", None)))
        calls = [_tool_call(c) for c in getattr(message, "tool_calls", None) or []]
        usage = getattr(message, "token_usage", None)
        return ModelResponse(
            text=stream.text,
            tool_calls=calls,
            usage=TokenUsage(
                int(getattr(usage, "input_tokens", 0) or 0),
                int(getattr(usage, "output_tokens", 0) or 0),
            ),
            model_id=self.model_id,
            finish_reason=stream.finish_reason or ("tool_calls" if calls else "stop"),
            seconds=time.monotonic() - started,
        )


class _SchemaTool:
    """A tool as smolagents' `get_tool_json_schema` reads one, made from our JSON schema."""

    output_type = "any"

    def __init__(self, schema: dict[str, Any]) -> None:
        function = schema.get("function", schema)
        parameters = function.get("parameters") or {}
        required = set(parameters.get("required") or [])
        self.name = function.get("name", "")
        self.description = function.get("description", "")
        self.inputs = {
            arg: {"type": "any", **info, **({} if arg in required else {"nullable": True})}
            for arg, info in (parameters.get("properties") or {}).items()
        }


def _parameters(function: Callable[..., Any]) -> set[str]:
    """The names `function` takes by keyword, and ``"**"`` if it takes any."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return set()
    names = set()
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            names.add("**")
        elif parameter.kind is not parameter.POSITIONAL_ONLY:
            names.add(parameter.name)
    return names


def _chat_messages(messages: list[dict[str, Any]]) -> list[Any]:
    """Our messages as smolagents' `ChatMessage`s, content as a list of parts (as its agents
    send them); pictures sent as data URLs become PIL images where PIL is there."""
    from smolagents.models import ChatMessage, MessageRole

    chat = []
    for message in messages:
        role = message.get("role", "user")
        content = message.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        chat.append(
            ChatMessage(
                role=MessageRole(role) if role in MessageRole.roles() else MessageRole.USER,
                content=[_part(p) for p in parts or []],
            )
        )
    return chat


def _part(part: dict[str, Any]) -> dict[str, Any]:
    if part.get("type") != "image_url":
        return dict(part)
    url = str((part.get("image_url") or {}).get("url", ""))
    if not url.startswith("data:") or "," not in url:
        return dict(part)
    try:
        from PIL import Image

        image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        image.load()
    except (ImportError, OSError, ValueError, binascii.Error):
        return dict(part)
    return {"type": "image", "image": image}


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return str(content)


def _tool_call(call: Any) -> dict[str, Any]:
    function = getattr(call, "function", None)
    arguments = getattr(function, "arguments", None)
    if isinstance(arguments, str):
        # Not JSON: kept as written, and the agent tells the model so.
        with contextlib.suppress(ValueError):
            arguments = json.loads(arguments)
    return {
        "id": str(getattr(call, "id", "") or ""),
        "name": str(getattr(function, "name", "") or ""),
        "arguments": arguments,
    }
