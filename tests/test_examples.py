"""Every example notebook executes with nbclient, with no model configured: it replays the runs
recorded with a real model, with real execution, and gets the recorded answers again."""

from __future__ import annotations

import ast
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from notebook_helpers import errors_of, result_of, run_notebook, texts

from smoldepot_jupyter.memory import ActionStep
from smoldepot_jupyter.records import load_run

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples" / "notebooks"
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


def _imported_modules(code: str) -> set[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def _distribution(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_readme_quickstart_command_installs_what_the_example_runs_import():
    tomllib = pytest.importorskip("tomllib")
    # given the README's quickstart command and the packages it installs
    readme = (ROOT / "README.md").read_text()
    [command] = [
        line
        for line in readme.splitlines()
        if line.startswith("pip install") and "smoldepot execute examples/" in line
    ]
    extras = re.match(r'pip install -e "?\.(?:\[([\w,-]+)\])?"? ', command)
    assert extras, command
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in (extras.group(1) or "").split(","):
        if extra:
            requirements += project["optional-dependencies"][extra]
    installed = {_distribution(r) for r in requirements}
    # when we list what the model's code in the recorded example runs imports
    imported = {
        name
        for record in sorted((EXAMPLES / "records").glob("*.jsonl"))
        for step in load_run(record).steps
        if isinstance(step, ActionStep) and step.code
        for name in _imported_modules(step.code)
    }
    third_party = imported - set(sys.stdlib_module_names) - {"smoldepot_jupyter"}
    # then the command installs every one of them
    assert third_party, imported
    assert third_party <= installed, f"{command!r} does not install {third_party - installed}"
