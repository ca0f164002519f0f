"""summary.md for a benchmark run: success per suite and agent under each scorer, steps, tokens
per task and per solved task, wall time, the ratios ours / smolagents, and failure categories.

Token figures are the same-counter ones (``tokens_counted``: litellm.token_counter on what each
agent sent and received), so agents are compared on one scale.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CATEGORIES", "Stats", "aggregate", "render_summary", "write_summary"]

#: Failure categories in report order (see run_suite.failure_category).
CATEGORIES = (
    "no_code",
    "tool_error",
    "wrong_answer_format",
    "wrong_answer",
    "max_steps",
    "runtime_error",
    "timeout",
    "agent_error",
)
_PEER = "smolagents-code"


@dataclass
class Stats:
    """Totals of one (suite, agent) over a set of result lines."""

    tasks: int = 0
    solved: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    steps: int = 0
    tokens: int = 0
    tokens_solved: int = 0
    prompt: int = 0
    completion: int = 0
    reported: int = 0
    wall: float = 0.0
    errors: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    estimated: bool = False

    def add(self, row: dict[str, Any]) -> None:
        counted = row.get("tokens_counted") or {}
        tokens = int(counted.get("prompt", 0)) + int(counted.get("completion", 0))
        reported = row.get("tokens") or {}
        self.tasks += 1
        self.solved += bool(row.get("solved"))
        for key, value in (row.get("verdicts") or {}).items():
            self.verdicts[key] += bool(value)
        self.steps += int(row.get("steps") or 0)
        self.tokens += tokens
        self.tokens_solved += tokens if row.get("solved") else 0
        self.prompt += int(counted.get("prompt", 0))
        self.completion += int(counted.get("completion", 0))
        self.reported += int(reported.get("prompt", 0)) + int(reported.get("completion", 0))
        self.estimated = self.estimated or bool(reported.get("estimated"))
        self.wall += float(row.get("wall_time") or 0.0)
        self.errors += row.get("state") == "error"
        if row.get("category"):
            self.categories[row["category"]] += 1

    @property
    def success(self) -> float | None:
        return self.solved / self.tasks if self.tasks else None

    @property
    def avg_steps(self) -> float | None:
        return self.steps / self.tasks if self.tasks else None

    @property
    def tokens_per_task(self) -> float | None:
        return self.tokens / self.tasks if self.tasks else None

    @property
    def tokens_per_solved(self) -> float | None:
        return self.tokens_solved / self.solved if self.solved else None

    @property
    def prompt_per_solved(self) -> float | None:
        """Prompt tokens of every task, solved or not, over the tasks solved: the cost of a
        success (the issue's target is on this figure)."""
        return self.prompt / self.solved if self.solved else None

    @property
    def wall_per_task(self) -> float | None:
        return self.wall / self.tasks if self.tasks else None


def aggregate(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], Stats]:
    """Stats per (suite, agent), in the order first seen."""
    stats: dict[tuple[str, str], Stats] = {}
    for row in rows:
        stats.setdefault((row["suite"], row["agent"]), Stats()).add(row)
    return stats


def _steps_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{suite} {steps}" for suite, steps in value.items())
    return str(value)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _ratio(ours: float | None, peer: float | None) -> str:
    if ours is None or peer is None or peer == 0:
        return "—"
    return f"{ours / peer:.2f}×"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def render_summary(rows: Sequence[dict[str, Any]], meta: dict[str, Any] | None = None) -> str:
    """The Markdown summary of `rows` (result lines of one or more sessions)."""
    meta = meta or {}
    lines = ["# Benchmark summary", ""]
    lines.append(
        f"- model: `{meta.get('model', '?')}`"
        + (f" at {meta['api_base']}" if meta.get("api_base") else "")
    )
    if meta:
        lines.append(
            f"- max steps: {_steps_text(meta.get('max_steps'))}; temperature "
            f"{meta.get('temperature')}; "
            f"max tokens per call {meta.get('max_tokens')}; our step timeout "
            f"{meta.get('step_timeout')} s"
        )
    if meta.get("imports_not_installed"):
        missing = ", ".join(meta["imports_not_installed"])
        lines.append(f"- not installed, so offered to no agent: {missing}")
    selection = _selection_text(meta.get("sessions") or [])
    if selection:
        lines.append(f"- tasks run, per session: {selection}")
    if meta.get("composed_from"):
        sources = ", ".join(f"`{source}`" for source in meta["composed_from"])
        lines.append(f"- composed from (later lines replace earlier ones): {sources}")
    lines.append(f"- result lines: {len(rows)}; written {time.strftime('%Y-%m-%d %H:%M:%S')}")
    lines.append(
        "- tokens: counted with litellm.token_counter on what each agent sent and received "
        "(the same counter for all agents); `reported tok/task` is each agent's own figure "
        "(ours: estimated by the same tokenizer when the server reports no usage; smolagents: "
        "the server's). `tok/solved` averages the tokens of the solved tasks; `prompt "
        "tok/solved` is the prompt tokens of all tasks over the number solved (the cost of "
        "a success)."
    )
    stats = aggregate(rows)
    suites = list(dict.fromkeys(suite for suite, _ in stats))
    for suite in suites:
        suite_rows = [r for r in rows if r["suite"] == suite]
        scorers = list(dict.fromkeys(k for r in suite_rows for k in (r.get("verdicts") or {})))
        primary = next((r.get("primary_scorer") for r in suite_rows), None)
        lines += ["", f"## {suite}", "", f"Solved means the `{primary}` scorer accepted it.", ""]
        header = [
            "agent",
            "tasks",
            *[f"{s} %" for s in scorers],
            "avg steps",
            "tok/task",
            "prompt/completion per task",
            "tok/solved",
            "prompt tok/solved",
            "reported tok/task",
            "wall s/task",
            "errors",
        ]
        body = []
        for (name, agent), s in stats.items():
            if name != suite:
                continue
            body.append(
                [
                    agent,
                    str(s.tasks),
                    *[_pct(s.verdicts[k] / s.tasks) for k in scorers],
                    _num(s.avg_steps, 2),
                    _num(s.tokens_per_task),
                    f"{_num(s.prompt / s.tasks)} / {_num(s.completion / s.tasks)}",
                    _num(s.tokens_per_solved),
                    _num(s.prompt_per_solved),
                    _num(s.reported / s.tasks) + (" (est.)" if s.estimated else ""),
                    _num(s.wall_per_task, 1),
                    str(s.errors),
                ]
            )
        lines += _table(header, body)
        lines += _ratios(suite, suite_rows)
        lines += _categories(suite, stats)
    return "\n".join(lines) + "\n"


def _ratios(suite: str, rows: Sequence[dict[str, Any]]) -> list[str]:
    agents = list(dict.fromkeys(r["agent"] for r in rows))
    if _PEER not in agents:
        return []
    peer_ids = {r["task_id"] for r in rows if r["agent"] == _PEER}
    body = []
    for agent in agents:
        if agent == _PEER:
            continue
        common = peer_ids & {r["task_id"] for r in rows if r["agent"] == agent}
        if not common:
            continue
        ours, peer = Stats(), Stats()
        for row in rows:
            if row["task_id"] in common:
                if row["agent"] == agent:
                    ours.add(row)
                elif row["agent"] == _PEER:
                    peer.add(row)
        body.append(
            [
                f"{agent} / {_PEER}",
                str(len(common)),
                f"{_pct(ours.success)} vs {_pct(peer.success)}",
                _ratio(ours.success, peer.success),
                _ratio(ours.avg_steps, peer.avg_steps),
                _ratio(ours.tokens_per_task, peer.tokens_per_task),
                _ratio(ours.tokens_per_solved, peer.tokens_per_solved),
                _ratio(ours.prompt_per_solved, peer.prompt_per_solved),
                _ratio(ours.wall_per_task, peer.wall_per_task),
            ]
        )
    if not body:
        return []
    header = [
        "ratio",
        "common tasks",
        "success",
        "success ratio",
        "avg steps",
        "tok/task",
        "tok/solved",
        "prompt tok/solved",
        "wall s/task",
    ]
    return ["", f"Ours / smolagents on the tasks both ran ({suite}):", "", *_table(header, body)]


def _selection_text(sessions: Sequence[dict[str, Any]]) -> str:
    """How each session chose its tasks (`--only`, `--every`, `--limit`), so a subset reads as
    one."""
    texts = []
    for session in sessions:
        every, limit = session.get("every"), session.get("limit")
        text = "all tasks" if not limit else f"first {limit} tasks"
        if every and every > 1:
            text = f"one task in {every}" + ("" if not limit else f", the first {limit} of those")
        if session.get("only"):
            text += " with ids matching " + " or ".join(session["only"])
        texts.append(text)
    return "; ".join(texts)


def _categories(suite: str, stats: dict[tuple[str, str], Stats]) -> list[str]:
    entries = [(agent, s) for (name, agent), s in stats.items() if name == suite]
    if not any(s.categories for _, s in entries):
        return []
    seen = [c for c in CATEGORIES if any(s.categories[c] for _, s in entries)]
    seen += sorted({c for _, s in entries for c in s.categories} - set(CATEGORIES))
    body = [[agent, *[str(s.categories[c]) for c in seen]] for agent, s in entries]
    return ["", f"Failures by category ({suite}):", "", *_table(["agent", *seen], body)]


def write_summary(
    rows: Sequence[dict[str, Any]], path: Path, meta: dict[str, Any] | None = None
) -> str:
    """Render the summary and write it to `path`; returns the text."""
    text = render_summary(rows, meta)
    path.write_text(text, encoding="utf-8")
    return text
