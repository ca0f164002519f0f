"""Turning nbformat outputs into the text a model reads.

ANSI codes stripped, ``\\r``/``\\b`` collapsed as a terminal would, images as one line with their
size, tracebacks shortened to the frames of the action, long text cut head+tail with a note.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Iterable, Mapping
from typing import Any

from .error_hints import error_hint

__all__ = [
    "as_text",
    "image_size",
    "outputs_to_text",
    "render_terminal",
    "shorten_traceback",
    "strip_ansi",
    "truncate_middle",
]

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x07\x0b\x0c\x0e-\x1f\x7f]")
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml")
_RUNTIME_FILE = "<smoldepot>"


def strip_ansi(text: str) -> str:
    """Remove ANSI escape sequences (colours, cursor moves, titles)."""
    return _ANSI.sub("", text)


def render_terminal(text: str) -> str:
    """What a terminal would show: ``\\r`` returns to column 0 and overwrites, ``\\b`` steps back
    one column, other control characters (NUL among them) are dropped."""
    if "\r" not in text and "\b" not in text:
        return _CONTROL.sub("", text)
    lines = []
    for raw in text.split("\n"):
        line: list[str] = []
        col = 0
        for ch in raw:
            if ch == "\r":
                col = 0
            elif ch == "\b":
                col = max(col - 1, 0)
            elif _CONTROL.match(ch):
                continue
            else:
                if col < len(line):
                    line[col] = ch
                else:
                    line.append(ch)
                col += 1
        lines.append("".join(line))
    return "\n".join(lines)


def image_size(mime: str, data: str) -> tuple[int, int] | None:
    """Width and height of a base64 PNG, GIF or JPEG, read from its header; None if unknown."""
    try:
        head = base64.b64decode(data[:65536], validate=False)
    except (binascii.Error, ValueError):
        return None
    if mime == "image/png" and head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        return struct.unpack(">II", head[16:24])
    if mime == "image/gif" and head[:4] == b"GIF8" and len(head) >= 10:
        return struct.unpack("<HH", head[6:10])
    if mime == "image/jpeg" and head[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(head):
            if head[i] != 0xFF:
                i += 1
                continue
            marker = head[i + 1]
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE):
                height, width = struct.unpack(">HH", head[i + 5 : i + 9])
                return width, height
            (length,) = struct.unpack(">H", head[i + 2 : i + 4])
            i += 2 + length
    return None


def _image_line(mime: str, data: Any, metadata: Mapping[str, Any]) -> str:
    meta = metadata.get(mime, {}) if isinstance(metadata, Mapping) else {}
    size = None
    if isinstance(meta, Mapping) and "width" in meta and "height" in meta:
        size = (meta["width"], meta["height"])
    elif isinstance(data, str) and mime != "image/svg+xml":
        size = image_size(mime, data)
    return f"[{mime} {size[0]}x{size[1]}]" if size else f"[{mime}]"


def _frame_kind(block: str) -> str:
    first = block.lstrip().split("\n", 1)[0]
    if _RUNTIME_FILE in first:
        return "runtime"
    if first.startswith("Cell In["):
        return "action"
    if first.startswith("File "):
        return "library"
    if first.startswith("[... skipping"):
        return "skip"
    return "other"


def _library_summary(block: str) -> str:
    lines = block.strip("\n").split("\n")
    arrow = [ln for ln in lines if ln.lstrip().startswith("-->")]
    return "\n".join([lines[0], *arrow[:1]])


def _without_repeated_source(block: str, previous: str) -> str:
    """A frame showing the very lines of the frame before it (a comprehension or lambda on the
    caller's line) is cut to its header: the same source twice only costs the model tokens."""
    header, _, source = block.partition("\n")
    if source and previous.partition("\n")[2] == source:
        return header
    return block


def shorten_traceback(traceback: Iterable[str], max_action_frames: int = 8) -> str:
    """An IPython traceback cut to what the model needs: the frames of its own action, the frame
    that raised (one line of it when in library code), and the exception line."""
    blocks = [strip_ansi(b) for b in traceback]
    blocks = [
        b
        for b in blocks
        if b.strip() and not set(b.strip()) <= {"-"} and not b.startswith("An exception has")
    ]
    if not blocks:
        return ""
    header = []
    if "Traceback (most recent call last)" in blocks[0]:
        header = ["Traceback (most recent call last):"]
        blocks = blocks[1:]
    if not blocks:
        return "\n".join(header)
    *frames, last = blocks
    kept: list[str] = []
    library: list[str] = []
    for block in frames:
        kind = _frame_kind(block)
        if kind == "runtime":
            continue
        if kind == "library":
            library.append(block)
            continue
        if library:
            n = len(library)
            kept.append(f"    [... {n} frame{'s' if n > 1 else ''} in library code ...]")
            library = []
        kept.append(_without_repeated_source(block.strip("\n"), kept[-1] if kept else ""))
    if library:
        if len(library) > 1:
            n = len(library) - 1
            kept.append(f"    [... {n} frame{'s' if n > 1 else ''} in library code ...]")
        kept.append(_library_summary(library[-1]))
    action = [i for i, b in enumerate(kept) if b.startswith("Cell In[")]
    if len(action) > max_action_frames:
        head, tail = action[2], action[-(max_action_frames - 2)]
        cut = len([i for i in action if head <= i < tail])
        kept = [*kept[:head], f"    [... {cut} more frames ...]", *kept[tail:]]
    return "\n".join([*header, *kept, last.strip("\n")])


def truncate_middle(text: str, max_chars: int) -> str:
    """Keep the head and tail of `text` within `max_chars`, saying how much was cut between."""
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    head = int(max_chars * 0.4)
    tail = max_chars - head
    cut = len(text) - head - tail
    cut_lines = text.count("\n", head, len(text) - tail)
    note = f"\n[... {cut:,} characters ({cut_lines:,} lines) cut from the middle ...]\n"
    return text[:head] + note + text[len(text) - tail :]


def _data_text(output: Mapping[str, Any]) -> str:
    data = output.get("data", {})
    metadata = output.get("metadata", {})
    images = [_image_line(m, data[m], metadata) for m in _IMAGE_TYPES if m in data]
    if images:
        return "\n".join(images)
    if "text/plain" in data:
        return strip_ansi(as_text(data["text/plain"]))
    if "text/markdown" in data:
        return as_text(data["text/markdown"])
    kinds = ", ".join(sorted(data))
    return f"[{kinds} output]" if kinds else ""


def as_text(value: Any) -> str:
    """An nbformat multiline string (a str, or a list of lines) as one str."""
    return "".join(value) if isinstance(value, list) else str(value)


def outputs_to_text(outputs: Iterable[Mapping[str, Any]]) -> str:
    """The outputs of an action in arrival order, as plain text."""
    parts: list[str] = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            parts.append(render_terminal(strip_ansi(as_text(output.get("text", "")))))
        elif kind in ("execute_result", "display_data"):
            text = _data_text(output)
            if text:
                parts.append(text if text.endswith("\n") else text + "\n")
        elif kind == "error":
            text = shorten_traceback(output.get("traceback") or [])
            if not text:
                text = f"{output.get('ename')}: {output.get('evalue')}"
            hint = error_hint(
                str(output.get("ename", "")), strip_ansi(str(output.get("evalue", "")))
            )
            parts.append(text + "\n" + (f"{hint}\n" if hint else ""))
    return "".join(parts)
