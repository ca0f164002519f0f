"""The static HTML rendering of a `RunViewState`: self-contained, styled for light and dark.

It is what a notebook keeps when widget state is not saved and what nbconvert and GitHub show.
The fragment functions (`header_html`, `step_html`, ...) are shared with the live widget, so both
show the same thing. Markdown and plain text are in `text`.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..kernel.execution import PRINTED_BLANK, PRINTED_NOTHING
from ..kernel.observation import as_text, outputs_to_text, render_terminal, strip_ansi
from .state import ActionView, PlanningView, RunViewState, StepView, ToolCallView, format_value

__all__ = [
    "ROOT_CLASS",
    "STYLESHEET",
    "code_html",
    "final_html",
    "header_html",
    "observation_text",
    "output_html",
    "outputs_html",
    "render_html",
    "step_html",
    "step_notes_html",
    "step_title",
    "thought_html",
    "tool_calls_html",
]

#: The class of the root element; every rule of `STYLESHEET` is scoped under it.
ROOT_CLASS = "smoldepot-run"

_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_BASE64 = re.compile(r"[A-Za-z0-9+/=]*")
_STATUS_LABELS = {
    "running": "running",
    "success": "success",
    "max_steps": "max steps reached",
    "interrupted": "interrupted",
    "error": "error",
}

# Colours come from JupyterLab's theme variables, so the view follows its light and dark themes;
# the fallbacks (light, or dark when the OS prefers it) serve nbconvert pages and other frontends.
STYLESHEET = """
.smoldepot-run {
  --sd-fg: var(--jp-content-font-color1, #1f2328);
  --sd-muted: var(--jp-content-font-color2, #59636e);
  --sd-border: var(--jp-border-color2, #d0d7de);
  --sd-code-bg: var(--jp-cell-editor-background, #f6f8fa);
  --sd-ok: var(--jp-success-color1, #1a7f37);
  --sd-warn: var(--jp-warn-color1, #9a6700);
  --sd-err: var(--jp-error-color1, #cf222e);
  --sd-info: var(--jp-brand-color1, #0969da);
  --sd-err-bg: var(--jp-rendermime-error-background, rgba(207, 34, 46, 0.08));
  --sd-kw: var(--jp-mirror-editor-keyword-color, #008000);
  --sd-str: var(--jp-mirror-editor-string-color, #ba2121);
  --sd-num: var(--jp-mirror-editor-number-color, #008800);
  --sd-com: var(--jp-mirror-editor-comment-color, #3d7b7b);
  --sd-def: var(--jp-mirror-editor-def-color, #0000ff);
  --sd-op: var(--jp-mirror-editor-operator-color, #aa22ff);
  --sd-builtin: var(--jp-mirror-editor-builtin-color, #008000);
  --sd-meta: var(--jp-mirror-editor-meta-color, #aa22ff);
  --sd-var: var(--jp-mirror-editor-variable-color, inherit);
  color: var(--sd-fg);
  font-family: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", sans-serif);
  font-size: var(--jp-content-font-size1, 14px);
  line-height: 1.45;
  max-width: 100%;
}
@media (prefers-color-scheme: dark) {
  .smoldepot-run {
    --sd-fg: var(--jp-content-font-color1, #e6edf3);
    --sd-muted: var(--jp-content-font-color2, #9198a1);
    --sd-border: var(--jp-border-color2, #3d444d);
    --sd-code-bg: var(--jp-cell-editor-background, #151b23);
    --sd-ok: var(--jp-success-color1, #3fb950);
    --sd-warn: var(--jp-warn-color1, #d29922);
    --sd-err: var(--jp-error-color1, #f85149);
    --sd-info: var(--jp-brand-color1, #4493f8);
    --sd-kw: var(--jp-mirror-editor-keyword-color, #ff7b72);
    --sd-str: var(--jp-mirror-editor-string-color, #a5d6ff);
    --sd-num: var(--jp-mirror-editor-number-color, #79c0ff);
    --sd-com: var(--jp-mirror-editor-comment-color, #9198a1);
    --sd-def: var(--jp-mirror-editor-def-color, #d2a8ff);
    --sd-op: var(--jp-mirror-editor-operator-color, #ff7b72);
    --sd-builtin: var(--jp-mirror-editor-builtin-color, #ffa657);
    --sd-meta: var(--jp-mirror-editor-meta-color, #ffa657);
  }
}
.smoldepot-run.smoldepot-run pre {
  margin: 0.25em 0; padding: 0.5em 0.75em; overflow-x: auto;
  white-space: pre-wrap; word-break: break-word;
  font-family: var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, monospace);
  font-size: var(--jp-code-font-size, 13px); line-height: 1.4;
  background: var(--sd-code-bg); color: var(--sd-fg);
  border: 1px solid var(--sd-border); border-radius: 4px;
}
.smoldepot-run .sd-header { padding: 0.25em 0 0.5em 0; }
.smoldepot-run .sd-title { display: flex; flex-wrap: wrap; gap: 0.5em; align-items: baseline; }
.smoldepot-run .sd-task { white-space: pre-wrap; font-weight: 600; margin: 0.25em 0; }
.smoldepot-run .sd-meta, .smoldepot-run .sd-muted { color: var(--sd-muted); font-size: 0.92em; }
.smoldepot-run .sd-badge {
  display: inline-block; padding: 0 0.5em; border-radius: 1em; font-size: 0.85em;
  font-weight: 600; border: 1px solid currentColor; white-space: nowrap;
}
.smoldepot-run .sd-status-running { color: var(--sd-info); }
.smoldepot-run .sd-status-success { color: var(--sd-ok); }
.smoldepot-run .sd-status-max_steps, .smoldepot-run .sd-status-interrupted {
  color: var(--sd-warn);
}
.smoldepot-run .sd-status-error { color: var(--sd-err); }
.smoldepot-run details.sd-step {
  border: 1px solid var(--sd-border); border-radius: 6px; margin: 0.4em 0; padding: 0 0.75em;
}
.smoldepot-run details.sd-step > summary {
  cursor: pointer; padding: 0.4em 0; font-weight: 600;
}
.smoldepot-run details.sd-step[open] > summary { border-bottom: 1px solid var(--sd-border); }
.smoldepot-run .sd-body { padding: 0.4em 0 0.6em 0; }
.smoldepot-run .sd-label {
  color: var(--sd-muted); font-size: 0.8em; font-weight: 600; text-transform: uppercase;
  letter-spacing: 0.04em; margin-top: 0.5em;
}
.smoldepot-run .sd-thought { white-space: pre-wrap; margin: 0.25em 0; }
.smoldepot-run .sd-outputs {
  max-height: 30em; overflow: auto; border-left: 3px solid var(--sd-border);
  padding-left: 0.5em; margin: 0.25em 0;
}
.smoldepot-run .sd-outputs img { max-width: 100%; height: auto; }
.smoldepot-run .sd-outputs pre { background: transparent; border: none; padding: 0.2em 0; }
.smoldepot-run pre.sd-stderr { background: var(--sd-err-bg); }
.smoldepot-run pre.sd-traceback, .smoldepot-run .sd-error pre {
  background: var(--sd-err-bg); color: var(--sd-fg);
}
.smoldepot-run .sd-error { color: var(--sd-err); }
.smoldepot-run details.sd-observation > summary { cursor: pointer; color: var(--sd-muted); }
.smoldepot-run details.sd-observation pre { max-height: 20em; overflow: auto; }
.smoldepot-run ul.sd-tools { margin: 0.25em 0; padding-left: 1.2em; }
.smoldepot-run ul.sd-tools code { font-family: var(--jp-code-font-family, monospace); }
.smoldepot-run .sd-final {
  border: 1px solid var(--sd-ok); border-radius: 6px; padding: 0.4em 0.75em; margin: 0.5em 0;
}
.smoldepot-run .sd-final.sd-fallback { border-color: var(--sd-warn); }
.smoldepot-run .sd-run-error {
  border: 1px solid var(--sd-err); border-radius: 6px; padding: 0.4em 0.75em; margin: 0.5em 0;
}
.smoldepot-run .sd-code { color: var(--sd-var); }
.smoldepot-run .sd-code .k, .smoldepot-run .sd-code .kc, .smoldepot-run .sd-code .kd,
.smoldepot-run .sd-code .kn, .smoldepot-run .sd-code .kp, .smoldepot-run .sd-code .kr,
.smoldepot-run .sd-code .kt, .smoldepot-run .sd-code .ow {
  color: var(--sd-kw); font-weight: bold;
}
.smoldepot-run .sd-code .s, .smoldepot-run .sd-code .s1, .smoldepot-run .sd-code .s2,
.smoldepot-run .sd-code .sa, .smoldepot-run .sd-code .sb, .smoldepot-run .sd-code .sc,
.smoldepot-run .sd-code .sd, .smoldepot-run .sd-code .se, .smoldepot-run .sd-code .sh,
.smoldepot-run .sd-code .si, .smoldepot-run .sd-code .sr, .smoldepot-run .sd-code .ss,
.smoldepot-run .sd-code .sx, .smoldepot-run .sd-code .dl { color: var(--sd-str); }
.smoldepot-run .sd-code .m, .smoldepot-run .sd-code .mi, .smoldepot-run .sd-code .mf,
.smoldepot-run .sd-code .mh, .smoldepot-run .sd-code .mo, .smoldepot-run .sd-code .mb,
.smoldepot-run .sd-code .il { color: var(--sd-num); }
.smoldepot-run .sd-code .c, .smoldepot-run .sd-code .c1, .smoldepot-run .sd-code .cm,
.smoldepot-run .sd-code .ch, .smoldepot-run .sd-code .cs, .smoldepot-run .sd-code .cpf {
  color: var(--sd-com); font-style: italic;
}
.smoldepot-run .sd-code .nf, .smoldepot-run .sd-code .nc, .smoldepot-run .sd-code .fm {
  color: var(--sd-def);
}
.smoldepot-run .sd-code .nb, .smoldepot-run .sd-code .bp { color: var(--sd-builtin); }
.smoldepot-run .sd-code .nd, .smoldepot-run .sd-code .cp { color: var(--sd-meta); }
.smoldepot-run .sd-code .o { color: var(--sd-op); }
.smoldepot-run .sd-code .err { color: var(--sd-err); }
"""


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def _progress(state: RunViewState) -> str:
    """ "3/5"; the best-answer call made after the budget ran out shows as "5/5"."""
    if not state.max_steps:
        return str(state.step)
    return f"{min(state.step, state.max_steps)}/{state.max_steps}"


def _tokens(prompt: int, completion: int) -> str:
    return f"{prompt:,} tokens in · {completion:,} out"


# ----------------------------------------------------------------------------- HTML fragments


@functools.lru_cache(maxsize=1)
def _highlighter() -> tuple[Any, Any, Any]:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return highlight, PythonLexer(), HtmlFormatter(nowrap=True)


def code_html(code: str | None) -> str:
    """Python code highlighted by pygments (classes styled by `STYLESHEET`), in a ``<pre>``."""
    if not code:
        return ""
    highlight, lexer, formatter = _highlighter()
    return f'<pre class="sd-code">{highlight(code, lexer, formatter).rstrip()}</pre>'


def header_html(state: RunViewState) -> str:
    """Status badge, model, step n/max, tokens, elapsed time, and the task."""
    status = state.status
    label = _STATUS_LABELS.get(status, status)
    step = f"step {_progress(state)}"
    meta = [step, _tokens(state.token_usage.prompt_tokens, state.token_usage.completion_tokens)]
    meta.append(_seconds(state.elapsed) or "0 ms")
    model = f'<code class="sd-model">{_esc(state.model_id)}</code>' if state.model_id else ""
    task = _esc(state.task) if state.task else '<span class="sd-muted">waiting for the run…</span>'
    sandbox = (
        f'<div class="sd-sandbox sd-muted">sandbox: {_esc(state.sandbox)}</div>'
        if state.sandbox
        else ""
    )
    return (
        '<div class="sd-header">'
        f'<div class="sd-title"><span class="sd-badge sd-status-{_esc(status)}">{_esc(label)}'
        f'</span>{model}<span class="sd-meta">{_esc(" · ".join(meta))}</span></div>'
        f'<div class="sd-task">{task}</div>{sandbox}'
        "</div>"
    )


def step_title(step: StepView) -> str:
    """The one-line title of a step: "Step 2 · error · 1.2 s · 340 tokens in · 52 out"."""
    if isinstance(step, PlanningView):
        parts = ["Plan"] if step.finished else ["Planning…"]
    else:
        parts = [f"Step {step.number}"]
        if step.is_best_answer_fallback:
            parts.append("best answer after the last step")
        elif step.requests:  # outside the step-budget call, the only request the agents add
            parts.append("asked for the answer so far")
        if step.temperature is not None:
            parts.append(f"sampled at temperature {step.temperature:g}")
        if not step.finished:
            parts.append("running…")
        elif step.error:
            parts.append("error")
        elif step.is_final_answer:
            parts.append("final answer")
    if step.duration is not None:
        parts.append(_seconds(step.duration))
    if step.token_usage.total_tokens:
        usage = step.token_usage
        parts.append(_tokens(usage.prompt_tokens, usage.completion_tokens))
    return " · ".join(parts)


def thought_html(step: StepView) -> str:
    """The thought (or the plan) as escaped text, line breaks kept."""
    text = step.text if isinstance(step, PlanningView) else step.thought_text
    if not text.strip():
        return ""
    return f'<div class="sd-thought">{_esc(text.strip())}</div>'


def tool_calls_html(calls: Iterable[ToolCallView]) -> str:
    """A list of the tool calls: call, result or error, seconds."""
    items = []
    for call in calls:
        if call.error:
            outcome = f'<span class="sd-error">failed: {_esc(call.error)}</span>'
        else:
            outcome = f"→ <code>{_esc(call.result_repr)}</code>"
        items.append(
            f"<li><code>{_esc(call.call_text)}</code> {outcome} "
            f'<span class="sd-muted">({_esc(_seconds(call.seconds))})</span></li>'
        )
    if not items:
        return ""
    return f'<div class="sd-label">Tool calls</div><ul class="sd-tools">{"".join(items)}</ul>'


def output_html(output: Mapping[str, Any]) -> str:
    """One nbformat output: stream text and plain text escaped in ``<pre>`` (ANSI stripped),
    HTML as it is (it comes from the user's own sidecar), images inline as data URIs, errors as
    their plain-text traceback."""
    kind = output.get("output_type")
    if kind == "stream":
        text = render_terminal(strip_ansi(as_text(output.get("text", ""))))
        css = "sd-stream sd-stderr" if output.get("name") == "stderr" else "sd-stream"
        return f'<pre class="{css}">{_esc(text)}</pre>' if text else ""
    if kind == "error":
        traceback = strip_ansi("\n".join(output.get("traceback") or []))
        text = traceback or f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
        return f'<pre class="sd-traceback">{_esc(text)}</pre>'
    if kind in ("execute_result", "display_data"):
        return _rich_html(output.get("data") or {}, output.get("metadata") or {})
    return f'<pre class="sd-muted">[{_esc(kind)} output]</pre>'


def _rich_html(data: Mapping[str, Any], metadata: Mapping[str, Any]) -> str:
    if "text/html" in data:
        return f'<div class="sd-html">{as_text(data["text/html"])}</div>'
    for mime in _IMAGES:
        if mime in data:
            payload = "".join(as_text(data[mime]).split())
            if _BASE64.fullmatch(payload):
                size = metadata.get(mime) if isinstance(metadata.get(mime), Mapping) else {}
                dims = "".join(
                    f' {k}="{int(size[k])}"' for k in ("width", "height") if _is_number(size, k)
                )
                return f'<img src="data:{mime};base64,{payload}" alt="{mime} output"{dims}>'
    if "image/svg+xml" in data:
        svg = base64.b64encode(as_text(data["image/svg+xml"]).encode()).decode()
        return f'<img src="data:image/svg+xml;base64,{svg}" alt="image/svg+xml output">'
    if "text/plain" in data:
        return f"<pre>{_esc(strip_ansi(as_text(data['text/plain'])))}</pre>"
    for mime in ("text/markdown", "text/latex"):
        if mime in data:
            return f"<pre>{_esc(as_text(data[mime]))}</pre>"
    if "application/json" in data:
        return f"<pre>{_esc(json.dumps(data['application/json'], indent=2, default=str))}</pre>"
    kinds = ", ".join(sorted(data)) or "empty"
    return f'<pre class="sd-muted">[{_esc(kinds)} output]</pre>'


def _is_number(mapping: Mapping[str, Any], key: str) -> bool:
    value = mapping.get(key)
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def outputs_html(outputs: Iterable[Mapping[str, Any]]) -> str:
    """Every output of a step in a box that scrolls when long."""
    parts = [output_html(o) for o in outputs]
    parts = [p for p in parts if p]
    if not parts:
        return ""
    return f'<div class="sd-label">Output</div><div class="sd-outputs">{"".join(parts)}</div>'


def _says_only_what_was_printed(step: ActionView) -> bool:
    """A final answer's step whose observation only says the action printed nothing (or blank
    lines): the run ended there, no model read it, and under the answer it is noise."""
    return step.is_final_answer and step.observation in (PRINTED_NOTHING, PRINTED_BLANK)


def observation_text(step: ActionView) -> str:
    """What the model read after the step; while it runs, the text of its outputs so far."""
    if _says_only_what_was_printed(step):
        return ""
    if step.observation:
        return step.observation
    return outputs_to_text(step.outputs).rstrip("\n")


def step_notes_html(step: ActionView) -> str:
    """The observation (folded when the outputs above already show it) and the step's error."""
    parts = []
    observation = "" if _says_only_what_was_printed(step) else step.observation.strip("\n")
    if observation:
        if step.outputs:
            parts.append(
                '<details class="sd-observation"><summary>Observation (what the model read)'
                f"</summary><pre>{_esc(observation)}</pre></details>"
            )
        else:
            parts.append(f'<div class="sd-label">Observation</div><pre>{_esc(observation)}</pre>')
    if step.error:
        parts.append(
            f'<div class="sd-error"><div class="sd-label">Error</div><pre>{_esc(step.error)}</pre>'
            "</div>"
        )
    return "".join(parts)


def _run_errors(state: RunViewState) -> list[str]:
    errors = [f"Step {e.step}: {e.message}" if e.step else e.message for e in state.errors]
    if state.error and state.error not in "\n".join(errors):
        errors.append(state.error)
    if state.status == "interrupted":
        errors.append("The run was interrupted; the steps above are kept.")
    return errors


# ----------------------------------------------------------------------------- plain text


def final_html(state: RunViewState) -> str:
    """The final answer box, and the run's error if it ended with one."""
    parts = []
    if state.has_final_answer:
        fallback = state.status == "max_steps"
        label = "Final answer (best answer after the step limit)" if fallback else "Final answer"
        css = "sd-final sd-fallback" if fallback else "sd-final"
        given = ""
        if state.answer_rewritten:
            given = (
                '<div class="sd-label">As the run gave it (rewritten in the task\'s form by one '
                f"more model call)</div><pre>{_esc(format_value(state.answer_as_given))}</pre>"
            )
        parts.append(
            f'<div class="{css}"><div class="sd-label">{label}</div>'
            f"<pre>{_esc(format_value(state.final_answer))}</pre>{given}</div>"
        )
    errors = _run_errors(state)
    if errors:
        parts.append(
            '<div class="sd-run-error"><div class="sd-label sd-error">Run error</div>'
            f"<pre>{_esc(chr(10).join(errors))}</pre></div>"
        )
    return "".join(parts)


def _step_body_html(step: StepView) -> str:
    if isinstance(step, PlanningView):
        return thought_html(step)
    return "".join(
        [
            thought_html(step),
            code_html(step.code),
            tool_calls_html(step.tool_calls),
            outputs_html(step.outputs),
            step_notes_html(step),
        ]
    )


def step_html(step: StepView, open_: bool) -> str:
    """One step as a ``<details>`` block (open or folded) titled by `step_title`."""
    kind = "sd-planning" if isinstance(step, PlanningView) else "sd-action"
    opened = " open" if open_ else ""
    return (
        f'<details class="sd-step {kind}"{opened}><summary>{_esc(step_title(step))}</summary>'
        f'<div class="sd-body">{_step_body_html(step)}</div></details>'
    )


def render_html(state: RunViewState) -> str:
    """The whole run as one self-contained HTML fragment (inline stylesheet, no external
    assets); earlier steps folded, the last one open."""
    last = len(state.steps) - 1
    steps = "".join(step_html(step, i == last) for i, step in enumerate(state.steps))
    run_id = f' data-run-id="{_esc(state.run_id)}"' if state.run_id else ""
    return (
        f'<div class="{ROOT_CLASS}"{run_id}><style>{STYLESHEET}</style>'
        f"{header_html(state)}{steps}{final_html(state)}</div>"
    )
