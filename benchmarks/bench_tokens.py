"""Token counting that is the same for every agent: litellm.token_counter on the messages each
agent sent and the text it got back, next to the figures the provider reported.

`CountingModel` wraps our model; `CountingClient` stands in for the litellm module as
smolagents' client. Both keep a tally per task.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from smoldepot_jupyter.models import Model, ModelResponse, flatten_message_content

__all__ = ["CountingClient", "CountingModel", "Tally", "TokenCounter", "litellm_module"]


def litellm_module() -> Any:
    """litellm, imported with its price table read locally (no fetch at import)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


# ---------------------------------------------------------------------------- tokens


class TokenCounter:
    """Counts prompt and completion tokens the same way for every agent:
    ``litellm.token_counter(model=<model id>, messages=...)`` and ``(text=...)``, on the
    messages as sent (list contents flattened to text). `count` replaces litellm in tests:
    ``count(messages=None, text=None) -> int``."""

    def __init__(self, model_id: str, count: Callable[..., int] | None = None) -> None:
        self.model_id = model_id
        self._count = count

    def _counter(self) -> Callable[..., int]:
        if self._count is None:
            litellm = litellm_module()
            model_id = self.model_id

            def count(messages: Any = None, text: Any = None) -> int:
                if messages is not None:
                    return int(litellm.token_counter(model=model_id, messages=messages))
                return int(litellm.token_counter(model=model_id, text=text or ""))

            self._count = count
        return self._count

    def messages(self, messages: Sequence[dict[str, Any]]) -> int:
        flat = [
            {**m, "content": flatten_message_content(m.get("content"))}
            if isinstance(m.get("content"), list)
            else dict(m)
            for m in messages
        ]
        return self._counter()(messages=flat)

    def text(self, text: str | None) -> int:
        return self._counter()(text=text or "")


@dataclass
class Tally:
    """Per-call token figures of one task: counted (same counter) and as reported."""

    counted_prompt: int = 0
    counted_completion: int = 0
    reported_prompt: int = 0
    reported_completion: int = 0
    reported_cached: int = 0
    calls: int = 0

    def add(self, prompt: int, completion: int, reported: tuple[int, int, int]) -> None:
        self.calls += 1
        self.counted_prompt += prompt
        self.counted_completion += completion
        self.reported_prompt += reported[0]
        self.reported_completion += reported[1]
        self.reported_cached += reported[2]


class CountingModel:
    """Our model with every call also counted by `counter` (a `Model` itself)."""

    def __init__(self, model: Model, counter: TokenCounter) -> None:
        self.model = model
        self.model_id = model.model_id
        self.counter = counter
        self.tally = Tally()

    def generate(self, messages: list[dict[str, Any]], **options: Any) -> ModelResponse:
        response = self.model.generate(messages, **options)
        usage = response.usage
        self.tally.add(
            self.counter.messages(messages),
            self.counter.text(response.text),
            (usage.prompt_tokens, usage.completion_tokens, usage.cached_prompt_tokens),
        )
        return response


class CountingClient:
    """Stands in for the litellm module as smolagents' client: passes `completion` on, and
    counts each call's messages and reply text with `counter`, keeping the server's figures."""

    def __init__(self, client: Any, counter: TokenCounter) -> None:
        self._client = client
        self.counter = counter
        self.tally = Tally()

    def completion(self, **request: Any) -> Any:
        response = self._client.completion(**request)
        choices = getattr(response, "choices", None) or []
        text = getattr(getattr(choices[0], "message", None), "content", None) if choices else ""
        self.tally.add(
            self.counter.messages(request.get("messages") or []),
            self.counter.text(text if isinstance(text, str) else ""),
            _reported(getattr(response, "usage", None)),
        )
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _reported(usage: Any) -> tuple[int, int, int]:
    def get(obj: Any, key: str) -> Any:
        return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)

    if usage is None:
        return (0, 0, 0)
    cached = get(get(usage, "prompt_tokens_details") or {}, "cached_tokens") or 0
    return (
        int(get(usage, "prompt_tokens") or 0),
        int(get(usage, "completion_tokens") or 0),
        int(cached),
    )
