"""`ReplayModel`: plays back the model turns of a recorded run, in order, with no model at all.

Execution is real when a run is replayed; only the model's words come from the record. Used to
re-run a demo in front of a class, and by the examples when no model is configured.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import ModelResponse
from .scripted import ScriptedModel, ScriptExhausted

__all__ = ["ReplayModel"]


class ReplayModel(ScriptedModel):
    """Answers call n with the recorded run's n-th model turn.

    `run` is a `RunRecord` or the path of a run record (``.jsonl``). `delay` is the pause between
    streamed words, for presentation speed (0: as fast as possible).
    """

    def __init__(self, run: Any, *, delay: float = 0.0) -> None:
        from ..records import RunRecord, load_run

        record = run if isinstance(run, RunRecord) else load_run(Path(run))
        self.record = record
        self.delay = delay
        super().__init__(list(record.model_turns), model_id=f"replay:{record.model_id}")

    def generate(
        self,
        messages: list[dict[str, Any]],
        *,
        on_delta: Callable[[str], None] | None = None,
        **options: Any,
    ) -> ModelResponse:
        """The next recorded turn, streamed word by word (`delay` apart)."""
        if on_delta is not None and self.delay > 0:
            user_delta = on_delta

            def on_delta(text: str) -> None:
                time.sleep(self.delay)
                user_delta(text)

        try:
            return super().generate(messages, on_delta=on_delta, **options)
        except ScriptExhausted:
            raise ScriptExhausted(
                f"the recorded run {self.record.run_id} has {len(self.record.model_turns)} model "
                "turns and the replay asked for another: execution went another way than when "
                "it was recorded"
            ) from None
