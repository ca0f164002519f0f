"""The ``smoldepot`` command: run, replay, export and list agent runs, and execute notebooks,
headless. Each subcommand lives next door (`running`, `runs`, `notebooks`) and is imported only
when used, so ``smoldepot --help`` stays quick."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .errors import CommandError

__all__ = [
    "DEFAULT_RECORD_DIR",
    "SCRIPTED_REPLIES_VARIABLE",
    "CommandError",
    "build_parser",
    "main",
]

#: Test hook: a JSON list of strings; `run` then uses ScriptedModel(that list) as its model.
SCRIPTED_REPLIES_VARIABLE = "SMOLDEPOT_SCRIPTED_REPLIES"
#: `records.DEFAULT_DIRECTORY`, spelled out so that ``--help`` need not import the package's core.
DEFAULT_RECORD_DIR = ".smoldepot/runs"

_EXIT_STATUS = """\
exit status:
  0    done (the run or replay reached a final answer; the notebook ran without error)
  1    no final answer (max steps, a replay that went another way), or a notebook cell raised
       or ran an agent whose run ended in error
  2    usage or configuration error, reported as one line "smoldepot: error: ..." on stderr
  130  interrupted (Ctrl-C); the run ends as "interrupted" and its record keeps every step"""

_RUN_NOTES = f"""\
The model is --model (a litellm model id), else SMOLDEPOT_MODEL; it is served from --api-base
(an OpenAI-compatible server), else from SMOLDEPOT_API_BASE when that is set. The sidecar kernel
works in the current directory.
Every run is recorded under --record-dir; see `smoldepot runs`.

examples:
  smoldepot run "How many rows does data.csv have?" --file data.csv --model openai/gpt-4o-mini
  smoldepot run "Plot y = x**2" --model openai/qwen --api-base http://127.0.0.1:8080/v1
  smoldepot run "Look up the weather in Paris" --tools my_tools:weather --json

for tests: when {SCRIPTED_REPLIES_VARIABLE} holds a JSON list of strings, the model is a
ScriptedModel that answers call n with the n-th string (no model, no network).

{_EXIT_STATUS}"""


class _Formatter(argparse.HelpFormatter):
    """Wraps one-paragraph descriptions; keeps texts laid out by hand (with newlines) as is."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30, width=100)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``smoldepot`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="smoldepot",
        description="A code agent whose actions run in a sidecar Jupyter kernel, headless.",
        epilog=_EXIT_STATUS,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run a code agent on a task, showing each step as it happens",
        description="Run a CodeAgent on TASK, showing thought, code, observation and a status "
        "line for each step as it happens.",
        epilog=_RUN_NOTES,
        formatter_class=_Formatter,
    )
    run.add_argument("task", metavar="TASK", help="what to do, in plain words ('-': read stdin)")
    run.add_argument("--model", metavar="ID", help="litellm model id, e.g. openai/gpt-4o-mini")
    run.add_argument("--api-base", metavar="URL", help="the model server's URL (local servers)")
    run.add_argument(
        "--tools",
        metavar="MODULE:ATTR,...",
        action="append",
        default=[],
        help="tools to give the agent: ATTR of MODULE (imported with the current directory on "
        "sys.path first) is a Tool, a @tool function, a documented function, or a list of those",
    )
    run.add_argument(
        "--file",
        metavar="F",
        action="append",
        default=[],
        help="a file the task is about (repeatable); the task names it",
    )
    run.add_argument(
        "--max-steps", metavar="N", type=_positive_int, default=20, help="step budget (20)"
    )
    run.add_argument(
        "--format-answer",
        action="store_true",
        help="after a text or number answer, one more model call (task and answer only) "
        "rewrites it in the form the task asks for; kept only if it keeps the answer's numbers",
    )
    run.add_argument(
        "--sandbox",
        choices=("auto", "bwrap", "process"),
        default="auto",
        help="where the model's code runs: bwrap (a bubblewrap sandbox), process (as you), "
        "auto (bwrap where it works; the default)",
    )
    run.add_argument(
        "--network", action="store_true", help="let the bwrap sandbox reach the network"
    )
    run.add_argument("--export", metavar="PATH", help="write the finished run as a notebook")
    run.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON on stdout (progress goes to stderr)",
    )
    run.add_argument(
        "--record-dir",
        metavar="D",
        default=DEFAULT_RECORD_DIR,
        help=f"where the run is recorded ({DEFAULT_RECORD_DIR})",
    )
    run.add_argument(
        "--retries",
        metavar="N",
        type=_non_negative_int,
        default=4,
        help="retries of a failed model call (4); 0 fails at once",
    )
    run.set_defaults(handler=_run)

    replay = commands.add_parser(
        "replay",
        help="replay a recorded run: recorded model words, real execution",
        description="Replay a recorded run (a .jsonl record or a notebook exported by smoldepot): "
        "the model's words come from the recording, the code really runs, and every step "
        "whose outcome differs from the recording is reported.",
        epilog=_EXIT_STATUS,
        formatter_class=_Formatter,
    )
    replay.add_argument("file", metavar="FILE", help="a run record (.jsonl) or exported .ipynb")
    replay.add_argument(
        "--delay",
        metavar="S",
        type=_non_negative_float,
        default=0.0,
        help="seconds between the model's words, for presentation speed (0)",
    )
    replay.set_defaults(handler=_replay)

    export = commands.add_parser(
        "export",
        help="export a recorded run as a notebook that re-executes",
        description="Export a recorded run as a notebook: task, steps with their outputs, "
        "final answer; tools replay their recorded results.",
        epilog=_EXIT_STATUS,
        formatter_class=_Formatter,
    )
    export.add_argument(
        "run", metavar="RUN", help="a run record's path, or a run id (or its unique start)"
    )
    export.add_argument("output", metavar="OUT.ipynb", help="the notebook to write")
    export.add_argument(
        "--record-dir",
        metavar="D",
        default=DEFAULT_RECORD_DIR,
        help=f"where run ids are looked up ({DEFAULT_RECORD_DIR})",
    )
    export.set_defaults(handler=_export)

    runs = commands.add_parser(
        "runs",
        help="list the recorded runs, newest first",
        description="List the recorded runs, newest first: run id, state, steps, task.",
        formatter_class=_Formatter,
    )
    runs.add_argument(
        "--record-dir",
        metavar="D",
        default=DEFAULT_RECORD_DIR,
        help=f"where the runs are recorded ({DEFAULT_RECORD_DIR})",
    )
    runs.set_defaults(handler=_runs)

    execute = commands.add_parser(
        "execute",
        help="execute a notebook headless and print its text outputs",
        description="Execute NOTEBOOK headless (with nbclient, in the notebook's folder) and "
        "print each cell's text outputs: streams, and the text/plain of results and displays. "
        "Nothing is written back unless --output is given. Stops at the first cell that raises; "
        'a cell whose agent run ended in error (its run view says "Run error") makes the '
        "exit status 1 too, and is named.",
        epilog=_EXIT_STATUS,
        formatter_class=_Formatter,
    )
    execute.add_argument("notebook", metavar="NOTEBOOK", help="the .ipynb to execute")
    execute.add_argument(
        "--timeout",
        metavar="S",
        type=_non_negative_float,
        default=600.0,
        help="seconds a cell may run (600; 0: no limit)",
    )
    execute.add_argument("--output", metavar="PATH", help="write the executed notebook here")
    execute.set_defaults(handler=_execute)

    kernelspec = commands.add_parser(
        "kernelspec",
        help="install a sandboxed (bubblewrap) kernel for JupyterLab and other Jupyter tools",
        description="Install a kernelspec that starts BASE (python3) under the bubblewrap "
        "provisioner: JupyterLab, nbclient or jupyter_client then run it as smoldepot's "
        "bwrap level does (no host process, no network unless --network, only the working "
        "directory writable, $HOME empty but for --path).",
        formatter_class=_Formatter,
    )
    kernelspec.add_argument("action", choices=["install"], help="what to do")
    kernelspec.add_argument("--name", default="python3-bwrap", help="its kernel name")
    kernelspec.add_argument("--base", default="python3", help="the kernel to sandbox")
    kernelspec.add_argument(
        "--network", action="store_true", help="let the sandbox reach the network"
    )
    kernelspec.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="P",
        help="a host path to show read-only ('P') or writable ('P:rw'); repeatable",
    )
    where = kernelspec.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="for this user only")
    where.add_argument("--prefix", metavar="DIR", help="under DIR/share/jupyter/kernels")
    kernelspec.set_defaults(handler=_kernelspec)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``smoldepot`` with `argv` (default: the command line); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.handler(args)
    except CommandError as exc:
        print(f"smoldepot: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("smoldepot: interrupted", file=sys.stderr, flush=True)
        return 130
    except BrokenPipeError:
        # stdout went away (e.g. `smoldepot runs | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _version() -> str:
    from .. import __version__

    return __version__


def _run(args: argparse.Namespace) -> int:
    from .running import run_command

    return run_command(args)


def _replay(args: argparse.Namespace) -> int:
    from .running import replay_command

    return replay_command(args)


def _export(args: argparse.Namespace) -> int:
    from .runs import export_command

    return export_command(args)


def _runs(args: argparse.Namespace) -> int:
    from .runs import runs_command

    return runs_command(args)


def _kernelspec(args: argparse.Namespace) -> int:
    from jupyter_client.kernelspec import NoSuchKernel

    from ..kernel.launch import bwrap_problem, install_sandbox_kernelspec

    try:
        folder = install_sandbox_kernelspec(
            args.name,
            base_kernel=args.base,
            network=args.network,
            paths=args.path,
            user=args.user,
            prefix=args.prefix,
        )
    except NoSuchKernel:
        raise CommandError(
            f"there is no kernel named {args.base!r}: `jupyter kernelspec list` shows them"
        ) from None
    except (ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None
    print(f"installed the kernel {args.name!r} in {folder}")
    problem = bwrap_problem()
    if problem:
        print(f"note: it will not start on this machine yet: {problem}", file=sys.stderr)
    return 0


def _execute(args: argparse.Namespace) -> int:
    from .notebooks import execute_command

    return execute_command(args)
