"""`ToolCallingAgent`: the model acts by calling tools (natively, or by a JSON block in its text).

Tools run in this process; several calls in one step run concurrently. No kernel is involved.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..events import ActionParsed, ToolCallFinished
from ..memory import ActionStep
from ..parsing import ActionParseError, parse_json_tool_calls
from .base import MultiStepAgent
from .code_agent import _short_repr
from .prompts import best_answer_request, json_system_prompt

__all__ = ["ToolCallingAgent"]

_MAX_PARALLEL = 8


class ToolCallingAgent(MultiStepAgent):
    """An agent whose actions are tool calls; same memory, events and results as `CodeAgent`."""

    uses_code = False

    def system_prompt(self) -> str:
        return json_system_prompt(self.prompt_tools, self.instructions)

    def _give_args(self, task: str, additional_args: dict[str, Any]) -> tuple[str, list[str]]:
        if not additional_args:
            return task, []
        lines = [
            f"- {name} = {_short_repr(value, 1_000)}" for name, value in additional_args.items()
        ]
        return task + "\n\nValues given with this task:\n" + "\n".join(lines), []

    def _requested_calls(self, step: ActionStep, text: str, native: list[dict[str, Any]]) -> None:
        if native:
            calls = [{"name": c.get("name", ""), "arguments": c.get("arguments")} for c in native]
            shown = json.dumps(calls if len(calls) > 1 else calls[0], default=str)
            step.model_output = f"{text.strip()}\n```json\n{shown}\n```".strip()
        else:
            parsed = parse_json_tool_calls(text)
            calls = [{"name": c.name, "arguments": c.arguments} for c in parsed]
        step.tool_calls_requested = calls

    def _model_step(self, number: int, extra: list[dict[str, Any]] | None = None) -> ActionStep:
        step = ActionStep(step_number=number)
        messages = self._history() + (extra or [])
        step.requests = [str(m.get("content", "")) for m in extra or []]
        schemas = [t.to_json_schema() for t in self.prompt_tools]
        try:
            response = self._call_model(number, messages, tools=schemas)
        except KeyboardInterrupt:
            self._interrupted_while_answering(step)
            raise
        step.model_output = response.text
        step.token_usage = response.usage
        try:
            self._requested_calls(step, response.text, response.tool_calls)
        except ActionParseError as exc:
            step.error = "the reply had no tool call"
            step.observation = str(exc)
        step.thought = response.text.strip()
        self._emit(ActionParsed, step=number, thought=step.thought, code=None)
        return step

    def _call_one(self, number: int, call: dict[str, Any]) -> str:
        name, arguments = call["name"], call["arguments"]
        tool = self.tools.get(name)
        started = time.perf_counter()
        result: Any = None
        error: str | None = None
        if tool is None:
            known = ", ".join(t.name for t in self.prompt_tools)
            error = f"there is no tool named {name!r} (tools: {known})"
        elif not isinstance(arguments, dict):
            error = f"the arguments must be a JSON object, not {arguments!r}"
        else:
            try:
                result = tool(**arguments)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
        self._emit(
            ToolCallFinished,
            step=number,
            name=name,
            args=[],
            kwargs=arguments if isinstance(arguments, dict) else {},
            result_repr="" if error else _short_repr(result),
            error=error,
            seconds=time.perf_counter() - started,
        )
        shown_args = json.dumps(arguments, default=str)
        if error:
            return f"{name}({shown_args}) failed: {error}"
        return f"{name}({shown_args}) returned:\n{_short_repr(result, self.max_observation_chars)}"

    def _act(self, step: ActionStep) -> None:
        calls = step.tool_calls_requested
        answers = [c for c in calls if c["name"] == "final_answer"]
        others = [c for c in calls if c["name"] != "final_answer"]
        if len(others) == 1:
            results = [self._call_one(step.step_number, others[0])]
        elif others:
            workers = min(len(others), _MAX_PARALLEL)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(lambda c: self._call_one(step.step_number, c), others))
        else:
            results = []
        step.observation = "\n\n".join(results)
        failed = [r for r in results if " failed: " in r.split("\n", 1)[0]]
        if failed:
            step.error = failed[0]
        if answers:
            arguments = answers[0]["arguments"]
            if isinstance(arguments, dict) and "answer" in arguments:
                step.is_final_answer = True
                step.final_answer = arguments["answer"]
            else:
                note = 'final_answer needs {"answer": ...}'
                step.observation = f"{step.observation}\n\n{note}".strip()
                step.error = step.error or note

    def _action_step(self, number: int) -> ActionStep:
        step = self._model_step(number)
        if self._interrupted.is_set():
            self._interrupted_while_answering(step)
            raise KeyboardInterrupt
        if step.tool_calls_requested:
            self._act(step)
        self._finish_step(step)
        return step

    def _best_answer(self, number: int) -> Any:
        request = {"role": "user", "content": best_answer_request(code=False)}
        step = self._model_step(number, [request])
        step.is_best_answer_fallback = True
        if step.tool_calls_requested:
            self._act(step)
        answer = step.final_answer if step.is_final_answer else step.model_output.strip()
        step.is_final_answer = True
        step.final_answer = answer
        self._finish_step(step)
        return answer
