"""Collecting iopub messages into a list of nbformat outputs, within a size budget.

Outputs are made by ``nbformat.v4.output_from_msg``; consecutive chunks of one stream are merged;
``update_display_data`` and ``clear_output`` are applied as a notebook front end would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["OutputCollector", "OutputListener"]

#: Called as ``listener(event, index, output)`` with event "add", "change" or "clear".
OutputListener = Callable[[str, int, "dict[str, Any] | None"], None]

_OUTPUT_TYPES = {"stream", "display_data", "execute_result", "error"}


def _size(output: dict[str, Any]) -> int:
    if output["output_type"] == "stream":
        return len(output["text"])
    data = output.get("data", {})
    return sum(len(v) if isinstance(v, str) else len(str(v)) for v in data.values())


class OutputCollector:
    """The outputs of one execution, kept within `max_chars` (errors are always kept)."""

    def __init__(self, max_chars: int, listener: OutputListener | None = None) -> None:
        self.max_chars = max_chars
        self.outputs: list[dict[str, Any]] = []
        self.kept_chars = 0
        self.dropped_chars = 0
        self.dropped_outputs = 0
        self._listener = listener
        self._display_ids: dict[str, list[int]] = {}
        self._clear_on_next = False

    def _notify(self, event: str, index: int, output: dict[str, Any] | None) -> None:
        if self._listener is not None:
            self._listener(event, index, output)

    def _clear(self) -> None:
        self.outputs.clear()
        self._display_ids.clear()
        self.kept_chars = 0
        self._clear_on_next = False
        self._notify("clear", 0, None)

    def add(self, msg: dict[str, Any]) -> None:
        """Apply one iopub message (others than outputs are ignored)."""
        msg_type = msg["header"]["msg_type"]
        content = msg["content"]
        if msg_type == "clear_output":
            if content.get("wait"):
                self._clear_on_next = True
            else:
                self._clear()
            return
        if msg_type == "update_display_data":
            self._update_display(content)
            return
        if msg_type not in _OUTPUT_TYPES:
            return
        if self._clear_on_next:
            self._clear()
        from nbformat.v4 import output_from_msg  # imported on first use: it takes a while

        output = output_from_msg(msg)
        if msg_type == "error":
            output["traceback"] = list(output.get("traceback", []))
        size = _size(output)
        room = self.max_chars - self.kept_chars
        last = self.outputs[-1] if self.outputs else None
        if msg_type == "stream":
            text = output["text"]
            if size > room:
                self.dropped_chars += size - max(room, 0)
                if room <= 0:
                    return
                text = text[:room]
            self.kept_chars += len(text)
            if (
                last is not None
                and last["output_type"] == "stream"
                and last["name"] == output["name"]
            ):
                last["text"] += text
                self._notify("change", len(self.outputs) - 1, last)
                return
            output["text"] = text
        elif msg_type != "error":
            if size > room:
                self.dropped_chars += size
                self.dropped_outputs += 1
                return
            self.kept_chars += size
        self.outputs.append(output)
        display_id = content.get("transient", {}).get("display_id")
        if display_id:
            self._display_ids.setdefault(display_id, []).append(len(self.outputs) - 1)
        self._notify("add", len(self.outputs) - 1, output)

    def _update_display(self, content: dict[str, Any]) -> None:
        display_id = content.get("transient", {}).get("display_id")
        for index in self._display_ids.get(display_id, []):
            output = self.outputs[index]
            output["data"] = content.get("data", {})
            output["metadata"] = content.get("metadata", {})
            self._notify("change", index, output)
