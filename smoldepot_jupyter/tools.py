"""Tools the agent can call: the `Tool` base class, the `@tool` decorator and the built-ins.

A tool is data (name, description, input schema, output type) that prompts are rendered from, plus
a `forward` that does the work. Nothing here knows about kernels, models or the UI.
"""

import builtins
import copy
import functools
import inspect
import keyword
import math
import re
import textwrap
import threading
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union

__all__ = [
    "JSON_TYPES",
    "FinalAnswerTool",
    "FunctionTool",
    "Tool",
    "ToolDefinitionError",
    "UserInputTool",
    "as_tool",
    "final_answer",
    "tool",
    "user_input",
]

#: The type names a tool's inputs and output may use (JSON-schema names, plus "any").
JSON_TYPES: tuple[str, ...] = (
    "string",
    "integer",
    "number",
    "boolean",
    "array",
    "object",
    "null",
    "any",
)

_PYTHON_NAMES = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "array": "list",
    "object": "dict",
    "null": "None",
    "any": "Any",
}

_SIMPLE_HINTS: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    tuple: "array",
    dict: "object",
}

_SUPPORTED_HINTS = "str, int, float, bool, list[...], dict[...], tuple, Any, Literal[...], X | None"

#: smolagents types that have no JSON-schema name: their values reach our tools as anything.
_FOREIGN_TYPES = {"image": "any", "audio": "any"}


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


# ----------------------------------------------------------------------------------- built-ins


class FinalAnswerTool(Tool):
    """`final_answer(answer)` as the prompt describes it. The sidecar kernel defines and runs the
    real one (it ends the action); this object exists so the prompt lists it like any tool."""

    name = "final_answer"
    description = "Give the final answer to the task"
    inputs = {"answer": {"type": "any", "description": "The final answer to the task."}}  # noqa: RUF012
    output_type = "any"

    def forward(self, answer: Any) -> Any:
        return answer


class UserInputTool(Tool):
    """`user_input(question)`: asks the human and returns their answer.

    `ask` takes the question and returns the answer; by default it is `input()` at call time, which
    in a notebook kernel asks the notebook's user. Tests inject their own.
    """

    name = "user_input"
    description = (
        "Ask the user a question and return their answer. Use it only for information that only "
        "the user has."
    )
    inputs = {"question": {"type": "string", "description": "The question to ask the user."}}  # noqa: RUF012
    output_type = "string"

    def __init__(self, ask: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.ask = ask if ask is not None else _ask_with_input

    def forward(self, question: str) -> str:
        return str(self.ask(question))


def _ask_with_input(question: str) -> str:
    # Looked up at call time: ipykernel swaps builtins.input for one that asks the frontend.
    prompt = question if question[-1:].isspace() else f"{question} "
    return builtins.input(prompt)


# ------------------------------------------------------------------------------------- helpers


class _Shown:
    """Shows the given text as its repr, so `inspect.Signature` renders annotations verbatim."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class _UnsupportedHint(Exception):
    def __init__(self, hint: Any) -> None:
        super().__init__(hint)
        self.hint = hint


def _schema_for_hint(hint: Any) -> dict[str, Any]:
    """The JSON-schema fragment for a type hint; raises `_UnsupportedHint` for anything else."""
    origin = typing.get_origin(hint)
    arguments = typing.get_args(hint)
    if hint is Any:
        return {"type": "any"}
    if hint is None or hint is type(None):
        return {"type": "null"}
    if origin is typing.Annotated:
        return _schema_for_hint(arguments[0])
    if isinstance(hint, type) and hint in _SIMPLE_HINTS:
        return {"type": _SIMPLE_HINTS[hint]}
    if origin is Union or origin is types.UnionType:
        members = [a for a in arguments if a is not type(None)]
        schemas = [_schema_for_hint(member) for member in members]
        if len(schemas) == 1:
            schema = schemas[0]
        else:
            kinds: list[str] = []
            for item in schemas:
                for kind in item["type"] if isinstance(item["type"], list) else [item["type"]]:
                    if kind not in kinds:
                        kinds.append(kind)
            schema = {"type": "any"} if "any" in kinds else {"type": kinds}
        if len(members) < len(arguments):
            schema["nullable"] = True
        return schema
    if origin is Literal:
        return _literal_schema(hint, arguments)
    if origin in (list, tuple):
        schema = {"type": "array"}
        element = _element_hint(origin, arguments)
        if element is not None:
            items = _schema_for_hint(element)
            if items["type"] != "any":
                schema["items"] = items
        return schema
    if origin is dict:
        schema = {"type": "object"}
        if arguments and arguments[0] is str:
            values = _schema_for_hint(arguments[1])
            if values["type"] != "any":
                schema["additionalProperties"] = values
        elif arguments:
            _schema_for_hint(arguments[1])
        return schema
    raise _UnsupportedHint(hint)


def _element_hint(origin: Any, arguments: tuple[Any, ...]) -> Any:
    if origin is list:
        return arguments[0] if arguments else None
    if len(arguments) == 2 and arguments[1] is Ellipsis:
        return arguments[0]
    for argument in arguments:
        _schema_for_hint(argument)  # each element must be supported, even if not recorded
    return arguments[0] if arguments and len(set(arguments)) == 1 else None


def _literal_schema(hint: Any, values: tuple[Any, ...]) -> dict[str, Any]:
    kinds: list[str] = []
    enum = []
    for value in values:
        if value is None:
            continue
        kind = _SIMPLE_HINTS.get(type(value))
        if kind is None or kind in ("array", "object"):
            raise _UnsupportedHint(hint)
        if kind not in kinds:
            kinds.append(kind)
        enum.append(value)
    if not enum:
        return {"type": "null"}
    schema: dict[str, Any] = {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": enum}
    if len(enum) < len(values):
        schema["nullable"] = True
    return schema


def _output_type(hint: Any) -> str:
    """The output type name for a return hint; anything a schema cannot name is "any" (tools
    may return any object: a DataFrame, a figure)."""
    try:
        kind = _schema_for_hint(hint)["type"]
    except _UnsupportedHint:
        return "any"
    return kind if isinstance(kind, str) else "any"


def _hint_text(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else repr(hint).replace("typing.", "")


def _python_type(info: dict[str, Any]) -> str:
    """The Python annotation text for an input schema (``list[str] | None``, ``Literal['a']``)."""
    if "enum" in info:
        text = f"Literal[{', '.join(repr(v) for v in info['enum'])}]"
    else:
        kinds = info.get("type", "any")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        names = []
        for kind in kinds:
            name = _PYTHON_NAMES.get(kind, "Any")
            if kind == "array" and isinstance(info.get("items"), dict):
                name = f"list[{_python_type(info['items'])}]"
            if kind == "object" and isinstance(info.get("additionalProperties"), dict):
                name = f"dict[str, {_python_type(info['additionalProperties'])}]"
            names.append(name)
        text = " | ".join(names)
    if info.get("nullable") and "None" not in text.split(" | ") and text != "Any":
        text += " | None"
    return text


def _json_schema_property(info: dict[str, Any]) -> dict[str, Any]:
    prop = {key: copy.deepcopy(value) for key, value in info.items() if key != "nullable"}
    kinds = info["type"] if isinstance(info["type"], list) else [info["type"]]
    if "any" in kinds:
        del prop["type"]
        return prop
    if info.get("nullable") and "null" not in kinds:
        kinds = [*kinds, "null"]
    prop["type"] = kinds[0] if len(kinds) == 1 else kinds
    return prop


def _default_text(value: Any) -> str:
    return repr(value) if _is_json_value(value) else "..."


def _is_json_value(value: Any, depth: int = 0) -> bool:
    if depth > 20:
        return False
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is list:
        return all(_is_json_value(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(type(k) is str and _is_json_value(v, depth + 1) for k, v in value.items())
    return False


def _paragraph(text: str) -> list[str]:
    """Lines of `text` for a docstring: common indentation removed, no trailing spaces."""
    return [line.rstrip() for line in inspect.cleandoc(text).split("\n")]


_SECTION = re.compile(
    r"^(args|arguments|parameters|params|keyword args|keyword arguments|returns?|yields?|raises|"
    r"examples?|notes?|see also|attributes|todo|warnings?)\s*:\s*$",
    re.IGNORECASE,
)
_ARG_LINE = re.compile(r"^\**(?P<name>\w+)\s*(?:\([^)]*\))?\s*:\s*(?P<text>.*)$")


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str], str]:
    """Split a Google-style docstring into (description, {arg: text}, returns text)."""
    if not doc:
        return "", {}, ""
    description: list[str] = []
    sections: dict[str, list[str]] = {}
    current: list[str] = description
    for line in inspect.cleandoc(doc).split("\n"):
        header = _SECTION.match(line)
        if header:
            key = header.group(1).lower()
            key = "args" if key in ("arguments", "parameters", "params") else key
            key = "returns" if key == "return" else key
            current = sections.setdefault(key, [])
        else:
            current.append(line)
    documented: dict[str, str] = {}
    body = sections.get("args", [])
    indents = [len(line) - len(line.lstrip()) for line in body if line.strip()]
    base = min(indents, default=0)
    last = None
    for line in body:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        match = _ARG_LINE.match(line.strip())
        if indent == base and match:
            last = match.group("name")
            documented[last] = match.group("text").strip()
        elif last is not None:
            documented[last] = f"{documented[last]} {line.strip()}".strip()
    returns = textwrap.dedent("\n".join(sections.get("returns", []))).strip()
    return "\n".join(description).strip(), documented, returns


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


#: The `final_answer` spec for prompts (the sidecar runs the real one).
final_answer = FinalAnswerTool()

#: `user_input` asking through `input()`; build `UserInputTool(ask=...)` to ask another way.
user_input = UserInputTool()
