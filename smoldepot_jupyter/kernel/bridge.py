"""The host side of the tool bridge: answering the sidecar's ``input()`` requests.

A request is the private prefix followed by JSON. The host decodes it as JSON only (never
pickle), runs the real tool in this process, and answers with JSON, or a pickle of a result that
is not JSON (host -> sidecar only). Prompts without the prefix are model code's own ``input()``.
"""

from __future__ import annotations

import base64
import inspect
import json
import keyword
import pickle
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .execution import Execution, SidecarObject, ToolCall

__all__ = ["BUILTIN_NAMES", "InputHandler", "ToolBridge", "tool_spec"]

#: ``input_handler(prompt, password) -> str`` answers model code's own ``input()`` calls.
InputHandler = Callable[[str, bool], str]

#: Names the sidecar always defines; tools may not take them.
BUILTIN_NAMES = frozenset({"final_answer", "ToolError"})

_NO_INPUT = (
    "input() has no one to answer it: this code runs unattended in the agent's sidecar kernel. "
    "Put the values in the code instead, or ask through a tool if one is offered for that."
)


def _is_json(value: Any, depth: int = 0) -> bool:
    if depth > 100:
        return False
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return value == value and value not in (float("inf"), float("-inf"))
    if type(value) is list:
        return all(_is_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _is_json(v, depth + 1) for k, v in value.items())
    return False


def _tool_name(tool: Any) -> str:
    name = getattr(tool, "name", None)
    if not isinstance(name, str):
        name = getattr(tool, "__name__", None)
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(
            f"cannot register {tool!r} as a tool: it needs a `name` that is a Python identifier"
        )
    return name


def _target(tool: Any) -> Callable[..., Any]:
    """The callable that runs the tool, and whose signature the stub copies."""
    if hasattr(tool, "name") and hasattr(tool, "forward") and not inspect.isfunction(tool):
        return tool.forward
    if callable(tool):
        return tool
    raise TypeError(
        f"cannot register {tool!r} as a tool: it is neither callable nor has a `forward` method"
    )


def _doc(tool: Any, target: Callable[..., Any]) -> str:
    description = getattr(tool, "description", None)
    inputs = getattr(tool, "inputs", None)
    if isinstance(description, str) and description:
        lines = [description.strip()]
        if isinstance(inputs, dict) and inputs:
            lines += ["", "Args:"]
            for arg, info in inputs.items():
                info = info if isinstance(info, dict) else {}
                kind = info.get("type", "any")
                lines.append(f"    {arg} ({kind}): {info.get('description', '')}".rstrip())
        output_type = getattr(tool, "output_type", None)
        if isinstance(output_type, str):
            lines += ["", f"Returns: {output_type}"]
        return "\n".join(lines)
    return inspect.getdoc(target) or inspect.getdoc(tool) or ""


def _annotation_text(annotation: Any) -> str:
    # Under `from __future__ import annotations` hints are already source text.
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def _param_spec(parameter: inspect.Parameter) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": parameter.name, "kind": parameter.kind.name}
    if parameter.default is not inspect.Parameter.empty:
        if _is_json(parameter.default):
            spec["default"] = parameter.default
        else:
            spec["default_repr"] = repr(parameter.default)
    if parameter.annotation is not inspect.Parameter.empty:
        spec["annotation"] = _annotation_text(parameter.annotation)
    return spec


def tool_spec(tool: Any) -> dict[str, Any]:
    """What the sidecar needs to build a stub: name, parameters, docstring, return annotation."""
    name = _tool_name(tool)
    target = _target(tool)
    spec: dict[str, Any] = {"name": name, "doc": _doc(tool, target), "params": None}
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return spec
    spec["params"] = [_param_spec(p) for p in signature.parameters.values()]
    if signature.return_annotation is not inspect.Signature.empty:
        spec["returns"] = _annotation_text(signature.return_annotation)
    return spec


@dataclass
class _Pull:
    trust: bool
    payload: dict[str, Any] | None = None


@dataclass
class ToolBridge:
    """Runs host tools for the sidecar and carries pushed and pulled values."""

    prefix: str
    input_handler: InputHandler | None = None
    max_request_chars: int = 16 * 2**20
    max_transfer_chars: int = 400 * 2**20
    tools: dict[str, Callable[..., Any]] = field(default_factory=dict)
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    pushes: dict[str, bytes] = field(default_factory=dict)
    pulls: dict[str, _Pull] = field(default_factory=dict)

    def register(self, tools: Iterable[Any]) -> list[dict[str, Any]]:
        """Add tools (plain callables, or objects with `name` and `__call__` or `forward`);
        returns their stub specs. Raises ValueError/TypeError naming the bad tool."""
        new: list[tuple[str, Any, dict[str, Any]]] = []
        for tool in tools:
            spec = tool_spec(tool)
            if spec["name"] in BUILTIN_NAMES:
                raise ValueError(
                    f"a tool may not be named {spec['name']!r}: the sidecar defines it already"
                )
            new.append((spec["name"], tool, spec))
        for name, tool, spec in new:
            self.tools[name] = tool if callable(tool) else tool.forward
            self.specs[name] = spec
        return [spec for _, _, spec in new]

    def replace(self, tools: Iterable[Any]) -> list[dict[str, Any]]:
        """Make `tools` the only tools (those registered before are forgotten); returns their
        stub specs. Raises like `register`, leaving the current tools in place."""
        previous = (dict(self.tools), dict(self.specs))
        self.tools.clear()
        self.specs.clear()
        try:
            return self.register(tools)
        except Exception:
            self.tools.update(previous[0])
            self.specs.update(previous[1])
            raise

    @property
    def protected_names(self) -> set[str]:
        """Names model code must not rebind: the tools and the built-ins."""
        return set(self.tools) | set(BUILTIN_NAMES)

    def answer(self, prompt: str, password: bool, execution: Execution) -> str:
        """The reply to one ``input_request`` from the sidecar."""
        if not prompt.startswith(self.prefix):
            return self._plain_input(prompt, password)
        limit = self.max_transfer_chars if (self.pulls or self.pushes) else self.max_request_chars
        if len(prompt) > limit:
            return self._error(
                f"bridge request too large ({len(prompt):,} characters; the limit is {limit:,}). "
                "Pass smaller arguments: save large data to a file and pass its path."
            )
        try:
            request = json.loads(prompt[len(self.prefix) :])
        except ValueError as exc:
            return self._error(f"malformed bridge request (not JSON: {exc})")
        if not isinstance(request, dict):
            return self._error("malformed bridge request (not a JSON object)")
        if "tool" in request:
            return self._call_tool(request, execution)
        if "final_answer" in request or "final_answer_repr" in request:
            return self._final_answer(request, execution)
        if "fetch" in request:
            data = self.pushes.get(str(request["fetch"]))
            if data is None:
                return self._error("nothing is being pushed under that token")
            return json.dumps({"pickle": base64.b64encode(data).decode("ascii")})
        if "pull" in request:
            slot = self.pulls.get(str(request["pull"]))
            if slot is None:
                return self._error("nothing is being pulled under that token")
            if request.get("kind") == "pickle" and not slot.trust:
                return self._error("refused: a pickle was sent but trust=False")
            slot.payload = request
            return json.dumps({"result": None})
        return self._error("malformed bridge request (unknown kind)")

    @staticmethod
    def _error(message: str) -> str:
        return json.dumps({"error": message})

    def _plain_input(self, prompt: str, password: bool) -> str:
        if self.input_handler is None:
            return self.prefix + json.dumps({"input_error": _NO_INPUT})
        try:
            return str(self.input_handler(prompt, password))
        except Exception as exc:
            message = f"input() could not be answered: {type(exc).__name__}: {exc}"
            return self.prefix + json.dumps({"input_error": message})

    def _call_tool(self, request: dict[str, Any], execution: Execution) -> str:
        name = request.get("tool")
        args = request.get("args", [])
        kwargs = request.get("kwargs", {})
        if not isinstance(name, str) or not isinstance(args, list) or not isinstance(kwargs, dict):
            return self._error("malformed tool call (needs a tool name, a list and a dict)")
        if execution.has_final_answer:
            return self._error(
                f"final_answer() was already called in this action, so the call to {name}() "
                "was not made. Nothing after final_answer() should run."
            )
        tool = self.tools.get(name)
        if tool is None:
            known = ", ".join(sorted(self.tools)) or "none"
            return self._error(f"there is no tool named {name!r} (tools: {known})")
        call = ToolCall(name=name, args=args, kwargs=kwargs)
        execution.tool_calls.append(call)
        started = time.perf_counter()
        try:
            result = tool(*args, **kwargs)
        except Exception as exc:
            call.seconds = time.perf_counter() - started
            call.error = f"{type(exc).__name__}: {exc}"
            return self._error(f"tool {name!r} failed: {call.error}")
        call.seconds = time.perf_counter() - started
        call.result = result
        if _is_json(result):
            return json.dumps({"result": result})
        try:
            data = pickle.dumps(result)
        except Exception as exc:
            call.error = f"result not transferable: {type(exc).__name__}: {exc}"
            return self._error(
                f"tool {name!r} returned a {type(result).__name__}, which cannot be sent to the "
                f"sidecar ({exc})"
            )
        return json.dumps({"pickle": base64.b64encode(data).decode("ascii")})

    def _final_answer(self, request: dict[str, Any], execution: Execution) -> str:
        if execution.has_final_answer:
            return self._error("final_answer() was already called in this action")
        if "final_answer" in request:
            value = request["final_answer"]
            if request.get("python_type") == "tuple" and isinstance(value, list):
                value = tuple(value)
            execution.final_answer = value
        else:
            execution.final_answer = SidecarObject(
                type=str(request.get("type", "object")), repr=str(request["final_answer_repr"])
            )
        execution.has_final_answer = True
        return json.dumps({"result": None})
