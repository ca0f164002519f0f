"""`smoldepot runs` and `smoldepot export`: the recorded runs, listed or exported as notebooks."""

from __future__ import annotations

import argparse
import glob
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CommandError, one_line

if TYPE_CHECKING:
    from ..records import RunRecord

# The records module (through memory and kernel) takes seconds to import: it is imported once
# the command line has been checked, so that a mistake in it is reported at once.

__all__ = ["export_command", "find_record", "runs_command"]

_TASK_WIDTH = 60


def export_command(args: argparse.Namespace) -> int:
    """``smoldepot export RUN OUT.ipynb``: write the notebook of a recorded run."""
    path = find_record(args.run, Path(args.record_dir))
    record = _load(path)
    try:
        from ..export import export_notebook
    except ImportError as exc:
        raise CommandError(f"export is not available in this installation: {exc}") from None
    try:
        written = export_notebook(record, args.output)
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot export {path} to {args.output}: {exc}") from None
    print(
        f"Exported run {record.run_id} ({record.state}, {_steps(record)} steps) to {written}",
        flush=True,
    )
    return 0


def runs_command(args: argparse.Namespace) -> int:
    """``smoldepot runs``: one line per recorded run, newest first."""
    directory = Path(args.record_dir)
    paths = sorted(directory.glob("*.jsonl")) if directory.is_dir() else []
    if not paths:
        print(f"No recorded runs in {directory}.")
        return 0
    from ..records import RecordError, load_run

    rows = []
    for path in paths:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                record = load_run(path)
        except RecordError:
            rows.append((path.stat().st_mtime, path.stem, "unreadable", "", ""))
            continue
        started = record.events[0].timestamp if record.events else path.stat().st_mtime
        task = one_line(record.task)
        if len(task) > _TASK_WIDTH:
            task = task[: _TASK_WIDTH - 1] + "…"
        rows.append((started, record.run_id or path.stem, record.state, str(_steps(record)), task))
    rows.sort(key=lambda row: row[0], reverse=True)
    id_width = max(len("RUN ID"), *(len(row[1]) for row in rows))
    state_width = max(len("STATE"), *(len(row[2]) for row in rows))
    print(f"{'RUN ID':<{id_width}}  {'STATE':<{state_width}}  STEPS  TASK")
    for _, run_id, state, steps, task in rows:
        print(f"{run_id:<{id_width}}  {state:<{state_width}}  {steps:>5}  {task}".rstrip())
    return 0


def find_record(run: str, directory: Path) -> Path:
    """The record of `run`: a path to a record, or a run id (or the unique start of one) in
    `directory`."""
    path = Path(run)
    if path.is_file():
        return path
    if path.suffix in (".jsonl", ".ipynb") or "/" in run or "\\" in run:
        raise CommandError(f"no run record at {run}")
    exact = directory / f"{run}.jsonl"
    if exact.is_file():
        return exact
    found = sorted(directory.glob(f"{glob.escape(run)}*.jsonl")) if directory.is_dir() else []
    if len(found) == 1:
        return found[0]
    if found:
        shown = ", ".join(p.stem for p in found[:3]) + (", ..." if len(found) > 3 else "")
        raise CommandError(
            f"{run!r} starts {len(found)} run ids in {directory} ({shown}); give more of the id"
        )
    raise CommandError(
        f"no run {run!r} in {directory} (list the recorded runs with: "
        f"smoldepot runs --record-dir {directory})"
    )


def _load(path: Path) -> RunRecord:
    from ..records import RecordError, load_run

    try:
        return load_run(path)
    except RecordError as exc:
        raise CommandError(str(exc)) from None


def _steps(record: RunRecord) -> int:
    from ..memory import ActionStep

    return sum(1 for step in record.steps if isinstance(step, ActionStep))
