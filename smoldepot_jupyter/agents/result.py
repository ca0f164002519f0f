"""`RunResult`: what `agent.run` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..memory import MemoryStep
from ..usage import Timing, TokenUsage

__all__ = ["RUN_STATES", "RunFailed", "RunResult"]

RUN_STATES = ("success", "max_steps", "interrupted", "error")


@dataclass
class RunResult:
    """The outcome of one run.

    `state` is "success" (final_answer accepted), "max_steps" (the best answer of a last call),
    "interrupted" or "error" (`error` says why). `steps` are this run's memory steps.
    """

    output: Any
    state: str
    steps: list[MemoryStep] = field(default_factory=list)
    token_usage: TokenUsage = field(default_factory=TokenUsage)
    timing: Timing | None = None
    run_id: str = ""
    record_path: Path | None = None
    error: str | None = None

    @property
    def action_steps(self) -> int:
        """How many action steps the run took (planning steps not counted)."""
        return sum(1 for s in self.steps if getattr(s, "type", "") == "action")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (steps as dicts)."""
        from ..memory import to_jsonable

        return {
            "output": to_jsonable(self.output),
            "state": self.state,
            "steps": [s.to_dict() for s in self.steps],
            "token_usage": self.token_usage.to_dict(),
            "timing": self.timing.to_dict() if self.timing else None,
            "run_id": self.run_id,
            "record_path": str(self.record_path) if self.record_path else None,
            "error": self.error,
        }

    def __repr__(self) -> str:
        return (
            f"RunResult(state={self.state!r}, output={self.output!r}, steps={self.action_steps}, "
            f"tokens={self.token_usage.total_tokens}, run_id={self.run_id!r})"
        )


class RunFailed(RuntimeError):
    """A run asked for its answer alone (``return_full_result=False``) ended without one: in
    error or interrupted. `result` is the whole `RunResult`, steps included."""

    def __init__(self, result: RunResult) -> None:
        why = f": {result.error}" if result.error else ""
        super().__init__(f"the run {result.run_id} ended {result.state}{why}")
        self.result = result
