"""Code that runs inside the sidecar kernel: "Did you mean" for names, keys, attributes, files.

IPython's tracebacks leave out Python's own suggestions, and a small model that reads
``KeyError: 'diameter'`` next to a column named ``Diameter`` tends to conclude the column is
missing and give up. `add_suggestion` rewrites the message of a NameError, KeyError,
AttributeError or FileNotFoundError before it is shown, naming the closest existing name
(differences of case, spaces and underscores first); with no close match it lists the keys
of the one small dict or DataFrame the failing line uses, or the few files in the folder.
A NameError also shows the action (or, when long, its failing line) with the name corrected.
Like the runtime it imports nothing from smoldepot_jupyter; the host sends it as the module
``__smoldepot_suggestions__``.
"""

import builtins
import collections.abc
import difflib
import linecache
import re

__all__ = ["add_suggestion", "closest"]

_MAX_KEYS = 10_000  # containers with more keys than this are not searched
_MAX_LISTED = 30  # with no close match, keys are listed only up to this many
_MAX_CORRECTED = 2000  # characters of an action shown corrected after a NameError
_MAX_LINES = 40  # lines of an action shown corrected after a NameError
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")
_STRING = re.compile(r"""(['"])((?:(?!\1)[^\\\n]|\\.)*)\1""")
_NOT_FOUND = re.compile(r"Columns? not found: (.+)$")
_MISSING = object()


def _folded(text):
    return re.sub(r"[\W_]+", "", text).lower()


def closest(name, candidates):
    """The candidate `name` was most likely meant to be, or None."""
    candidates = [c for c in candidates if c != name]
    folded = _folded(name)
    if folded:
        same = [c for c in candidates if _folded(c) == folded]
        if same:
            return same[0]
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    if found:
        return found[0]
    lowered = {c.lower(): c for c in candidates}
    found = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.75)
    return lowered[found[0]] if found else None


class _WithNote(str):
    """The missing key or file name, still equal to itself, whose repr carries the suggestion
    (a KeyError's message is its key's repr; an OSError's names the file with its repr)."""

    def __new__(cls, text, note):
        marked = super().__new__(cls, text)
        marked.note = note
        return marked

    def __repr__(self):
        return str.__repr__(self) + self.note


def _suggest_in_message(value, match):
    """Append Python's own "Did you mean" wording to the message of `value`."""
    value.args = (f"{value.args[0]}. Did you mean: {match!r}?", *value.args[1:])


def _with_name_replaced(code, name, match):
    """`code` with the bare name `name` written `match` outside string literals, or "" when it
    does not use the name there."""
    bare = re.compile(r"(?<![\w.])" + re.escape(name) + r"(?!\w)")
    parts, start, count = [], 0, 0
    for literal in _STRING.finditer(code):
        part, n = bare.subn(match, code[start : literal.start()])
        parts += [part, literal.group(0)]
        start, count = literal.end(), count + n
    part, n = bare.subn(match, code[start:])
    parts.append(part)
    return "".join(parts) if count + n else ""


def _corrected_code(tb, user_ns, name, match):
    """The failing action with `name` written `match`, as a note for a NameError's message; just
    the failing line when the action is long or the name failed inside a function an earlier
    action defined. A small model shown only "Did you mean" tends to send its failing code
    again unchanged; shown the corrected code, it sends that."""
    cell = failing = None
    while tb is not None:
        if tb.tb_frame.f_globals is user_ns:
            failing = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
            cell = cell or failing[0]
        tb = tb.tb_next
    if failing is None:
        return ""
    source = "".join(linecache.getlines(cell)).strip()
    if failing[0] == cell and len(source) <= _MAX_CORRECTED and source.count("\n") < _MAX_LINES:
        corrected = _with_name_replaced(source, name, match)
        if corrected:
            return f" Your code with {match}:\n```python\n{corrected}\n```"
    corrected = _with_name_replaced(linecache.getline(*failing).strip(), name, match)
    if corrected and len(corrected) <= _MAX_CORRECTED:
        return f" The failing line with {match}: {corrected}"
    return ""


def _keys_of(value):
    """(kind, string keys) of a DataFrame, Series or mapping small enough to search, else None."""
    if hasattr(value, "iloc") and hasattr(value, "columns"):
        kind, keys = "Columns", value.columns
    elif hasattr(value, "iloc") and hasattr(value, "index"):
        kind, keys = "Index labels", value.index
    elif isinstance(value, collections.abc.Mapping):
        kind, keys = "Keys", value.keys()
    else:
        return None
    if len(keys) > _MAX_KEYS:
        return None
    strings = [k for k in keys if isinstance(k, str)]
    return (kind, strings) if strings else None


def _failing_line(tb, user_ns):
    """The frame and source text of the last line of user code in the traceback (the action's
    own code, or a function it defined), or (None, "")."""
    frame = lineno = None
    while tb is not None:
        if tb.tb_frame.f_globals is user_ns:
            frame, lineno = tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next
    if frame is None:
        return None, ""
    return frame, linecache.getline(frame.f_code.co_filename, lineno)


def _containers_on(frame, line):
    """(name, kind, keys) for each searchable container named on `line`."""
    found = []
    for name in dict.fromkeys(_IDENTIFIER.findall(line)):
        value = frame.f_locals.get(name, _MISSING)
        if value is _MISSING:
            value = frame.f_globals.get(name, _MISSING)
        keys = _keys_of(value) if value is not _MISSING else None
        if keys is not None:
            found.append((name, *keys))
    return found


def _same_line_slips(line, keys, skip):
    """Other string literals on `line` that differ from one of `keys` only in case, spaces or
    underscores: pandas stops at the first missing column, so name the rest at once."""
    by_folded = {_folded(k): k for k in keys}
    slips = []
    for _, literal in _STRING.findall(line):
        right = by_folded.get(_folded(literal))
        if right is not None and literal not in keys and literal not in skip:
            slips.append(f"{right!r} for {literal!r}")
    return list(dict.fromkeys(slips))


def _key_note(message, tb, user_ns):
    frame, line = _failing_line(tb, user_ns)
    containers = _containers_on(frame, line) if frame is not None else []
    if not containers:
        return ""
    # pandas words some misses as a message: "['a', 'b'] not in index" (several columns),
    # "Column not found: a" (groupby)
    not_found = _NOT_FOUND.match(message)
    if "not in index" in message or message.startswith("None of ["):
        wanted = _QUOTED.findall(message)
    elif not_found:
        wanted = _QUOTED.findall(not_found.group(1)) or [not_found.group(1)]
    else:
        wanted = [message]
    for _, _, keys in containers:
        matches = [m for m in (closest(w, keys) for w in wanted) if m is not None]
        if matches:
            note = ". Did you mean: " + ", ".join(repr(m) for m in dict.fromkeys(matches)) + "?"
            slips = _same_line_slips(line, keys, skip=wanted)
            if slips:
                note += " And " + ", ".join(slips) + " on the same line?"
            return note
    if len(containers) == 1 and len(containers[0][2]) <= _MAX_LISTED:
        name, kind, keys = containers[0]
        return f". {kind} of {name}: " + ", ".join(repr(k) for k in keys)
    return ""


def _attribute_candidates(obj, name):
    names = dir(obj)
    if len(names) > _MAX_KEYS:
        return []
    return [n for n in names if isinstance(n, str) and (name.startswith("_") or n[:1] != "_")]


def _file_note(filename):
    import os

    folder = os.path.dirname(filename) or "."
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return ""
    if not os.path.basename(filename).startswith("."):
        entries = [e for e in entries if not e.startswith(".")]
    match = closest(os.path.basename(filename), entries)
    if match:
        return f". Did you mean: {os.path.join(os.path.dirname(filename), match)!r}?"
    if 0 < len(entries) <= _MAX_LISTED:
        where = "the working directory" if folder == "." else repr(folder)
        return f". Files in {where}: " + ", ".join(repr(e) for e in entries)
    return ""


def add_suggestion(etype, value, tb, user_ns):
    """Add a suggestion to the message of `value` (NameError, KeyError, AttributeError,
    FileNotFoundError), in place; any other exception, or one that already suggests
    something, is left as it is."""
    try:
        if not value.args or "Did you mean" in str(value):
            return
        if issubclass(etype, NameError) and isinstance(getattr(value, "name", None), str):
            names = [n for n in user_ns if not n.startswith("_")] + dir(builtins)
            match = closest(value.name, names)
            if match:
                _suggest_in_message(value, match)
                note = _corrected_code(tb, user_ns, value.name, match)
                if note:
                    value.args = (value.args[0] + note, *value.args[1:])
        elif issubclass(etype, KeyError) and len(value.args) == 1:
            key = value.args[0]
            if isinstance(key, str):
                note = _key_note(key, tb, user_ns)
                if note:
                    value.args = (_WithNote(key, note),)
        elif issubclass(etype, FileNotFoundError) and isinstance(value.filename, str):
            note = _file_note(value.filename)
            if note:
                value.filename = _WithNote(value.filename, note)
        elif issubclass(etype, AttributeError) and isinstance(getattr(value, "name", None), str):
            obj = getattr(value, "obj", None)  # None when the raiser did not set it
            if obj is not None:
                match = closest(value.name, _attribute_candidates(obj, value.name))
                if match:
                    _suggest_in_message(value, match)
    except Exception:  # a suggestion must never hide the error it decorates
        return
