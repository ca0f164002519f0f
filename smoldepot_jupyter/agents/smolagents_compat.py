"""What smolagents code passes to an agent, mapped onto ours: its import list, its executor
types and keyword arguments, its step-callback table, and a replay of memory as events.

The facts come from smolagents 1.26 (README, "Coming from smolagents"); none of its code.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from ..events import (
    ActionParsed,
    Event,
    FinalAnswer,
    ModelCallFinished,
    ModelDelta,
    PlanningFinished,
    RunFinished,
    RunStarted,
    StepFinished,
    ToolCallFinished,
)
from ..memory import ActionStep, FinalAnswerStep, MemoryStep, PlanningStep, TaskStep
from ..usage import TokenUsage

__all__ = [
    "BASE_BUILTIN_MODULES",
    "EXECUTOR_TYPES",
    "KERNEL_OPTIONS",
    "authorized_imports_for",
    "callbacks_for",
    "check_step_callbacks",
    "kernel_options",
    "memory_events",
    "sandbox_for",
]

#: The modules smolagents' CodeAgent always allows; `additional_authorized_imports` adds to them.
BASE_BUILTIN_MODULES = (
    "collections",
    "datetime",
    "itertools",
    "math",
    "queue",
    "random",
    "re",
    "stat",
    "statistics",
    "time",
    "unicodedata",
)

#: smolagents' `executor_type` -> our sandbox level. "local" (its AST interpreter) is our
#: default; its remote or container sandboxes (Docker, E2B, Modal, Blaxel, and WebAssembly
#: before 1.26) become bubblewrap: a real sandbox, on this machine.
EXECUTOR_TYPES = {
    "local": "auto",
    "docker": "bwrap",
    "e2b": "bwrap",
    "modal": "bwrap",
    "blaxel": "bwrap",
    "wasm": "bwrap",
}

#: `executor_kwargs` that mean something to our `KernelExecutor`, passed to it as they are.
KERNEL_OPTIONS = (
    "cwd",
    "env_allowlist",
    "interrupt_grace",
    "kernel_name",
    "limits",
    "max_output_bytes",
    "network",
    "push_limit_bytes",
    "sandbox_paths",
    "startup_timeout",
)
#: smolagents' executor keyword for the per-action time limit: our `step_timeout`.
_TIMEOUT = "timeout_seconds"

_STEPS = {cls.__name__: cls for cls in (TaskStep, PlanningStep, ActionStep, FinalAnswerStep)}
#: smolagents' classes known by name: its base class stands for every step its callbacks see
#: (not the task); its system-prompt step is never given to a callback.
_SMOLAGENTS_NAMES = {
    "MemoryStep": (PlanningStep, ActionStep, FinalAnswerStep),
    "SystemPromptStep": (),
}


def sandbox_for(executor_type: str) -> str:
    """The sandbox level for smolagents' `executor_type`; ValueError naming the accepted ones."""
    level = EXECUTOR_TYPES.get(executor_type) if isinstance(executor_type, str) else None
    if level is None:
        accepted = ", ".join(repr(name) for name in EXECUTOR_TYPES)
        raise ValueError(
            f"executor_type {executor_type!r} is not one smolagents has: use one of {accepted} "
            "('local' runs at our default level, the others in the bubblewrap sandbox), or "
            "sandbox='auto' | 'bwrap' | 'process'"
        )
    return level


def kernel_options(executor_kwargs: Mapping[str, Any] | None) -> tuple[dict[str, Any], Any]:
    """`executor_kwargs` split into `KernelExecutor` arguments and smolagents'
    ``timeout_seconds`` (None if not given); ValueError naming the keys accepted."""
    options = dict(executor_kwargs or {})
    timeout = options.pop(_TIMEOUT, None)
    unknown = sorted(str(key) for key in options if key not in KERNEL_OPTIONS)
    if unknown:
        accepted = ", ".join((*KERNEL_OPTIONS, _TIMEOUT))
        raise ValueError(
            f"executor_kwargs {', '.join(unknown)} mean nothing to the sidecar kernel: it "
            f"accepts {accepted} ({_TIMEOUT} is the per-action time limit, step_timeout). "
            "A function the code should call is a tool: give it in tools"
        )
    return options, timeout


def authorized_imports_for(additional: Collection[str]) -> list[str] | None:
    """smolagents' meaning of `additional_authorized_imports`: its base modules plus those
    listed; None (any import) when ``"*"`` is listed."""
    if isinstance(additional, str) or not all(isinstance(m, str) for m in additional):
        raise TypeError(
            "additional_authorized_imports is a list of module names, e.g. ['numpy', 'pandas']"
        )
    if "*" in additional:
        return None
    return sorted({*BASE_BUILTIN_MODULES, *additional})


def _step_classes(key: Any) -> tuple[type, ...]:
    if isinstance(key, types.UnionType) or typing.get_origin(key) is typing.Union:
        return tuple(c for member in typing.get_args(key) for c in _step_classes(member))
    if key in _STEPS.values():
        return (key,)
    theirs = isinstance(key, type) and key.__module__.split(".")[0] == "smolagents"
    name = key if isinstance(key, str) else key.__name__ if theirs else None
    if name in _STEPS:
        return (_STEPS[name],)
    if name in _SMOLAGENTS_NAMES:
        return _SMOLAGENTS_NAMES[name]
    raise ValueError(
        f"step_callbacks: {key!r} is not a step class. The keys are the step classes of "
        "smoldepot_jupyter.memory (ActionStep, PlanningStep, FinalAnswerStep, TaskStep, or "
        "MemoryStep for all), smolagents' classes of those names, or the names as strings"
    )


def _table(step_callbacks: Any) -> list[tuple[tuple[type, ...], Callable[..., Any]]]:
    if isinstance(step_callbacks, Mapping):
        table = []
        for key, callbacks in step_callbacks.items():
            classes = _step_classes(key)
            many = callbacks if isinstance(callbacks, list | tuple) else [callbacks]
            table.extend((classes, callback) for callback in many)
        return table
    if isinstance(step_callbacks, str) or not isinstance(step_callbacks, Iterable):
        raise TypeError("step_callbacks is a list of callables or a dict {step class: callables}")
    # A list is for action steps, as in smolagents.
    return [((ActionStep,), callback) for callback in step_callbacks]


def check_step_callbacks(step_callbacks: Any) -> None:
    """Raise if `step_callbacks` is neither a list of callables nor a dict of them by step."""
    for _, callback in _table(step_callbacks):
        if not callable(callback):
            raise TypeError(f"step_callbacks: {callback!r} is not callable")


def callbacks_for(step_callbacks: Any, step: MemoryStep) -> list[Callable[..., Any]]:
    """The callbacks `step` goes to: those keyed by its own class, then those keyed by a
    wider one (``MemoryStep``, a union), as smolagents walks a step's class hierarchy; each
    in the order given, once for each time it is listed."""
    table = [(classes, cb) for classes, cb in _table(step_callbacks) if isinstance(step, classes)]
    return [cb for classes, cb in table if len(classes) == 1] + [
        cb for classes, cb in table if len(classes) > 1
    ]


def memory_events(
    steps: Iterable[MemoryStep],
    *,
    run_id: str,
    model_id: str,
    tools: list[str],
    max_steps: int,
    last_state: str | None,
    last_duration: float | None = None,
    detailed: bool = False,
) -> list[Event]:
    """The events a console printer shows for the runs in `steps`, rebuilt from memory: what
    `agent.replay()` prints. A run's end is shown where memory says how it ended (its answer,
    or `last_state` for the last run; the last run's wall time is `last_duration`, the others'
    from their steps); `detailed` adds each model reply as it was written."""
    from .code_agent import _short_repr  # the form the live events give a tool's result

    events: list[Event] = []
    run: list[MemoryStep] = []

    def close(state: str | None, duration: float | None = None) -> None:
        if not run or state is None:
            return
        usage = TokenUsage()
        for step in run:
            if isinstance(step, ActionStep | PlanningStep | FinalAnswerStep):
                usage = usage + step.token_usage
        end = max((s.timing.end or s.timing.start) for s in run)
        events.append(
            RunFinished(
                run_id=run_id,
                state=state,
                output=getattr(run[-1], "output", None),
                token_usage=usage,
                duration=end - run[0].timing.start if duration is None else duration,
            )
        )

    for step in steps:
        if isinstance(step, TaskStep):
            close(_state(run))
            run = []
            events.append(
                RunStarted(
                    run_id=run_id,
                    task=step.task,
                    model_id=model_id,
                    max_steps=max_steps,
                    tools=tools,
                )
            )
        run.append(step)
        if isinstance(step, PlanningStep):
            events.append(
                ModelCallFinished(
                    run_id=run_id, step=None, text=step.model_output, token_usage=step.token_usage
                )
            )
            events.append(PlanningFinished(run_id=run_id, plan=step.plan))
        elif isinstance(step, ActionStep):
            number = step.step_number
            if detailed and step.model_output:
                events.append(ModelDelta(run_id=run_id, step=number, text=step.model_output))
            events.append(
                ModelCallFinished(
                    run_id=run_id, step=number, text=step.model_output, token_usage=step.token_usage
                )
            )
            events.append(
                ActionParsed(run_id=run_id, step=number, thought=step.thought, code=step.code)
            )
            for call in step.execution.tool_calls if step.execution else []:
                events.append(
                    ToolCallFinished(
                        run_id=run_id,
                        step=number,
                        name=call.name,
                        args=list(call.args),
                        kwargs=dict(call.kwargs),
                        result_repr="" if call.error else _short_repr(call.result),
                        error=call.error,
                        seconds=call.seconds,
                    )
                )
            events.append(StepFinished(run_id=run_id, step=step))
        elif isinstance(step, FinalAnswerStep):
            events.append(FinalAnswer(run_id=run_id, output=step.output))
    close(_state(run) or last_state, last_duration)
    return events


def _state(run: list[MemoryStep]) -> str | None:
    """How a run ended, as far as its steps say: with its answer, or out of steps."""
    if not run or not isinstance(run[-1], FinalAnswerStep):
        return None
    actions = [s for s in run if isinstance(s, ActionStep)]
    return "max_steps" if actions and actions[-1].is_best_answer_fallback else "success"
