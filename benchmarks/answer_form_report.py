"""What the answer-form call did in a run made with ``run_suite.py --format-answer``.

Reads the run record of each task ours ran with the option, finds its `AnswerFormatted` event,
and prints one line per task:
solved or not, whether the rewrite was kept, whether the answer as given would have been solved
already, the answer as given and the model's reply. Last a JSON line: calls, rewrites kept, the
call's prompt tokens, and how many tasks the rewrite turned into solved ones.

    python benchmarks/answer_form_report.py benchmarks/results/RUN SUITE_DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_suites import load_suite
from benchmarks.scorers import PRIMARY_SCORER, score
from smoldepot_jupyter.events import AnswerFormatted
from smoldepot_jupyter.records import RecordError, load_run

__all__ = ["main"]


def _short(value: object, limit: int = 70) -> str:
    text = repr(str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="a run_suite.py results folder")
    parser.add_argument("suite", type=Path, help="the suite folder those tasks came from")
    args = parser.parse_args(argv)

    suite = load_suite(args.suite)
    scorer = suite.scorer
    primary = PRIMARY_SCORER[scorer]
    tasks = {task["id"]: task for task in suite.tasks}
    totals = {"tasks": 0, "calls": 0, "rewrites_kept": 0, "call_prompt_tokens": 0}
    totals["solved"] = totals["solved_by_the_rewrite"] = 0
    for line in (args.results / "results.jsonl").read_text().splitlines():
        result = json.loads(line)
        if result["task_id"] not in tasks or not result.get("record"):
            continue
        if result["agent"].startswith("smolagents") or result.get("format_answer") is False:
            continue  # no answer-form call was asked for: the peer, or ours without the option
        solved = "solved" if result["solved"] else "not solved"
        try:
            events = load_run(result["record"]).events
        except (RecordError, OSError) as exc:
            events, unreadable = [], exc
        else:
            unreadable = None
        calls = [e for e in events if isinstance(e, AnswerFormatted)]
        if unreadable is None and not calls and "format_answer" not in result:
            continue  # a line from before lines named the option, of a run without the call
        totals["tasks"] += 1
        totals["solved"] += bool(result["solved"])
        if unreadable is not None:
            print(f"{result['task_id']}: {solved}; record unreadable ({unreadable})")
            continue
        if not calls:
            print(f"{result['task_id']}: {solved}; no answer-form call")
            continue
        call = calls[-1]
        before = score(tasks[result["task_id"]], str(call.original), scorer=scorer)[primary]
        totals["calls"] += 1
        totals["rewrites_kept"] += call.accepted
        totals["call_prompt_tokens"] += call.token_usage.prompt_tokens
        totals["solved_by_the_rewrite"] += bool(result["solved"]) and not before
        kept = "rewrite kept" if call.accepted else "answer kept"
        print(
            f"{result['task_id']}: {solved}; {kept}; as given solved: {before}; "
            f"{_short(call.original)} -> {_short(call.reply)}"
        )
    print(json.dumps({"results": str(args.results), "suite": suite.name, **totals}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
