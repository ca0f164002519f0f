"""A tiny OpenAI-compatible chat server on 127.0.0.1 for tests: scripted replies and failures.

Standard library only (`http.server` in a thread). It serves ``POST /v1/chat/completions``, plain
JSON or, with ``"stream": true``, server-sent events ending with a usage chunk. Each request takes
the next scripted item (`Reply` or `Failure`) and is recorded in `requests`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Failure", "FakeOpenAIServer", "RecordedRequest", "Reply"]


@dataclass
class Reply:
    """A successful completion: `text` (streamed in `chunk_size` pieces, `chunk_delay` apart),
    optional OpenAI-format `tool_calls` (streamed argument fragments of `chunk_size`), and the usage
    sent in the final chunk (``None``: no usage chunk at all). `delay` waits before answering;
    `stall` waits that long after `stall_after` chunks of a stream (a server that hangs)."""

    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] | None = field(
        default_factory=lambda: {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    )
    finish_reason: str | None = None
    chunk_size: int = 4
    chunk_delay: float = 0.0
    delay: float = 0.0
    stall_after: int | None = None
    stall: float = 0.0


@dataclass
class Failure:
    """An error response: HTTP `status` with an OpenAI-style error body and extra `headers`
    (e.g. ``{"Retry-After": "0.2"}``), sent after `delay` seconds."""

    status: int = 500
    message: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    code: str | None = None


@dataclass
class RecordedRequest:
    """What the server received, and how the answer went: `disconnected` is True when the client
    closed the connection before the whole stream was written."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float
    chunks_sent: int = 0
    finished: bool = False
    disconnected: bool = False


class FakeOpenAIServer:
    """Serve scripted chat completions on a free port; use as a context manager.

    ``server.script(Failure(429), Reply("hi"))`` queues answers; with the queue empty the server
    answers with `default` (a `Reply`, or a `Failure` to make unscripted calls visible).
    """

    def __init__(self, default: Reply | Failure | None = None) -> None:
        self.default: Reply | Failure = default or Failure(
            500, "no reply scripted for this request"
        )
        self.requests: list[RecordedRequest] = []
        self._queue: list[Reply | Failure] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """The ``api_base`` to give a client: ``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *items: Reply | Failure) -> FakeOpenAIServer:
        with self._lock:
            self._queue.extend(items)
        return self

    def wait_for(self, predicate: Any, timeout: float = 5.0) -> bool:
        """Poll until `predicate()` is true (e.g. a recorded disconnect); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return bool(predicate())

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next(self) -> Reply | Failure:
        with self._lock:
            return self._queue.pop(0) if self._queue else self.default


def _make_handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {"_raw": raw.decode("utf-8", "replace")}
            record = RecordedRequest(self.path, dict(self.headers), body, time.time())
            with server._lock:
                server.requests.append(record)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send_json(404, {"error": {"message": f"no route {self.path}"}})
                return
            item = server._next()
            if item.delay:
                time.sleep(item.delay)
            try:
                if isinstance(item, Failure):
                    self._send_failure(item)
                elif body.get("stream"):
                    self._send_stream(item, body, record)
                else:
                    self._send_json(200, _completion(item, body))
                record.finished = True
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                record.disconnected = True

        def _send_failure(self, failure: Failure) -> None:
            error = {"message": failure.message, "type": "scripted", "code": failure.code}
            self._send_json(failure.status, {"error": error}, failure.headers)

        def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _send_stream(self, reply: Reply, body: dict[str, Any], record: RecordedRequest):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            for chunk in _stream_chunks(reply, body, include_usage):
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                record.chunks_sent += 1
                if reply.chunk_delay:
                    time.sleep(reply.chunk_delay)
                if record.chunks_sent == reply.stall_after:
                    time.sleep(reply.stall)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler


def _finish_reason(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _completion(reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    payload = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(reply)}],
    }
    if reply.usage is not None:
        payload["usage"] = reply.usage
    return payload


def _stream_chunks(reply: Reply, body: dict[str, Any], include_usage: bool):
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    size = max(1, reply.chunk_size)
    yield chunk({"role": "assistant", "content": ""})
    for start in range(0, len(reply.text), size):
        yield chunk({"content": reply.text[start : start + size]})
    for index, call in enumerate(reply.tool_calls):
        function = call.get("function", {})
        head = {"index": index, "id": call.get("id"), "type": "function"}
        head["function"] = {"name": function.get("name"), "arguments": ""}
        yield chunk({"tool_calls": [head]})
        arguments = function.get("arguments", "")
        for start in range(0, len(arguments), size):
            piece = {"index": index, "function": {"arguments": arguments[start : start + size]}}
            yield chunk({"tool_calls": [piece]})
    yield chunk({}, _finish_reason(reply))
    if include_usage and reply.usage is not None:
        final = chunk({})
        final["choices"] = []
        final["usage"] = reply.usage
        yield final
