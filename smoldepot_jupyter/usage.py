"""Token and time accounting shared by models, memory and results."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Timing", "TokenUsage"]


@dataclass
class TokenUsage:
    """Tokens of one model call, or a total. `cached_prompt_tokens` is the part of the prompt
    the provider served from its prompt cache, where it reports it (else 0). `estimated` is True
    when the provider reported no usage and the counts come from a tokenizer on our side."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_prompt_tokens + other.cached_prompt_tokens,
            self.estimated or other.estimated,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.estimated:
            del data["estimated"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TokenUsage:
        data = data or {}
        return cls(
            int(data.get("prompt_tokens", 0) or 0),
            int(data.get("completion_tokens", 0) or 0),
            int(data.get("cached_prompt_tokens", 0) or 0),
            bool(data.get("estimated", False)),
        )


@dataclass
class Timing:
    """Wall-clock start and end (seconds since the epoch) of a step or a run."""

    start: float
    end: float | None = None

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def to_dict(self) -> dict[str, float | None]:
        return {"start": self.start, "end": self.end, "duration": self.duration}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Timing:
        return cls(start=float(data["start"]), end=data.get("end"))
