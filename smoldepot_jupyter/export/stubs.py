"""The first code cell of an exported notebook: `ToolError`, `final_answer` and one definition per
tool, either a stub replaying the run's recorded results or (``live_tools``) the tool's source."""

from __future__ import annotations

import ast
import importlib
import inspect
import math
import re
import sys
import textwrap
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..kernel.execution import SidecarObject, ToolCall
from ..tools import FunctionTool, Tool, as_tool

__all__ = ["ToolsCell", "tools_cell"]

_COMMENT = """\
# Tools and helpers of smoldepot run {run_id},
# so that this notebook re-executes on its own.
{how}
"""

_HELPERS = '''

class ToolError(Exception):
    """A tool failed; the message is the one the agent's kernel gave."""


class _FinalAnswerSignal(BaseException):
    """Raised by final_answer() to end the cell; `except Exception` does not catch it."""


def _quiet_final_answer(shell, etype, value, tb, tb_offset=None):
    """Show no traceback when final_answer() ends a cell, as in the agent's kernel."""
    return None


get_ipython().set_custom_exc((_FinalAnswerSignal,), _quiet_final_answer)


def final_answer(answer):
    """Give the final answer (kept in `_final_answer`) and end the cell: nothing after it runs."""
    global _final_answer
    _final_answer = answer
    raise _FinalAnswerSignal(answer)
'''

_HOW_STUBS = (
    "# Tool stubs replay the results recorded in the run, in call order: no network, model or\n"
    "# API key is needed. Re-run this cell to replay from the start."
)
_HOW_LIVE = (
    "# Tools whose source was available are defined from it and really run; the others are stubs\n"
    "# replaying the results recorded in the run, in call order (re-run this cell to restart)."
)

_EXIT = '''

def exit(code=None):
    """End this cell, as in the agent's kernel (where exit() does not stop the kernel)."""
    raise SystemExit(code)


quit = exit
'''

_REPLAY = '''

def _replay(name):
    """The next recorded result of tool `name` (or its recorded failure, raised as ToolError)."""
    calls = _RECORDED_CALLS[name]
    made = _replayed[name]
    if made >= len(calls):
        raise RuntimeError(
            f"{name}() was called {made + 1} times, but the run recorded {len(calls)} call(s) of "
            "it: there is no recorded result left to replay (export with live_tools=True and the "
            "tool to run it for real)"
        )
    _replayed[name] = made + 1
    call = calls[made]
    if "error" in call:
        raise ToolError(call["error"])
    return call["result"]
'''

_LIVE = '''

def _live(name, function):
    """`function` failing as a bridged tool does in the agent's kernel: with a ToolError."""

    def call(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            raise ToolError(f"tool {name!r} failed: {type(exc).__name__}: {exc}") from None

    call.__name__ = call.__qualname__ = name
    call.__doc__ = getattr(function, "__doc__", None)
    return call
'''

_USES_EXIT = re.compile(r"\b(exit|quit)\s*\(")
_IMPORTED_IN_CELL = {"tool", "Tool"}
_REPR_KEYS = {"type", "repr"}


@dataclass
class ToolsCell:
    """The cell's source, and which tools it stubs and which it defines from source (and why
    the others fell back to stubs)."""

    source: str
    stubbed: list[str] = field(default_factory=list)
    live: list[str] = field(default_factory=list)
    fallbacks: dict[str, str] = field(default_factory=dict)


def tools_cell(
    run_id: str,
    names: list[str],
    calls: list[ToolCall],
    codes: Iterable[str],
    *,
    live_tools: bool = False,
    tools: Iterable[Any] | Mapping[str, Any] | None = None,
) -> ToolsCell:
    """The tools cell for a run that had tools `names` and made `calls` (in call order) in the
    actions `codes`. With `live_tools`, tools in `tools` whose source is available are defined
    from it."""
    given = _given_tools(tools)
    names = list(dict.fromkeys([*names, *(c.name for c in calls)]))
    live_sources: dict[str, str] = {}
    imports: list[str] = []
    fallbacks: dict[str, str] = {}
    if live_tools:
        for name in names:
            if name not in given:
                fallbacks[name] = "it was not among the tools given to the export"
                continue
            try:
                source, needs = _tool_source(given[name])
            except _NoSource as reason:
                fallbacks[name] = str(reason)
                continue
            live_sources[name] = source
            imports.extend(n for n in needs if n not in imports)
    stubbed = [n for n in names if n not in live_sources]

    parts = [_COMMENT.format(run_id=run_id, how=_HOW_LIVE if live_tools else _HOW_STUBS)]
    if live_sources:
        lines = sorted({"from smoldepot_jupyter import Tool, tool", *imports}, key=_import_order)
        imported = [line for line in lines if _import_order(line)[0] < 2]
        constants = [line for line in lines if _import_order(line)[0] == 2]
        parts.append("\n" + "\n".join(imported) + "\n")
        if constants:
            parts.append("\n" + "\n".join(constants) + "\n")
    parts.append(_HELPERS)
    if any(_USES_EXIT.search(code) for code in codes):
        parts.append(_EXIT)
    if stubbed:
        parts.append(_recorded_calls(stubbed, calls))
        parts.append(_REPLAY)
        for name in stubbed:
            parts.append(_stub(name, given.get(name), fallbacks.get(name)))
    if live_sources:
        parts.append(_LIVE)
        for name, source in live_sources.items():
            parts.append(f"\n\n{source}\n\n\n{name} = _live({_literal(name)}, {name})\n")
    source = "".join(parts).rstrip("\n")
    return ToolsCell(source=source, stubbed=stubbed, live=list(live_sources), fallbacks=fallbacks)


def _import_order(line: str) -> tuple[int, str]:
    """`import x` lines, then `from x import y` lines, then constants."""
    kind = 0 if line.startswith("import ") else 1 if line.startswith("from ") else 2
    return kind, line


# ------------------------------------------------------------------------------------- stubs


def _recorded_calls(names: list[str], calls: list[ToolCall]) -> str:
    lines = ["", "", "# What each tool returned in the run, in call order (args for reference)."]
    lines.append("_RECORDED_CALLS = {")
    for name in names:
        mine = [c for c in calls if c.name == name]
        if not mine:
            lines.append(f"    {_literal(name)}: [],")
            continue
        lines.append(f"    {_literal(name)}: [")
        for call in mine:
            entry: dict[str, Any] = {"args": call.args, "kwargs": call.kwargs}
            if call.error is not None:
                entry["error"] = _error_message(name, call.error)
            elif _is_repr_form(call.result) or isinstance(call.result, SidecarObject):
                result = _repr_form(call.result)
                kind = result["type"]
                lines.append(
                    f"        # it returned a {kind}, which is not JSON: its repr string is "
                    "replayed instead"
                )
                entry["result"] = result["repr"]
            else:
                entry["result"] = call.result
            lines.append(f"        {_literal(entry)},")
        lines.append("    ],")
    lines.append("}")
    lines.append("_replayed = dict.fromkeys(_RECORDED_CALLS, 0)")
    return "\n".join(lines) + "\n"


def _stub(name: str, tool: Tool | None, fallback: str | None) -> str:
    description = getattr(tool, "description", "") or ""
    summary = description.strip().split("\n", 1)[0].strip()
    doc = (
        f"{summary} (Replays the results recorded in the run.)"
        if summary
        else (f"Replays the results `{name}` gave in the run, in call order.")
    )
    doc = doc.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    comment = f"# {name}: a stub, not the tool's source: {fallback}.\n" if fallback else ""
    return (
        f"\n\n{comment}def {name}(*args, **kwargs):\n"
        f'    """{doc}"""\n'
        f"    return _replay({_literal(name)})\n"
    )


def _error_message(name: str, error: str) -> str:
    """The ToolError message the agent's kernel showed for a failed call."""
    prefix = "result not transferable: "
    if error.startswith(prefix):
        return (
            f"tool {name!r} returned a value that cannot be sent to the sidecar "
            f"({error[len(prefix) :]})"
        )
    return f"tool {name!r} failed: {error}"


def _is_repr_form(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == _REPR_KEYS
        and all(isinstance(v, str) for v in value.values())
    )


def _repr_form(value: Any) -> dict[str, str]:
    if isinstance(value, SidecarObject):
        return {"type": value.type, "repr": value.repr}
    return value


def _literal(value: Any) -> str:
    """Python source for JSON-like data (non-finite floats included)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f'float("{value}")'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, SidecarObject):
        return _literal(value.repr)
    text = repr(value)
    if isinstance(value, str) and text.startswith("'") and '"' not in value:
        return f'"{text[1:-1]}"'  # double quotes, as ruff and black write strings
    return text


# ------------------------------------------------------------------------------- live sources


class _NoSource(Exception):
    """Why a tool cannot be exported as source (the message completes 'a stub: ...')."""


def _given_tools(tools: Iterable[Any] | Mapping[str, Any] | None) -> dict[str, Tool]:
    if tools is None:
        return {}
    items = tools.values() if isinstance(tools, Mapping) else tools
    given: dict[str, Tool] = {}
    for item in items:
        converted = as_tool(item)
        given[converted.name] = converted
    return given


def _tool_source(tool: Tool) -> tuple[str, list[str]]:
    """The source defining `tool` under its name, and the imports it needs."""
    if isinstance(tool, FunctionTool):
        return _function_source(tool)
    cls = type(tool)
    if cls.__module__.startswith("smoldepot_jupyter."):
        raise _NoSource(f"{cls.__name__} is built into smoldepot_jupyter and is not exported")
    try:
        inspect.signature(cls).bind()
    except (TypeError, ValueError):
        raise _NoSource(
            f"its class {cls.__name__} takes constructor arguments the export cannot know"
        ) from None
    source = _source_of(cls)
    needs = _needed_names(source, _class_globals(cls), exclude={cls.__name__})
    return f"{source}\n\n\n{tool.name} = {cls.__name__}()", needs


def _function_source(tool: FunctionTool) -> tuple[str, list[str]]:
    function = tool.function
    if not isinstance(function, types.FunctionType):
        raise _NoSource("it is not made from a plain Python function")
    if function.__name__ == "<lambda>":
        raise _NoSource("it is made from a lambda")
    if function.__code__.co_freevars:
        names = ", ".join(function.__code__.co_freevars)
        raise _NoSource(f"it uses variables of the function that made it ({names})")
    source = _source_of(function)
    needs = _needed_names(source, function.__globals__, exclude={function.__name__})
    if function.__name__ != tool.name:
        source += f"\n\n\n{tool.name} = {function.__name__}"
    if not source.lstrip().startswith("@"):
        source += f"\n\n\n{tool.name} = tool({tool.name})"
    return source, needs


def _source_of(obj: Any) -> str:
    try:
        source = textwrap.dedent(inspect.getsource(obj)).strip("\n")
    except (OSError, TypeError) as exc:
        raise _NoSource(f"its source is not available ({exc})") from None
    try:
        compile(source, "<tool>", "exec")
    except SyntaxError:
        raise _NoSource("its source cannot be compiled on its own") from None
    return source


def _class_globals(cls: type) -> dict[str, Any]:
    module = sys.modules.get(cls.__module__)
    return dict(vars(module)) if module is not None else {}


def _needed_names(source: str, namespace: dict[str, Any], exclude: set[str]) -> list[str]:
    """Import lines (or simple constants) for the global names `source` uses."""
    tree = ast.parse(source)
    bound = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    }
    used = [
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    ]
    lines: list[str] = []
    for name in dict.fromkeys(used):
        if name in exclude or name in bound or name not in namespace:
            continue
        if name in _IMPORTED_IN_CELL:
            continue
        lines.append(_definition(name, namespace[name]))
    return lines


def _definition(name: str, value: Any) -> str:
    """An import line (or an assignment of a simple constant) that binds `name` to `value`."""
    if isinstance(value, types.ModuleType):
        if not _is_installed(value.__name__):
            raise _NoSource(f"it uses the module {value.__name__}, which is not installed")
        top = value.__name__
        if "." in top:
            parent, child = top.rsplit(".", 1)
            return f"from {parent} import {child}" + ("" if child == name else f" as {name}")
        return f"import {top}" + ("" if top == name else f" as {name}")
    if value is None or isinstance(value, bool | int | float | str):
        return f"{name} = {_literal(value)}"
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if (
        isinstance(module, str)
        and isinstance(qualname, str)
        and "." not in qualname
        and _is_installed(module)
        and _resolves(module, qualname, value)
    ):
        return f"from {module} import {qualname}" + ("" if qualname == name else f" as {name}")
    raise _NoSource(f"it uses `{name}`, which the export cannot define in the notebook")


def _is_installed(module_name: str) -> bool:
    """Whether a fresh kernel can import `module_name` (stdlib, site-packages, this package)."""
    module = sys.modules.get(module_name)
    if module is None:
        return False
    location = getattr(module, "__file__", None)
    if location is None:
        return True  # built into the interpreter
    path = Path(location).resolve()
    roots = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    if module_name.split(".")[0] == "smoldepot_jupyter":
        return True
    return any(path.is_relative_to(root) for root in roots)


def _resolves(module: str, qualname: str, value: Any) -> bool:
    try:
        return getattr(importlib.import_module(module), qualname) is value
    except Exception:
        return False
