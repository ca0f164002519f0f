"""Compose one results folder from the lines of several runs, so a table grown over sessions
(a rerun of some tasks after a fix, a peer's lines from an earlier session) is one command.

    python benchmarks/compose_table.py OUT SOURCE [SOURCE ...]

Each SOURCE is ``DIR``, ``DIR:AGENT`` or ``DIR:AGENT:PATTERN`` (PATTERN is shell-style on task
ids, as ``run_suite.py --only``; ``*`` for any agent). Sources are read in order and a later
line replaces an earlier one of the same suite, task and agent. OUT gets ``results.jsonl``,
a ``run.json`` (the first source's settings, the sessions of all, and the sources as given)
and ``summary.md``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from benchmarks.bench_report import write_summary  # noqa: E402
from benchmarks.run_suite import RESULTS, RUN_META, SUMMARY  # noqa: E402

__all__ = ["Source", "compose", "main", "parse_source"]


@dataclass(frozen=True)
class Source:
    """A results folder and which of its lines to take (any agent / any task when None)."""

    folder: Path
    agent: str | None = None
    pattern: str | None = None

    def takes(self, row: dict[str, Any]) -> bool:
        if self.agent is not None and row.get("agent") != self.agent:
            return False
        return self.pattern is None or fnmatch.fnmatchcase(str(row.get("task_id")), self.pattern)

    def __str__(self) -> str:
        if self.pattern is not None:
            return f"{self.folder}:{self.agent or '*'}:{self.pattern}"
        return f"{self.folder}:{self.agent}" if self.agent is not None else str(self.folder)


def parse_source(text: str) -> Source:
    """``DIR[:AGENT[:PATTERN]]`` as a Source; ``*`` or an empty AGENT means any agent."""
    folder, _, rest = text.partition(":")
    agent, _, pattern = rest.partition(":")
    return Source(Path(folder), agent if agent not in ("", "*") else None, pattern or None)


def _read_lines(folder: Path) -> list[dict[str, Any]]:
    path = folder / RESULTS
    if not path.is_file():
        raise ValueError(f"{folder} has no {RESULTS}: give a folder written by run_suite.py")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number} is not a JSON line ({exc.msg})") from None
    return rows


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / RUN_META
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def compose(out: Path, sources: Sequence[Source], *, replace: bool = False) -> list[dict]:
    """Write OUT's results, run.json and summary from `sources` (later lines win); returns the
    lines written. A source that contributes no line is refused: it is a typo, not a choice."""
    if not sources:
        raise ValueError("give at least one SOURCE folder")
    out = out.resolve()
    for source in sources:
        if source.folder.resolve() == out:
            raise ValueError(f"{out} is both a source and OUT: write the table to a new folder")
    if (out / RESULTS).exists() and not replace:
        raise ValueError(f"{out / RESULTS} exists: use --replace to overwrite it")
    table: dict[tuple[str, str, str], dict[str, Any]] = {}
    sessions: list[dict[str, Any]] = []
    for source in sources:
        rows = [row for row in _read_lines(source.folder) if source.takes(row)]
        if not rows:
            raise ValueError(f"no line of {source.folder / RESULTS} matches {source}")
        for row in rows:
            table[(row["suite"], row["task_id"], row["agent"])] = row
        sessions += _read_meta(source.folder).get("sessions", [])
    meta = _read_meta(sources[0].folder)
    meta["agents"] = list(dict.fromkeys(row["agent"] for row in table.values()))
    meta["sessions"] = sessions
    meta["composed_from"] = [str(source) for source in sources]
    out.mkdir(parents=True, exist_ok=True)
    lines = list(table.values())
    (out / RESULTS).write_text("".join(json.dumps(row) + "\n" for row in lines), encoding="utf-8")
    (out / RUN_META).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    write_summary(lines, out / SUMMARY, meta)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Compose one results folder from the lines of several runs "
        "(later sources replace earlier lines of the same suite, task and agent)."
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="the folder to write")
    parser.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="DIR, DIR:AGENT or DIR:AGENT:PATTERN (PATTERN shell-style on task ids; "
        "AGENT * for any)",
    )
    parser.add_argument("--replace", action="store_true", help="overwrite OUT's results")
    args = parser.parse_args(argv)
    try:
        lines = compose(args.out, [parse_source(s) for s in args.sources], replace=args.replace)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(lines)} lines -> {args.out / RESULTS}; summary in {args.out / SUMMARY}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
