"""Static renderings of a run: HTML (escaped, themed, self-contained), Markdown and plain text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from test_ui_state import (
    CODE_1,
    CODE_2,
    CODE_3,
    PLAN,
    PNG,
    RUN,
    STREAM_1,
    TASK,
    THOUGHT_2,
    build,
    run_events,
)

from smoldepot_jupyter.events import (
    ActionParsed,
    RunFinished,
    RunStarted,
    StepFinished,
    ToolCallFinished,
)
from smoldepot_jupyter.kernel.execution import PRINTED_NOTHING
from smoldepot_jupyter.memory import ActionStep
from smoldepot_jupyter.ui.static import render_html
from smoldepot_jupyter.ui.text import render_markdown, render_text


class Page(HTMLParser):
    """What a browser would show of an HTML fragment: its text (no style), its elements."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._in_style = False
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag in ("style", "script")

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._in_style = False

    def handle_data(self, data):
        if not self._in_style:
            self.text.append(data)

    @property
    def visible(self) -> str:
        return "".join(self.text)

    def elements(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def _observations() -> list[str]:
    """What the model read after each step (the final answer's step ends the run: none)."""
    return [s.observation for s in build(run_events()).action_steps if not s.is_final_answer]


@pytest.mark.parametrize(
    "render, visible",
    [
        (render_html, lambda out: Page(out).visible),
        (render_markdown, lambda out: out.replace("&lt;", "<").replace("&gt;", ">")),
        (render_text, lambda out: out),
    ],
    ids=["html", "markdown", "text"],
)
def test_every_step_code_and_observation_appear_in_each_rendering(render, visible):
    state = build(run_events())

    shown = visible(render(state))
    flat = re.sub(r"\n\s+", "\n", shown)  # the text rendering indents blocks

    for code in (CODE_1, CODE_2, CODE_3):
        assert code in flat or code in shown
    for observation in _observations():
        for line in observation.splitlines():
            assert line.strip() in shown
    assert PLAN.splitlines()[1] in shown
    assert "55" in shown.split("Final answer")[-1]


RENDERINGS = [
    (render_html, lambda out: Page(out).visible),
    (render_markdown, lambda out: out),
    (render_text, lambda out: out),
]


@pytest.mark.parametrize("render, visible", RENDERINGS, ids=["html", "markdown", "text"])
def test_a_final_answer_step_that_printed_nothing_shows_no_observation(render, visible):
    state = build(run_events())
    assert state.action_steps[-1].observation == PRINTED_NOTHING

    shown = visible(render(state))

    assert PRINTED_NOTHING not in shown
    assert "Observation" not in shown.split("Step 3")[-1]


@pytest.mark.parametrize("render, visible", RENDERINGS, ids=["html", "markdown", "text"])
def test_a_step_that_printed_nothing_before_the_end_still_says_so(render, visible):
    events = [e for e in run_events() if not isinstance(e, RunFinished)]
    events.pop()  # the FinalAnswer event
    finished = events.pop()  # the final answer's StepFinished
    silent = {**finished.step, "is_final_answer": False, "final_answer": None}
    events.append(StepFinished(run_id=RUN, timestamp=finished.timestamp, step=silent))

    shown = visible(render(build(events)))

    assert PRINTED_NOTHING in shown


def test_html_shows_a_script_in_the_task_as_text():
    state = build(run_events())

    page = Page(render_html(state))

    assert page.elements("script") == []
    assert "<script>alert('task')</script>" in page.visible
    assert TASK in page.visible


def test_html_escapes_thoughts_code_and_tool_arguments():
    state = build(
        [
            RunStarted(run_id=RUN, task="t", model_id="m", max_steps=2),
            ActionParsed(run_id=RUN, step=1, thought="<b>bold?</b>", code="x = '<img src=x>'"),
            ToolCallFinished(run_id=RUN, step=1, name="f", args=["<i>arg</i>"], result_repr="<u>"),
        ]
    )

    page = Page(render_html(state))

    assert [t for t, _ in page.tags if t in ("b", "img", "i", "u")] == []
    for text in ("<b>bold?</b>", "x = '<img src=x>'", "f('<i>arg</i>')", "<u>"):
        assert text in page.visible


def test_html_includes_a_sidecar_html_output_as_is():
    page = Page(render_html(build(run_events())))

    cells = [t for t, _ in page.tags if t == "td"]
    assert cells == ["td"]
    assert "sidecar-table" in page.visible


def test_html_shows_a_png_output_as_a_data_uri_image():
    page = Page(render_html(build(run_events())))

    sources = [attrs["src"] for attrs in page.elements("img")]
    assert sources == ["data:image/png;base64," + PNG.strip()]


def test_html_shows_stream_and_traceback_without_ansi_codes():
    html = render_html(build(run_events()))

    assert "\x1b" not in html
    page = Page(html)
    assert STREAM_1 in page.visible
    assert "----> 5 ratio = sum(squares) / 0" in page.visible


def test_html_folds_earlier_steps_and_opens_the_last():
    page = Page(render_html(build(run_events())))

    steps = [a for a in page.elements("details") if "sd-step" in (a.get("class") or "")]
    assert ["open" in s for s in steps] == [False, False, False, True]


def test_html_colours_come_from_jupyterlab_variables_with_fallbacks():
    html = render_html(build(run_events()))

    variables = re.findall(r"var\((--jp-[\w-]+)([^)]*)\)", html)
    assert len(variables) > 20
    assert all(rest.startswith(",") for _, rest in variables), "every --jp- variable has a fallback"
    assert "prefers-color-scheme: dark" in html
    assert re.search(r"\.sd-outputs \{[^}]*max-height", html), "long outputs scroll"


def test_html_is_self_contained():
    html = render_html(build(run_events()))

    page = Page(html)
    assert page.elements("link") == [] and page.elements("script") == []
    assert not re.search(r"(src|href)=\"https?:", html)
    assert html.startswith('<div class="smoldepot-run"')


def test_html_highlights_code_with_pygments():
    html = render_html(build(run_events()))

    assert '<span class="kn">import</span>' in html


def test_markdown_has_a_heading_per_step_and_python_code_blocks():
    markdown = render_markdown(build(run_events()))

    headings = re.findall(r"^#### (\S+ ?\S*)", markdown, flags=re.M)
    assert [h.split(" ·")[0] for h in headings] == [
        "Plan",
        "Step 1",
        "Step 2",
        "Step 3",
        "Final answer",
    ]
    assert f"```python\n{CODE_1}\n```" in markdown
    assert f"![image/png output of step 2](data:image/png;base64,{PNG.strip()})" in markdown


def test_markdown_escapes_html_and_keeps_fences_intact():
    state = build(
        [
            RunStarted(run_id=RUN, task="<script>x</script>", model_id="m", max_steps=2),
            ActionParsed(run_id=RUN, step=1, thought=THOUGHT_2, code='s = """\n```\n"""'),
        ]
    )

    markdown = render_markdown(state)

    assert "<script>" not in markdown and "&lt;script&gt;" in markdown
    assert '````python\ns = """\n```\n"""\n````' in markdown


def test_text_shows_a_running_step_outputs_before_it_finished():
    events = run_events()
    cut = next(i for i, e in enumerate(events) if e.kind == "output_changed")

    text = render_text(build(events[: cut + 1]))

    assert text.startswith("smoldepot run · running")
    assert "squares: [1, 4, 9, 16, 25]" in text
    assert "Step 1 · running…" in text


def test_a_best_answer_after_the_step_limit_is_labelled_as_such():
    events = [
        RunStarted(run_id=RUN, task="t", model_id="m", max_steps=1),
        ActionParsed(run_id=RUN, step=1, thought="try", code="x = 1"),
        ActionParsed(run_id=RUN, step=2, thought="best guess", code="final_answer(1)"),
        RunFinished(run_id=RUN, state="max_steps", output=1),
    ]

    state = build(events)
    page = Page(render_html(state))

    assert "Final answer (best answer after the step limit)" in page.visible
    assert "step 1/1" in page.visible
    assert "step 1/1" in render_text(state) and "**Step:** 1/1" in render_markdown(state)


def test_an_interrupted_run_keeps_its_steps_and_says_so():
    events = [*run_events()[:40], RunFinished(run_id=RUN, state="interrupted")]

    state = build(events)

    for render in (render_html, render_markdown, render_text):
        out = render(state)
        assert "interrupted" in out and "The run was interrupted" in out
        assert "Step 1" in out


def test_a_step_after_a_request_for_the_answer_and_a_sampled_step_say_so_in_their_title():
    events = [
        RunStarted(run_id=RUN, task="t", model_id="m", max_steps=3),
        ActionParsed(run_id=RUN, step=1, thought="again", code="print(1)"),
        StepFinished(run_id=RUN, step=ActionStep(step_number=1, code="print(1)", temperature=0.7)),
        ActionParsed(run_id=RUN, step=2, thought="answer", code="final_answer(1)"),
        StepFinished(
            run_id=RUN, step=ActionStep(step_number=2, code="x", requests=["Answer now."])
        ),
    ]

    text = render_text(build(events))

    assert "Step 1 · sampled at temperature 0.7" in text
    assert "Step 2 · asked for the answer so far" in text
