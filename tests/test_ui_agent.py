"""The run view observing a real CodeAgent run: a scripted model, a real sidecar kernel."""

from __future__ import annotations

import json

import ipywidgets as widgets
import pytest
from test_ui_display import validator
from test_ui_static import Page
from test_ui_widget import descendants

from smoldepot_jupyter import CodeAgent, ScriptedModel, tool
from smoldepot_jupyter.kernel import KernelExecutor
from smoldepot_jupyter.ui import RunDisplay, RunView, render_html, render_markdown, render_text


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


def code(body: str, thought: str) -> str:
    return f"Thought: {thought}\n```python\n{body}\n```"


STEP_1 = "total = add(20, 22)\nfor i in range(3):\n    print('line', i)"
STEP_2 = (
    "import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\n"
    "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.show()\n1 / 0"
)
STEP_3 = "final_answer(total)"


@pytest.fixture(scope="module")
def sidecar():
    with KernelExecutor(interrupt_grace=2) as executor:
        yield executor


def test_a_real_run_shows_every_step_live_and_statically(sidecar):
    pytest.importorskip("matplotlib")
    model = ScriptedModel(
        [
            code(STEP_1, "Add first, print a few lines."),
            code(STEP_2, "Plot the squares, then divide by zero."),
            code(STEP_3, "Answer with the total."),
        ]
    )
    agent = CodeAgent([add], model, executor=sidecar, max_steps=5, record_dir=None)
    view = RunView()
    agent.subscribe(view)

    result = agent.run("Add 20 and 22 <b>please</b>")

    view.flush()
    state = view.state
    assert result.output == 42 and state.status == "success" and state.final_answer == 42
    step1, step2, step3 = state.action_steps
    assert step3.is_final_answer
    assert step1.tool_calls[0].call_text == "add(20, 22)"
    assert step1.outputs[0]["text"] == "line 0\nline 1\nline 2\n"
    kinds = [o["output_type"] for o in step2.outputs]
    assert "display_data" in kinds and kinds[-1] == "error"
    assert "ZeroDivisionError" in step2.error

    shown = [w.outputs for w in descendants(view.widget) if isinstance(w, widgets.Output)]
    assert list(shown[0]) == list(step1.outputs) and list(shown[1]) == list(step2.outputs)

    page = Page(render_html(state))
    assert "<b>please</b>" in page.visible
    assert any(a["src"].startswith("data:image/png;base64,") for a in page.elements("img"))
    for rendered in (page.visible, render_markdown(state), render_text(state)):
        assert "total = add(20, 22)" in rendered and "final_answer(total)" in rendered
        assert "line 2" in rendered and "ZeroDivisionError" in rendered

    bundle = RunDisplay(view)._repr_mimebundle_()
    validator()(json.loads(json.dumps(bundle["application/vnd.smoldepot.run+json"])))
    view.close()
    agent.close()
