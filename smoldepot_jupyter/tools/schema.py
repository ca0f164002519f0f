"""Type hints and docstrings -> tool input schemas, and schemas -> Python annotations, JSON-schema
properties and docstring text for prompts. Knows nothing about `Tool` itself."""

import copy
import inspect
import math
import re
import textwrap
import types
import typing
from typing import Any, Literal, Union

__all__ = ["JSON_TYPES"]

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
