"""`smoldepot execute`: run a notebook headless with nbclient and print its text outputs, cell by
cell as each finishes, as they are in the executed notebook."""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from .errors import CommandError, one_line

__all__ = ["cell_text", "execute_command", "failed_runs"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: The run JSON every run view carries (docs/run-json.md): its `status` says how the run ended.
RUN_MIME = "application/vnd.smoldepot.run+json"


def execute_command(args: argparse.Namespace) -> int:
    """``smoldepot execute NOTEBOOK``: 0 when every cell ran, 1 when one raised or timed out or
    an agent run in it ended in error."""
    path = Path(args.notebook)
    if not path.is_file():
        raise CommandError(f"no notebook at {path}")
    try:
        notebook = nbformat.read(str(path), as_version=4)
    except Exception as exc:  # nbformat raises many kinds for a file that is not a notebook
        raise CommandError(f"cannot read {path} as a notebook: {exc}") from None

    def show(cell: Any, cell_index: int, **_: Any) -> None:
        text = cell_text(cell)
        if text:
            print(f"── cell {cell_index + 1}", flush=True)
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            sys.stdout.flush()

    failure = None
    with tempfile.TemporaryDirectory(prefix="smoldepot-execute-") as private:
        client = NotebookClient(
            notebook,
            timeout=args.timeout or None,
            resources={"metadata": {"path": str(path.resolve().parent)}},
            kernel_manager_class=_private_kernel_manager(private),
            on_cell_executed=show,
        )
        try:
            client.execute()
        except NoSuchKernel as exc:
            raise CommandError(
                f"{path} needs the kernel {exc.name!r}: it is not installed"
            ) from None
        except CellExecutionError as exc:
            failure = f"a cell raised {exc.ename}: {one_line(exc.evalue)}"
        except CellTimeoutError as exc:
            failure = f"a cell ran longer than the timeout: {one_line(exc)}"
        except DeadKernelError as exc:
            failure = f"the kernel died: {one_line(exc)}"
    if args.output:
        nbformat.write(notebook, args.output)
    failures = [
        f"the agent run in cell {number} ended in error: {one_line(error)}"
        for number, error in failed_runs(notebook)
    ]
    if failure is not None:
        failures.append(failure)
    for line in failures:
        print(f"smoldepot: {path}: {line}", file=sys.stderr, flush=True)
    return 1 if failures else 0


def failed_runs(notebook: Any) -> list[tuple[int, str]]:
    """(cell number, counted from 1 as the output's "── cell N" lines are, and the run's error)
    of each agent run whose view in the executed `notebook` says it ended in error."""
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(RUN_MIME)
            if isinstance(payload, dict) and payload.get("status") == "error":
                found.append((index + 1, str(payload.get("error") or "the run failed")))
    return found


def _private_kernel_manager(directory: str) -> type[AsyncKernelManager]:
    """A kernel manager class whose kernels talk over IPC sockets in `directory` (private, 0700),
    like the sidecar's: no TCP ports, no warning about unencrypted TCP."""

    class PrivateKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", os.path.join(directory, "kernel"))
            kwargs.setdefault("connection_file", os.path.join(directory, "kernel.json"))
            super().__init__(**kwargs)

    return PrivateKernelManager


def cell_text(cell: Any) -> str:
    """A code cell's outputs as text: streams as they are, the text/plain of results and
    displays, and errors as their (colourless) traceback."""
    parts = []
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "stream":
            parts.append(output.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            text = output.get("data", {}).get("text/plain")
            if text:
                parts.append(text if text.endswith("\n") else text + "\n")
        elif kind == "error":
            trace = output.get("traceback") or [f"{output.get('ename')}: {output.get('evalue')}"]
            parts.append(_ANSI.sub("", "\n".join(trace)) + "\n")
    return "".join(parts)
