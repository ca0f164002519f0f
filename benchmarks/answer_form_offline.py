"""What `format_answer=True` would have answered in a finished run, without running it again.

The answer-form call sees only the task and the final answer, so everything before it is the
same with or without the option. This script takes a results folder of run_suite.py, reads each
of our agent's final answers (with its type) from the run records, makes the agent's own
answer-form call (`ask_for_task_form`) with the same model, and scores what would have been
answered. Prints one line per task, a summary, and last a JSON line.

    python benchmarks/answer_form_offline.py benchmarks/results/RUN SUITE_DIR \\
        --agent ours-code --model openai/qwen2.5-coder-1.5b-instruct \\
        --api-base http://127.0.0.1:8011/v1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_agents import ours_model
from benchmarks.bench_suites import load_suite
from benchmarks.scorers import PRIMARY_SCORER, score
from smoldepot_jupyter.agents.answer_form import ask_for_task_form, can_rewrite
from smoldepot_jupyter.records import RecordError, load_run

__all__ = ["main"]


def _recorded_answers(records: Path, questions: dict[str, str]) -> dict[str, object]:
    """Task id -> the final answer its run record holds (the value, not its text)."""
    by_question = {q.strip(): tid for tid, q in questions.items()}
    answers: dict[str, object] = {}
    for path in sorted(records.glob("*.jsonl")):
        try:
            run = load_run(path)
        except RecordError:
            continue
        tid = by_question.get(run.task.strip())
        if tid is not None:
            answers[tid] = run.output
    return answers


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="a run_suite.py results folder")
    parser.add_argument("suite", type=Path, help="the suite folder those tasks came from")
    parser.add_argument("--agent", default="ours-code")
    parser.add_argument("--model", required=True)
    parser.add_argument("--api-base")
    parser.add_argument("--max-tokens", type=int, default=2048)
    args = parser.parse_args(argv)

    suite = load_suite(args.suite)
    scorer = suite.scorer
    tasks = {task["id"]: task for task in suite.tasks}
    rows = [json.loads(x) for x in (args.results / "results.jsonl").read_text().splitlines() if x]
    rows = [r for r in rows if r["agent"] == args.agent and r["task_id"] in tasks]
    if not rows:
        print(f"no result lines of {args.agent} for {args.suite} in {args.results}")
        return 2
    answers = _recorded_answers(
        args.results / "records" / args.agent, {t: tasks[t]["question"] for t in tasks}
    )
    model = ours_model(args.model, args.api_base, None, args.max_tokens, 0.0)
    key = PRIMARY_SCORER[scorer]
    before = after = calls = prompt_tokens = rewritten = 0
    for row in rows:
        tid, solved = row["task_id"], bool(row["solved"])
        before += solved
        if tid not in answers or not can_rewrite(answers[tid]):
            after += solved
            print(f"{tid}: left alone ({type(answers.get(tid)).__name__}); solved {solved}")
            continue
        answer = answers[tid]
        response, rewrite = ask_for_task_form(
            model, tasks[tid]["question"], answer, max_tokens=args.max_tokens
        )
        calls += 1
        prompt_tokens += response.usage.prompt_tokens
        rewritten += rewrite is not None
        final = rewrite if rewrite is not None else answer
        now = score(tasks[tid], final, scorer=scorer)[key]
        after += now
        kept = "rewrite" if rewrite is not None else "answer"
        print(
            f"{tid}: {answer!r:.60} -> reply {response.text.strip()!r:.100}; kept {kept}; "
            f"solved {solved} -> {now}"
        )
        sys.stdout.flush()
    summary = {
        "suite": suite.name,
        "agent": args.agent,
        "tasks": len(rows),
        "solved_before": before,
        "solved_after": after,
        "calls": calls,
        "rewrites_kept": rewritten,
        "call_prompt_tokens": prompt_tokens,
    }
    print(
        f"{summary['suite']}, {args.agent}: solved {before} -> {after} of {len(rows)}; "
        f"{calls} calls, {rewritten} rewrites kept, {prompt_tokens} prompt tokens"
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
