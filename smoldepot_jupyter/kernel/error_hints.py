"""One-line hints for the Python errors small models misread.

A 1.5B model that gets ``TypeError: cannot unpack non-iterable numpy.float64 object`` tends to
guess a cause ("the DataFrame is empty") and rerun the same line. The hint says what the message
means and what to look at, in terms of the marked line, never of any task. Only the error's
type and message are used, so the hint costs nothing when it does not apply.
"""

from __future__ import annotations

import re

__all__ = ["error_hint"]

_HINTS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "TypeError",
        re.compile(r"cannot unpack non-iterable (?P<kind>[\w.]+) object"),
        "the right side of `a, b = ...` on the marked line is a single {kind}, not several "
        "values: assign it to one name, or compute each value separately.",
    ),
    (
        "ValueError",
        re.compile(r"(too many|not enough) values to unpack"),
        "the value on the right of the unpacking on the marked line does not have as many "
        "items as there are names on the left: print it to see what it holds.",
    ),
    (
        "IndexError",
        re.compile(r"index out of range|out.of.bounds"),
        "the sequence indexed on the marked line is shorter than the index, maybe empty: "
        "print it (or its length) before indexing it.",
    ),
    (
        "ImportError",
        re.compile(r"cannot import name '(?P<name>[\w.]+)' from '(?P<module>[\w.]+)'"),
        "{module} has no {name}: do not guess where a name lives; drop the import, or write "
        "{name} yourself.",
    ),
    # The next two match the notes the sidecar adds to a KeyError (sidecar_suggestions.py).
    (
        "KeyError",
        re.compile(r"Did you mean: "),
        "keys and column names must match exactly, including case and spaces: use the "
        "name the message suggests.",
    ),
    (
        "KeyError",
        re.compile(r"^\S.*\. (Columns|Keys|Index labels) of \w+: "),
        "that key is not there: use one of the names the message lists, exactly as written.",
    ),
    (
        "KeyError",
        re.compile(r"^(?P<key>-?\d+)$"),
        "the key {key} is not there. On a pandas Series or DataFrame, `[n]` looks up the "
        "label n, not the n-th item: use `.iloc[n]` for that.",
    ),
    (
        "KeyError",
        re.compile(r".*"),
        "that key is not in the dict or DataFrame used on the marked line: print its keys "
        "(`list(d)`, `df.columns`) and use a name that is there.",
    ),
    (
        "TypeError",
        re.compile(r"'NoneType' object is not (subscriptable|iterable)"),
        "the value used on the marked line is None: a function or method that returns nothing "
        "(like list.sort() or print()) produced it, or a lookup found nothing.",
    ),
    (
        "TypeError",
        re.compile(r"'(?P<kind>\w+)' object is not (subscriptable|iterable|a mapping)"),
        "the value used on the marked line is a single {kind}, not the list or dict the code "
        "expects: print it to see what the expression before it gave.",
    ),
)


def error_hint(ename: str, evalue: str) -> str | None:
    """A ``Hint: ...`` line for an error whose message small models misread, else None."""
    for name, pattern, hint in _HINTS:
        if name == ename:
            found = pattern.search(evalue)
            if found is not None:
                return "Hint: " + hint.format(**found.groupdict())
    return None
