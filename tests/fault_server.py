"""`FaultyOpenAIServer`: the fake OpenAI server of `fake_openai_server`, plus replies that break
the wire itself (for fault-injection tests and ``benchmarks/faults.py``).

Two more scripted items, queued with `script` like `Reply` and `Failure`:

- `Truncated`: a streamed reply whose connection is closed after `after` chunks, with no final
  chunk and no ``data: [DONE]`` (a server or proxy that died mid-answer).
- `Garbage`: `data` written to the socket as they are, then the connection closed. With
  ``http=True`` (the default) they follow a ``200`` status line and an event-stream header, so
  they are garbage where the server-sent events should be; with ``http=False`` nothing precedes
  them, so not even the status line is HTTP.

Standard library only, like the server it extends.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai_server import (
    Failure,
    FakeOpenAIServer,
    RecordedRequest,
    Reply,
    _stream_chunks,
)

__all__ = ["Failure", "FaultyOpenAIServer", "Garbage", "Reply", "Truncated"]


@dataclass
class Truncated(Reply):
    """A streamed `Reply` cut off after `after` chunks (the first is the role chunk)."""

    after: int = 3


@dataclass
class Garbage(Reply):
    """Bytes that are not a chat completion, written as they are."""

    data: bytes = b"\x00\xff\xfe garbage \x89PNG\r\n\x1a\n"
    http: bool = True


class FaultyOpenAIServer(FakeOpenAIServer):
    """`FakeOpenAIServer` that also plays `Truncated` and `Garbage` items."""

    def __init__(self, default: Reply | Failure | None = None) -> None:
        super().__init__(default)
        base = self._httpd.RequestHandlerClass

        class Handler(base):  # type: ignore[misc, valid-type]
            def _send_stream(self, reply: Reply, body: dict[str, Any], record: RecordedRequest):
                if isinstance(reply, Garbage):
                    _send_garbage(self, reply, record)
                elif isinstance(reply, Truncated):
                    _send_truncated(self, reply, body, record)
                else:
                    super()._send_stream(reply, body, record)

        self._httpd.RequestHandlerClass = Handler


def _hang_up(handler: Any) -> None:
    """Close the connection at once, without any further bytes."""
    handler.close_connection = True
    handler.wfile.flush()
    with contextlib.suppress(OSError):
        handler.connection.shutdown(socket.SHUT_RDWR)


def _send_garbage(handler: Any, garbage: Garbage, record: RecordedRequest | None) -> None:
    if garbage.http:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
    handler.wfile.write(garbage.data)
    if record is not None:
        record.chunks_sent += 1
    _hang_up(handler)


def _send_truncated(
    handler: Any, reply: Truncated, body: dict[str, Any], record: RecordedRequest
) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Cache-Control", "no-cache")
    handler.end_headers()
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    for chunk in _stream_chunks(reply, body, include_usage):
        if record.chunks_sent >= reply.after:
            break
        handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        handler.wfile.flush()
        record.chunks_sent += 1
    _hang_up(handler)
