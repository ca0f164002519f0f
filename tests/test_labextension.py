"""The JupyterLab extension (labextension/): its fixtures are real run JSON of this version, its
renderer's unit tests pass (jest), and `pip install -e .` installed it as a prebuilt extension.

The build hook (hatch-jupyter-builder) builds it during `pip install` where Node.js is; where it
is not, the install warns and goes on, and the tests that need the build are skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LABEXTENSION = ROOT / "labextension"
FIXTURES = LABEXTENSION / "src" / "__tests__" / "fixtures"
BUILT = ROOT / "smoldepot_jupyter" / "labextension"
SCHEMA = ROOT / "docs" / "run-json-schema.json"
NAME = "smoldepot-jupyter"


def _fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


def test_the_renderer_fixtures_are_run_json_of_the_current_schema():
    """Given the run JSON the renderer's tests use (extracted from the executed example
    notebooks by labextension/scripts/extract_fixtures.py), when checked against the schema,
    then each is valid: a payload change shows up here, and the fixtures are regenerated."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    fixtures = _fixtures()
    assert len(fixtures) >= 5
    for path in fixtures:
        payload = json.loads(path.read_text())
        errors = sorted(
            jsonschema.Draft7Validator(schema).iter_errors(payload), key=lambda e: e.path
        )
        assert not errors, f"{path.name}: {errors[0].message} (rerun extract_fixtures.py)"


def test_the_renderer_unit_tests_pass():
    """Given the node packages the build installed, when jest runs the renderer's tests (the
    example runs, hostile HTML, 10,000 steps, malformed JSON), then they all pass."""
    npm = shutil.which("npm")
    if npm is None or not (LABEXTENSION / "node_modules" / ".bin" / "jest").exists():
        pytest.skip("no Node.js, or labextension/node_modules not installed (pip install -e .)")
    result = subprocess.run(
        [npm, "test", "--", "--ci", "--silent"],
        cwd=LABEXTENSION,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "CI": "true", "FORCE_COLOR": "0"},
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-4000:]
    assert re.search(r"Tests:\s+\d+ passed, \d+ total", report), report[-2000:]


def _installed_with_extension() -> bool:
    try:
        files = metadata.distribution("smoldepot_jupyter").files or []
    except metadata.PackageNotFoundError:
        return False
    return any(f"labextensions/{NAME}/package.json" in str(f) for f in files)


def test_pip_install_installs_the_prebuilt_extension():
    """Given `pip install -e .` with Node.js, when JupyterLab looks for extensions, then the
    built one is in this environment's share/jupyter/labextensions and it is enabled and OK."""
    if not (BUILT / "package.json").exists():
        pytest.skip("the extension is not built (no Node.js when pip install -e . ran)")
    if not _installed_with_extension():
        pytest.skip("smoldepot_jupyter was installed without the extension: pip install -e .")
    built = json.loads((BUILT / "package.json").read_text())
    assert (BUILT / built["jupyterlab"]["_build"]["load"]).exists()
    assert built["jupyterlab"]["_build"]["mimeExtension"]
    installed = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / NAME
    assert (installed / "package.json").exists()
    assert json.loads((installed / "install.json").read_text())["packageName"] == (
        "smoldepot_jupyter"
    )
    pytest.importorskip("jupyterlab")
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)
    assert re.search(rf"{NAME} v[\d.]+ enabled\s+OK", text), text
