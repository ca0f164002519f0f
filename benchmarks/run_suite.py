"""Run benchmark suites (shared/bench/FORMAT.md) with our agents and smolagents' CodeAgent on one
model, and compare them: success under each scorer, steps, tokens, wall time, failure kinds.

    python benchmarks/run_suite.py SUITE_DIR... --model ID [--api-base URL]
        [--agents ours-code,ours-json,smolagents-code] [--max-steps N] [--only PATTERN]
        [--every K] [--limit N]
        [--out DIR] [--resume]

Agents run one after another (every task of one agent, then the next), so a local server's
prompt cache keeps each agent's system prompt. Each finished task appends one JSON line to
DIR/results.jsonl (flushed at once); ``--resume`` skips the (suite, task, agent) already there.
DIR/summary.md is written at the end, also after an interruption (Ctrl-C).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before anything imports litellm
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from benchmarks.bench_agents import (  # noqa: E402
    AGENTS,
    Job,
    Outcome,
    ours_model,
    run_task,
    smolagents_model,
)
from benchmarks.bench_report import write_summary  # noqa: E402
from benchmarks.bench_suites import (  # noqa: E402
    Suite,
    imports_for,
    load_suite,
    missing_imports,
    needs_data_imports,
    tools_for,
)
from benchmarks.bench_tokens import CountingClient, TokenCounter, litellm_module  # noqa: E402
from benchmarks.scorers import (  # noqa: E402
    PRIMARY_SCORER,
    SCORER_KEYS,
    answer_text,
    format_problem,
    score,
)

__all__ = [
    "RunConfig",
    "Suite",
    "failure_category",
    "load_suite",
    "main",
    "read_results",
    "result_row",
    "run",
    "select_tasks",
]

RESULTS = "results.jsonl"
SUMMARY = "summary.md"
RUN_META = "run.json"
DEFAULT_RESULTS_DIR = Path(__file__).resolve().parent / "results"


# ---------------------------------------------------------------------------- results


def failure_category(outcome: Outcome, solved: bool, form_failed: bool) -> str | None:
    """Why a task failed (None when solved): ``agent_error`` / ``timeout`` for runs that broke,
    ``wrong_answer_format`` / ``wrong_answer`` for an answer given, and for a run out of steps
    the step issue (``no_code``, ``tool_error``, ``runtime_error``, ``timeout``) behind at least
    half its steps, else ``max_steps``."""
    if solved:
        return None
    if outcome.state not in ("success", "max_steps"):
        text = (outcome.error or "").lower()
        return "timeout" if "timed out" in text or "timeout" in text else "agent_error"
    if outcome.state == "success":
        return "wrong_answer_format" if form_failed else "wrong_answer"
    issues = outcome.issues or {}
    if issues:
        top = max(issues, key=lambda name: issues[name])
        if issues[top] and 2 * issues[top] >= max(outcome.steps, 1):
            return top
    return "max_steps"


def result_row(
    suite: Suite,
    task: dict[str, Any],
    agent: str,
    model_id: str,
    outcome: Outcome,
    *,
    commit: str | None = None,
    format_answer: bool | None = None,
) -> dict[str, Any]:
    """The JSON line of one (suite, task, agent). `commit` and `format_answer` say which code and
    which option produced it, so a folder that grew over several sessions stays readable line by
    line (`format_answer` is None for smolagents, which has no such option)."""
    scored = {**task, "scorer": suite.scorer}
    answered = outcome.state in ("success", "max_steps")
    text = answer_text(outcome.answer) if answered else None
    if text is not None:
        verdicts = score(scored, text)
    else:
        verdicts = {key: False for key in SCORER_KEYS[suite.scorer]}
    primary = PRIMARY_SCORER[suite.scorer]
    solved = verdicts[primary]
    form_failed = text is not None and not solved and format_problem(scored, text)
    return {
        "suite": suite.name,
        "task_id": task["id"],
        "agent": agent,
        "model": model_id,
        "scorer": suite.scorer,
        "answer": text,
        "expected": task.get("expected"),
        "verdicts": verdicts,
        "primary_scorer": primary,
        "solved": solved,
        "category": failure_category(outcome, solved, form_failed),
        "state": outcome.state,
        "error": outcome.error,
        "steps": outcome.steps,
        "model_calls": outcome.model_calls,
        "tokens": outcome.tokens,
        "tokens_counted": outcome.tokens_counted,
        "wall_time": round(outcome.wall_time, 3),
        "tool_calls": outcome.tool_calls,
        "tool_errors": outcome.tool_errors,
        "issues": outcome.issues,
        "record": outcome.record,
        "commit": commit,
        "format_answer": format_answer,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def read_results(path: Path) -> list[dict[str, Any]]:
    """The result lines of `path` (a last line cut off by a crash is skipped)."""
    rows = []
    if not path.exists():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return rows


# ---------------------------------------------------------------------------- progress


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _Progress:
    """One ``\\r`` line on stderr: task n/N, agent, task, elapsed and ETA."""

    def __init__(self, total: int, stream: IO[str] | None) -> None:
        self.total = total
        self.stream = stream
        self.started = time.monotonic()
        self.finished = 0
        self._width = 0

    def show(self, number: int, agent: str, label: str) -> None:
        if self.stream is None:
            return
        elapsed = time.monotonic() - self.started
        if self.finished:
            eta = _clock(elapsed / self.finished * (self.total - self.finished))
        else:
            eta = "?"
        line = f"[{number}/{self.total}] {agent} {label[:48]}  elapsed {_clock(elapsed)}  ETA {eta}"
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def close(self) -> None:
        if self.stream is not None and self._width:
            self.stream.write("\n")
            self.stream.flush()


# ---------------------------------------------------------------------------- running


@dataclass
class RunConfig:
    """What to run: suites, agents, model and sampling, limits, and where results go."""

    suites: list[Path]
    model_id: str
    out: Path
    api_base: str | None = None
    api_key: str | None = None
    agents: list[str] = field(default_factory=lambda: list(AGENTS))
    max_steps: int | None = None
    limit: int | None = None
    #: Take every K-th task of each suite (before `limit`): a subset that spans all of a suite's
    #: toolsets and kinds when the whole suite takes too long.
    every: int = 1
    #: Run only the tasks whose id matches one of these shell-style patterns (before `every`).
    only: list[str] = field(default_factory=list)
    resume: bool = False
    retry_errors: bool = False
    step_timeout: float = 30.0
    max_tokens: int = 2048
    temperature: float = 0.0
    #: Our agents' answer-form call (`format_answer=True`); smolagents has no such option.
    format_answer: bool = False


def select_tasks(
    tasks: Sequence[dict[str, Any]],
    every: int = 1,
    limit: int | None = None,
    only: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """The tasks a run takes from one suite: those whose id matches one of the `only` patterns
    (shell-style, e.g. ``travel_itinerary_planning/*``; all when none), every `every`-th of
    those (from the first), then the first `limit`."""
    if every < 1:
        raise ValueError(f"--every must be 1 or more, not {every}")
    if only:
        tasks = [t for t in tasks if any(fnmatch.fnmatchcase(str(t["id"]), p) for p in only)]
    return list(tasks[::every][:limit])


def run(
    config: RunConfig,
    *,
    make_ours_model: Callable[[], Any] | None = None,
    smolagents_client: Callable[[], Any] | None = None,
    token_count: Callable[..., int] | None = None,
    progress: IO[str] | None = sys.stderr,
) -> list[dict[str, Any]]:
    """Run every (agent, suite, task) not yet in ``config.out/results.jsonl``, append a line per
    task, write summary.md, and return all result lines. `make_ours_model`,
    `smolagents_client` (what stands for the litellm module) and `token_count` replace the real
    model, server and tokenizer in tests. Ctrl-C stops after writing the summary of what
    finished, then raises KeyboardInterrupt."""
    unknown = [a for a in config.agents if a not in AGENTS]
    if unknown:
        raise ValueError(f"unknown agents {unknown}; choose from {', '.join(AGENTS)}")
    suites = [load_suite(path) for path in config.suites]
    for suite in suites:
        if config.only and suite.tasks and not select_tasks(suite.tasks, only=config.only):
            raise ValueError(
                f"--only {' '.join(config.only)} matches no task of {suite.name}: its ids "
                f"look like {suite.tasks[0]['id']!r}"
            )
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    results = out / RESULTS
    if results.exists() and results.stat().st_size and not config.resume:
        raise ValueError(f"{results} exists: pass --resume to continue that run, or another --out")
    done = {
        (row["suite"], row["task_id"], row["agent"])
        for row in read_results(results)
        if not (config.retry_errors and row.get("state") == "error")
    }
    plan = [
        (agent, suite, task)
        for agent in config.agents
        for suite in suites
        for task in select_tasks(suite.tasks, config.every, config.limit, config.only)
        if (suite.name, task["id"], agent) not in done
    ]
    commit = _source_commit()
    _write_meta(out, config, suites, len(plan), commit)
    counter = TokenCounter(config.model_id, token_count)
    shared: dict[str, Any] = {}

    def our_model() -> Any:
        if "model" not in shared:
            shared["model"] = (make_ours_model or _default_ours_model(config))()
        return shared["model"]

    def smolagents_with(client: CountingClient) -> Any:
        return smolagents_model(
            config.model_id,
            config.api_base,
            _api_key(config),
            config.max_tokens,
            config.temperature,
            client,
        )

    meter = _Progress(len(plan), progress)
    interrupted = False
    try:
        with results.open("a", encoding="utf-8") as sink:
            for number, (agent, suite, task) in enumerate(plan, 1):
                meter.show(number, agent, f"{suite.name}/{task['id']}")
                job = Job(
                    suite=suite.name,
                    task_id=task["id"],
                    question=task["question"],
                    files_dir=suite.path / "files",
                    files=list(task.get("files") or []),
                    max_steps=config.max_steps or suite.max_steps,
                    authorized_imports=imports_for(suite),
                    tools=tools_for(suite, task),
                )
                try:
                    outcome = run_task(
                        agent,
                        job,
                        counter=counter,
                        make_ours_model=our_model,
                        make_smolagents_model=smolagents_with,
                        smolagents_client=smolagents_client or litellm_module,
                        records=out / "records",
                        step_timeout=config.step_timeout,
                        max_tokens=config.max_tokens,
                        format_answer=config.format_answer,
                    )
                except KeyboardInterrupt:
                    interrupted = True
                    break
                except Exception as exc:  # the harness or an agent broke: record it, go on
                    outcome = Outcome(state="error", error=f"{type(exc).__name__}: {exc}")
                row = result_row(
                    suite,
                    task,
                    agent,
                    config.model_id,
                    outcome,
                    commit=commit,
                    format_answer=config.format_answer if agent.startswith("ours") else None,
                )
                sink.write(json.dumps(row, default=str) + "\n")
                sink.flush()
                meter.finished += 1
    except KeyboardInterrupt:
        interrupted = True
    finally:
        meter.close()
    rows = read_results(results)
    meta = _summary_meta(config, suites)
    meta["sessions"] = json.loads((out / RUN_META).read_text(encoding="utf-8"))["sessions"]
    write_summary(rows, out / SUMMARY, meta)
    if interrupted:
        raise KeyboardInterrupt
    return rows


def _api_key(config: RunConfig) -> str | None:
    if config.api_key is not None:
        return config.api_key
    return "none" if config.api_base else None


def _default_ours_model(config: RunConfig) -> Callable[[], Any]:
    def make() -> Any:
        return ours_model(
            config.model_id,
            config.api_base,
            _api_key(config),
            config.max_tokens,
            config.temperature,
        )

    return make


def _summary_meta(config: RunConfig, suites: Sequence[Suite]) -> dict[str, Any]:
    return {
        "model": config.model_id,
        "api_base": config.api_base,
        "agents": config.agents,
        "suites": {s.name: str(s.path) for s in suites},
        "max_steps": config.max_steps or {s.name: s.max_steps for s in suites},
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
        "step_timeout": config.step_timeout,
        "format_answer": config.format_answer,
        "imports_not_installed": missing_imports() if any(map(needs_data_imports, suites)) else [],
    }


def _write_meta(
    out: Path, config: RunConfig, suites: Sequence[Suite], planned: int, commit: str | None
) -> None:
    path = out / RUN_META
    meta: dict[str, Any] = {}
    if path.exists():
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            meta = {}
    sessions = list(meta.get("sessions") or [])
    sessions.append(
        {
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "planned_tasks": planned,
            "limit": config.limit,
            "every": config.every,
            "only": config.only,
            "resume": config.resume,
            "agents": config.agents,
            "format_answer": config.format_answer,
            "commit": commit,
        }
    )
    meta.update(_summary_meta(config, suites))
    meta["versions"] = _versions()
    meta["sessions"] = sessions
    path.write_text(json.dumps(meta, indent=1), encoding="utf-8")


def _source_commit() -> str | None:
    """The git commit of the agent code this session runs, ``+dirty`` when its files have
    uncommitted changes (None outside a git checkout): results are tied to the code that made
    them."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "--short=12", "HEAD")
    if commit is None:
        return None
    dirty = git("status", "--porcelain", "--", "smoldepot_jupyter", "benchmarks")
    return f"{commit}+dirty" if dirty else commit


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {"python": sys.version.split()[0]}
    for package in ("smoldepot_jupyter", "smolagents", "litellm"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


# ---------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run benchmark suites with our agents and smolagents' CodeAgent.",
    )
    parser.add_argument("suites", nargs="+", type=Path, help="suite folders (FORMAT.md)")
    parser.add_argument(
        "--model", required=True, help="litellm model id, e.g. openai/qwen2.5-coder-1.5b-instruct"
    )
    parser.add_argument(
        "--api-base", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8011/v1"
    )
    parser.add_argument("--api-key", help='API key ("none" by default when --api-base is given)')
    parser.add_argument(
        "--agents", default=",".join(AGENTS), help=f"comma-separated, from {', '.join(AGENTS)}"
    )
    parser.add_argument(
        "--max-steps", type=int, help="steps per task (default: each suite's max_steps)"
    )
    parser.add_argument("--limit", type=int, help="run only the first N tasks of each suite")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="run only the tasks whose id matches this shell-style pattern, e.g. "
        "'travel_itinerary_planning/*' (repeatable; before --every and --limit)",
    )
    parser.add_argument(
        "--every",
        type=int,
        default=1,
        metavar="K",
        help="run every K-th task of each suite (1st, K+1th, ...), before --limit",
    )
    parser.add_argument(
        "--out", type=Path, help="results folder (default: benchmarks/results/<timestamp>/)"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument(
        "--retry-errors",
        action="store_true",
        help="with --resume: rerun tasks that ended in state error",
    )
    parser.add_argument(
        "--step-timeout",
        type=float,
        default=30.0,
        help="seconds per code action of ours (smolagents' executor has 30)",
    )
    parser.add_argument(
        "--max-tokens", type=int, default=2048, help="max tokens per model call, every agent"
    )
    parser.add_argument(
        "--temperature", type=float, default=0.0, help="sampling temperature, every agent"
    )
    parser.add_argument(
        "--format-answer",
        action="store_true",
        help="our agents rewrite a text or number answer in the form the task asks for "
        "(one more model call; format_answer=True)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    if args.resume and args.out is None:
        print("--resume needs --out DIR (the folder of the run to continue)", file=sys.stderr)
        return 2
    out = (args.out or DEFAULT_RESULTS_DIR / time.strftime("%Y%m%d-%H%M%S")).resolve()
    config = RunConfig(
        suites=list(args.suites),
        model_id=args.model,
        out=out,
        api_base=args.api_base,
        api_key=args.api_key,
        agents=agents,
        max_steps=args.max_steps,
        limit=args.limit,
        every=args.every,
        only=args.only,
        resume=args.resume,
        retry_errors=args.retry_errors,
        step_timeout=args.step_timeout,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        format_answer=args.format_answer,
    )
    if "smolagents-code" in agents:
        try:
            import smolagents  # noqa: F401
        except ImportError:
            print("smolagents-code needs smolagents: pip install -e '.[bench]'", file=sys.stderr)
            return 2
    try:
        run(config)
    except KeyboardInterrupt:
        print(
            f"interrupted; finished tasks are in {out / RESULTS} (--resume continues)",
            file=sys.stderr,
        )
        if (out / SUMMARY).exists():
            print((out / SUMMARY).read_text(encoding="utf-8"))
        return 130
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print((out / SUMMARY).read_text(encoding="utf-8"))
    print(f"results: {out / RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
