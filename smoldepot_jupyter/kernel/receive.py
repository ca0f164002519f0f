"""One execute request, followed to its end: the poll loop over iopub, shell and stdin; the reply.

The loop ends only when both the execute_reply and the idle status of that request have arrived,
or when the kernel must be given up on (dead, heartbeat lost, deaf to an interrupt); it answers
the sidecar's stdin requests through the tool bridge as they come.
"""

from __future__ import annotations

import ast
import hmac
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
        msg = _deserialize(session, frames)
        if msg is not None:
            messages.append(msg)
    return messages


def _deserialize(session: Any, frames: list[bytes]) -> dict[str, Any] | None:
    """The message in `frames`; None when it is not a signed message at all. A signed message
    whose content cannot be decoded (nested too deeply, too large) keeps its header and parent
    and gets empty content and an ``"unreadable"`` entry saying why, so that what it answers
    (an input request, the reply) is still answered or seen."""
    try:
        _, parts = session.feed_identities(frames)
    except Exception:
        return None
    try:
        return session.deserialize(parts)
    except Exception as exc:
        why = f"{type(exc).__name__}: {str(exc)[:200]}"
        if "Signature" in why or "Unsigned" in why:  # forged, or a replay: never read
            return None
    try:
        if session.auth is not None and not hmac.compare_digest(parts[0], session.sign(parts[1:5])):
            return None
        header, parent = session.unpack(parts[1]), session.unpack(parts[2])
    except Exception:
        return None
    if not (isinstance(header, dict) and isinstance(parent, dict)):
        return None
    return {"header": header, "parent_header": parent, "content": {}, "unreadable": why}


def _kind(msg: dict[str, Any], msg_id: str) -> str | None:
    """The message's type if it belongs to request `msg_id`, else None."""
    header, parent = msg.get("header"), msg.get("parent_header")
    if not (isinstance(header, dict) and isinstance(parent, dict)):
        return None
    if parent.get("msg_id") != msg_id:
        return None
    kind = header.get("msg_type")
    return kind if isinstance(kind, str) else None


def _answer_input(request: Request, msg: dict[str, Any]) -> None:
    """Answer one input request: always, so that the kernel never waits on stdin. Only the
    host's own interrupt is raised again, after the kernel got its answer."""
    kc, bridge = request.client, request.bridge
    content = msg.get("content")
    content = content if isinstance(content, dict) else {}
    prompt, password = str(content.get("prompt", "")), bool(content.get("password"))
    if "unreadable" in msg:
        kc.input(bridge.failure_reply("", f"the request could not be read ({msg['unreadable']})"))
        return
    try:
        reply = bridge.answer(prompt, password, request.execution)
    except KeyboardInterrupt:
        kc.input(bridge.failure_reply(prompt, "the host was interrupted"))
        raise
    except BaseException as exc:  # answer() does not raise; this is the last line of defence
        reply = bridge.failure_reply(prompt, f"the host could not answer ({type(exc).__name__})")
    kc.input(reply)


def _unreadable_reply(why: str) -> dict[str, Any]:
    return {
        "status": "error",
        "ename": "UnreadableReply",
        "evalue": f"the kernel's reply to this action could not be read ({why})",
        "traceback": [],
    }


def _collect(request: Request, msg: dict[str, Any]) -> None:
    """Add one output message to the collector; one that cannot be kept is left out, and the
    execution says so (the outputs already kept stay as they are)."""
    kind = msg["header"].get("msg_type")
    why = msg.get("unreadable")
    if why is None:
        try:
            request.collector.add(msg)
            return
        except Exception as exc:
            why = f"{type(exc).__name__}: {str(exc)[:200]}"
    request.execution.notes.append(f"[An output of the action ({kind}) was left out: {why}.]")


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
                if _kind(msg, msg_id) == "input_request":
                    host_started = time.monotonic()
                    _answer_input(request, msg)
                    # Time in host tools is not the action's: only the sidecar's code is timed.
                    spent = time.monotonic() - host_started
                    deadline += spent
                    next_alive_check += spent
        if shell in ready:
            for msg in _drain(shell, session):
                if _kind(msg, msg_id) == "execute_reply":
                    content = msg.get("content")
                    reply = content if isinstance(content, dict) else {}
                    if "unreadable" in msg:
                        reply = _unreadable_reply(msg["unreadable"])
                    reply_at = time.monotonic()
        if iopub in ready:
            for msg in _drain(iopub, session):
                kind = _kind(msg, msg_id)
                if kind is None:
                    continue
                if kind == "status":
                    content = msg.get("content")
                    state = content.get("execution_state") if isinstance(content, dict) else None
                    idle = idle or state == "idle"
                else:
                    _collect(request, msg)
    return reply, None


def _facts(reply: dict[str, Any]) -> dict[str, Any]:
    """What ``__smoldepot__.after_action()`` reported in the reply's user expressions (empty
    when it did not run: after an error, or when model code broke it)."""
    expressions = reply.get("user_expressions")
    after = expressions.get("after") if isinstance(expressions, dict) else None
    if not (isinstance(after, dict) and after.get("status") == "ok"):
        return {}
    try:
        facts = ast.literal_eval(after["data"]["text/plain"])
    except Exception:  # a repr that is not a literal, too deep, too large: no facts
        return {}
    return facts if isinstance(facts, dict) else {}


def _apply_facts(facts: dict[str, Any], execution: Execution) -> None:
    """Dropped output, files read, the sidecar plumbing model code replaced (restored since),
    and output from threads of earlier actions that was left out."""
    dropped, late = facts.get("dropped", 0), facts.get("late", 0)
    if isinstance(dropped, int):
        execution.dropped_output_chars += dropped
    files = facts.get("files", [])
    if isinstance(files, list):
        execution.files_read = [f for f in files if isinstance(f, str)]
    restored = facts.get("restored", [])
    if isinstance(restored, list) and restored:
        names = ", ".join(str(name) for name in restored)
        one = len(restored) == 1
        execution.notes.append(
            f"[{names} {'was' if one else 'were'} replaced or removed by the code and "
            f"{'has' if one else 'have'} been restored: the agent's kernel relies on "
            f"{'it' if one else 'them'}.]"
        )
    if isinstance(late, int) and late > 0:
        execution.notes.append(
            f"[{late:,} characters printed by threads started in earlier actions were left "
            "out: a thread's output is shown while the action that started it runs.]"
        )


def apply_reply(
    reply: dict[str, Any], execution: Execution, timeout: float, interrupt_requested: bool
) -> None:
    """Record what the execute_reply says: count, dropped output, exit attempts, the error."""
    count = reply.get("execution_count")
    execution.execution_count = count if isinstance(count, int) else None
    _apply_facts(_facts(reply), execution)
    payloads = reply.get("payload")
    for payload in payloads if isinstance(payloads, list) else []:
        if isinstance(payload, dict) and payload.get("source") == "ask_exit":
            execution.notes.append(
                "[exit() does not end anything here: the kernel keeps running and so does "
                "the code after it. To finish, call final_answer(...).]"
            )
    if reply.get("status") == "ok":
        return
    ename = str(reply.get("ename", "Error"))
    if ename == "FinalAnswerSignal" and execution.has_final_answer:
        return
    lines = reply.get("traceback")
    traceback = [strip_ansi(str(line)) for line in (lines if isinstance(lines, list) else [])]
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
