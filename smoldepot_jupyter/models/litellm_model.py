"""`LiteLLMModel`: any litellm model id, streamed, bounded, retried, with token usage.

litellm is imported on the first call (it takes seconds), with its price table read from the
package rather than fetched from the internet. Failures become one of our `ModelError`s, whose
messages say what to do and never contain the API key.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..usage import TokenUsage
from . import litellm_errors
from .base import ModelAuthError, ModelResponse, _TextStream

__all__ = ["LiteLLMModel", "flatten_message_content", "warm_litellm_import"]

_MAX_BACKOFF = 30.0
_MAX_RETRY_AFTER = 60.0
_LOCAL_PROVIDERS = {"ollama", "ollama_chat", "hosted_vllm", "llamafile", "lm_studio"}
_import_lock = threading.Lock()


def _import_litellm() -> Any:
    """Import litellm offline-friendly and quiet: local price table, no "Give Feedback" banner."""
    with _import_lock:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        litellm.suppress_debug_info = True
        return litellm


def warm_litellm_import() -> threading.Thread:
    """Import litellm in a daemon thread now (e.g. at ``%load_ext``), so the first call is quick."""

    def run() -> None:
        with contextlib.suppress(Exception):
            _import_litellm()

    thread = threading.Thread(target=run, name="smoldepot-litellm-import", daemon=True)
    thread.start()
    return thread


def flatten_message_content(content: Any, *, drop_images: bool = True) -> Any:
    """A list of content parts as one string (text parts joined by newlines).

    Servers such as llama.cpp's reject list content. Images cannot be carried by a string: with
    `drop_images` they become a note, otherwise a list holding images is returned unchanged.
    """
    if not isinstance(content, list):
        return content
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type", "text") == "text":
            texts.append(str(part.get("text", "")))
        elif drop_images:
            texts.append("[image omitted: this model takes text only]")
        else:
            return content
    return "\n".join(texts)


class LiteLLMModel:
    """A model reached through litellm: hosted APIs, Ollama, or any OpenAI-compatible server.

    Every call streams (`on_delta`), is bounded by `max_tokens`, and is cut as soon as a stop
    sequence or `stop_when` says the action is complete. Rate limits, 5xx, timeouts and
    connection failures are retried `num_retries` times with exponential backoff and jitter
    (or the server's Retry-After); `timeout` is the seconds to wait for the server to answer or
    to send the next chunk. `flatten_messages_as_text` turns list content into strings: True
    always, None (auto) for local servers when no image is lost, False never. Further keyword
    arguments go to ``litellm.completion`` as they are.
    """

    def __init__(
        self,
        model_id: str,
        api_base: str | None = None,
        api_key: str | None = None,
        *,
        max_tokens: int = 2048,
        temperature: float | None = None,
        num_retries: int = 4,
        retry_base_delay: float = 1.0,
        timeout: float = 600,
        flatten_messages_as_text: bool | None = None,
        context_window: int | None = None,
        **completion_kwargs: Any,
    ) -> None:
        self.model_id = model_id
        self._context_window = context_window
        self.api_base = api_base
        self._api_key = api_key
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.num_retries = max(0, num_retries)
        self.retry_base_delay = retry_base_delay
        self.timeout = timeout
        self.flatten_messages_as_text = flatten_messages_as_text
        self.completion_kwargs = completion_kwargs
        self._stop_supported: bool | None = None

    @property
    def context_window(self) -> int | None:
        """Tokens the model reads at most: as given, else litellm's model information (None
        when litellm does not know the model, as for a local server's own model names)."""
        if self._context_window is None:
            try:
                info = _import_litellm().get_model_info(self.model_id)
            except Exception:
                info = {}
            size = info.get("max_input_tokens") or info.get("max_tokens")
            self._context_window = int(size) if isinstance(size, int) and size > 0 else 0
        return self._context_window or None

    @property
    def provider(self) -> str:
        """The litellm provider prefix of `model_id` (``openai`` when there is none)."""
        return self.model_id.split("/", 1)[0] if "/" in self.model_id else "openai"

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        # A model is a service, not a value: configuration (traitlets deep-copies config values)
        # must hand on this very object, with its recorded calls and connections.
        return self

    def __repr__(self) -> str:
        base = f", api_base={self.api_base!r}" if self.api_base else ""
        return f"LiteLLMModel({self.model_id!r}{base})"

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
        """Stream one completion of `messages` and return it; see `Model.generate`.
        `temperature` overrides the model's own for this call."""
        started = time.monotonic()
        litellm = _import_litellm()
        request = self._request(litellm, messages, stop, max_tokens, tools)
        if temperature is not None:
            request["temperature"] = temperature
        failures = 0
        while True:
            text = _TextStream(stop, on_delta, stop_when)
            try:
                response = self._stream_once(litellm, request, text)
            except Exception as exc:
                if isinstance(exc, litellm.UnsupportedParamsError) and not request.get(
                    "drop_params"
                ):
                    request["drop_params"] = True  # let litellm drop what the provider refuses
                    continue
                time.sleep(self._delay_or_raise(litellm, exc, text, failures))
                failures += 1
                continue
            response.seconds = time.monotonic() - started
            if response.usage.total_tokens == 0:
                response.usage = self._estimated_usage(litellm, request["messages"], response)
            return response

    def _delay_or_raise(
        self, litellm: Any, exc: Exception, text: _TextStream, failures: int
    ) -> float:
        """Seconds to wait before retrying after `exc`, or raise the error for the caller.

        A stream that already showed text to `on_delta` is not retried: the caller would see it
        twice.
        """
        secrets = litellm_errors.secrets_to_mask(self._api_key)
        if not litellm_errors.is_retryable(litellm, exc):
            error = litellm_errors.to_model_error(litellm, exc, self, secrets)
            if error is exc:
                raise exc
            if isinstance(error, ModelAuthError):
                raise error from None
            raise error from exc
        if text.emitted:
            reason = f"the stream broke after {len(text.text)} characters"
        elif failures >= self.num_retries:
            reason = f"{failures + 1} attempt{'s' if failures else ''} failed"
        else:
            wait = litellm_errors.retry_after(exc)
            if wait is None:
                backoff = min(self.retry_base_delay * 2**failures, _MAX_BACKOFF)
                return backoff / 2 + random.uniform(0, backoff / 2)
            if wait <= _MAX_RETRY_AFTER:
                return max(0.0, wait)
            reason = f"the server asked to retry after {wait:.0f} s"
        raise litellm_errors.unavailable(exc, reason, self, secrets) from exc

    def _estimated_usage(
        self, litellm: Any, messages: list[dict[str, Any]], response: ModelResponse
    ) -> TokenUsage:
        """Counts from litellm's tokenizer for a provider whose stream reported no usage
        (llama.cpp's server, for one), marked as estimated."""
        try:
            prompt = litellm.token_counter(model=self.model_id, messages=messages)
            completion = litellm.token_counter(model=self.model_id, text=response.text or "")
        except Exception:
            return response.usage
        return TokenUsage(int(prompt), int(completion), 0, estimated=True)

    def _request(
        self,
        litellm: Any,
        messages: list[dict[str, Any]],
        stop: list[str] | None,
        max_tokens: int | None,
        tools: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        request: dict[str, Any] = dict(self.completion_kwargs)
        request.update(
            model=self.model_id,
            messages=self._prepare_messages(messages),
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=max_tokens or self.max_tokens,
            timeout=self.timeout,
            num_retries=0,
            max_retries=0,
        )
        if self.api_base:
            request["api_base"] = self.api_base
        api_key = self._api_key
        if api_key is None and self._needs_placeholder_key():
            api_key = "no-key"
        if api_key is not None:
            request["api_key"] = api_key
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if stop and self._supports_stop(litellm):
            request["stop"] = list(stop)
        if tools:
            request["tools"] = tools
            # litellm 1.106.2 imports its MCP gateway (and the optional `mcp` package) for any
            # `tools`; ours are plain functions, so skip that path.
            request["_skip_mcp_handler"] = True
        return request

    def _needs_placeholder_key(self) -> bool:
        """Local OpenAI-compatible servers want no key, but the OpenAI client insists on one."""
        return (
            bool(self.api_base)
            and self.provider == "openai"
            and not os.environ.get("OPENAI_API_KEY")
        )

    def _prepare_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        flatten = self.flatten_messages_as_text
        if flatten is False or (
            flatten is None and not (self.api_base or self.provider in _LOCAL_PROVIDERS)
        ):
            return [dict(m) for m in messages]
        drop_images = flatten is True
        prepared = []
        for message in messages:
            message = dict(message)
            if isinstance(message.get("content"), list):
                message["content"] = flatten_message_content(
                    message["content"], drop_images=drop_images
                )
            prepared.append(message)
        return prepared

    def _supports_stop(self, litellm: Any) -> bool:
        if self._stop_supported is None:
            try:
                model, provider, _, _ = litellm.get_llm_provider(
                    self.model_id, api_base=self.api_base
                )
                params = litellm.get_supported_openai_params(
                    model=model, custom_llm_provider=provider
                )
                self._stop_supported = params is None or "stop" in params
            except Exception:
                self._stop_supported = True
        return self._stop_supported

    def _stream_once(self, litellm: Any, request: dict[str, Any], text: _TextStream):
        stream = litellm.completion(**request)
        calls: dict[int, dict[str, str]] = {}
        finish_reason = None
        usages = []
        try:
            for chunk in stream:
                usage = getattr(chunk, "usage", None)
                if usage is not None:
                    usages.append(usage)
                choices = getattr(chunk, "choices", None) or []
                if not choices:
                    continue
                choice = choices[0]
                finish_reason = getattr(choice, "finish_reason", None) or finish_reason
                delta = getattr(choice, "delta", None)
                _collect_tool_calls(calls, getattr(delta, "tool_calls", None) or [])
                if text.feed(getattr(delta, "content", None) or ""):
                    break
            else:
                if _ended_without_finish_reason(stream, request):
                    raise litellm_errors.StreamCutOff(
                        "the server ended the stream before the reply was complete (no finish "
                        f"reason after {len(text.text)} characters)"
                    )
        finally:
            _close_stream(stream)
        return ModelResponse(
            text=text.text,
            tool_calls=_assemble_tool_calls(calls),
            usage=_reported_usage(stream, usages),
            model_id=self.model_id,
            finish_reason=text.finish_reason or finish_reason,
        )


def _collect_tool_calls(calls: dict[int, dict[str, str]], deltas: Iterable[Any]) -> None:
    for position, delta in enumerate(deltas):
        index = getattr(delta, "index", None)
        call = calls.setdefault(position if index is None else index, {})
        if getattr(delta, "id", None) and not call.get("id"):
            call["id"] = delta.id
        function = getattr(delta, "function", None)
        name = getattr(function, "name", None)
        if name and not call.get("name"):
            call["name"] = name
        call["arguments"] = call.get("arguments", "") + (getattr(function, "arguments", "") or "")


def _assemble_tool_calls(calls: dict[int, dict[str, str]]) -> list[dict[str, Any]]:
    assembled = []
    for index in sorted(calls):
        call = calls[index]
        raw = call.get("arguments", "").strip()
        arguments: Any = raw
        try:
            parsed = json.loads(raw) if raw else {}
            if isinstance(parsed, dict):
                arguments = parsed
        except ValueError:
            pass
        assembled.append(
            {
                "id": call.get("id") or f"call_{index}",
                "name": call.get("name", ""),
                "arguments": arguments,
            }
        )
    return assembled


def _ended_without_finish_reason(stream: Any, request: dict[str, Any]) -> bool:
    """Whether a stream read to its end never said why it ended: the connection was dropped
    mid-answer (every provider sends a finish reason; litellm's wrapper substitutes "stop" when
    none came, and keeps the real one in `received_finish_reason`). litellm's `mock_response`
    streams send none, and streams of other wrappers are not judged."""
    if request.get("mock_response") is not None or not hasattr(stream, "received_finish_reason"):
        return False
    received = stream.received_finish_reason or getattr(stream, "intermittent_finish_reason", None)
    return received is None


def _close_stream(stream: Any) -> None:
    """Close the HTTP response under litellm's stream wrapper, so the server stops generating."""
    for target in (getattr(stream, "completion_stream", None), stream):
        close = getattr(target, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()


def _reported_usage(stream: Any, usages: list[Any]) -> TokenUsage:
    """Usage as the provider reported it; zero when it reported none.

    At the end of a stream litellm adds a usage chunk of its own, estimated with a tokenizer when
    the provider sent none; the wrapper's raw `chunks` tell the two apart, so read those.
    """
    chunks = getattr(stream, "chunks", None)
    if isinstance(chunks, list):
        usages = [u for u in (getattr(c, "usage", None) for c in chunks) if u is not None]
    total = TokenUsage()
    for usage in usages:
        found = _token_usage(usage)
        total = TokenUsage(
            max(total.prompt_tokens, found.prompt_tokens),
            max(total.completion_tokens, found.completion_tokens),
            max(total.cached_prompt_tokens, found.cached_prompt_tokens),
        )
    return total


def _token_usage(usage: Any) -> TokenUsage:
    def get(obj: Any, name: str) -> Any:
        return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)

    cached = get(get(usage, "prompt_tokens_details") or {}, "cached_tokens")
    cached = cached or get(usage, "cache_read_input_tokens")
    return TokenUsage(
        int(get(usage, "prompt_tokens") or 0),
        int(get(usage, "completion_tokens") or 0),
        int(cached or 0),
    )
