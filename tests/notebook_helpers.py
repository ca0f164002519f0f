"""Building and executing real notebooks for the magic's tests (nbclient, a real ipykernel)."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

SETUP = """\
from smoldepot_jupyter import ScriptedModel, tool

def code(body, thought="I act."):
    return f"Thought: {thought}\\n```python\\n{body}\\n```"
"""


def run_notebook(
    cells: list[str], workdir: Path, timeout: int = 180, env: dict[str, str] | None = None
) -> nbformat.NotebookNode:
    """Execute `cells` in a fresh kernel with `workdir` as its directory; errors are kept as
    outputs (allow_errors) so each test can look at what the user would see."""
    notebook = new_notebook(cells=[new_code_cell(source) for source in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        store_widget_state=True,
        resources={"metadata": {"path": str(workdir)}},
    )
    if env is not None:
        client.execute(env=env)
    else:
        client.execute()
    return notebook


def texts(cell: Any) -> str:
    """Everything a cell showed, as one string: streams, text/plain, text/html, errors."""
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif output["output_type"] == "error":
            parts.append(f"{output['ename']}: {output['evalue']}")
            parts.extend(output.get("traceback", []))
        else:
            data = output.get("data", {})
            for mime in ("text/plain", "text/html", "text/markdown"):
                if mime in data:
                    value = data[mime]
                    parts.append("".join(value) if isinstance(value, list) else value)
    return "\n".join(parts)


def result_of(cell: Any) -> str | None:
    """The text/plain of a cell's execute_result (its value, Out[n]), or None."""
    for output in cell.get("outputs", []):
        if output["output_type"] == "execute_result":
            return output["data"].get("text/plain")
    return None


def visible_text(html: str) -> str:
    """What a reader sees of `html`: tags removed (syntax highlighting splits code into spans),
    entities decoded."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def errors_of(cell: Any) -> list[tuple[str, str]]:
    """(ename, evalue) of every error output of a cell."""
    return [
        (o["ename"], o["evalue"]) for o in cell.get("outputs", []) if o["output_type"] == "error"
    ]
