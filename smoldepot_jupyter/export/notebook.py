"""A recorded run as an nbformat notebook that re-executes on its own (`notebook_from_run`,
`export_notebook`), and such a notebook back as a `RunRecord` to replay (`run_from_notebook`)."""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_notebook

from ..events import AnswerFormatted, EventFormatError, FinalAnswer, RunStarted, event_from_dict
from ..kernel.execution import Execution
from ..memory import ActionStep, PlanningStep, from_jsonable, to_jsonable
from ..records import RunRecord, load_run
from ..usage import Timing, TokenUsage
from .cells import (
    KEY,
    StepView,
    answer_form_event,
    code_cell,
    final_cell,
    planning_cell,
    started_at,
    task_cell,
    unique_ids,
)
from .stubs import tools_cell

__all__ = ["FORMAT", "VERSION", "export_notebook", "notebook_from_run", "run_from_notebook"]

#: ``metadata.smoldepot.format`` of an exported notebook, and the version of that layout.
FORMAT = "smoldepot.notebook"
VERSION = 1


def notebook_from_run(run: Any, *, live_tools: bool = False, tools: Any = None) -> NotebookNode:
    """The notebook of `run` (a `RunRecord`, the path of a ``.jsonl`` record, or a `RunResult`).

    Cells: the task; the tools and helpers; per step the thought and the action with its outputs
    as they arrived; the final answer. Tool stubs replay the recorded results; with
    `live_tools=True`, the `tools` (our `Tool` objects) whose source is available are defined
    from it instead. Every cell keeps its step's data under ``metadata.smoldepot``.
    """
    if live_tools and not tools:
        raise ValueError(
            "live_tools=True needs the tools whose source to export: pass tools=[...] "
            "(the Tool objects the run used), or leave live_tools off to replay recorded results"
        )
    record = _as_record(run)
    steps = [StepView.of(step, record) for step in record.steps if isinstance(step, ActionStep)]
    cells: list[NotebookNode] = [task_cell(record, steps)]
    replayed = [call for view in steps if view.runs for call in view.calls]
    run_started = next((e for e in record.events if isinstance(e, RunStarted)), None)
    names = [n for n in (run_started.tools if run_started else []) if n != "final_answer"]
    codes = [view.step.code for view in steps if view.step.code]
    tools_made = tools_cell(
        record.run_id, names, replayed, codes, live_tools=live_tools, tools=tools
    )
    tools_meta = {
        "kind": "tools",
        "stubbed": tools_made.stubbed,
        "live": tools_made.live,
        "fallbacks": tools_made.fallbacks,
    }
    cells.append(code_cell(tools_made.source, "tools", tools_meta))
    views = iter(steps)
    planning = 0
    for step in record.steps:
        if isinstance(step, PlanningStep):
            planning += 1
            cells.append(planning_cell(step, planning))
        elif isinstance(step, ActionStep):
            cells.extend(next(views).cells())
    cells.append(final_cell(record, steps))

    notebook = new_notebook(cells=unique_ids(cells))
    notebook.nbformat, notebook.nbformat_minor = 4, 5
    notebook.metadata = nbformat.from_dict(
        {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            KEY: _notebook_metadata(record, steps, run_started, tools_made.live),
        }
    )
    return notebook


def export_notebook(
    run: Any, path: str | os.PathLike[str], *, live_tools: bool = False, tools: Any = None
) -> Path:
    """Write the notebook of `run` (see `notebook_from_run`) to `path` and return the path
    written. A directory `path` gets ``<run_id>.ipynb`` inside it."""
    notebook = notebook_from_run(run, live_tools=live_tools, tools=tools)
    target = Path(path)
    if target.is_dir():
        target = target / f"{notebook.metadata[KEY]['run_id'] or 'run'}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(target))
    return target


def run_from_notebook(path: str | os.PathLike[str] | NotebookNode) -> RunRecord:
    """Rebuild the run a notebook was exported from: task, model, model turns in order (what a
    replay plays back), steps with their code, thought, outputs and observation, state, output.
    Its events are the `RunStarted` of the run (task, model, step budget, tools), for a run
    with an answer-form call (``format_answer=True``) its `AnswerFormatted`, and for a run that
    answered (``success``, or ``max_steps`` with its best answer) its `FinalAnswer`.

    Raises `ValueError` for a notebook smoldepot did not export.
    """
    if isinstance(path, NotebookNode):
        notebook, where = path, None
    else:
        where = Path(path)
        try:
            notebook = nbformat.read(str(where), as_version=4)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read {where} as a notebook: {exc}") from exc
    meta = notebook.metadata.get(KEY)
    label = where or "this notebook"
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(
            f"{label} was not exported by smoldepot (its metadata has no {KEY!r} entry of "
            f"format {FORMAT!r}); export a run with smoldepot_jupyter.export.export_notebook"
        )
    if not isinstance(meta.get("version"), int) or meta["version"] > VERSION:
        raise ValueError(
            f"{label} is a smoldepot notebook of version {meta.get('version')!r}; this "
            f"smoldepot reads version {VERSION}: upgrade smoldepot_jupyter to replay it"
        )
    record = RunRecord(
        run_id=str(meta.get("run_id", "")),
        task=str(meta.get("task", "")),
        model_id=str(meta.get("model_id", "")),
        state=str(meta.get("state", "incomplete")),
        output=from_jsonable(meta.get("final_answer")),
        token_usage=TokenUsage.from_dict(meta.get("token_usage")),
        duration=meta.get("duration"),
        path=where,
        complete=bool(meta.get("complete", False)),
        error=meta.get("error"),
    )
    if isinstance(meta.get("max_steps"), int):
        started = _timestamp(meta.get("started"))
        record.events.append(
            RunStarted(
                run_id=record.run_id,
                timestamp=started if started is not None else 0.0,
                task=record.task,
                model_id=record.model_id,
                max_steps=meta["max_steps"],
                tools=[str(name) for name in meta.get("tools") or []],
            )
        )
    form = meta.get("answer_form")
    if isinstance(form, dict) and form.get("kind") == AnswerFormatted.kind:
        with contextlib.suppress(EventFormatError):
            record.events.append(event_from_dict(form))
    if record.state in ("success", "max_steps"):
        # The run gave its answer (a run that ran out of steps gives its best one), as a run
        # record's FinalAnswer event says: a replay compares its own answer with this one.
        record.events.append(
            FinalAnswer(
                run_id=record.run_id,
                timestamp=_timestamp(meta.get("started")) or 0.0,
                output=record.output,
            )
        )
    for cell in notebook.cells:
        data = cell.get("metadata", {}).get(KEY)
        if not isinstance(data, dict) or data.get("kind") not in ("action", "planning"):
            continue
        if "model_output" in data:
            record.model_turns.append(str(data["model_output"]))
        if data["kind"] == "planning":
            record.steps.append(_planning_from(data))
        else:
            record.steps.append(_action_from(cell, data))
    return record


# ----------------------------------------------------------------------------------- the run


def _as_record(run: Any) -> RunRecord:
    if isinstance(run, RunRecord):
        return run
    if isinstance(run, str | os.PathLike):
        return load_run(run)
    if hasattr(run, "record_path") and hasattr(run, "run_id"):
        if run.record_path is None:
            raise ValueError(
                f"run {run.run_id} was not recorded (the agent had record_dir=None), so there is "
                "nothing to export: run it with a record_dir, or pass a RunRecord"
            )
        return load_run(run.record_path)
    raise TypeError(
        f"cannot export {type(run).__name__}: pass a RunRecord, the path of a run record "
        "(.jsonl) or the RunResult of a recorded run"
    )


def _notebook_metadata(
    record: RunRecord, steps: list[StepView], run_started: RunStarted | None, live: list[str]
) -> dict[str, Any]:
    from .. import __version__

    files = list(dict.fromkeys(f for view in steps for f in view.files))
    when_started = started_at(record)
    return {
        "format": FORMAT,
        "version": VERSION,
        "package_version": __version__,
        "run_id": record.run_id,
        "task": record.task,
        "model_id": record.model_id,
        "started": when_started.isoformat() if when_started else None,
        "max_steps": run_started.max_steps if run_started else None,
        "tools": list(run_started.tools) if run_started else [],
        "state": record.state,
        "complete": record.complete,
        "error": record.error,
        "final_answer": to_jsonable(record.output),
        "answer_form": _answer_form(record),
        "token_usage": record.token_usage.to_dict(),
        "duration": record.duration,
        "steps": len(steps),
        "files_read": files,
        "live_tools": live,
    }


def _answer_form(record: RunRecord) -> dict[str, Any] | None:
    """The answer-form call (``format_answer=True``), so a replay of the notebook repeats it."""
    event = answer_form_event(record)
    return event.to_dict() if event is not None else None


# ------------------------------------------------------------------------------- the reverse


def _planning_from(data: dict[str, Any]) -> PlanningStep:
    return PlanningStep(
        plan=str(data.get("plan", "")),
        model_output=str(data.get("model_output", "")),
        token_usage=TokenUsage.from_dict(data.get("token_usage")),
        timing=_timing(data.get("timing")),
    )


def _action_from(cell: NotebookNode, data: dict[str, Any]) -> ActionStep:
    code = cell.source if cell.cell_type == "code" else None
    execution = None
    if code is not None and isinstance(data.get("execution"), dict):
        recorded = _plain(data["execution"])
        recorded.update(
            code=code,
            outputs=_plain(cell.get("outputs", [])),
            tool_calls=_plain(data.get("tool_calls", [])),
            files_read=list(data.get("files_read", [])),
        )
        error = recorded.get("error")
        if isinstance(error, dict):
            traceback = next(
                (
                    o.get("traceback", [])
                    for o in recorded["outputs"]
                    if o.get("output_type") == "error"
                ),
                [],
            )
            recorded["error"] = {"traceback": traceback, **error}
        execution = Execution.from_dict(recorded)
        execution.final_answer = from_jsonable(data["execution"].get("final_answer"))
    return ActionStep(
        step_number=int(data.get("step", 0)),
        model_output=str(data.get("model_output", "")),
        thought=str(data.get("thought", "")),
        code=code,
        tool_calls_requested=list(data.get("tool_calls_requested") or []),
        execution=execution,
        observation=str(data.get("observation", "")),
        error=data.get("error"),
        token_usage=TokenUsage.from_dict(data.get("token_usage")),
        timing=_timing(data.get("timing")),
        is_final_answer=bool(data.get("is_final_answer", False)),
        final_answer=from_jsonable(data.get("final_answer")),
        is_best_answer_fallback=bool(data.get("is_best_answer_fallback", False)),
        requests=[str(text) for text in data.get("requests") or []],
        temperature=data.get("temperature"),
    )


def _timestamp(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp()
    except (TypeError, ValueError):
        return None


def _timing(data: Any) -> Timing:
    if isinstance(data, dict) and isinstance(data.get("start"), int | float):
        return Timing.from_dict(data)
    return Timing(start=0.0)


def _plain(value: Any) -> Any:
    """NotebookNodes as plain dicts and lists."""
    return json.loads(json.dumps(value))
