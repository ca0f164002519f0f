"""`smoldepot run` and `smoldepot replay`: a run in the terminal, shown step by step as it happens
by the `ConsolePrinter`, with the model, tools and files taken from the command line."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..models import LiteLLMModel, Model, NoModelConfigured, ScriptedModel, resolve_model
from ..tools import Tool, as_tool
from . import SCRIPTED_REPLIES_VARIABLE
from .errors import CommandError, one_line

if TYPE_CHECKING:
    from ..agents import RunResult

# The agents, events and kernel modules take seconds to import: they are imported once the
# command line has been checked, so that a mistake in it is reported at once.

__all__ = ["load_tools", "replay_command", "resolve_cli_model", "run_command", "task_with_files"]

_NO_MODEL = (
    "no model configured: pass --model ID (a litellm model id, e.g. openai/gpt-4o-mini, with "
    "--api-base URL for an OpenAI-compatible server) or set SMOLDEPOT_MODEL (and "
    "SMOLDEPOT_API_BASE)"
)


def run_command(args: argparse.Namespace) -> int:
    """``smoldepot run``: run a CodeAgent on the task; the exit status says how it ended."""
    task = sys.stdin.read() if args.task == "-" else args.task
    if not task.strip():
        raise CommandError("the task is empty: say what to do, e.g. smoldepot run 'Add 2 and 3'")
    task = task_with_files(task, args.file)
    tools = load_tools(args.tools)
    model = resolve_cli_model(args.model, args.api_base, args.retries)
    from ..agents import CodeAgent, RunResult
    from ..events import ConsolePrinter
    from ..kernel import KernelExecutor, SandboxUnavailable

    progress = sys.stderr if args.json else sys.stdout
    try:
        hidden = [args.record_dir] if args.record_dir else []
        executor = KernelExecutor(sandbox=args.sandbox, network=args.network, hidden_paths=hidden)
    except SandboxUnavailable as exc:
        raise CommandError(str(exc)) from None
    if executor.sandbox.fell_back:
        print(f"sandbox: {executor.describe()}", file=sys.stderr)
    try:
        agent = CodeAgent(
            tools,
            model,
            executor=executor,
            max_steps=args.max_steps,
            format_answer=args.format_answer,
            observers=[ConsolePrinter(progress)],
            record_dir=args.record_dir,
        )
    except ValueError as exc:  # e.g. two tools of one name
        raise CommandError(str(exc)) from None
    try:
        result = agent.run(task)
    finally:
        agent.close()
        executor.shutdown()
    assert isinstance(result, RunResult)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str), flush=True)
    if result.state == "error":
        raise CommandError(result.error or "the run failed")
    if args.export:
        _export(result, args.export, progress)
    return _exit_status(result)


def replay_command(args: argparse.Namespace) -> int:
    """``smoldepot replay``: replay a recorded run with real execution; print the divergences."""
    path = Path(args.file)
    if not path.exists():
        raise CommandError(f"no run record or notebook at {path}")
    from ..events import ConsolePrinter

    try:
        from ..export.replay import load_replayable, replay_run
    except ImportError as exc:
        raise CommandError(f"replay is not available in this installation: {exc}") from None
    try:
        record = load_replayable(path)
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot replay {path}: {exc}") from None
    result, divergences = replay_run(record, delay=args.delay, observers=[ConsolePrinter()])
    if divergences:
        print(f"{len(divergences)} divergence(s) from the recording:")
        for divergence in divergences:
            print(f"  - {divergence}")
    elif result.state != "interrupted":
        print("The replay matched the recording.")
    sys.stdout.flush()
    if result.state == "interrupted":
        return _exit_status(result)
    # A final answer: a successful run, or the best answer of a run that ran out of steps as
    # the recorded one did.
    if result.state == "success" or result.state == record.state == "max_steps":
        return 0
    why = f": {one_line(result.error)}" if result.error else ""
    print(f"smoldepot: the replay reached no final answer ({result.state}{why})", file=sys.stderr)
    return 1


def task_with_files(task: str, files: list[str]) -> str:
    """`task`, naming the `files` (which must exist) on a last line ``Files: a.csv, b.txt``:
    relative to the current directory, the sidecar's working directory, when inside it."""
    if not files:
        return task
    cwd = Path.cwd().resolve()
    names = []
    for name in files:
        path = Path(name)
        if not path.exists():
            raise CommandError(f"--file {name}: no such file")
        full = path.resolve()
        names.append(str(full.relative_to(cwd)) if full.is_relative_to(cwd) else str(full))
    return f"{task.rstrip()}\n\nFiles: {', '.join(names)}"


def load_tools(specs: list[str]) -> list[Tool]:
    """The tools named by ``--tools MODULE:ATTR[,MODULE:ATTR...]`` (each option may be given
    several times). The current directory is searched first for MODULE."""
    cwd = os.getcwd()
    if cwd not in sys.path[:1]:
        sys.path.insert(0, cwd)
    tools: list[Tool] = []
    for spec in (s.strip() for option in specs for s in option.split(",")):
        if spec:
            tools.extend(_tools_at(spec))
    return tools


def _tools_at(spec: str) -> list[Tool]:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise CommandError(f"--tools {spec}: expected MODULE:ATTRIBUTE, e.g. my_tools:search")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise CommandError(
                f"--tools {spec}: no module named {module_name!r} in the current directory or "
                "on sys.path"
            ) from None
        raise CommandError(f"--tools {spec}: importing {module_name} failed: {exc}") from None
    except (Exception, SystemExit) as exc:
        raise CommandError(
            f"--tools {spec}: importing {module_name} failed: {type(exc).__name__}: {exc}"
        ) from None
    found: Any = module
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise CommandError(
                f"--tools {spec}: module {module_name!r} has no attribute {attribute!r}"
            ) from None
    items = list(found) if isinstance(found, list | tuple) else [found]
    tools = []
    for item in items:
        try:
            tools.append(as_tool(item))
        except TypeError as exc:
            raise CommandError(f"--tools {spec}: not a tool: {exc}") from None
    return tools


def resolve_cli_model(model_id: str | None, api_base: str | None, retries: int) -> Model:
    """The model of a run: the test hook's `ScriptedModel` if ``SMOLDEPOT_SCRIPTED_REPLIES`` is
    set, else `model_id` or ``SMOLDEPOT_MODEL`` through `resolve_model`, retried `retries` times."""
    scripted = os.environ.get(SCRIPTED_REPLIES_VARIABLE, "")
    if scripted.strip():
        try:
            replies = json.loads(scripted)
        except ValueError as exc:
            raise CommandError(f"{SCRIPTED_REPLIES_VARIABLE} is not JSON: {exc}") from None
        if not isinstance(replies, list) or not all(isinstance(r, str) for r in replies):
            raise CommandError(f"{SCRIPTED_REPLIES_VARIABLE} must be a JSON list of strings")
        return ScriptedModel(replies)
    try:
        model = resolve_model(model_id, api_base)
    except NoModelConfigured:
        raise CommandError(_NO_MODEL) from None
    if isinstance(model, LiteLLMModel):
        model.num_retries = retries
    return model


def _export(result: RunResult, path: str, progress: TextIO) -> None:
    try:
        from ..export import export_notebook
    except ImportError as exc:
        raise CommandError(f"export is not available in this installation: {exc}") from None
    try:
        written = export_notebook(result, path)
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot export the run to {path}: {exc}") from None
    print(f"Exported the run to {written}", file=progress, flush=True)


def _exit_status(result: RunResult) -> int:
    if result.state == "success":
        return 0
    if result.state == "interrupted":
        where = f"; its record: {result.record_path}" if result.record_path else ""
        print(f"smoldepot: interrupted{where}", file=sys.stderr, flush=True)
        return 130
    return 1
