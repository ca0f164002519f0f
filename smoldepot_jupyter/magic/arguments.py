"""Parsing `%%agent` flags and `%agent` subcommands; mistakes become `UsageError`s with usage.

The line is split with `shlex` (so quoted values and double spaces behave), and argparse's own
exits are turned into `UsageError`, which IPython shows without a traceback.
"""

from __future__ import annotations

import argparse
import shlex
from typing import NoReturn

from IPython.core.error import UsageError

from ..kernel import SANDBOX_LEVELS

__all__ = ["SUBCOMMANDS", "cell_parser", "parse_cell_line", "parse_line", "usage_text"]

SUBCOMMANDS = {
    "status": "the model, the sidecar kernel (pid, memory), tools, runs, any background run",
    "reset": "forget the conversation and restart the sidecar (all its variables go)",
    "restart": "restart the sidecar kernel (its variables go; the conversation stays)",
    "stop": "stop the background run",
    "history": "the runs of this notebook session",
    "runs": "the recorded runs on disk, newest first",
    "show": "show a recorded run: %agent show [RUN] (run id, record path or history number)",
    "export": "export a run as a notebook: %agent export PATH [--run RUN] [--live-tools]",
    "replay": "replay a recorded run with real execution: %agent replay PATH [--delay S]",
    "push": "copy variables into the sidecar: %agent push NAME...",
    "pull": "copy variables from the sidecar: %agent pull NAME... [--trust]",
    "tools": "the tools the next run is offered",
    "config": "the current SmolDepot settings",
    "last": "the RunResult of the last run",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}\n\n{usage_text()}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or usage_text())


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected one or more names separated by commas")
    return names


def cell_parser() -> argparse.ArgumentParser:
    """The flags of ``%%agent`` (the cell body is the task)."""
    parser = _Parser(prog="%%agent", add_help=False)
    parser.add_argument("--model", help="litellm model id for this run")
    parser.add_argument("--api-base", help="OpenAI-compatible server URL for this run")
    parser.add_argument("--max-steps", type=int, help="most action steps")
    parser.add_argument("--timeout", type=float, help="seconds one action may run")
    parser.add_argument("--tools", type=_names, help="offer only these tools (comma-separated)")
    parser.add_argument("--imports", type=_names, help="modules actions may import")
    parser.add_argument("--push", type=_names, help="copy these variables into the sidecar")
    parser.add_argument("--reset", action="store_true", help="start a fresh conversation")
    parser.add_argument("--json", action="store_true", help="the cell's value is the run as JSON")
    parser.add_argument("--plan", type=int, metavar="N", help="plan every N steps")
    parser.add_argument(
        "--format-answer",
        action="store_true",
        help="rewrite the answer in the task's form with one more model call",
    )
    parser.add_argument(
        "--sandbox",
        choices=SANDBOX_LEVELS,
        help="where the code runs: auto, bwrap or process (a new sidecar if it differs)",
    )
    parser.add_argument("--background", action="store_true", help="run in a thread")
    parser.add_argument("--name", help="a name for this run in the history")
    parser.add_argument("--replay", metavar="PATH", help="replay a recorded run or notebook")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between replayed words")
    return parser


def usage_text() -> str:
    """The help shown with every usage error."""
    lines = [
        "Usage:",
        "  %%agent [--model ID] [--api-base URL] [--max-steps N] [--timeout S] [--tools A,B]",
        "          [--imports M,N] [--push VAR,...] [--reset] [--json] [--plan N] [--background]",
        "          [--format-answer] [--name NAME] [--replay PATH [--delay S]]",
        "  <the task, on the following lines of the cell>",
        "",
        "  %agent SUBCOMMAND ...",
    ]
    lines += [f"    {name:<8} {text}" for name, text in SUBCOMMANDS.items()]
    return "\n".join(lines)


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"cannot read the arguments ({exc})\n\n{usage_text()}") from None


def parse_cell_line(line: str) -> argparse.Namespace:
    """The flags on the ``%%agent`` line."""
    options = cell_parser().parse_args(_split(line))
    if options.max_steps is not None and options.max_steps < 1:
        raise UsageError(f"--max-steps must be at least 1\n\n{usage_text()}")
    if options.plan is not None and options.plan < 1:
        raise UsageError(f"--plan must be at least 1\n\n{usage_text()}")
    if options.timeout is not None and options.timeout <= 0:
        raise UsageError(f"--timeout must be a positive number of seconds\n\n{usage_text()}")
    return options


def parse_line(line: str) -> tuple[str, argparse.Namespace]:
    """A ``%agent`` subcommand and its arguments."""
    words = _split(line)
    if not words:
        raise UsageError(usage_text())
    command, rest = words[0], words[1:]
    if command not in SUBCOMMANDS:
        raise UsageError(f"unknown subcommand {command!r}\n\n{usage_text()}")
    parser = _Parser(prog=f"%agent {command}", add_help=False)
    if command == "show":
        parser.add_argument("run", nargs="?")
    elif command == "export":
        parser.add_argument("path")
        parser.add_argument("--run")
        parser.add_argument("--live-tools", action="store_true")
    elif command == "replay":
        parser.add_argument("path")
        parser.add_argument("--delay", type=float, default=0.0)
    elif command in ("push", "pull"):
        parser.add_argument("names", nargs="+")
        if command == "pull":
            parser.add_argument("--trust", action="store_true")
    return command, parser.parse_args(rest)
