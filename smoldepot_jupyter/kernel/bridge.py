"""The host side of the tool bridge: answering the sidecar's ``input()`` requests.

A request is the private prefix followed by JSON. The host decodes it as JSON only (never
pickle), runs the real tool in this process, and answers with JSON, or a pickle of a result that
is not JSON (host -> sidecar only). Prompts without the prefix are model code's own ``input()``.

Every request gets a reply, whatever it holds: a request that cannot be decoded, a tool that
raises anything (``SystemExit`` and ``KeyboardInterrupt`` included), runs past `tool_timeout` or
returns too much, each becomes an error reply the sidecar raises as ``ToolError``.
"""

from __future__ import annotations

import base64
import contextvars
import inspect
import json
import keyword
import pickle
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .execution import Execution, SidecarObject, ToolCall

__all__ = ["BUILTIN_NAMES", "InputHandler", "ToolBridge", "tool_spec"]

#: ``input_handler(prompt, password) -> str`` answers model code's own ``input()`` calls.
InputHandler = Callable[[str, bool], str]

#: Names the sidecar always defines; tools may not take them.
BUILTIN_NAMES = frozenset({"final_answer", "ToolError"})

_NO_INPUT = (
    "input() has no one to answer it: this code runs unattended in the agent's sidecar kernel. "
    "Put the values in the code instead, or ask through a tool if one is offered for that."
)


def _is_json(value: Any, depth: int = 0) -> bool:
    if depth > 100:
        return False
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return value == value and value not in (float("inf"), float("-inf"))
    if type(value) is list:
        return all(_is_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _is_json(v, depth + 1) for k, v in value.items())
    return False


def _tool_name(tool: Any) -> str:
    name = getattr(tool, "name", None)
    if not isinstance(name, str):
        name = getattr(tool, "__name__", None)
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(
            f"cannot register {tool!r} as a tool: it needs a `name` that is a Python identifier"
        )
    return name


def _target(tool: Any) -> Callable[..., Any]:
    """The callable that runs the tool, and whose signature the stub copies."""
    if hasattr(tool, "name") and hasattr(tool, "forward") and not inspect.isfunction(tool):
        return tool.forward
    if callable(tool):
        return tool
    raise TypeError(
        f"cannot register {tool!r} as a tool: it is neither callable nor has a `forward` method"
    )


def _doc(tool: Any, target: Callable[..., Any]) -> str:
    description = getattr(tool, "description", None)
    inputs = getattr(tool, "inputs", None)
    if isinstance(description, str) and description:
        lines = [description.strip()]
        if isinstance(inputs, dict) and inputs:
            lines += ["", "Args:"]
            for arg, info in inputs.items():
                info = info if isinstance(info, dict) else {}
                kind = info.get("type", "any")
                lines.append(f"    {arg} ({kind}): {info.get('description', '')}".rstrip())
        output_type = getattr(tool, "output_type", None)
        if isinstance(output_type, str):
            lines += ["", f"Returns: {output_type}"]
        return "\n".join(lines)
    return inspect.getdoc(target) or inspect.getdoc(tool) or ""


def _annotation_text(annotation: Any) -> str:
    # Under `from __future__ import annotations` hints are already source text.
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def _param_spec(parameter: inspect.Parameter) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": parameter.name, "kind": parameter.kind.name}
    if parameter.default is not inspect.Parameter.empty:
        if _is_json(parameter.default):
            spec["default"] = parameter.default
        else:
            spec["default_repr"] = repr(parameter.default)
    if parameter.annotation is not inspect.Parameter.empty:
        spec["annotation"] = _annotation_text(parameter.annotation)
    return spec


def tool_spec(tool: Any) -> dict[str, Any]:
    """What the sidecar needs to build a stub: name, parameters, docstring, return annotation."""
    name = _tool_name(tool)
    target = _target(tool)
    spec: dict[str, Any] = {"name": name, "doc": _doc(tool, target), "params": None}
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return spec
    spec["params"] = [_param_spec(p) for p in signature.parameters.values()]
    if signature.return_annotation is not inspect.Signature.empty:
        spec["returns"] = _annotation_text(signature.return_annotation)
    return spec


def _describe(exc: BaseException) -> str:
    """``"Type: message"`` for any exception, even one whose ``__str__`` fails."""
    try:
        text = str(exc)
    except Exception:
        text = "(its message could not be read)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class _Outcome:
    """What one tool call came to: its result, what it raised, or that it did not return."""

    result: Any = None
    error: BaseException | None = None
    timed_out: bool = False
    seconds: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)


def _serve(jobs: queue.SimpleQueue[Any]) -> None:
    """The tool thread's loop: run each job until a ``None`` tells it to end."""
    while True:
        job = jobs.get()
        if job is None:
            return
        context, tool, args, kwargs, outcome = job
        del job
        try:
            outcome.result = context.run(tool, *args, **kwargs)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt...: the tool's, not ours
            outcome.error = exc
        finally:
            outcome.done.set()
            del context, tool, args, kwargs, outcome


#: How often the host, waiting for a tool, looks for a signal it may have missed.
_WAIT_SLICE = 0.1


def _wait(done: threading.Event, timeout: float | None) -> bool:
    """Wait up to `timeout` seconds (None: no limit) for `done`, in short slices: a signal
    (Ctrl-C) that arrives just before a wait begins is seen only once that wait ends, and a
    tool may take minutes."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = _WAIT_SLICE if deadline is None else min(_WAIT_SLICE, deadline - time.monotonic())
        if left <= 0:
            return done.is_set()
        if done.wait(left):
            return True


class _ToolRunner:
    """Runs host tools one at a time in a daemon thread, so that what a tool raises (any
    `BaseException`) is only that tool's outcome, and a tool that does not return in time can
    be abandoned: its thread is left to finish alone and the next call gets a new thread. A
    real interrupt of the host (SIGINT) still reaches the waiting thread as KeyboardInterrupt.
    Each call runs in a copy of the caller's context (so a tool's output in a notebook goes to
    the running cell); calls share one thread until it is abandoned (thread-bound state such as
    a sqlite connection made by a tool keeps working between its calls)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Any] | None = None

    def _queue(self) -> queue.SimpleQueue[Any]:
        if self._jobs is None:
            self._jobs = queue.SimpleQueue()
            worker = threading.Thread(
                target=_serve, args=(self._jobs,), name="smoldepot-tool", daemon=True
            )
            worker.start()
        return self._jobs

    def _abandon(self) -> None:
        """Let the busy thread end once its tool returns; the next call starts a new one."""
        if self._jobs is not None:
            self._jobs.put(None)
            self._jobs = None

    def run(
        self,
        tool: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        timeout: float | None,
    ) -> _Outcome:
        """Call ``tool(*args, **kwargs)``; waits at most `timeout` seconds. With no limit
        (None) the tool runs in the calling thread, for tools bound to it (a sqlite3 connection
        made in the notebook, a library that wants the main thread)."""
        outcome = _Outcome()
        started = time.perf_counter()
        if timeout is None:
            try:
                outcome.result = tool(*args, **kwargs)
            except KeyboardInterrupt:  # inline, a tool's and the user's are one: the user's
                raise
            except BaseException as exc:  # SystemExit and the like: the tool's outcome
                outcome.error = exc
            outcome.seconds = time.perf_counter() - started
            return outcome
        self._queue().put((contextvars.copy_context(), tool, args, kwargs, outcome))
        try:
            finished = _wait(outcome.done, timeout)
        except BaseException:  # the host itself was interrupted while the tool ran
            self._abandon()
            raise
        outcome.seconds = time.perf_counter() - started
        if not finished:
            outcome.timed_out = True
            self._abandon()
        return outcome


@dataclass
class _Pull:
    trust: bool
    payload: dict[str, Any] | None = None


@dataclass
class ToolBridge:
    """Runs host tools for the sidecar and carries pushed and pulled values.

    `tool_timeout` (seconds; None: no limit) bounds how long the sidecar waits for one tool:
    past it the call fails and the tool's thread is abandoned. `max_result_chars` bounds what
    one tool result may be as JSON (or as base64 pickle): a larger result is refused.
    """

    prefix: str
    input_handler: InputHandler | None = None
    max_request_chars: int = 16 * 2**20
    max_transfer_chars: int = 400 * 2**20
    tool_timeout: float | None = 300.0
    max_result_chars: int = 16 * 2**20
    tools: dict[str, Callable[..., Any]] = field(default_factory=dict)
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    pushes: dict[str, bytes] = field(default_factory=dict)
    pulls: dict[str, _Pull] = field(default_factory=dict)
    _runner: _ToolRunner = field(default_factory=_ToolRunner, init=False, repr=False)

    def register(self, tools: Iterable[Any]) -> list[dict[str, Any]]:
        """Add tools (plain callables, or objects with `name` and `__call__` or `forward`);
        returns their stub specs. Raises ValueError/TypeError naming the bad tool."""
        new: list[tuple[str, Any, dict[str, Any]]] = []
        for tool in tools:
            spec = tool_spec(tool)
            if spec["name"] in BUILTIN_NAMES:
                raise ValueError(
                    f"a tool may not be named {spec['name']!r}: the sidecar defines it already"
                )
            new.append((spec["name"], tool, spec))
        for name, tool, spec in new:
            self.tools[name] = tool if callable(tool) else tool.forward
            self.specs[name] = spec
        return [spec for _, _, spec in new]

    def replace(self, tools: Iterable[Any]) -> list[dict[str, Any]]:
        """Make `tools` the only tools (those registered before are forgotten); returns their
        stub specs. Raises like `register`, leaving the current tools in place."""
        previous = (dict(self.tools), dict(self.specs))
        self.tools.clear()
        self.specs.clear()
        try:
            return self.register(tools)
        except Exception:
            self.tools.update(previous[0])
            self.specs.update(previous[1])
            raise

    @property
    def protected_names(self) -> set[str]:
        """Names model code must not rebind: the tools and the built-ins."""
        return set(self.tools) | set(BUILTIN_NAMES)

    def answer(self, prompt: str, password: bool, execution: Execution) -> str:
        """The reply to one ``input_request`` from the sidecar. It never fails: whatever goes
        wrong becomes an error reply. Only the host's own interrupt (KeyboardInterrupt in this
        thread, e.g. Ctrl-C while a tool runs) is raised, for the caller to reply and stop."""
        try:
            return self._answer(prompt, password, execution)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the sidecar must get a reply, whatever happened
            return self.failure_reply(prompt, f"the host could not answer ({_describe(exc)})")

    def failure_reply(self, prompt: str, message: str) -> str:
        """An error reply of the form the request expects: a bridge error for a bridge
        request, an ``input()`` error (raised as EOFError in the sidecar) for a plain prompt."""
        if prompt.startswith(self.prefix):
            return self._error(message)
        return self.prefix + json.dumps({"input_error": message})

    def _decode(self, prompt: str) -> tuple[Any, str | None]:
        """``(request, None)``: the JSON of a bridge request; ``(None, why)`` when it cannot be
        read (not JSON, nested too deeply, too large to decode)."""
        try:
            return json.loads(prompt[len(self.prefix) :]), None
        except RecursionError:
            return None, (
                "malformed bridge request (nested too deeply for the host to read). "
                "Pass flatter values: a summary, or save the data to a file and pass its path."
            )
        except MemoryError:
            return None, "malformed bridge request (too large for the host to decode)"
        except ValueError as exc:
            return None, f"malformed bridge request (not JSON: {exc})"

    def _answer(self, prompt: str, password: bool, execution: Execution) -> str:
        if not prompt.startswith(self.prefix):
            return self._plain_input(prompt, password)
        limit = self.max_transfer_chars if (self.pulls or self.pushes) else self.max_request_chars
        if len(prompt) > limit:
            return self._error(
                f"bridge request too large ({len(prompt):,} characters; the limit is {limit:,}). "
                "Pass smaller arguments: save large data to a file and pass its path."
            )
        request, unreadable = self._decode(prompt)
        if unreadable is not None:
            return self._error(unreadable)
        if not isinstance(request, dict):
            return self._error("malformed bridge request (not a JSON object)")
        if "tool" in request:
            return self._call_tool(request, execution)
        if "final_answer" in request or "final_answer_repr" in request:
            return self._final_answer(request, execution)
        if "fetch" in request:
            data = self.pushes.get(str(request["fetch"]))
            if data is None:
                return self._error("nothing is being pushed under that token")
            return json.dumps({"pickle": base64.b64encode(data).decode("ascii")})
        if "pull" in request:
            slot = self.pulls.get(str(request["pull"]))
            if slot is None:
                return self._error("nothing is being pulled under that token")
            if request.get("kind") == "pickle" and not slot.trust:
                return self._error("refused: a pickle was sent but trust=False")
            slot.payload = request
            return json.dumps({"result": None})
        return self._error("malformed bridge request (unknown kind)")

    @staticmethod
    def _error(message: str) -> str:
        return json.dumps({"error": message})

    def _plain_input(self, prompt: str, password: bool) -> str:
        if self.input_handler is None:
            return self.prefix + json.dumps({"input_error": _NO_INPUT})
        try:
            return str(self.input_handler(prompt, password))
        except KeyboardInterrupt:
            raise  # the user pressed Ctrl-C while being asked: the run stops
        except BaseException as exc:
            message = f"input() could not be answered: {_describe(exc)}"
            return self.prefix + json.dumps({"input_error": message})

    def _call_tool(self, request: dict[str, Any], execution: Execution) -> str:
        name = request.get("tool")
        args = request.get("args", [])
        kwargs = request.get("kwargs", {})
        if not isinstance(name, str) or not isinstance(args, list) or not isinstance(kwargs, dict):
            return self._error("malformed tool call (needs a tool name, a list and a dict)")
        if execution.has_final_answer:
            return self._error(
                f"final_answer() was already called in this action, so the call to {name}() "
                "was not made. Nothing after final_answer() should run."
            )
        tool = self.tools.get(name)
        if tool is None:
            known = ", ".join(sorted(self.tools)) or "none"
            return self._error(f"there is no tool named {name!r} (tools: {known})")
        call = ToolCall(name=name, args=args, kwargs=kwargs)
        execution.tool_calls.append(call)
        try:
            outcome = self._runner.run(tool, args, kwargs, self.tool_timeout)
        except KeyboardInterrupt:
            call.error = "interrupted: the host was interrupted while the tool ran"
            raise
        call.seconds = outcome.seconds
        if outcome.timed_out:
            call.error = (
                f"did not return within {self.tool_timeout:g} s; its thread was abandoned "
                "(it may still be running on the host)"
            )
            return self._error(
                f"tool {name!r} did not return within {self.tool_timeout:g} s and was abandoned. "
                "Call it with less to do, or do this work in the code."
            )
        if outcome.error is not None:
            call.error = _describe(outcome.error)
            return self._error(f"tool {name!r} failed: {call.error}")
        return self._send_result(name, call, outcome.result)

    def _send_result(self, name: str, call: ToolCall, result: Any) -> str:
        """The reply carrying a tool's result: JSON, else a pickle; refused when too large."""
        if _is_json(result):
            reply = json.dumps({"result": result})
        else:
            try:
                data = pickle.dumps(result)
            except Exception as exc:
                call.result = result
                call.error = f"result not transferable: {_describe(exc)}"
                return self._error(
                    f"tool {name!r} returned a {type(result).__name__}, which cannot be sent to "
                    f"the sidecar ({exc})"
                )
            if 4 * ((len(data) + 2) // 3) > self.max_result_chars:
                return self._refuse_result(name, call, 4 * ((len(data) + 2) // 3), "pickled")
            reply = json.dumps({"pickle": base64.b64encode(data).decode("ascii")})
        if len(reply) > self.max_result_chars:
            return self._refuse_result(name, call, len(reply), "as JSON")
        call.result = result
        return reply

    def _refuse_result(self, name: str, call: ToolCall, size: int, form: str) -> str:
        limit = self.max_result_chars
        call.error = (
            f"result too large to send ({size:,} characters {form}; the limit is {limit:,})"
        )
        return self._error(
            f"tool {name!r} returned a result of {size:,} characters {form}, over the limit of "
            f"{limit:,}, so it was not sent. Ask the tool for less (a part, a summary), or have "
            "it save the data to a file and return the path."
        )

    def _final_answer(self, request: dict[str, Any], execution: Execution) -> str:
        if execution.has_final_answer:
            return self._error("final_answer() was already called in this action")
        if "final_answer" in request:
            value = request["final_answer"]
            if request.get("python_type") == "tuple" and isinstance(value, list):
                value = tuple(value)
            execution.final_answer = value
        else:
            execution.final_answer = SidecarObject(
                type=str(request.get("type", "object")), repr=str(request["final_answer_repr"])
            )
        execution.has_final_answer = True
        return json.dumps({"result": None})
