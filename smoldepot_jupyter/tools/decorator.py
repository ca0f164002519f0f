"""Making tools from other things: `@tool` (a documented, type-hinted function) and `as_tool`
(a `Tool`, a smolagents-style tool object, or a function), with the wrapper for foreign tools."""

import copy
import inspect
import keyword
import typing
from collections.abc import Callable
from typing import Any

from .base import FunctionTool, Tool, ToolDefinitionError
from .schema import (
    _SUPPORTED_HINTS,
    _hint_text,
    _is_json_value,
    _output_type,
    _parse_docstring,
    _schema_for_hint,
    _UnsupportedHint,
)

__all__ = ["as_tool", "tool"]

#: smolagents types that have no JSON-schema name: their values reach our tools as anything.
_FOREIGN_TYPES = {"image": "any", "audio": "any"}


# ---------------------------------------------------------------------------- @tool and as_tool


def tool(function: Callable[..., Any]) -> FunctionTool:
    """Make a tool from a documented, type-hinted function.

    The name is the function's; the description is the docstring's text before its sections; each
    argument's type comes from its hint and its description from the docstring's ``Args:``
    section; ``Returns:`` becomes the output description. Mistakes raise `ToolDefinitionError` here,
    at decoration time, not when the model first calls the tool.
    """
    name = getattr(function, "__name__", None)
    label = f"@tool {name}" if isinstance(name, str) else f"@tool {function!r}"
    if not callable(function):
        raise ToolDefinitionError(f"{label}: decorate a function, not a {type(function).__name__}")
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ToolDefinitionError(
            f"{label}: a tool needs a function with a plain name (a def, not a lambda)"
        )
    description, documented, returns = _parse_docstring(getattr(function, "__doc__", None))
    if not description:
        raise ToolDefinitionError(
            f"{label}: write a docstring: a summary of what the tool does, then an `Args:` "
            "section with one line per argument"
        )
    try:
        signature = inspect.signature(function)
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception as exc:
        raise ToolDefinitionError(f"{label}: its type hints cannot be read ({exc})") from None

    inputs: dict[str, dict[str, Any]] = {}
    for parameter in signature.parameters.values():
        arg = parameter.name
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ToolDefinitionError(
                f"{label}: *{arg} / **{arg} cannot be described to the model; "
                "list each argument explicitly"
            )
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise ToolDefinitionError(
                f"{label}: argument {arg!r} is positional-only; tools are called with keywords, "
                "so remove the `/`"
            )
        if arg not in hints:
            raise ToolDefinitionError(
                f"{label}: argument {arg!r} has no type hint; annotate it, e.g. `{arg}: str`"
            )
        try:
            schema = _schema_for_hint(hints[arg])
        except _UnsupportedHint as exc:
            raise ToolDefinitionError(
                f"{label}: argument {arg!r} has type hint {_hint_text(exc.hint)}, which a tool "
                f"cannot take; use {_SUPPORTED_HINTS}"
            ) from None
        if arg not in documented:
            raise ToolDefinitionError(
                f"{label}: argument {arg!r} is not documented; add a line `{arg}: what it is` "
                "under `Args:` in the docstring"
            )
        entry: dict[str, Any] = {"type": schema.pop("type"), "description": documented[arg]}
        entry.update(schema)
        if parameter.default is not inspect.Parameter.empty:
            if parameter.default is None:
                entry["nullable"] = True
            if _is_json_value(parameter.default):
                entry["default"] = parameter.default
        inputs[arg] = entry

    unknown = [arg for arg in documented if arg not in inputs]
    if unknown:
        raise ToolDefinitionError(
            f"{label}: the docstring's `Args:` documents {unknown}, which the function does not "
            "take; remove them or fix their names"
        )
    return FunctionTool(
        function,
        name=name,
        description=description,
        inputs=inputs,
        output_type=_output_type(hints.get("return", Any)),
        output_description=returns,
    )


def as_tool(obj: Any) -> Tool:
    """Our `Tool` for `obj`: a `Tool` unchanged, a smolagents-style tool object (duck-typed:
    name, description, inputs, output_type, forward) wrapped, a documented function via `@tool`.
    Anything else raises `TypeError`."""
    if isinstance(obj, Tool):
        return obj
    if isinstance(obj, type):
        raise TypeError(
            f"as_tool() got the class {obj.__name__}; pass an instance, e.g. {obj.__name__}()"
        )
    if _looks_like_foreign_tool(obj):
        return _ForeignTool(obj)
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        return tool(obj)
    raise TypeError(
        f"as_tool() cannot make a tool from {obj!r}: pass a Tool, a smolagents Tool instance, "
        "or a function with type hints and a docstring with an `Args:` section"
    )


# ------------------------------------------------------------------ smolagents-style tools


class _ForeignTool(Tool):
    """A smolagents-style tool object seen through our `Tool` interface; calls go to it."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped
        self.name = wrapped.name
        self.description = wrapped.description
        self.inputs = {arg: _foreign_input(info) for arg, info in dict(wrapped.inputs).items()}
        self.output_type = _FOREIGN_TYPES.get(wrapped.output_type, wrapped.output_type)
        target = wrapped if callable(wrapped) else wrapped.forward

        def forward(*args: Any, **kwargs: Any) -> Any:
            return target(*args, **kwargs)

        forward.__name__ = forward.__qualname__ = self.name
        forward.__doc__ = self.description
        forward.__signature__ = _foreign_signature(wrapped, self.inputs)  # type: ignore[attr-defined]
        self.forward = forward  # type: ignore[method-assign]

    def setup(self) -> None:
        # A callable smolagents tool runs its own setup() on the first call.
        if not callable(self.wrapped) and callable(getattr(self.wrapped, "setup", None)):
            self.wrapped.setup()


def _looks_like_foreign_tool(obj: Any) -> bool:
    return (
        isinstance(getattr(obj, "name", None), str)
        and isinstance(getattr(obj, "description", None), str)
        and isinstance(getattr(obj, "inputs", None), dict)
        and isinstance(getattr(obj, "output_type", None), str)
        and callable(getattr(obj, "forward", None))
        and not inspect.isroutine(obj)
    )


def _foreign_input(info: Any) -> Any:
    if not isinstance(info, dict):
        return info
    info = copy.deepcopy(info)
    kind = info.get("type")
    if isinstance(kind, str):
        info["type"] = _FOREIGN_TYPES.get(kind, kind)
    elif isinstance(kind, list):
        mapped = [_FOREIGN_TYPES.get(k, k) for k in kind]
        info["type"] = "any" if "any" in mapped else list(dict.fromkeys(mapped))
    return info


def _foreign_signature(wrapped: Any, inputs: dict[str, Any]) -> inspect.Signature:
    """The wrapped tool's forward signature when it names the inputs, else one built from them."""
    try:
        signature = inspect.signature(wrapped.forward)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        parameters = signature.parameters.values()
        variadic = any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters)
        if not variadic and {p.name for p in parameters} == set(inputs):
            return signature
    built = []
    keyword_only = False
    for arg, info in inputs.items():
        optional = isinstance(info, dict) and bool(info.get("nullable"))
        keyword_only = keyword_only or optional
        kind = (
            inspect.Parameter.KEYWORD_ONLY
            if keyword_only and not optional
            else inspect.Parameter.POSITIONAL_OR_KEYWORD
        )
        default = None if optional else inspect.Parameter.empty
        built.append(inspect.Parameter(arg, kind, default=default))
    built.sort(key=lambda p: p.kind)
    return inspect.Signature(built)
