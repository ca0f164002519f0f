"""The cells of an exported notebook: the task, each step (thought, action with its outputs as
they arrived, a note of what the outputs do not show), plans, and the final answer."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output

from ..events import AnswerFormatted, ModelCallFinished, StepFinished
from ..kernel.execution import SidecarObject, ToolCall
from ..memory import ActionStep, PlanningStep, to_jsonable
from ..records import RunRecord

__all__ = [
    "KEY",
    "StepView",
    "answer_form_event",
    "code_cell",
    "final_cell",
    "one_line",
    "planning_cell",
    "started_at",
    "task_cell",
    "unique_ids",
]

#: The metadata key of everything smoldepot stores in a notebook and its cells.
KEY = "smoldepot"
_RAISES = "raises-exception"  # nbclient (and nbsphinx, papermill) run on past such a cell
_SKIP = "skip-execution"  # nbclient does not run such a cell at all
_ANSWERED = ("success", "max_steps")


# ----------------------------------------------------------------------------------- steps


@dataclass
class StepView:
    """One action step as the notebook shows it: whether its code runs on re-execution, why not,
    its tags, its recorded tool calls and files, and whether a model call produced it."""

    step: ActionStep
    skip: str | None
    calls: list[ToolCall]
    files: list[str]
    model_called: bool

    @classmethod
    def of(cls, step: ActionStep, record: RunRecord) -> StepView:
        calls = list(step.execution.tool_calls) if step.execution is not None else []
        calls_made = [e.step for e in record.events if isinstance(e, ModelCallFinished)]
        # A record without model-call events (one rebuilt from a notebook): every output counts.
        called = step.step_number in calls_made if calls_made else bool(step.model_output)
        return cls(step, _skip_reason(step), calls, _files_read(step, record), called)

    @property
    def runs(self) -> bool:
        return self.step.code is not None and self.skip is None

    @property
    def tags(self) -> list[str]:
        execution = self.step.execution
        tags = []
        if self.skip is not None:
            tags.append(_SKIP)
        if execution is not None and (execution.error is not None or execution.has_final_answer):
            tags.append(_RAISES)
        return tags

    def metadata(self) -> dict[str, Any]:
        step, execution = self.step, self.step.execution
        data: dict[str, Any] = {"kind": "action", "step": step.step_number}
        if self.model_called:
            data["model_output"] = step.model_output
        data.update(
            thought=step.thought,
            token_usage=step.token_usage.to_dict(),
            timing=step.timing.to_dict(),
            error=step.error,
            observation=step.observation,
            is_final_answer=step.is_final_answer,
            final_answer=to_jsonable(step.final_answer),
            is_best_answer_fallback=step.is_best_answer_fallback,
            requests=list(step.requests),
            temperature=step.temperature,
            tool_calls=[
                {
                    "name": c.name,
                    "args": to_jsonable(c.args),
                    "kwargs": to_jsonable(c.kwargs),
                    "result": to_jsonable(c.result),
                    "error": c.error,
                    "seconds": c.seconds,
                }
                for c in (execution.tool_calls if execution is not None else [])
            ],
            files_read=self.files,
        )
        if step.tool_calls_requested:
            data["tool_calls_requested"] = to_jsonable(step.tool_calls_requested)
        if execution is not None:
            error = execution.error
            data["execution"] = {
                "error": None if error is None else {"ename": error.ename, "evalue": error.evalue},
                "has_final_answer": execution.has_final_answer,
                "final_answer": to_jsonable(execution.final_answer),
                "duration": execution.duration,
                "timed_out": execution.timed_out,
                "restarted": execution.restarted,
                "execution_count": execution.execution_count,
                "dropped_output_chars": execution.dropped_output_chars,
                "notes": list(execution.notes),
            }
        if self.skip is not None:
            data["skipped"] = self.skip
        return data

    def cells(self) -> list[NotebookNode]:
        step, execution = self.step, self.step.execution
        number = step.step_number
        title = f"### Step {number}"
        if step.is_best_answer_fallback:
            title += " · the best answer, after the step budget ran out"
        usage = step.token_usage
        facts = f"{usage.prompt_tokens:,} tokens in, {usage.completion_tokens:,} out"
        if step.timing.duration is not None:
            facts += f" · {step.timing.duration:.1f} s"
        if step.temperature is not None:
            facts += f" · sampled at temperature {step.temperature:g}"
        parts = [title, f"*{facts}*"]
        parts += [f"**The agent asked:** {text}" for text in step.requests]
        parts.append(step.thought.strip() or "*(no thought)*")
        if step.code is None:
            parts.append(f"**No code ran:** {step.error or 'the reply had no code'}")
            if step.tool_calls_requested:
                text = json.dumps(to_jsonable(step.tool_calls_requested), indent=2)
                parts.append("**Tool calls requested:**\n\n" + _fenced(text, "json"))
            if step.observation:
                parts.append("**Observation:**\n\n" + _fenced(step.observation))
            return [_markdown("\n\n".join(parts), f"step-{number}", self.metadata())]
        if self.skip is not None:
            parts.append(
                f"> Not run when this notebook is re-executed (tag `{_SKIP}`): {self.skip}."
            )
        cells = [
            _markdown("\n\n".join(parts), f"step-{number}", {"kind": "thought", "step": number})
        ]
        outputs = [nbformat.from_dict(o) for o in (execution.outputs if execution else [])]
        count = execution.execution_count if execution is not None else None
        cells.append(
            code_cell(step.code, f"step-{number}-code", self.metadata(), outputs, count, self.tags)
        )
        note = self._note()
        if note:
            cells.append(_markdown(note, f"step-{number}-note", {"kind": "note", "step": number}))
        return cells

    def _note(self) -> str:
        """What came of the step that its outputs do not show."""
        step, execution = self.step, self.step.execution
        parts = []
        if execution is not None:
            shown = any(o.get("output_type") == "error" for o in execution.outputs)
            if execution.error is not None and not shown:
                parts.append("**Error:**\n\n" + _fenced(str(execution.error)))
            if execution.has_final_answer and not step.is_final_answer:
                parts.append("**Final answer refused:**\n\n" + _fenced(step.observation))
            parts.extend(f"*{note}*" for note in execution.notes)
        elif step.error:
            parts.append("**Error:**\n\n" + _fenced(step.error))
        return "\n\n".join(parts)


def _skip_reason(step: ActionStep) -> str | None:
    execution = step.execution
    if step.code is None:
        return None
    if execution is None:
        return "the action did not run in the run"
    if execution.error is not None and execution.error.ename == "GuardRailViolation":
        return "the agent's guard rails refused it, so it did not run in the run"
    if execution.restarted:
        return "in the run the kernel died or was restarted while it ran"
    if execution.timed_out:
        return "in the run it ran past its time limit"
    if (step.error or "").startswith("KeyboardInterrupt"):
        return "the run was interrupted while it ran"
    return None


def _files_read(step: ActionStep, record: RunRecord) -> list[str]:
    files = getattr(step.execution, "files_read", None)
    if files is None:
        for event in record.events:
            if (
                isinstance(event, StepFinished)
                and event.step.get("type") == "action"
                and event.step.get("step_number") == step.step_number
            ):
                files = (event.step.get("execution") or {}).get("files_read")
    return [str(f) for f in files or []]


def started_at(record: RunRecord) -> datetime | None:
    if not record.events:
        return None
    return datetime.fromtimestamp(record.events[0].timestamp, timezone.utc)


# ----------------------------------------------------------------------------------- cells


def task_cell(record: RunRecord, steps: list[StepView]) -> NotebookNode:
    quoted = "\n".join(f"> {line}" if line else ">" for line in record.task.strip().split("\n"))
    usage = record.token_usage
    tokens = f"{usage.prompt_tokens:,} in"
    if usage.cached_prompt_tokens:
        tokens += f" ({usage.cached_prompt_tokens:,} cached)"
    tokens += f" · {usage.completion_tokens:,} out"
    when_started = started_at(record)
    when = f" · {when_started:%Y-%m-%d %H:%M} UTC" if when_started else ""
    length = f" · {record.duration:.1f} s" if record.duration is not None else ""
    rows = [
        ("Model", f"`{record.model_id}`"),
        ("Run", f"`{record.run_id}`{when}"),
        ("Steps", f"{len(steps)}{length}"),
        ("Tokens", tokens),
        ("Final state", f"**{record.state}**"),
    ]
    if record.error:
        rows.append(("Error", record.error))
    files = list(dict.fromkeys(f for view in steps for f in view.files))
    if files:
        rows.append(("Files read", ", ".join(f"`{f}`" for f in files)))
    table = "| | |\n|---|---|\n" + "\n".join(
        f"| {name} | {_cell_text(value)} |" for name, value in rows
    )
    text = f"# smoldepot run\n\n**Task:**\n\n{quoted}\n\n{table}"
    if files:
        text += "\n\nRe-execute this notebook where the files the run read are found."
    return _markdown(text, "task", {"kind": "task"})


def planning_cell(step: PlanningStep, index: int) -> NotebookNode:
    data = {
        "kind": "planning",
        "plan": step.plan,
        "model_output": step.model_output,
        "token_usage": step.token_usage.to_dict(),
        "timing": step.timing.to_dict(),
    }
    return _markdown(f"### Plan\n\n{step.plan}", f"plan-{index}", data)


def final_cell(record: RunRecord, steps: list[StepView]) -> NotebookNode:
    if record.state not in _ANSWERED:
        why = f": {record.error}" if record.error else ""
        text = f"### No final answer\n\nThe run ended in state **{record.state}**{why}."
        return _markdown(text, "final-answer", {"kind": "final_answer", "state": record.state})
    answered_by_call = any(
        view.runs
        and view.step.is_final_answer
        and view.step.execution is not None
        and view.step.execution.has_final_answer
        for view in steps[-1:]
    )
    form = answer_form_event(record)
    if form is not None and form.accepted:
        source = (
            "# the answer as the run gave it, rewritten in the task's form by one more model "
            f"call, was:\n# {one_line(repr(form.original))}\n{_assignment(record.output)}"
        )
    elif answered_by_call:
        source = "_final_answer"
    else:
        source = _assignment(record.output)
    counts = [
        view.step.execution.execution_count
        for view in steps
        if view.step.execution is not None and view.step.execution.execution_count is not None
    ]
    count = max(counts) + 1 if counts else None
    result = new_output(
        "execute_result", data={"text/plain": _pretty(record.output)}, execution_count=count
    )
    meta = {"kind": "final_answer", "state": record.state}
    return code_cell(source, "final-answer", meta, [result], count)


def answer_form_event(record: RunRecord) -> AnswerFormatted | None:
    """The run's answer-form call (``format_answer=True``), if it made one."""
    for event in reversed(record.events):
        if isinstance(event, AnswerFormatted):
            return event
    return None


def one_line(text: str, limit: int = 300) -> str:
    """`text` on one line (runs of white space become one space), cut to `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _assignment(output: Any) -> str:
    """Source that sets `_final_answer` to the run's answer (when no final_answer() call in the
    notebook sets it) and shows it."""
    if isinstance(output, SidecarObject):
        return (
            f"# the answer was a {output.type}, which is not JSON: its repr is kept\n"
            f"_final_answer = {output.repr!r}\n_final_answer"
        )
    text = repr(output)
    try:
        same = ast.literal_eval(text) == output
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        same = False
    if not same:
        text = repr(str(output))
    return f"_final_answer = {text}\n_final_answer"


def _pretty(value: Any) -> str:
    from IPython.lib.pretty import pretty

    try:
        return pretty(value)
    except Exception:
        return repr(value)


def _markdown(text: str, cell_id: str, data: dict[str, Any]) -> NotebookNode:
    cell = new_markdown_cell(text, id=cell_id)
    cell.metadata[KEY] = nbformat.from_dict(data)
    return cell


def code_cell(
    source: str,
    cell_id: str,
    data: dict[str, Any],
    outputs: list[NotebookNode] | None = None,
    count: int | None = None,
    tags: list[str] | None = None,
) -> NotebookNode:
    cell = new_code_cell(source, id=cell_id, outputs=outputs or [], execution_count=count)
    cell.metadata[KEY] = nbformat.from_dict(data)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def unique_ids(cells: list[NotebookNode]) -> list[NotebookNode]:
    seen: set[str] = set()
    for cell in cells:
        base, number = cell.id, 2
        while cell.id in seen:
            cell.id = f"{base}-{number}"
            number += 1
        seen.add(cell.id)
    return cells


def _fenced(text: str, language: str = "text") -> str:
    """`text` as a fenced block, its fence longer than any run of backticks in it."""
    ticks = 3
    while "`" * ticks in text:
        ticks += 1
    fence = "`" * ticks
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def _cell_text(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")
