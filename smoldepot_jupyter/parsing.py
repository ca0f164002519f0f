"""Finding the action in model text: the Python of a code action, or JSON tool calls.

Tolerant of how models really write: fences with or without a language, ``<code>`` tags, prose
around the code, labels, a block cut off by a stop sequence. Nothing here runs what it finds
(`ast.parse` only reads code, to tell a fence inside a string from the one that ends the block).
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ActionParseError",
    "ParsedAction",
    "ToolCallRequest",
    "has_statements",
    "is_complete_action",
    "missing_code_message",
    "parse_code_action",
    "parse_json_tool_calls",
]


class ActionParseError(ValueError):
    """The model's reply holds no action in the expected format; the message says the format,
    so it can be sent back to the model as is."""


@dataclass(frozen=True)
class ParsedAction:
    """A code action found in model text: the prose before it, the code to run (None when there
    is none), and the separate blocks that were joined into `code`."""

    thought: str
    code: str | None
    blocks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ToolCallRequest:
    """One tool call the model asked for in text: the tool's name and its keyword arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


# No concrete computation in the example: small models copy it verbatim into their next reply.
_MISSING_CODE = (
    "Your reply had no ```python block, so nothing was run. Every reply needs a short Thought "
    "and one ```python block. If you already know the answer, the block only calls "
    "final_answer with it:\n"
    "\n"
    "Thought: I have the answer.\n"
    "```python\n"
    "final_answer(result)\n"
    "```\n"
    "\n"
    "Put your own answer (a value, or a variable you computed earlier) in place of `result`."
)

_TOOL_CALL_FORMAT = (
    'Reply with the tool call as a JSON object, {"name": "<tool name>", "arguments": '
    '{"<argument>": <value>, ...}}, or a list of such objects, in a ```json block, like this:\n'
    "\n"
    "```json\n"
    '{"name": "final_answer", "arguments": {"answer": "Paris"}}\n'
    "```"
)


def missing_code_message() -> str:
    """What to tell the model when its reply had no code: the expected format, with an example."""
    return _MISSING_CODE


def has_statements(code: str) -> bool:
    """Whether `code` does anything: False for a block of only comments and blank lines (small
    models copy a placeholder such as ``# the code for this step``), True otherwise, including
    code that does not parse (running it shows the model its syntax error)."""
    try:
        return bool(ast.parse(code).body)
    except SyntaxError:
        return True


def parse_code_action(text: str) -> ParsedAction:
    """Find the Python code in a model reply.

    Python fences (tagged py, python, python3 or untagged) and ``<code>…</code>`` blocks are
    collected in order and joined with a blank line. Untagged fences count only when no block is
    marked as Python (they are often made-up output), fences in another language only when there
    is nothing else. A last block left open (the stream stopped at a stop sequence) runs to the
    end of the text. With no block at all, a reply that is entirely Python statements is taken as
    code. `thought` is the prose before the code, without "Thought:"/"Code:" labels.
    """
    reasoning, body = _split_reasoning(_normalize(text))
    blocks = _scan(body)
    chosen = (
        [block for block in blocks if block.python and block.tagged]
        or [block for block in blocks if block.python]
        or blocks
    )
    used = [block for block in chosen if block.code.strip()]
    if used:
        codes = [block.code for block in used]
        thought = _strip_labels(_prose_before(body, blocks, used[0])) or reasoning
        return ParsedAction(thought=thought, code="\n\n".join(codes), blocks=codes)
    if not blocks:
        bare = _bare_code(body)
        if bare is not None:
            thought, code = bare
            return ParsedAction(thought=thought or reasoning, code=code, blocks=[code])
    prose = body[: blocks[0].start] if blocks else body
    if not blocks:
        stated = _stated_final_answer(body)
        if stated is not None:
            return ParsedAction(thought=_strip_labels(prose) or reasoning, code=stated, blocks=[])
    return ParsedAction(thought=_strip_labels(prose) or reasoning, code=None, blocks=[])


_FINAL_CALL = re.compile(r"^\W*final[_ ]answer\s*(\(.*\))\W*$", re.IGNORECASE)
_FINAL_LABEL = re.compile(r"^\W*final answer\W*\s*[:=]\s*(.+?)\s*$", re.IGNORECASE)


def _stated_final_answer(body: str) -> str | None:
    """``final_answer(...)`` code for a reply with no code block that states its answer on a
    line of its own: ``Final answer(42)`` or ``Final answer: Paris``. Small models often
    write that after seeing the result; taking it as meant saves a step. Anything less clear
    gets the missing-code message instead."""
    lines = [line.strip() for line in body.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        call = _FINAL_CALL.match(line)
        if call is not None:
            code = f"final_answer{call.group(1)}"
            try:
                ast.parse(code)
            except SyntaxError:
                return None
            return code
        label = _FINAL_LABEL.match(line)
        if label is not None:
            value = label.group(1).strip().rstrip(".").strip("*`").strip()
            try:
                literal = ast.literal_eval(value)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                literal = value.strip("'\"")
            return f"final_answer({literal!r})" if value else None
    return None


def is_complete_action(text: str) -> bool:
    """True once `text` holds a closed Python block (fence or ``</code>``), so a stream can be cut
    there. A fence line inside a still-open string in the code does not count as the close."""
    _, body = _split_reasoning(_normalize(text))
    return any(block.python and block.closed and block.certain for block in _scan(body))


def parse_json_tool_calls(text: str) -> list[ToolCallRequest]:
    """The tool calls in a reply written for models without native tool calling.

    Accepts ``{"name": ..., "arguments": {...}}`` or a list of them, in fences or bare among
    prose (``arguments`` may also be a JSON string, and a few common spellings of the keys are
    understood). Fenced JSON wins over bare JSON. Raises `ActionParseError` when there is none.
    """
    _, body = _split_reasoning(_normalize(text))
    found_json = False
    for source in [*(block.code for block in _scan(body)), body]:
        calls, seen = _calls_in(source)
        if calls:
            return calls
        found_json = found_json or seen
    if found_json:
        raise ActionParseError(
            'Your reply has JSON, but no tool call in it (a call needs a "name" and '
            f'"arguments"). {_TOOL_CALL_FORMAT}'
        )
    raise ActionParseError(f"Your reply has no tool call. {_TOOL_CALL_FORMAT}")


# ------------------------------------------------------------------------------ finding blocks

_PYTHON_LANGUAGES = frozenset({"", "py", "python", "python3", "py3", "ipython", "ipython3"})

# An opening fence: a line of 3+ backticks, then nothing or an info string starting with a word
# character (so "```<end_code>" never opens a block).
_FENCE_OPEN = re.compile(r"^[ \t]*(?P<ticks>`{3,})[ \t]*(?P<info>\w[^`\n]*)?$", re.MULTILINE)
# A closing fence: 3+ backticks, then nothing or a marker such as "<end_code>" (not a language).
_FENCE_CLOSE = re.compile(r"^[ \t]*(?P<ticks>`{3,})[ \t]*(?:[^\w\s`][^\n]*)?$", re.MULTILINE)
# A closing fence glued to the last line of code ("print(x)```"), as small models sometimes write.
_GLUED_CLOSE = re.compile(r"[ \t]*`{3,}[ \t]*(?:<end_code>)?[ \t]*\Z", re.IGNORECASE)
_TAG_OPEN = re.compile(r"<code>", re.IGNORECASE)
_TAG_CLOSE = re.compile(r"</code>", re.IGNORECASE)
_END_CODE = re.compile(r"\s*<end_code>\s*$", re.IGNORECASE)
_THINK = re.compile(r"^\s*<think>(?P<reasoning>.*?)(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_THOUGHT_LABEL = re.compile(r"^[\s*_#]*thoughts?[ \t]*[*_]*:[*_]*[ \t]*", re.IGNORECASE)
_CODE_LABEL = re.compile(r"^[ \t*_#]*code[ \t]*[*_]*:[*_]*[ \t]*$", re.IGNORECASE | re.MULTILINE)

#: How many candidate closing lines of one block are tried before taking the first.
_MAX_CANDIDATES = 50


@dataclass
class _Block:
    start: int
    end: int
    python: bool
    tagged: bool  # marked as code (a language tag or <code>), not an untagged fence
    code: str
    closed: bool
    certain: bool  # closed at a line that is not inside a string of the code


def _normalize(text: str) -> str:
    return (text or "").replace("\r\n", "\n").replace("\r", "\n")


def _split_reasoning(text: str) -> tuple[str, str]:
    """Split a leading ``<think>…</think>`` off; code inside it is not the action."""
    match = _THINK.match(text)
    if match is None:
        return "", text
    return match.group("reasoning").strip(), text[match.end() :]


def _scan(text: str, tags: bool = True) -> list[_Block]:
    """Every fenced (and, if `tags`, tagged) block in `text`, in order; a block's inside is not
    searched for further openings (except a fence inside a ``<code>`` tag, which is unwrapped)."""
    blocks: list[_Block] = []
    position = 0
    while position < len(text):
        fence = _FENCE_OPEN.search(text, position)
        tag = _TAG_OPEN.search(text, position) if tags else None
        if fence is None and tag is None:
            break
        if tag is not None and (fence is None or tag.start() < fence.start()):
            block = _tag_block(text, tag)
        else:
            assert fence is not None
            block = _fence_block(text, fence)
        blocks.append(block)
        position = max(block.end, position + 1)
    return blocks


def _fence_block(text: str, opening: re.Match[str]) -> _Block:
    language = (opening.group("info") or "").split()
    language = language[0].lower().strip("{}.") if language else ""
    body_start = min(opening.end() + 1, len(text))
    ticks = len(opening.group("ticks"))
    closings = [
        match
        for match in _FENCE_CLOSE.finditer(text, body_start)
        if len(match.group("ticks")) >= ticks
    ]
    code, end, closed, certain = _close(
        text, body_start, [(m.start(), m.end()) for m in closings], _clean, triple_only=True
    )
    if not closed:
        code = _GLUED_CLOSE.sub("", code)
    python = language in _PYTHON_LANGUAGES
    return _Block(opening.start(), end, python, bool(language), code, closed, certain)


def _tag_block(text: str, opening: re.Match[str]) -> _Block:
    closings = [(m.start(), m.end()) for m in _TAG_CLOSE.finditer(text, opening.end())]
    code, end, closed, certain = _close(text, opening.end(), closings, _tag_code, triple_only=False)
    return _Block(opening.start(), end, True, True, code, closed, certain)


def _close(
    text: str,
    body_start: int,
    closings: list[tuple[int, int]],
    extract: Callable[[str], str],
    triple_only: bool,
) -> tuple[str, int, bool, bool]:
    """Pick the closing line of a block: the first one not inside a string of the code before
    it, else the first one; with none, the block runs to the end. Returns (code, end, closed,
    certain)."""
    for start, end in closings[:_MAX_CANDIDATES]:
        code = extract(text[body_start:start])
        if not _ends_inside_string(code, triple_only):
            return code, end, True, True
    if closings:
        start, end = closings[0]
        return extract(text[body_start:start]), end, True, False
    return extract(text[body_start:]), len(text), False, False


def _ends_inside_string(code: str, triple_only: bool) -> bool:
    """Whether `code` stops inside an unterminated string literal (so what closed it was text in
    the string, not the end of the block)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(code)
    except SyntaxError as exc:
        message = str(exc.msg)
        if triple_only:
            return "unterminated triple-quoted string" in message
        return "unterminated" in message and "string" in message
    except (ValueError, RecursionError, MemoryError):
        return False
    return False


def _clean(raw: str) -> str:
    """Block text as code: no trailing ``<end_code>``, dedented, no blank lines around it."""
    raw = _END_CODE.sub("", raw)
    return textwrap.dedent(raw).strip("\n").rstrip()


def _tag_code(raw: str) -> str:
    """The code inside ``<code>…</code>``: the Python fences in it if it has any, else all of it."""
    inner = [block.code for block in _scan(raw, tags=False) if block.python and block.code.strip()]
    return "\n\n".join(inner) if inner else _clean(raw)


def _prose_before(body: str, blocks: list[_Block], first: _Block) -> str:
    """The text before `first`, without the blocks in it (say a ```bash block before the code)."""
    parts = []
    position = 0
    for block in blocks:
        if block is first:
            break
        parts.append(body[position : block.start])
        position = block.end
    parts.append(body[position : first.start])
    return "\n".join(part.strip("\n") for part in parts if part.strip())


def _strip_labels(prose: str) -> str:
    prose = _THOUGHT_LABEL.sub("", prose.strip(), count=1)
    labels = list(_CODE_LABEL.finditer(prose))
    if labels and not prose[labels[-1].end() :].strip():
        prose = prose[: labels[-1].start()]
    return prose.strip()


def _bare_code(body: str) -> tuple[str, str] | None:
    """A reply with no block at all that is nothing but Python statements (after an optional
    "Code:" label) is code; a lone name or constant ("Yes", "42") or ``Answer: Paris`` is not."""
    labels = list(_CODE_LABEL.finditer(body))
    prose, candidate = (
        (body[: labels[-1].start()], body[labels[-1].end() :]) if labels else ("", body)
    )
    code = _clean(candidate)
    if not code:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if not any(_is_code_like(node) for node in tree.body):
        return None
    return _strip_labels(prose), code


def _is_code_like(node: ast.stmt) -> bool:
    if isinstance(node, ast.Expr):
        return not isinstance(node.value, ast.Name | ast.Constant | ast.Attribute)
    if isinstance(node, ast.AnnAssign):
        return node.value is not None
    return True


# -------------------------------------------------------------------------- JSON tool calls

_JSON_START = re.compile(r"[{\[]")
_NAME_KEYS = ("name", "tool", "tool_name", "function", "action")
_ARGUMENT_KEYS = ("arguments", "parameters", "args", "input", "action_input")


def _calls_in(source: str) -> tuple[list[ToolCallRequest], bool]:
    """The calls in the JSON values found in `source`, and whether any JSON value was found."""
    calls: list[ToolCallRequest] = []
    seen = False
    for value in _json_values(source):
        seen = True
        calls.extend(_as_calls(value))
    return calls, seen


def _json_values(source: str) -> list[Any]:
    """Every JSON object or array in `source` that decodes, scanning past prose between them."""
    decoder = json.JSONDecoder()
    values = []
    position = 0
    while True:
        match = _JSON_START.search(source, position)
        if match is None:
            return values
        try:
            value, end = decoder.raw_decode(source, match.start())
        except ValueError:
            position = match.start() + 1
            continue
        values.append(value)
        position = end


def _as_calls(value: Any) -> list[ToolCallRequest]:
    if isinstance(value, list):
        calls = [_as_call(item) for item in value]
        if calls and all(call is not None for call in calls):
            return calls  # type: ignore[return-value]
        return []
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
        return _as_calls(value["tool_calls"])
    call = _as_call(value)
    return [call] if call is not None else []


def _as_call(value: Any) -> ToolCallRequest | None:
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):  # OpenAI's {"type": "function", "function": {…}}
        value = value["function"]
    name = next((value[k] for k in _NAME_KEYS if isinstance(value.get(k), str)), None)
    key = next((k for k in _ARGUMENT_KEYS if k in value), None)
    if not name or not name.strip() or key is None:
        return None
    arguments = value[key]
    if isinstance(arguments, str):
        if not arguments.strip():
            arguments = {}
        else:
            try:
                arguments = json.loads(arguments)
            except ValueError:
                return None
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return None
    return ToolCallRequest(name=name.strip(), arguments=arguments)
