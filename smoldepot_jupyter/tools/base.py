"""The `Tool` base class, `FunctionTool`, and the checks that reject a wrongly defined tool
with a `ToolDefinitionError` saying what to fix."""

import copy
import functools
import inspect
import keyword
import textwrap
import threading
from collections.abc import Callable
from typing import Any

from .schema import (
    _PYTHON_NAMES,
    JSON_TYPES,
    _default_text,
    _json_schema_property,
    _paragraph,
    _python_type,
    _Shown,
)

__all__ = ["FunctionTool", "Tool", "ToolDefinitionError"]


class ToolDefinitionError(TypeError):
    """A tool is defined wrongly: its name, schema, signature or docstring is incomplete or
    disagrees with itself. The message names the tool and says what to change."""


class Tool:
    """Base class for tools: subclass it, set the four attributes, define `forward`.

    `inputs` maps each parameter of `forward` to ``{"type", "description"}`` (optionally
    ``"nullable"``); `output_type` is one of `JSON_TYPES`. The definition is checked when the
    class is defined (if complete there) and again when it is instantiated. `setup()` runs once,
    lazily, before the first call, for expensive preparation (connections, models).
    """

    name: str
    description: str
    inputs: dict[str, dict[str, Any]]
    output_type: str = "any"
    #: What the returned value is; shown under ``Returns:`` in the prompt when not empty.
    output_description: str = ""

    _is_set_up: bool = False

    def __init__(self) -> None:
        if type(self).__init__ is Tool.__init__:
            self.validate()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _validated_after(cls.__dict__["__init__"])  # type: ignore[method-assign]
        if _spec_is_complete(cls):
            _check_definition(
                cls.__name__,
                cls.name,
                cls.description,
                cls.inputs,
                cls.output_type,
                _class_forward_parameters(cls),
            )

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Do the tool's work; subclasses define it with one parameter per key of `inputs`."""
        raise NotImplementedError(
            f"{type(self).__name__} must define forward(self, ...) with one parameter per input"
        )

    def setup(self) -> None:
        """Prepare expensive resources; runs once, just before the first call. Override it."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self._is_set_up:
            self._run_setup()
        return self.forward(*args, **kwargs)

    def _run_setup(self) -> None:
        lock = self.__dict__.setdefault("_setup_lock", threading.Lock())
        with lock:
            if not self._is_set_up:
                self.setup()
                self._is_set_up = True

    def validate(self) -> None:
        """Check the definition; raise `ToolDefinitionError` saying what to fix."""
        label = type(self).__name__
        for attribute in ("name", "description", "inputs"):
            if not hasattr(self, attribute):
                raise ToolDefinitionError(f"{label}: set the `{attribute}` attribute")
        try:
            parameters = list(inspect.signature(self.forward).parameters.values())
        except (TypeError, ValueError) as exc:
            raise ToolDefinitionError(
                f"tool {self.name!r}: forward() has no readable signature ({exc})"
            ) from None
        _check_definition(
            label, self.name, self.description, self.inputs, self.output_type, parameters
        )

    # ------------------------------------------------------------------ rendering for prompts

    def to_dict(self) -> dict[str, Any]:
        """The tool as data: name, description, inputs, output_type (a deep copy)."""
        return {
            "name": self.name,
            "description": self.description,
            "inputs": copy.deepcopy(self.inputs),
            "output_type": self.output_type,
        }

    def code_signature(self) -> str:
        """The ``def`` line the code-agent prompt shows, e.g.
        ``def search(query: str, limit: int = 5) -> list:``."""
        parameters = []
        for parameter in inspect.signature(self.forward).parameters.values():
            annotation = _Shown(_python_type(self.inputs.get(parameter.name, {"type": "any"})))
            default = parameter.default
            if default is not inspect.Parameter.empty:
                default = _Shown(_default_text(default))
            parameters.append(parameter.replace(annotation=annotation, default=default))
        returns = _Shown(_PYTHON_NAMES.get(self.output_type, "Any"))
        signature = inspect.Signature(parameters, return_annotation=returns)
        return f"def {self.name}{signature}:"

    def to_code_prompt(self) -> str:
        """`code_signature()` followed by a Google-style docstring; byte-identical for the same
        tool, so prompts stay cacheable."""
        lines = _paragraph(self.description)
        if self.inputs:
            lines += ["", "Args:"]
            for arg, info in self.inputs.items():
                text = str(info.get("description", "")).strip()
                first, *rest = _paragraph(f"{arg}: {text}")
                lines.append("    " + first)
                lines += [("        " + line) if line else "" for line in rest]
        if self.output_description.strip():
            lines += ["", "Returns:"]
            lines += [
                ("    " + line) if line else "" for line in _paragraph(self.output_description)
            ]
        body = "\n".join(lines).replace('"""', '\\"\\"\\"')
        docstring = textwrap.indent(f'"""{body}\n"""', "    ", lambda line: bool(line.strip()))
        return f"{self.code_signature()}\n{docstring}"

    def to_json_schema(self) -> dict[str, Any]:
        """The OpenAI-style function schema, for models with native tool calling."""
        properties = {arg: _json_schema_property(info) for arg, info in self.inputs.items()}
        required = [
            parameter.name
            for parameter in inspect.signature(self.forward).parameters.values()
            if parameter.default is inspect.Parameter.empty and parameter.name in self.inputs
        ]
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {"type": "object", "properties": properties, "required": required},
            },
        }

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_setup_lock", None)  # a lock cannot be copied or pickled; a new one is made
        return state

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {getattr(self, 'name', '?')}>"


# ------------------------------------------------------------------- checking definitions


def _validated_after(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a subclass's __init__ so the tool is validated once the outermost __init__ is done."""

    @functools.wraps(init)
    def __init__(self: Tool, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if type(self).__init__ is __init__:
            self.validate()

    return __init__


def _spec_is_complete(cls: type) -> bool:
    return (
        all(hasattr(cls, attribute) for attribute in ("name", "description", "inputs"))
        and cls.forward is not Tool.forward  # type: ignore[attr-defined]
    )


def _class_forward_parameters(cls: type) -> list[inspect.Parameter]:
    parameters = list(inspect.signature(cls.forward).parameters.values())  # type: ignore[attr-defined]
    if isinstance(inspect.getattr_static(cls, "forward"), staticmethod):
        return parameters
    return parameters[1:]  # self


def _check_definition(
    label: str,
    name: Any,
    description: Any,
    inputs: Any,
    output_type: Any,
    parameters: list[inspect.Parameter],
) -> None:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ToolDefinitionError(
            f"{label}: tool name {name!r} is not a Python identifier; name it like a function "
            "(letters, digits and underscores, not a keyword), e.g. 'search_docs'"
        )
    where = f"tool {name!r}"
    if not isinstance(description, str) or not description.strip():
        raise ToolDefinitionError(f"{where}: set `description` to a sentence saying what it does")
    if not isinstance(inputs, dict):
        raise ToolDefinitionError(
            f"{where}: `inputs` must be a dict of argument name -> "
            '{"type": ..., "description": ...}'
        )
    for arg, info in inputs.items():
        _check_input(where, arg, info)
    if output_type not in JSON_TYPES:
        raise ToolDefinitionError(
            f"{where}: output_type {output_type!r} is not one of {', '.join(JSON_TYPES)}"
        )
    variadic = [str(p) for p in parameters if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if variadic:
        raise ToolDefinitionError(
            f"{where}: forward() takes {variadic[0]}; give it one named parameter per input"
        )
    taken = [p.name for p in parameters]
    missing = [arg for arg in inputs if arg not in taken]
    extra = [arg for arg in taken if arg not in inputs]
    if missing or extra:
        problems = []
        if extra:
            problems.append(f"forward() takes {extra}, which `inputs` does not describe")
        if missing:
            problems.append(f"`inputs` describes {missing}, which forward() does not take")
        raise ToolDefinitionError(
            f"{where}: inputs and forward() disagree: {'; '.join(problems)}. Make forward's "
            "parameters exactly the keys of `inputs`"
        )


def _check_input(where: str, arg: Any, info: Any) -> None:
    if not isinstance(arg, str) or not arg.isidentifier():
        raise ToolDefinitionError(f"{where}: input name {arg!r} is not a Python identifier")
    if not isinstance(info, dict) or "type" not in info or "description" not in info:
        raise ToolDefinitionError(
            f'{where}: input {arg!r} must be a dict with "type" and "description", got {info!r}'
        )
    kinds = info["type"] if isinstance(info["type"], list) else [info["type"]]
    bad = [kind for kind in kinds if kind not in JSON_TYPES]
    if not kinds or bad:
        raise ToolDefinitionError(
            f"{where}: input {arg!r} has type {info['type']!r}; use one of {', '.join(JSON_TYPES)} "
            "(or a list of them)"
        )
    if not isinstance(info["description"], str):
        raise ToolDefinitionError(f"{where}: the description of input {arg!r} must be a string")
    if not isinstance(info.get("nullable", False), bool):
        raise ToolDefinitionError(f'{where}: "nullable" of input {arg!r} must be True or False')


# ------------------------------------------------------------------------- kinds of tools


class FunctionTool(Tool):
    """A tool made from a plain function (by `@tool`): calling it calls the function.

    `forward` is the function itself, so ``inspect.signature(tool.forward)`` is the function's
    own signature and the sidecar's stub shows the real parameters.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        name: str,
        description: str,
        inputs: dict[str, dict[str, Any]],
        output_type: str = "any",
        output_description: str = "",
    ) -> None:
        functools.update_wrapper(self, function)
        self.function = function
        self.forward = function  # type: ignore[method-assign]
        self.name = name
        self.description = description
        self.inputs = inputs
        self.output_type = output_type
        self.output_description = output_description
