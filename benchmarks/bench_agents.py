"""The agents a benchmark run compares, each run on one task: ours (`CodeAgent` in a sidecar
kernel, `ToolCallingAgent`) and smolagents' `CodeAgent`, with the same model, tools, step budget
and sampling, and with tokens counted the same way for all of them.

`run_task(agent_name, job, ...)` returns an `Outcome`; run_suite.py turns it into a result line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.bench_tokens import CountingClient, CountingModel, Tally, TokenCounter
from benchmarks.m3tooleval_tools import CallLog
from smoldepot_jupyter.agents import CodeAgent, ToolCallingAgent
from smoldepot_jupyter.agents.smolagents_compat import BASE_BUILTIN_MODULES
from smoldepot_jupyter.kernel import KernelExecutor
from smoldepot_jupyter.memory import ActionStep
from smoldepot_jupyter.models import LiteLLMModel, Model
from smoldepot_jupyter.parsing import has_statements

# smolagents' LiteLLMModel and litellm.token_counter import litellm on first use: with the price
# table read locally (no fetch from the internet at import), as the package itself does, unless
# the user set it. Whoever imports this module gets that, not only run_suite.py.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__all__ = [
    "AGENTS",
    "DATA_IMPORTS",
    "ISSUES",
    "Job",
    "Outcome",
    "base_imports",
    "ours_model",
    "prepare_workdir",
    "run_task",
    "smolagents_model",
]

#: The agents a run can compare, by the names the CLI takes.
AGENTS = ("ours-code", "ours-json", "smolagents-code")

#: Imports the data suites (dabench, math) need, for every agent.
DATA_IMPORTS = ("pandas", "numpy", "scipy", "sklearn", "matplotlib", "statistics", "math")
_PACKAGES_WITH_SUBMODULES = ("pandas", "numpy", "scipy", "sklearn", "matplotlib")

#: What can go wrong in one step, counted per task: no code block / no tool call, a tool call
#: that failed, another error, an action past its time limit.
ISSUES = ("no_code", "tool_error", "runtime_error", "timeout")

# smolagents' own base list (utils.BASE_BUILTIN_MODULES in 1.26.0), used when it is not installed.
_SMOLAGENTS_BASE_IMPORTS = BASE_BUILTIN_MODULES


def base_imports() -> list[str]:
    """The modules smolagents' CodeAgent always allows; ours gets the same ones."""
    try:
        from smolagents.utils import BASE_BUILTIN_MODULES
    except ImportError:
        return list(_SMOLAGENTS_BASE_IMPORTS)
    return list(BASE_BUILTIN_MODULES)


# ---------------------------------------------------------------------------- models


def ours_model(
    model_id: str, api_base: str | None, api_key: str | None, max_tokens: int, temperature: float
) -> LiteLLMModel:
    """Our LiteLLMModel with the run's sampling."""
    return LiteLLMModel(
        model_id,
        api_base=api_base,
        api_key=api_key,
        max_tokens=max_tokens,
        temperature=temperature,
        flatten_messages_as_text=True,
    )


def smolagents_model(
    model_id: str,
    api_base: str | None,
    api_key: str | None,
    max_tokens: int,
    temperature: float,
    client: CountingClient,
) -> Any:
    """smolagents' LiteLLMModel with the run's sampling, calling through `client`."""
    from smolagents import LiteLLMModel as SmolagentsLiteLLMModel

    return SmolagentsLiteLLMModel(
        model_id=model_id,
        api_base=api_base,
        api_key=api_key,
        flatten_messages_as_text=True,
        client=client,
        temperature=temperature,
        max_tokens=max_tokens,
    )


# ---------------------------------------------------------------------------- one task


@dataclass
class Job:
    """One task to run: its text, files, tools and the run's settings for it."""

    suite: str
    task_id: str
    question: str
    files_dir: Path
    files: list[str]
    max_steps: int
    authorized_imports: list[str]
    #: ``tools(kind, log)`` with kind "code", "json" or "smolagents"; [] when the task has none.
    tools: Callable[[str, CallLog], list[Any]]


@dataclass
class Outcome:
    """What one agent did on one task."""

    answer: Any = None
    state: str = "error"
    error: str | None = None
    steps: int = 0
    model_calls: int = 0
    tokens: dict[str, Any] = field(default_factory=dict)
    tokens_counted: dict[str, int] = field(default_factory=dict)
    wall_time: float = 0.0
    issues: dict[str, int] = field(default_factory=dict)
    tool_calls: int = 0
    tool_errors: int = 0
    record: str | None = None


def prepare_workdir(files_dir: Path, files: Sequence[str]) -> Path:
    """A fresh temporary directory holding copies of the task's files (outside the repo)."""
    workdir = Path(tempfile.mkdtemp(prefix="smoldepot-bench-"))
    try:
        for name in files:
            source = (files_dir / name).resolve()
            if files_dir.resolve() not in source.parents:
                raise ValueError(f"task file {name!r} is outside {files_dir}")
            if not source.is_file():
                raise FileNotFoundError(f"task file {name!r} is not in {files_dir}")
            target = workdir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return workdir


class _StepTracker:
    """A step callback: how many tool calls failed during each step (by step identity)."""

    def __init__(self, log: CallLog) -> None:
        self.log = log
        self.seen = 0
        self.tool_errors: dict[int, int] = {}

    def __call__(self, step: Any) -> None:
        failed = len(self.log.errors)
        self.tool_errors[id(step)] = failed - self.seen
        self.seen = failed


def run_task(
    agent: str,
    job: Job,
    *,
    counter: TokenCounter,
    make_ours_model: Callable[[], Model],
    make_smolagents_model: Callable[[CountingClient], Any],
    smolagents_client: Callable[[], Any],
    records: Path,
    step_timeout: float,
    max_tokens: int,
    format_answer: bool = False,
) -> Outcome:
    """Run `agent` on `job`. Raises KeyboardInterrupt when the run was interrupted (so the
    task is not recorded as done); any other failure is an Outcome in state "error"."""
    log = CallLog()
    workdir = prepare_workdir(job.files_dir, job.files)
    try:
        if agent in ("ours-code", "ours-json"):
            outcome = _run_ours(
                agent,
                job,
                log,
                workdir,
                counter,
                make_ours_model(),
                records,
                step_timeout,
                max_tokens,
                format_answer,
            )
        elif agent == "smolagents-code":
            client = CountingClient(smolagents_client(), counter)
            outcome = _run_smolagents(
                job, log, workdir, client, make_smolagents_model(client), records
            )
        else:
            raise ValueError(f"unknown agent {agent!r}; the agents are {', '.join(AGENTS)}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    outcome.tool_calls = len(log.calls)
    outcome.tool_errors = len(log.errors)
    return outcome


def _tokens(tally: Tally, estimated: bool | None = None) -> tuple[dict[str, Any], dict[str, int]]:
    reported = {
        "prompt": tally.reported_prompt,
        "completion": tally.reported_completion,
        "cached": tally.reported_cached,
    }
    if estimated is not None:
        reported["estimated"] = estimated
    counted = {"prompt": tally.counted_prompt, "completion": tally.counted_completion}
    return reported, counted


def _run_ours(
    agent_name: str,
    job: Job,
    log: CallLog,
    workdir: Path,
    counter: TokenCounter,
    model: Model,
    records: Path,
    step_timeout: float,
    max_tokens: int,
    format_answer: bool = False,
) -> Outcome:
    counting = CountingModel(model, counter)
    tracker = _StepTracker(log)
    executor: KernelExecutor | None = None
    agent: CodeAgent | ToolCallingAgent | None = None
    outcome = Outcome()
    try:
        if agent_name == "ours-code":
            executor = KernelExecutor(cwd=workdir, default_timeout=step_timeout)
            executor.start()  # before the clock: a kernel start is set-up, not the run
            agent = CodeAgent(
                job.tools("code", log),
                counting,
                executor=executor,
                max_steps=job.max_steps,
                authorized_imports=job.authorized_imports,
                step_callbacks=[tracker],
                record_dir=records / agent_name,
                max_tokens=max_tokens,
                step_timeout=step_timeout,
                format_answer=format_answer,
            )
        else:
            agent = ToolCallingAgent(
                job.tools("json", log),
                counting,
                max_steps=job.max_steps,
                step_callbacks=[tracker],
                record_dir=records / agent_name,
                max_tokens=max_tokens,
                format_answer=format_answer,
            )
        started = time.perf_counter()
        try:
            result = agent.run(job.question)
        except Exception as exc:  # an unexpected failure inside our agent: recorded, run goes on
            result = agent.last_result
            outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.wall_time = time.perf_counter() - started
    finally:
        if agent is not None:
            agent.close()
        if executor is not None:
            executor.shutdown()
    if result is None:
        return outcome
    if result.state == "interrupted":
        raise KeyboardInterrupt
    outcome.answer = result.output
    outcome.state = result.state
    outcome.error = outcome.error or result.error
    actions = [s for s in result.steps if isinstance(s, ActionStep)]
    outcome.steps = sum(1 for s in actions if not s.is_best_answer_fallback)
    outcome.model_calls = counting.tally.calls
    usage = result.token_usage
    _, outcome.tokens_counted = _tokens(counting.tally)
    outcome.tokens = {
        "prompt": usage.prompt_tokens,
        "completion": usage.completion_tokens,
        "cached": usage.cached_prompt_tokens,
        "estimated": usage.estimated,
    }
    tool_names = set(agent.tools)
    issues: Counter[str] = Counter()
    for step in actions:
        if not step.is_best_answer_fallback:
            issue = _our_step_issue(step, agent_name, tool_names, tracker.tool_errors.get(id(step)))
            if issue:
                issues[issue] += 1
    outcome.issues = {name: issues.get(name, 0) for name in ISSUES}
    outcome.record = str(result.record_path) if result.record_path else None
    return outcome


def _our_step_issue(
    step: ActionStep, agent_name: str, tool_names: set[str], tool_errors: int | None
) -> str | None:
    if agent_name == "ours-json":
        if step.error == "the reply had no tool call" or (
            not step.tool_calls_requested and not step.is_final_answer
        ):
            return "no_code"
        return "tool_error" if (tool_errors or step.error) else None
    if (step.code is None or not has_statements(step.code)) and not step.is_final_answer:
        return "no_code"
    execution = step.execution
    if execution is not None and execution.timed_out:
        return "timeout"
    if tool_errors:
        return "tool_error"
    error = execution.error if execution is not None else None
    if error is not None and (
        error.ename == "ToolError"
        or (
            error.ename == "TypeError" and any(error.evalue.startswith(f"{n}(") for n in tool_names)
        )
    ):
        return "tool_error"
    return "runtime_error" if step.error else None


def _run_smolagents(
    job: Job, log: CallLog, workdir: Path, client: CountingClient, model: Any, records: Path
) -> Outcome:
    from smolagents import CodeAgent as SmolagentsCodeAgent
    from smolagents.memory import ActionStep as SmolagentsActionStep
    from smolagents.monitoring import LogLevel
    from smolagents.utils import AgentMaxStepsError

    tracker = _StepTracker(log)
    imports = list(job.authorized_imports)
    # smolagents allows a package's submodules only when "<package>.*" is listed as well.
    imports += [f"{p}.*" for p in _PACKAGES_WITH_SUBMODULES if p in imports]
    agent = SmolagentsCodeAgent(
        tools=list(job.tools("smolagents", log)),
        model=model,
        max_steps=job.max_steps,
        additional_authorized_imports=imports,
        step_callbacks=[tracker],
        verbosity_level=LogLevel.OFF,
    )
    outcome = Outcome()
    here = os.getcwd()
    started = time.perf_counter()
    try:
        os.chdir(workdir)  # its LocalPythonExecutor runs in this process
        result = agent.run(job.question, return_full_result=True)
        outcome.answer = result.output
        outcome.state = "max_steps" if result.state == "max_steps_error" else "success"
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.state = "error"
    finally:
        outcome.wall_time = time.perf_counter() - started
        os.chdir(here)
        with contextlib.suppress(Exception):
            agent.cleanup()
    steps = list(agent.memory.steps)
    actions = [s for s in steps if isinstance(s, SmolagentsActionStep)]
    main = [s for s in actions if not isinstance(s.error, AgentMaxStepsError)]
    outcome.steps = len(main)
    outcome.model_calls = client.tally.calls
    outcome.tokens, outcome.tokens_counted = _tokens(client.tally, estimated=False)
    issues: Counter[str] = Counter()
    for step in main:
        issue = _smolagents_step_issue(step, tracker.tool_errors.get(id(step)))
        if issue:
            issues[issue] += 1
    outcome.issues = {name: issues.get(name, 0) for name in ISSUES}
    outcome.record = _save_smolagents_trace(agent, job, records)
    return outcome


def _smolagents_step_issue(step: Any, tool_errors: int | None) -> str | None:
    from smolagents.utils import AgentParsingError

    error = step.error
    if isinstance(error, AgentParsingError):
        return "no_code"
    if error is not None and "exceeded the maximum execution time" in str(error):
        return "timeout"
    if tool_errors:
        return "tool_error"
    return "runtime_error" if error is not None else None


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _save_smolagents_trace(agent: Any, job: Job, records: Path) -> str | None:
    """smolagents' steps of this task (without the model input messages), as JSON."""
    try:
        folder = records / "smolagents-code"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{_UNSAFE.sub('_', f'{job.suite}__{job.task_id}')}.json"
        steps = agent.memory.get_succinct_steps()
        path.write_text(json.dumps(steps, indent=1, default=str), encoding="utf-8")
    except Exception:
        return None
    return str(path)
