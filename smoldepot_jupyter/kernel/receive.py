"""One execute request, followed to its end: the poll loop over iopub, shell and stdin; the reply.

The loop ends only when both the execute_reply and the idle status of that request have arrived,
or when the kernel must be given up on (dead, heartbeat lost, deaf to an interrupt); it answers
the sidecar's stdin requests through the tool bridge as they come.
"""

from __future__ import annotations

import ast
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq
from jupyter_client import BlockingKernelClient

from .bridge import ToolBridge
from .execution import Execution, ExecutionError
from .observation import strip_ansi
from .outputs import OutputCollector

__all__ = ["Request", "apply_reply", "receive"]

_ALIVE_INTERVAL = 0.2
_HEARTBEAT_GRACE = 1.0
_IDLE_AFTER_REPLY = 5.0
_MAX_DRAIN = 500


@dataclass
class Request:
    """What the loop needs to follow one request to its end."""

    client: BlockingKernelClient
    poller: zmq.Poller
    bridge: ToolBridge
    msg_id: str
    execution: Execution
    collector: OutputCollector
    interrupt: Callable[[], None]
    kernel_alive: Callable[[], bool]
    interrupt_grace: float


def _drain(socket: zmq.Socket, session: Any) -> list[dict[str, Any]]:
    messages = []
    for _ in range(_MAX_DRAIN):
        try:
            frames = socket.recv_multipart(zmq.NOBLOCK, copy=True)
        except zmq.Again:
            break
        _, parts = session.feed_identities(frames)
        messages.append(session.deserialize(parts))
    return messages


def receive(
    request: Request, timeout: float, interrupted: bool = False
) -> tuple[dict[str, Any] | None, str | None]:
    """Follow the request until reply and idle. Returns ``(reply_content, None)``, or
    ``(None, what_went_wrong)`` when the kernel must be restarted. Past `timeout` the kernel is
    interrupted (and `execution.timed_out` set); `interrupted` means that already happened.
    Time spent answering on the host (running tools) does not count against `timeout`."""
    kc, execution, msg_id = request.client, request.execution, request.msg_id
    iopub, shell, stdin = (
        kc.iopub_channel.socket,
        kc.shell_channel.socket,
        kc.stdin_channel.socket,
    )
    session = kc.session
    now = time.monotonic()
    deadline = now + timeout
    grace_deadline = now + request.interrupt_grace if interrupted else None
    next_alive_check = now + _ALIVE_INTERVAL
    silent_heart_since: float | None = None
    reply: dict[str, Any] | None = None
    reply_at = 0.0
    idle = False
    while reply is None or not idle:
        now = time.monotonic()
        if grace_deadline is None and now >= deadline:
            execution.timed_out = True
            request.interrupt()
            grace_deadline = now + request.interrupt_grace
        if grace_deadline is not None and now >= grace_deadline:
            return None, "stopped responding to an interrupt"
        if reply is not None and now - reply_at > _IDLE_AFTER_REPLY:
            break
        if now >= next_alive_check:
            next_alive_check = now + _ALIVE_INTERVAL
            if not request.kernel_alive():
                return None, "died"
            if kc.hb_channel.is_beating():
                silent_heart_since = None
            elif silent_heart_since is None:
                silent_heart_since = now
            elif now - silent_heart_since > _HEARTBEAT_GRACE:
                return None, "stopped answering its heartbeat"
        until = min(deadline if grace_deadline is None else grace_deadline, next_alive_check)
        wait_ms = max(0, min(int((until - now) * 1000) + 1, 200))
        ready = dict(request.poller.poll(wait_ms))
        if stdin in ready:
            for msg in _drain(stdin, session):
                if (
                    msg["header"]["msg_type"] == "input_request"
                    and msg["parent_header"].get("msg_id") == msg_id
                ):
                    content = msg["content"]
                    prompt, password = str(content.get("prompt", "")), bool(content.get("password"))
                    host_started = time.monotonic()
                    kc.input(request.bridge.answer(prompt, password, execution))
                    # Time in host tools is not the action's: only the sidecar's code is timed.
                    spent = time.monotonic() - host_started
                    deadline += spent
                    next_alive_check += spent
        if shell in ready:
            for msg in _drain(shell, session):
                if (
                    msg["header"]["msg_type"] == "execute_reply"
                    and msg["parent_header"].get("msg_id") == msg_id
                ):
                    reply = msg["content"]
                    reply_at = time.monotonic()
        if iopub in ready:
            for msg in _drain(iopub, session):
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["header"]["msg_type"] == "status":
                    idle = idle or msg["content"].get("execution_state") == "idle"
                else:
                    request.collector.add(msg)
    return reply, None


def apply_reply(
    reply: dict[str, Any], execution: Execution, timeout: float, interrupt_requested: bool
) -> None:
    """Record what the execute_reply says: count, dropped output, exit attempts, the error."""
    execution.execution_count = reply.get("execution_count")
    after = reply.get("user_expressions", {}).get("after", {})
    if after.get("status") == "ok":
        with contextlib.suppress(KeyError, ValueError, SyntaxError, TypeError):
            facts = ast.literal_eval(after["data"]["text/plain"])
            execution.dropped_output_chars += int(facts.get("dropped", 0))
            execution.files_read = [str(f) for f in facts.get("files", []) if isinstance(f, str)]
    for payload in reply.get("payload", []):
        if payload.get("source") == "ask_exit":
            execution.notes.append(
                "[exit() does not end anything here: the kernel keeps running and so does "
                "the code after it. To finish, call final_answer(...).]"
            )
    if reply.get("status") == "ok":
        return
    ename = reply.get("ename", "Error")
    if ename == "FinalAnswerSignal" and execution.has_final_answer:
        return
    traceback = [strip_ansi(line) for line in reply.get("traceback", [])]
    execution.error = ExecutionError(ename, strip_ansi(str(reply.get("evalue", ""))), traceback)
    if execution.timed_out:
        execution.error = ExecutionError(
            "TimeoutError",
            f"the action ran longer than {timeout:g} s and was interrupted",
            traceback,
        )
        execution.notes.append(
            f"[The action was stopped after {timeout:g} s: it ran past its time limit. "
            "Variables assigned before that point are kept. Make it faster or do less per step.]"
        )
    elif ename == "KeyboardInterrupt" and interrupt_requested:
        execution.notes.append(
            "[The action was interrupted. Variables assigned before that point are kept.]"
        )
    elif ename == "SystemExit":
        execution.notes.append(
            "[exit() / sys.exit() ended only this action; the kernel and its variables remain. "
            "To finish, call final_answer(...).]"
        )
