"""Record the example runs with a real model: execute example notebooks live and keep their run
records in examples/notebooks/records/, which the notebooks replay when no model is configured.

    SMOLDEPOT_MODEL=openai/qwen2.5-coder-1.5b-instruct \\
    SMOLDEPOT_API_BASE=http://127.0.0.1:8011/v1 python examples/record_runs.py [NAME...]

(The local model of shared/tools/local-llm.sh.) Prints each recorded run's state and answer.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from smoldepot_jupyter.records import load_run

HERE = Path(__file__).parent / "notebooks"
RECORDED = ["quickstart", "data_analysis", "custom_tools", "multi_agent"]


def record(name: str) -> list[Path]:
    """Execute notebook `name` live in a fresh folder; copy its run records, in start order."""
    workdir = Path(tempfile.mkdtemp(prefix=f"record-{name}-"))
    shutil.copy(HERE / f"{name}.ipynb", workdir)
    notebook = nbformat.read(workdir / f"{name}.ipynb", as_version=4)
    started = time.monotonic()
    NotebookClient(
        notebook,
        timeout=1800,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    ).execute()
    records = sorted(
        (workdir / ".smoldepot" / "runs").glob("*.jsonl"),
        key=lambda p: load_run(p).events[0].timestamp,
    )
    (HERE / "records").mkdir(exist_ok=True)
    kept = []
    for number, path in enumerate(records, start=1):
        target = HERE / "records" / f"{name}-{number}.jsonl"
        shutil.copy(path, target)
        run = load_run(target)
        print(f"{target.name}: {run.state}, answer {run.output!r}, model {run.model_id}")
        kept.append(target)
    print(f"{name}: {len(kept)} runs in {time.monotonic() - started:.0f} s")
    shutil.rmtree(workdir, ignore_errors=True)
    return kept


def main() -> None:
    if not os.environ.get("SMOLDEPOT_MODEL"):
        sys.exit("set SMOLDEPOT_MODEL (and SMOLDEPOT_API_BASE for a local server) to record")
    for name in sys.argv[1:] or RECORDED:
        record(name)


if __name__ == "__main__":
    main()
