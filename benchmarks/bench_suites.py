"""Suite folders in the shared/bench/FORMAT.md format: `load_suite` reads and checks one; a
task's tools and allowed imports follow from its suite.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.bench_agents import DATA_IMPORTS, base_imports
from benchmarks.m3tooleval_tools import (
    CallLog,
    load_environment,
    our_tools,
    smolagents_tools,
    toolset_specs,
)
from benchmarks.scorers import SCORER_KEYS

__all__ = [
    "Suite",
    "imports_for",
    "load_suite",
    "missing_imports",
    "needs_data_imports",
    "tools_for",
]


@dataclass
class Suite:
    """One suite folder: suite.json, tasks.jsonl, files/ and (for tools) the toolsets folder."""

    name: str
    path: Path
    scorer: str
    max_steps: int
    tasks: list[dict[str, Any]]
    toolsets: Path | None = None


def load_suite(path: str | Path) -> Suite:
    """Read a suite folder; raises ValueError saying what is wrong with it."""
    folder = Path(path)
    try:
        meta = json.loads((folder / "suite.json").read_text(encoding="utf-8"))
        lines = (folder / "tasks.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(
            f"{folder} is not a suite folder (suite.json + tasks.jsonl): {exc}"
        ) from None
    scorer = meta.get("scorer")
    if scorer not in SCORER_KEYS:
        raise ValueError(
            f"{folder}/suite.json: unknown scorer {scorer!r} ({', '.join(SCORER_KEYS)})"
        )
    tasks = [json.loads(line) for line in lines if line.strip()]
    for number, task in enumerate(tasks, 1):
        if not isinstance(task.get("id"), str) or not isinstance(task.get("question"), str):
            raise ValueError(f"{folder}/tasks.jsonl line {number}: needs a string id and question")
    toolsets = None
    if meta.get("toolsets"):
        for candidate in (folder / meta["toolsets"], folder.parent / meta["toolsets"]):
            if candidate.is_dir():
                toolsets = candidate
                break
        else:
            raise ValueError(f"{folder}: the toolsets folder {meta['toolsets']!r} is not beside it")
    suite = Suite(
        name=str(meta.get("name") or folder.name),
        path=folder,
        scorer=scorer,
        max_steps=int(meta.get("max_steps") or 10),
        tasks=tasks,
        toolsets=toolsets,
    )
    for toolset in sorted({t["toolset"] for t in tasks if t.get("toolset")}):
        if toolsets is None:
            raise ValueError(f"{folder}: tasks name toolset {toolset!r} but suite.json has none")
        try:
            toolset_specs(load_environment(toolsets), toolset)  # fail now, not mid-run
        except (OSError, ValueError) as exc:
            raise ValueError(f"{folder}: {exc}") from None
    return suite


def tools_for(suite: Suite, task: dict[str, Any]) -> Callable[[str, CallLog], list[Any]]:
    """``tools(kind, log)`` for `task`: fresh tools of its toolset for kind "code" / "json"
    (ours) or "smolagents", each call logged in `log`; [] for a task without a toolset."""
    toolset = task.get("toolset")
    if not toolset:
        return lambda kind, log: []
    assert suite.toolsets is not None
    environment = load_environment(suite.toolsets)

    def tools(kind: str, log: CallLog) -> list[Any]:
        if kind == "smolagents":
            return list(smolagents_tools(environment, toolset, log=log))
        return list(our_tools(environment, toolset, mode=kind, log=log))

    return tools


def needs_data_imports(suite: Suite) -> bool:
    """Whether `suite` computes on data (dabench, math, or a task with files)."""
    return suite.scorer in ("dabench", "math") or any(t.get("files") for t in suite.tasks)


def missing_imports() -> list[str]:
    """The data libraries that are not installed here (smolagents refuses to authorize them)."""
    return [name for name in DATA_IMPORTS if importlib.util.find_spec(name) is None]


def imports_for(suite: Suite) -> list[str]:
    """The imports every agent may use on `suite`: smolagents' base list, plus the installed
    data libraries for suites that compute on data. Both agents get the same list."""
    data = set(DATA_IMPORTS) - set(missing_imports()) if needs_data_imports(suite) else set()
    return sorted(set(base_imports()) | data)
