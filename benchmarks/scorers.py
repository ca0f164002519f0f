"""Scorers for the benchmark suites (shared/bench/FORMAT.md): `score(task, answer)` returns one
verdict per scorer of the task's suite: ``reference`` and ``lenient`` for m3tooleval, ``strict``
for dabench and math.

The M3ToolEval reference scorer follows m3tooleval-env/README.md step by step, quirks included
(truncating int() coercion, the skipped list comparison, str() equality); the lenient one is the
README's recommended scorer for our own runs.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "PRIMARY_SCORER",
    "SCORER_KEYS",
    "answer_text",
    "dabench_strict",
    "expected_value",
    "format_problem",
    "lenient_scorer",
    "math_strict",
    "reference_scorer",
    "score",
    "scorer_of",
]

#: The verdict keys each scorer name produces, in report order.
SCORER_KEYS: dict[str, tuple[str, ...]] = {
    "m3tooleval": ("reference", "lenient"),
    "dabench": ("strict",),
    "math": ("strict",),
}

#: The verdict that decides "solved" (success %, tokens per solved task, failure categories).
PRIMARY_SCORER: dict[str, str] = {"m3tooleval": "reference", "dabench": "strict", "math": "strict"}

#: Domains whose string answers are compared case-sensitively by the lenient scorer.
_CASE_SENSITIVE_DOMAINS = frozenset({"message_decoder"})


def scorer_of(task: Mapping[str, Any], scorer: str | None = None) -> str:
    """The scorer name for `task`: the argument, else ``task["scorer"]``."""
    name = scorer if scorer is not None else task.get("scorer")
    if name not in SCORER_KEYS:
        known = ", ".join(SCORER_KEYS)
        raise ValueError(
            f"unknown scorer {name!r} for task {task.get('id')!r}: pass one of {known} "
            "(as score(task, answer, scorer=...) or in task['scorer'])"
        )
    return str(name)


def score(task: Mapping[str, Any], answer: Any, scorer: str | None = None) -> dict[str, bool]:
    """Verdicts for `answer` to `task`, one per key of ``SCORER_KEYS[scorer]``.

    `answer` is the agent's final answer: text as given, or a value (scored as `answer_text`).
    The scorer name comes from `scorer` or ``task["scorer"]`` (the harness copies the suite's).
    """
    name = scorer_of(task, scorer)
    text = answer if isinstance(answer, str) else answer_text(answer)
    if name == "m3tooleval":
        expected = expected_value(task)
        domain = str((task.get("meta") or {}).get("domain") or task.get("toolset") or "")
        return {
            "reference": reference_scorer(text.strip(), expected),
            "lenient": lenient_scorer(
                text, expected, case_sensitive=domain in _CASE_SENSITIVE_DOMAINS
            ),
        }
    if name == "dabench":
        return {"strict": dabench_strict(text, task.get("expected"))}
    return {"strict": math_strict(text, task.get("expected"))}


def format_problem(task: Mapping[str, Any], answer: Any, scorer: str | None = None) -> bool:
    """Whether the form of `answer`, not its substance, is what the primary scorer refused: for
    m3tooleval the reference scorer rejects what the lenient one accepts; for dabench an asked
    ``@name[...]`` is missing; for math a numeric answer holds no number at all."""
    name = scorer_of(task, scorer)
    text = answer if isinstance(answer, str) else answer_text(answer)
    if name == "m3tooleval":
        verdicts = score(task, text, name)
        return verdicts["lenient"] and not verdicts["reference"]
    if name == "dabench":
        found = _dabench_parts(text)
        return any(str(part[0]) not in found for part in task.get("expected") or [])
    return _as_float(task.get("expected")) is not None and _last_number(text) is None


# ----------------------------------------------------------------------- answers as text


def answer_text(value: Any) -> str:
    """The text an answer value is scored as: strings as they are, anything else ``str()``
    (containers therefore show their items' repr), numpy scalars as plain Python numbers."""
    if value is None:
        return "None"
    value = _plain(value)
    return value if isinstance(value, str) else str(value)


def _plain(value: Any, depth: int = 0) -> Any:
    if depth > 50:
        return value
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return value.item()
    if type(value) is list:
        return [_plain(v, depth + 1) for v in value]
    if type(value) is tuple:
        return tuple(_plain(v, depth + 1) for v in value)
    if type(value) is dict:
        return {_plain(k, depth + 1): _plain(v, depth + 1) for k, v in value.items()}
    return value


def expected_value(task: Mapping[str, Any]) -> Any:
    """The expected answer as the Python value the original benchmark computed:
    ``meta.expected_python_repr`` when it parses, else `expected` (a list becomes a tuple when
    ``meta.expected_python_type`` says so)."""
    meta = task.get("meta") or {}
    text = meta.get("expected_python_repr")
    if isinstance(text, str):
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    expected = task.get("expected")
    if meta.get("expected_python_type") == "tuple" and isinstance(expected, list):
        return tuple(expected)
    return expected


# ------------------------------------------------------------------ M3ToolEval: reference


def _conv(value: Any) -> Any:
    """int(x), else float(x), else x: the original's coercion (int() truncates floats)."""
    try:
        return int(value)
    except (ValueError, TypeError):
        pass
    try:
        return float(value)
    except (ValueError, TypeError):
        return value


def reference_scorer(answer: str, expected: Any) -> bool:
    """The original M3ToolEval check of `answer` (the text after ``Answer:``, stripped) against
    the expected Python value, reproduced from the README's five steps."""
    if answer == expected:
        return True
    if isinstance(expected, list | dict | tuple):
        # Containers skip the coercion and the literal_eval: the raw text must be str(expected).
        return answer == str(expected)
    if _conv(answer) == _conv(expected):
        return True
    try:
        value: Any = ast.literal_eval(answer)
    except Exception:
        value = answer
    # Step 4 of the original (a list / numeric comparison) always raises and is skipped.
    return str(value) == str(expected)


# -------------------------------------------------------------------- M3ToolEval: lenient

_QUOTES = "'\"`"
_NUMBER_CHARS = re.compile(r"[$,\s]")


def _strip_quotes(text: str) -> str:
    text = text.strip()
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] == text[0]:
        text = text[1:-1].strip()
    return text


def _number_from(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = _NUMBER_CHARS.sub("", _strip_quotes(str(value)))
    text = _strip_quotes(text)
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _numbers_close(got: float, want: float) -> bool:
    return abs(got - want) <= 0.01 or abs(got - want) <= 1e-6 * max(abs(got), abs(want))


def _parse_container(text: str) -> Any:
    text = _strip_quotes(text)
    for parse in (ast.literal_eval, json.loads):
        try:
            return parse(text)
        except Exception:
            continue
    return None


def _element_matches(got: Any, want: Any, case_sensitive: bool) -> bool:
    if isinstance(want, bool):
        word = _strip_quotes(str(got)).casefold()
        return word == str(want).casefold()
    if isinstance(want, int | float):
        number = _number_from(got)
        return number is not None and _numbers_close(number, float(want))
    if isinstance(want, list | tuple):
        items = got if isinstance(got, list | tuple) else _sequence_from(str(got))
        return (
            items is not None
            and len(items) == len(want)
            and all(
                _element_matches(g, w, case_sensitive) for g, w in zip(items, want, strict=True)
            )
        )
    if isinstance(want, dict):
        mapping = got if isinstance(got, dict) else _parse_container(str(got))
        if not isinstance(mapping, dict):
            return False
        keys = {_strip_quotes(str(k)): v for k, v in mapping.items()}
        wanted = {_strip_quotes(str(k)): v for k, v in want.items()}
        return set(keys) == set(wanted) and all(
            _element_matches(keys[k], wanted[k], case_sensitive) for k in wanted
        )
    got_text, want_text = _strip_quotes(str(got)), _strip_quotes(str(want))
    if case_sensitive:
        return got_text == want_text
    return got_text.casefold() == want_text.casefold()


def _sequence_from(text: str) -> list[Any] | None:
    parsed = _parse_container(text)
    if isinstance(parsed, list | tuple):
        return list(parsed)
    body = _strip_quotes(text)
    if body[:1] in "[(" and body[-1:] in "])":
        body = body[1:-1]
    if "," not in body:
        return None
    return [part.strip() for part in body.split(",")]


def lenient_scorer(answer: str, expected: Any, case_sensitive: bool = False) -> bool:
    """The README's recommended scorer: numbers within 0.01 (or 1e-6 relative) after stripping
    ``$``, ``,`` and spaces; lists element-wise; dicts as mappings; strings without quotes and
    surrounding spaces (case kept only for decoder outputs); a tuple answer may be its first item
    alone (``A`` for ``('A', 3)``)."""
    text = answer.strip()
    if (
        isinstance(expected, tuple)
        and expected
        and _element_matches(text, expected[0], case_sensitive)
    ):
        return True
    return _element_matches(text, expected, case_sensitive)


# --------------------------------------------------------------------------- DABench

_DABENCH_PART = re.compile(r"@(\w+)\[(.*?)\]", re.DOTALL)


def _dabench_parts(text: str) -> dict[str, str]:
    """Every ``@name[value]`` of the answer (the last one wins for a repeated name)."""
    return {name: value for name, value in _DABENCH_PART.findall(text)}


def _same_sub_answer(got: str, want: str) -> bool:
    if got == want or got.strip() == want.strip():
        return True
    a, b = _as_float(got), _as_float(want)
    return a is not None and b is not None and abs(a - b) <= 1e-6


def dabench_strict(answer: str, expected: Any) -> bool:
    """All sub-answers right: each expected ``[name, value]`` has an ``@name[value]`` in the
    answer whose value matches exactly or as a float within 1e-6."""
    parts = _dabench_parts(answer)
    pairs = list(expected or [])
    if not pairs:
        return False
    for name, value in pairs:
        got = parts.get(str(name))
        if got is None or not _same_sub_answer(got, str(value)):
            return False
    return True


# ------------------------------------------------------------------------------- math

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return None


def _last_number(text: str) -> float | None:
    found = _NUMBER.findall(_THOUSANDS.sub("", text))
    for candidate in reversed(found):
        number = _as_float(candidate)
        if number is not None:
            return number
    return None


def math_strict(answer: str, expected: Any) -> bool:
    """The last number in the answer is ``numpy.isclose(rtol=1e-5, atol=1e-7)`` to a numeric
    `expected`; a non-numeric `expected` is compared after removing spaces and ``$``."""
    want = _as_float(expected)
    if want is None:
        squeeze = str.maketrans("", "", " $")
        return answer.translate(squeeze).strip() == str(expected).translate(squeeze).strip()
    got = _last_number(answer)
    if got is None:
        return False
    # numpy.isclose(got, want, rtol=1e-5, atol=1e-7), written out so numpy is not needed.
    return abs(got - want) <= 1e-7 + 1e-5 * abs(want)
