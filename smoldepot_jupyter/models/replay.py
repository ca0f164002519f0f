"""`ReplayModel`: plays back the model turns of a recorded run, in order, with no model at all.

Execution is real when a run is replayed; only the model's words come from the record. Used to
re-run a demo in front of a class, and by the examples when no model is configured.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..events import AnswerFormatted
from .base import ModelResponse
from .scripted import ScriptedModel, ScriptExhausted

__all__ = ["ReplayModel"]


class ReplayModel(ScriptedModel):
    """Answers call n with the recorded run's n-th model turn.

    `run` is a `RunRecord`, the path of a run record (``.jsonl``), or a list of them: a notebook
    with several ``%%agent`` cells replays their runs in order. `delay` is the pause between
    streamed words, for presentation speed (0: as fast as possible). The answer-form call of an
    agent with ``format_answer=True`` is answered apart, with the recorded replies to that call
    in order, so it never takes a step's turn; with none recorded it fails, and the agent keeps
    the answer as given.
    """

    def __init__(self, run: Any, *, delay: float = 0.0) -> None:
        from ..records import RunRecord, load_run

        runs = run if isinstance(run, list | tuple) else [run]
        if not runs:
            raise ValueError("ReplayModel needs at least one recorded run")
        self.records = [r if isinstance(r, RunRecord) else load_run(Path(r)) for r in runs]
        self.record = self.records[0]
        self.delay = delay
        turns = [turn for record in self.records for turn in record.model_turns]
        super().__init__(turns, model_id=f"replay:{self.record.model_id}")
        self._form_replies = [
            ModelResponse(text=event.reply, usage=event.token_usage, model_id=self.model_id)
            for record in self.records
            for event in record.events
            if isinstance(event, AnswerFormatted)
        ]

    def next_record(self) -> Any:
        """The recorded run whose model turn the next call plays (None once all are played):
        the run a replay of the next ``%%agent`` cell is compared with."""
        played = len(self.calls)
        for record in self.records:
            if played < len(record.model_turns):
                return record
            played -= len(record.model_turns)
        return None

    def generate(
        self,
        messages: list[dict[str, Any]],
        *,
        on_delta: Callable[[str], None] | None = None,
        **options: Any,
    ) -> ModelResponse:
        """The next recorded turn, streamed word by word (`delay` apart)."""
        if _is_answer_form_call(messages):
            return self._form_reply()
        if on_delta is not None and self.delay > 0:
            user_delta = on_delta

            def on_delta(text: str) -> None:
                time.sleep(self.delay)
                user_delta(text)

        try:
            return super().generate(messages, on_delta=on_delta, **options)
        except ScriptExhausted:
            ids = ", ".join(r.run_id for r in self.records)
            turns = sum(len(r.model_turns) for r in self.records)
            raise ScriptExhausted(
                f"the recorded run {ids} has {turns} model turns and the replay asked for "
                "another: execution went another way than when it was recorded"
            ) from None

    def _form_reply(self) -> ModelResponse:
        if not self._form_replies:
            ids = ", ".join(r.run_id for r in self.records)
            raise ScriptExhausted(
                f"the recorded run {ids} holds no (further) reply to the answer-form call: it "
                "was recorded without format_answer"
            )
        return self._form_replies.pop(0)


def _is_answer_form_call(messages: list[dict[str, Any]]) -> bool:
    from ..agents.prompts import ANSWER_FORM_SYSTEM

    return bool(messages) and messages[0].get("content") == ANSWER_FORM_SYSTEM
