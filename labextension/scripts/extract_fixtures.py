"""Write the run JSON of the executed example notebooks into the renderer's test fixtures.

    python labextension/scripts/extract_fixtures.py             # execute the examples, extract
    python labextension/scripts/extract_fixtures.py --from DIR  # notebooks executed in DIR

Each `%%agent` output's ``application/vnd.smoldepot.run+json`` becomes
``labextension/src/__tests__/fixtures/<notebook>-<n>.json``. The examples are executed (with
``smoldepot execute``, which replays their recorded runs) in a copy of examples/notebooks, so
nothing is written beside the originals. ``docs-example.json`` (the example of docs/run-json.md)
is written too. Run it when the payload changes (tests/test_labextension.py says so).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "notebooks"
FIXTURES = ROOT / "labextension" / "src" / "__tests__" / "fixtures"
MIMETYPE = "application/vnd.smoldepot.run+json"


def execute_examples(target: Path) -> None:
    """Execute every example notebook in a copy of examples/notebooks at `target`."""
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns(".smoldepot"))
    for notebook in sorted(target.glob("*.ipynb")):
        print(f"executing {notebook.name}", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "smoldepot_jupyter.cli",
                "execute",
                notebook.name,
                "--output",
                notebook.name,
            ],
            cwd=target,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def extract(folder: Path) -> list[Path]:
    written = []
    for notebook in sorted(folder.glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        outputs = [o for c in cells for o in c.get("outputs", [])]
        payloads = [o["data"][MIMETYPE] for o in outputs if MIMETYPE in o.get("data", {})]
        for n, payload in enumerate(payloads, 1):
            path = FIXTURES / f"{notebook.stem}-{n}.json"
            path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
            written.append(path)
    doc = (ROOT / "docs" / "run-json.md").read_text()
    example = re.search(r"```json\n(.*?)\n```", doc, re.S)
    if example:
        path = FIXTURES / "docs-example.json"
        path.write_text(
            json.dumps(json.loads(example.group(1)), indent=1, ensure_ascii=False) + "\n"
        )
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--from", dest="source", type=Path, help="notebooks already executed")
    args = parser.parse_args()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    if args.source:
        written = extract(args.source)
    else:
        with tempfile.TemporaryDirectory(prefix="smoldepot-fixtures-") as scratch:
            folder = Path(scratch) / "notebooks"
            execute_examples(folder)
            written = extract(folder)
    for path in written:
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
