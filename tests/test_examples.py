"""Every example notebook executes with nbclient, with no model configured: it replays the runs
recorded with a real model, with real execution, and gets the recorded answers again."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from notebook_helpers import errors_of, result_of, run_notebook, texts

from smoldepot_jupyter.records import load_run

EXAMPLES = Path(__file__).parent.parent / "examples" / "notebooks"
NOTEBOOKS = sorted(p.stem for p in EXAMPLES.glob("*.ipynb"))


def execute(name: str, tmp_path: Path):
    import nbformat

    workdir = tmp_path / "examples"
    shutil.copytree(EXAMPLES, workdir, ignore=shutil.ignore_patterns(".smoldepot"))
    source = nbformat.read(workdir / f"{name}.ipynb", as_version=4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMOLDEPOT_")}
    cells = [c.source for c in source.cells if c.cell_type == "code"]
    return run_notebook(cells, workdir, env=env)


def test_every_example_is_listed():
    assert set(NOTEBOOKS) == {
        "custom_tools",
        "data_analysis",
        "multi_agent",
        "quickstart",
        "teaching_replay",
    }


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_example_runs_without_a_model_and_says_it_replays(name, tmp_path):
    notebook = execute(name, tmp_path)
    for cell in notebook.cells:
        assert not errors_of(cell), (cell.source, texts(cell))
    if name != "teaching_replay":
        assert "replaying runs recorded with openai/qwen2.5-coder" in texts(notebook.cells[0])
    agent_cells = [c for c in notebook.cells if c.source.startswith("%%agent")]
    records = sorted((EXAMPLES / "records").glob(f"{name}-*.jsonl"))
    for cell, record in zip(agent_cells, records, strict=False):
        recorded = load_run(record)
        assert result_of(cell) == repr(recorded.output), cell.source
    for cell in agent_cells:
        assert "diverged" not in texts(cell), cell.source
