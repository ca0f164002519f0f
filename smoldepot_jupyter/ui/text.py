"""The Markdown and plain-text renderings of a `RunViewState`.

Markdown is what GitHub and text-only front ends show; plain text is what a terminal prints and
what the display's ``text/plain`` carries. Every step's code and observation appear in both.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..kernel.observation import as_text
from .state import PlanningView, RunViewState, format_value
from .static import (
    _BASE64,
    _IMAGES,
    _STATUS_LABELS,
    _progress,
    _run_errors,
    _seconds,
    _tokens,
    observation_text,
    step_title,
)

__all__ = ["render_markdown", "render_text"]


# ----------------------------------------------------------------------------- Markdown


def _md(text: str) -> str:
    """Text for Markdown: HTML-escaped (no raw tags reach the renderer), Markdown kept."""
    return html.escape(text, quote=False)


def _fence(text: str, language: str = "") -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{text.rstrip(chr(10))}\n{ticks}"


def _code_span(text: str) -> str:
    text = " ".join(text.split("\n"))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _md_images(outputs: Iterable[Mapping[str, Any]], number: int) -> list[str]:
    images = []
    for output in outputs:
        data = output.get("data") or {}
        for mime in _IMAGES:
            if mime in data:
                payload = "".join(as_text(data[mime]).split())
                if _BASE64.fullmatch(payload):
                    alt = f"{mime} output of step {number}"
                    images.append(f"![{alt}](data:{mime};base64,{payload})")
                break
    return images


def render_markdown(state: RunViewState) -> str:
    """The run as GitHub-friendly Markdown: a heading per step, code in ```python blocks, the
    observation in ``` blocks, images as data-URI images."""
    usage = state.token_usage
    meta = [f"**Status:** {_STATUS_LABELS.get(state.status, state.status)}"]
    if state.model_id:
        meta.append(f"**Model:** {_code_span(state.model_id)}")
    if state.sandbox:
        meta.append(f"**Sandbox:** {_md(state.sandbox)}")
    meta.append(f"**Step:** {_progress(state)}")
    meta.append(f"**Tokens:** {usage.prompt_tokens:,} in / {usage.completion_tokens:,} out")
    meta.append(f"**Time:** {_seconds(state.elapsed) or '0 ms'}")
    lines = ["### Agent run", "", " · ".join(meta), ""]
    if state.task:
        lines += ["**Task:**", "", *(f"> {line}" for line in _md(state.task).split("\n")), ""]
    for step in state.steps:
        lines += [f"#### {_md(step_title(step))}", ""]
        if isinstance(step, PlanningView):
            if step.text.strip():
                lines += [_md(step.text.strip()), ""]
            continue
        if step.thought_text.strip():
            lines += [_md(step.thought_text.strip()), ""]
        if step.code:
            lines += [_fence(step.code, "python"), ""]
        if step.tool_calls:
            lines += ["**Tool calls:**", ""]
            for call in step.tool_calls:
                outcome = f"failed: {_code_span(call.error)}" if call.error else "→ "
                if not call.error:
                    outcome += _code_span(call.result_repr)
                lines.append(f"- {_code_span(call.call_text)} {outcome} ({_seconds(call.seconds)})")
            lines.append("")
        observation = observation_text(step)
        if observation:
            lines += ["**Observation:**", "", _fence(observation), ""]
        images = _md_images(step.outputs, step.number)
        if images:
            lines += [*images, ""]
        if step.error:
            lines += ["**Error:**", "", _fence(step.error), ""]
    if state.has_final_answer:
        lines += ["#### Final answer", "", _fence(format_value(state.final_answer)), ""]
        if state.answer_rewritten:
            lines += [
                "As the run gave it (rewritten in the task's form by one more model call):",
                "",
                _fence(format_value(state.answer_as_given)),
                "",
            ]
    errors = _run_errors(state)
    if errors:
        lines += ["#### Run error", "", _fence("\n".join(errors)), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _indent(text: str, prefix: str = "    ") -> list[str]:
    return [f"{prefix}{line}" if line else "" for line in text.rstrip("\n").split("\n")]


def render_text(state: RunViewState) -> str:
    """The run as plain text, for terminals and ``text/plain``."""
    usage = state.token_usage
    head = [f"smoldepot run · {_STATUS_LABELS.get(state.status, state.status)}"]
    if state.model_id:
        head.append(state.model_id)
    head.append(f"step {_progress(state)}")
    head.append(_tokens(usage.prompt_tokens, usage.completion_tokens))
    head.append(_seconds(state.elapsed) or "0 ms")
    lines = [" · ".join(head)]
    if state.sandbox:
        lines.append(f"sandbox: {state.sandbox}")
    if state.task:
        lines.append(f"Task: {state.task}")
    for step in state.steps:
        lines += ["", f"── {step_title(step)}"]
        if isinstance(step, PlanningView):
            if step.text.strip():
                lines += _indent(step.text.strip(), "  ")
            continue
        if step.thought_text.strip():
            lines += ["Thought:", *_indent(step.thought_text.strip(), "  ")]
        if step.code:
            lines += ["Code:", *_indent(step.code)]
        for call in step.tool_calls:
            outcome = f"failed: {call.error}" if call.error else f"-> {call.result_repr}"
            lines.append(f"Tool call: {call.call_text} {outcome} ({_seconds(call.seconds)})")
        observation = observation_text(step)
        if observation:
            lines += ["Observation:", *_indent(observation, "  ")]
        if step.error:
            lines.append(f"Error: {step.error}")
    if state.has_final_answer:
        lines += ["", f"Final answer: {format_value(state.final_answer)}"]
        if state.answer_rewritten:
            lines.append(
                f"  (rewritten in the task's form; as the run gave it: "
                f"{format_value(state.answer_as_given)})"
            )
    errors = _run_errors(state)
    if errors:
        lines += ["", "Run error:", *_indent("\n".join(errors), "  ")]
    return "\n".join(lines) + "\n"
