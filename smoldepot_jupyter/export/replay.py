"""Replaying a recorded run: the model's recorded words, real execution, divergence shown.

For teaching: a run recorded once (a JSONL record or an exported notebook) is played again in
front of a class at presentation speed, with no model and no key. The code really runs in the
sidecar; where what happens differs from the record (other output, an error), the step says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..agents import CodeAgent, RunResult
from ..events import AnswerFormatted, ErrorEvent, Event, FinalAnswer, StepFinished
from ..kernel import KernelExecutor
from ..memory import ActionStep
from ..models import ReplayModel
from ..records import RunRecord, load_run
from ..tools import Tool
from .cells import one_line

__all__ = [
    "DivergenceWatcher",
    "load_replayable",
    "recorded_tool_stubs",
    "replay_run",
    "watch_replay",
]

_BUILT_IN = {"final_answer", "user_input"}
_ERROR_TEXT = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*): (.*)$", re.DOTALL)


def load_replayable(path: str | Path) -> RunRecord:
    """A run to replay, from a ``.jsonl`` record or a notebook exported by smoldepot."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no run record or notebook at {path}")
    if path.suffix == ".ipynb":
        from .notebook import run_from_notebook

        return run_from_notebook(path)
    return load_run(path)


def _action_steps(record: RunRecord) -> dict[int, ActionStep]:
    return {s.step_number: s for s in record.steps if isinstance(s, ActionStep)}


def _recorded_failure(text: str) -> Exception:
    """An exception whose ``TypeName: message`` reads as the recorded one did."""
    match = _ERROR_TEXT.match(text)
    if match is None:
        return RuntimeError(text)
    name, message = match.group(1).rsplit(".", 1)[-1], match.group(2)
    return type(name, (Exception,), {"__module__": "recorded"})(message)


def recorded_tool_stubs(record: RunRecord, names: Iterable[str]) -> list[Callable[..., Any]]:
    """For each tool in `names`, a stand-in that gives the recorded results in call order
    (and raises the recorded failures), so a replay needs no network, service or key."""
    calls: dict[str, list[Any]] = {}
    for step in sorted(_action_steps(record).values(), key=lambda s: s.step_number):
        if step.execution is not None:
            for call in step.execution.tool_calls:
                calls.setdefault(call.name, []).append(call)
    stubs = []
    for name in names:
        queue = list(calls.get(name, []))

        def stub(*args: Any, _name: str = name, _queue: list[Any] = queue, **kwargs: Any) -> Any:
            if not _queue:
                raise RuntimeError(
                    f"{_name} was called more often than in the recorded run: the replay went "
                    "another way"
                )
            call = _queue.pop(0)
            if call.error:
                raise _recorded_failure(call.error)
            return call.result

        stub.__name__ = stub.__qualname__ = name
        stub.__doc__ = f"{name}: plays back the results recorded in run {record.run_id}."
        stubs.append(stub)
    return stubs


def _recorded_tool_names(record: RunRecord) -> list[str]:
    names: list[str] = []
    for event in record.events:
        if event.kind == "run_started":
            names = [n for n in getattr(event, "tools", []) if n not in _BUILT_IN]
    for step in _action_steps(record).values():
        for call in step.execution.tool_calls if step.execution else []:
            if call.name not in names and call.name not in _BUILT_IN:
                names.append(call.name)
    return names


def _summary(text: str) -> str:
    return one_line(text, limit=160)


class DivergenceWatcher:
    """An observer that compares each replayed step with the recorded one and reports, as an
    error event of that step, where the observation or the error differs; and, once the replay
    answers, whether its final answer is the recorded one (the same words can compute another
    answer from other data)."""

    def __init__(self, record: RunRecord, emit: Callable[[Event], None]) -> None:
        self._recorded = _action_steps(record)
        self._answers = [e for e in record.events if isinstance(e, FinalAnswer)]
        self._emit = emit
        self._last_step: int | None = None
        self.divergences: list[str] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, FinalAnswer):
            self._compare_answer(event)
            return
        if not isinstance(event, StepFinished) or event.step.get("type") != "action":
            return
        now = event.memory_step
        self._last_step = now.step_number
        before = self._recorded.get(now.step_number)
        if before is None:
            message = f"step {now.step_number} was not in the recorded run"
        elif (before.error is None) != (now.error is None):
            was = f"error {_summary(before.error)}" if before.error else "no error"
            message = (
                f"replay diverged at step {now.step_number}: the recording had {was}; "
                f"now {'error ' + _summary(now.error) if now.error else 'no error'}"
            )
        elif before.observation.strip() != now.observation.strip():
            message = (
                f"replay diverged at step {now.step_number}: the recording showed "
                f"{_summary(before.observation)!r}; now {_summary(now.observation)!r}"
            )
        else:
            return
        self._report(event.run_id, now.step_number, message)

    def _compare_answer(self, event: FinalAnswer) -> None:
        step = self._last_step
        if not self._answers:
            self._report(event.run_id, step, "the replay answered; the recorded run gave no answer")
            return
        was = _encoded_answer(self._answers.pop(0))
        now = _encoded_answer(event)
        if json.dumps(was, sort_keys=True) != json.dumps(now, sort_keys=True):
            self._report(
                event.run_id,
                step,
                f"replay diverged at the final answer: the recording answered "
                f"{_summary(_answer_text(was))!r}; now {_summary(_answer_text(now))!r}",
            )

    def _report(self, run_id: str, step: int | None, message: str) -> None:
        self.divergences.append(message)
        self._emit(ErrorEvent(run_id=run_id, step=step, message=message))


def watch_replay(agent: Any, model: Any) -> DivergenceWatcher | None:
    """Compare `agent`'s next run with the recorded run `model` (a `ReplayModel`) plays next,
    reporting each divergence as an error event of the run, as `replay_run` does: a ``%%agent``
    cell whose model is a ReplayModel says where its execution went another way (an error, say,
    where the recording showed a figure). None when the model has no recorded turn left."""
    record = model.next_record()
    if record is None:
        return None
    watcher = DivergenceWatcher(record, agent.events.emit)
    agent.subscribe(watcher)
    return watcher


def _encoded_answer(event: FinalAnswer) -> Any:
    """The answer as the record stores it, so a live answer and a recorded one compare alike
    (a DataFrame and its recorded ``{"type", "repr"}`` form, NaN and NaN)."""
    return event.to_dict()["output"]


def _answer_text(encoded: Any) -> str:
    """Readable text of an encoded answer: the text itself, the repr of an object, or JSON."""
    if isinstance(encoded, str):
        return encoded
    if isinstance(encoded, dict) and isinstance(encoded.get("repr"), str):
        return encoded["repr"]
    return json.dumps(encoded)


def _max_steps(record: RunRecord) -> int:
    for event in record.events:
        if event.kind == "run_started":
            return max(1, int(getattr(event, "max_steps", 20)))
    return max(20, len(record.model_turns))


def replay_run(
    path: str | Path | RunRecord,
    *,
    executor: KernelExecutor | None = None,
    tools: Sequence[Tool] = (),
    delay: float = 0.0,
    observers: Sequence[Callable[[Event], None]] = (),
    record_dir: str | Path | None = None,
) -> tuple[RunResult, list[str]]:
    """Replay a run; returns the new run's result and the divergences from the recording.

    Tools given in `tools` run for real; every other tool the run used plays back its recorded
    results. `delay` slows the model's words to presentation speed (seconds per word). A run
    recorded with ``format_answer=True`` replays its answer-form call too, from the record.
    """
    record = path if isinstance(path, RunRecord) else load_replayable(path)
    model = ReplayModel(record, delay=delay)
    agent = CodeAgent(
        list(tools),
        model,
        executor=executor,
        max_steps=_max_steps(record),
        observers=list(observers),
        record_dir=record_dir,
        format_answer=any(isinstance(e, AnswerFormatted) for e in record.events),
    )
    live = {t.name for t in tools}
    stubbed = [n for n in _recorded_tool_names(record) if n not in live]
    agent.unlisted_tools = recorded_tool_stubs(record, stubbed)
    watcher = DivergenceWatcher(record, agent.events.emit)
    agent.subscribe(watcher)
    try:
        result = agent.run(record.task or "(replayed task)")
    finally:
        agent.close()
    assert isinstance(result, RunResult)
    return result, watcher.divergences


def replay_in_notebook(session: Any, path: str, delay: float = 0.0) -> RunResult:
    """``%%agent --replay PATH`` / ``%agent replay PATH``: replay in the notebook's sidecar with
    the live run view; returns the replay's result (its output is the replayed final answer)."""
    from IPython.core.error import UsageError

    from ..ui import RunDisplay, RunView

    try:
        record = load_replayable(path)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(f"cannot replay {path}: {exc}") from None
    view = RunView()
    run_display = RunDisplay(view).show()
    namespace_tools = list(session.namespace_tools().values())
    try:
        result, _ = replay_run(
            record,
            executor=session.sidecar(),
            tools=namespace_tools,
            delay=delay,
            observers=[view],
            record_dir=session.config.record_dir,
        )
    finally:
        view.flush()
        run_display.finish(session.config.final_render)
    return result
