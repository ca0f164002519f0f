"""Every run recorded as it happens: one JSON line per event under ``.smoldepot/runs/``, and
`load_run` to rebuild a run from its record, even one cut off by a crash."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from .events import (
    Event,
    EventFormatError,
    FinalAnswer,
    ModelCallFinished,
    RunFinished,
    RunStarted,
    StepFinished,
    event_from_dict,
)
from .memory import MemoryStep, step_from_dict, to_jsonable
from .usage import TokenUsage

__all__ = [
    "DEFAULT_DIRECTORY",
    "FORMAT",
    "VERSION",
    "RecordError",
    "RecordWarning",
    "RunRecord",
    "RunRecorder",
    "load_run",
]

logger = logging.getLogger(__name__)

DEFAULT_DIRECTORY = ".smoldepot/runs"
FORMAT = "smoldepot.run"
VERSION = 1

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_DURABLE = (RunStarted, StepFinished, RunFinished)


class RecordError(ValueError):
    """A file that is not a run record (or that cannot be read at all)."""


class RecordWarning(RuntimeWarning):
    """The run recorder could not write; the run went on without (the rest of) its record."""


class RunRecorder:
    """An observer that writes each run to ``<directory>/<run_id>.jsonl`` as it happens.

    The file opens on `RunStarted` with a header line, gets one JSON line per event (flushed at
    once; fsynced on run start, each finished step and run end), and closes on `RunFinished`.
    Events of runs whose start it did not see are ignored. It never raises into the run: a
    disk error stops that run's record and is reported once as a `RecordWarning`.
    """

    def __init__(self, directory: str | os.PathLike[str] = DEFAULT_DIRECTORY) -> None:
        self.directory = Path(directory)
        self._files: dict[str, IO[str]] = {}
        self._failed: set[str] = set()
        self._warned = False
        self._lock = threading.Lock()

    def path_for(self, run_id: str) -> Path:
        """Where the record of `run_id` is written."""
        return self.directory / f"{_UNSAFE.sub('_', run_id)}.jsonl"

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._record(event)

    def _record(self, event: Event) -> None:
        run_id = event.run_id
        if run_id in self._failed:
            return
        try:
            if isinstance(event, RunStarted) and run_id not in self._files:
                self._open(run_id, event.timestamp)
            stream = self._files.get(run_id)
            if stream is None:
                return
            self._write(stream, event.to_dict(), durable=isinstance(event, _DURABLE))
            if isinstance(event, RunFinished):
                self._files.pop(run_id).close()
        except Exception as exc:
            self._fail(run_id, exc)

    def close(self) -> None:
        """Close every record still open (runs that have not finished stay incomplete)."""
        with self._lock:
            self._close_all()

    def _close_all(self) -> None:
        for run_id in list(self._files):
            try:
                self._files.pop(run_id).close()
            except Exception as exc:
                self._fail(run_id, exc)

    def _open(self, run_id: str, created: float) -> None:
        path = self.path_for(run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open for the run's life)
        self._files[run_id] = stream
        if stream.tell() == 0:
            header = {
                "kind": "header",
                "format": FORMAT,
                "version": VERSION,
                "run_id": run_id,
                "created": datetime.fromtimestamp(created, timezone.utc).isoformat(),
            }
            self._write(stream, header, durable=False)

    @staticmethod
    def _write(stream: IO[str], data: dict[str, Any], durable: bool) -> None:
        stream.write(_json_line(data) + "\n")
        stream.flush()
        if durable:
            os.fsync(stream.fileno())

    def _fail(self, run_id: str, exc: Exception) -> None:
        self._failed.add(run_id)
        stream = self._files.pop(run_id, None)
        if stream is not None:
            try:
                stream.close()
            except Exception:
                logger.debug("closing the record of %s failed too", run_id, exc_info=True)
        if self._warned:
            logger.debug("run recorder failed for %s: %s", run_id, exc)
            return
        self._warned = True
        warnings.warn(
            f"run recorder could not write {self.path_for(run_id)} ({type(exc).__name__}: "
            f"{exc}); the run goes on without its record",
            RecordWarning,
            stacklevel=2,
        )


@dataclass
class RunRecord:
    """A run rebuilt from its record.

    `state` is the run's end state, or ``"incomplete"`` when the record has no end (the process
    died, or is still running). `complete` is False then, and also when the last line was cut
    off mid-write, and when lines were damaged. `damaged_lines` are the numbers (from 1) of the
    lines that were skipped because they are not JSON or hold a step that cannot be read; every
    other line is loaded. `model_turns` is the text of each model call in order, what a replay
    plays back; `steps` are the finished steps as memory step objects.
    """

    run_id: str
    task: str = ""
    model_id: str = ""
    state: str = "incomplete"
    output: Any = None
    steps: list[MemoryStep] = field(default_factory=list)
    token_usage: TokenUsage = field(default_factory=TokenUsage)
    duration: float | None = None
    model_turns: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    path: Path | None = None
    complete: bool = False
    error: str | None = None
    damaged_lines: list[int] = field(default_factory=list)


def load_run(path: str | os.PathLike[str]) -> RunRecord:
    """Rebuild a run from the record at `path`.

    A record cut off mid-write (a truncated last line, no `RunFinished`) loads with what it
    holds and ``complete=False``. A damaged line before the end (not JSON, or a step that
    cannot be read) is skipped: its number goes to `RunRecord.damaged_lines`, a `RecordWarning`
    names it, and every other line is loaded. Raises `RecordError` for a file that is not a
    run record.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecordError(f"cannot read run record {path}: {exc}") from exc
    lines = raw.decode("utf-8", errors="replace").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise RecordError(f"{path} is empty: not a run record (or cut off before its first line)")
    header = _parse(lines[0])
    if not (isinstance(header, dict) and header.get("format") == FORMAT):
        raise RecordError(f"{path} is not a run record: its first line is not a {FORMAT} header")
    if not isinstance(header.get("version"), int) or header["version"] > VERSION:
        raise RecordError(
            f"{path} is a {FORMAT} record of version {header.get('version')!r}; this smoldepot "
            f"reads version {VERSION}: upgrade smoldepot_jupyter to load it"
        )
    record = RunRecord(run_id=str(header.get("run_id", "")), path=path)
    truncated = False
    skipped: set[str] = set()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        data = _parse(line)
        if not isinstance(data, dict):
            if number == len(lines):
                truncated = True
                break
            record.damaged_lines.append(number)
            continue
        if data.get("kind") == "header":
            continue
        try:
            event = event_from_dict(data)
        except EventFormatError as exc:
            skipped.add(str(data.get("kind")))
            logger.debug("%s, line %d: skipped (%s)", path, number, exc)
            continue
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            logger.debug("%s, line %d: damaged (%s)", path, number, exc)
            record.damaged_lines.append(number)
            continue
        if not _apply(record, event):
            record.damaged_lines.append(number)
    if record.damaged_lines:
        warnings.warn(_damage_note(path, record.damaged_lines), RecordWarning, stacklevel=2)
    if skipped:
        warnings.warn(
            f"{path}: skipped events of kinds this version does not know: "
            f"{', '.join(sorted(skipped))}",
            RecordWarning,
            stacklevel=2,
        )
    finished = any(isinstance(e, RunFinished) for e in record.events)
    record.complete = finished and not truncated and not record.damaged_lines
    if not finished:
        usage = TokenUsage()
        for event in record.events:
            if isinstance(event, ModelCallFinished):
                usage = usage + event.token_usage
        record.token_usage = usage
        if record.events:
            record.duration = record.events[-1].timestamp - record.events[0].timestamp
    return record


def _json_line(data: dict[str, Any]) -> str:
    """`data` as one line of JSON. Data too deeply nested to encode (a value the sidecar sent)
    is encoded again with its deep parts as ``{"type", "repr"}`` placeholders."""
    try:
        return json.dumps(data, ensure_ascii=False, default=repr)
    except RecursionError:
        return json.dumps(to_jsonable(data), ensure_ascii=False, default=repr)


def _parse(line: str) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def _damage_note(path: Path, numbers: list[int]) -> str:
    """The warning naming the damaged lines `load_run` skipped."""
    shown = ", ".join(str(n) for n in numbers[:20]) + (", …" if len(numbers) > 20 else "")
    lines = "line" if len(numbers) == 1 else "lines"
    return (
        f"{path}: {len(numbers)} damaged {lines} skipped ({lines} {shown}: not JSON, or a step "
        "that cannot be read); every other line was loaded, so the run may miss what they held"
    )


def _apply(record: RunRecord, event: Event) -> bool:
    """Add `event` to `record`; False (and nothing added) when its step cannot be read."""
    step = None
    if isinstance(event, StepFinished):
        try:
            step = step_from_dict(event.step)
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            logger.debug("a step that cannot be read: %s", exc)
            return False
    record.events.append(event)
    if isinstance(event, RunStarted):
        record.task, record.model_id = event.task, event.model_id
    elif isinstance(event, ModelCallFinished):
        record.model_turns.append(event.text)
    elif step is not None:
        record.steps.append(step)
    elif isinstance(event, FinalAnswer):
        record.output = event.output
    elif isinstance(event, RunFinished):
        record.state, record.output = event.state, event.output
        record.token_usage, record.duration = event.token_usage, event.duration
        record.error = event.error
    return True
