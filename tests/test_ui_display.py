"""Displaying a run: one mimebundle with the widget view and static fallbacks, updated in place
when the run ends; readable without widget state (nbconvert), in a terminal, and as JSON."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from test_ui_state import CODE_1, CODE_2, CODE_3, build, run_events
from test_ui_static import Page

from smoldepot_jupyter.ui import RUN_MIMETYPE, RunDisplay, RunView

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "run-json-schema.json").read_text())
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
STATIC = {"text/html", "text/markdown", "text/plain", RUN_MIMETYPE}


def validator():
    """A validator of the run JSON schema: jsonschema when installed, else fastjsonschema."""
    try:
        import jsonschema
    except ImportError:
        import fastjsonschema

        return fastjsonschema.compile(SCHEMA)
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    return jsonschema.Draft7Validator(SCHEMA).validate


@pytest.fixture
def finished_view() -> Iterator[RunView]:
    view = RunView()
    for event in run_events():
        view(event)
    yield view
    view.close()


@pytest.fixture
def shell():
    """An IPython shell (no history file) whose displays are captured."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    InteractiveShell.instance(config=config)
    try:
        with capture_output(stdout=False, stderr=False, display=True) as captured:
            yield captured
    finally:
        InteractiveShell.clear_instance()


def test_mimebundle_has_the_widget_view_and_every_static_mimetype(finished_view):
    bundle = RunDisplay(finished_view)._repr_mimebundle_()

    assert set(bundle) == {WIDGET_VIEW, *STATIC}
    assert bundle[WIDGET_VIEW] == {
        "version_major": 2,
        "version_minor": 0,
        "model_id": finished_view.widget.model_id,
    }
    assert "Final answer" in bundle["text/plain"] and "Final answer" in bundle["text/markdown"]


def test_mimebundle_honours_include_and_exclude(finished_view):
    display = RunDisplay(finished_view)

    assert set(display._repr_mimebundle_(include=["text/plain", "text/html"])) == {
        "text/plain",
        "text/html",
    }
    assert WIDGET_VIEW not in display._repr_mimebundle_(exclude=[WIDGET_VIEW])


def test_run_json_validates_against_the_documented_schema_at_every_event():
    validate = validator()
    events = run_events()

    for count in range(len(events) + 1):
        payload = build(events[:count]).to_json()
        validate(json.loads(json.dumps(payload)))


def test_the_documented_example_validates_against_the_schema():
    page = (ROOT / "docs" / "run-json.md").read_text()
    example = re.search(r"```json\n(.*?)\n```", page, flags=re.S)
    assert example is not None

    validator()(json.loads(example.group(1)))


def test_notebook_saved_without_widget_state_converts_to_html_showing_every_step(finished_view):
    from nbconvert import HTMLExporter

    bundle = RunDisplay(finished_view)._repr_mimebundle_()
    cell = new_code_cell(
        "%%agent\nSquare 1..5, plot them and give the sum.",
        execution_count=1,
        outputs=[new_output("display_data", data=bundle, metadata={})],
    )
    notebook = nbformat.reads(nbformat.writes(new_notebook(cells=[cell])), as_version=4)
    nbformat.validate(notebook)
    assert "widgets" not in notebook.metadata

    body, _ = HTMLExporter().from_notebook_node(notebook)

    page = Page(body)
    for code in (CODE_1, CODE_2, CODE_3):
        assert code in page.visible
    for step in finished_view.state.action_steps:
        if step.is_final_answer:  # the run ended there: no observation was read
            continue
        for line in step.observation.splitlines():
            assert line.strip() in page.visible
    assert 'class="smoldepot-run"' in body
    assert "Final answer" in page.visible


def test_finish_updates_the_display_in_place_to_the_static_rendering(shell):
    view = RunView()
    shown = RunDisplay(view).show()
    for event in run_events():
        view(event)

    shown.finish("static")

    first, last = shell.outputs
    assert WIDGET_VIEW in first.data and "running" in first.data["text/plain"]
    assert last.update and last.transient == {"display_id": shown.display_id}
    assert first.transient == {"display_id": shown.display_id}
    assert set(last.data) == STATIC
    assert "Final answer: 55" in last.data["text/plain"]
    view.close()


@pytest.mark.parametrize("final_render", ["widgets", "both"])
def test_finish_can_keep_the_widget_view_and_never_drops_the_run(
    shell, finished_view, final_render
):
    shown = RunDisplay(finished_view).show()

    shown.finish(final_render)

    # the static renderings and the run JSON stay beside the widget view: saved without widget
    # state, the notebook still shows the run
    assert set(shell.outputs[-1].data) == {WIDGET_VIEW, *STATIC}
    assert shell.outputs[-1].update


def test_an_unknown_final_render_is_refused(finished_view):
    with pytest.raises(ValueError, match="'static', 'widgets', 'both'"):
        RunDisplay(finished_view).finish("html")


def test_terminal_ipython_prints_the_run_as_text(tmp_path):
    script = f"""
import sys
sys.path.insert(0, {str(ROOT / "tests")!r})
from test_ui_state import run_events
from smoldepot_jupyter.ui import RunDisplay, RunView
view = RunView()
shown = RunDisplay(view).show()
for event in run_events():
    view(event)
shown.finish("static")
"""
    env = {**os.environ, "IPYTHONDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}

    result = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("smoldepot run · running")
    assert "Code:\n    final_answer(sum(squares))" in result.stdout
    assert "Final answer: 55" in result.stdout
    assert "<div" not in result.stdout


def test_printing_a_run_display_outside_ipython_gives_the_text(finished_view):
    text = str(RunDisplay(finished_view))

    assert text.startswith("smoldepot run · success")
    assert "Observation:" in text and "Final answer: 55" in text
