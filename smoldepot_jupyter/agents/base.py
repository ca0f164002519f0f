"""The multi-step loop shared by `CodeAgent` and `ToolCallingAgent`.

A run: the task goes into memory; each step the model reads the messages memory makes and acts;
what came of it becomes the next observation, until `final_answer` is accepted, the steps run out
(then one last call for a best answer), the run is interrupted, or the model fails. Every change
is an event; the recorder and any UI only observe. Nothing here prints or displays, but
`replay()`, which a user calls to have the memory printed.
"""

from __future__ import annotations

import inspect
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ..events import (
    AnswerFormatted,
    ConsolePrinter,
    ErrorEvent,
    Event,
    EventBus,
    FinalAnswer,
    ModelCallFinished,
    ModelDelta,
    Observer,
    PlanningFinished,
    RunFinished,
    RunStarted,
    StepFinished,
    new_run_id,
)
from ..kernel import KernelStartError, TransferError
from ..memory import (
    ActionStep,
    AgentMemory,
    FinalAnswerStep,
    MemoryStep,
    PlanningStep,
    TaskStep,
    image_url,
)
from ..models import Model, ModelError, ModelResponse, resolve_model
from ..records import DEFAULT_DIRECTORY, RunRecorder
from ..tools import FinalAnswerTool, Tool, as_tool, final_answer
from ..usage import Timing, TokenUsage
from .answer_form import ask_for_task_form, can_rewrite
from .prompts import final_answer_rejected, planning_request
from .result import RunFailed, RunResult
from .smolagents_compat import callbacks_for, check_step_callbacks, memory_events
from .team import managed_agent_tool, managed_name

__all__ = ["FinalAnswerCheck", "MultiStepAgent", "StepCallback"]

#: A cautious estimate (English prose runs about four characters a token, code fewer).
_CHARS_PER_TOKEN = 3
#: Characters kept free for the requests a call may add after the history (the best-answer
#: request, a planning request).
_REQUEST_ROOM = 2_000

#: ``check(answer, memory[, agent=agent]) -> bool | str``: a true value (or None) accepts;
#: False or a reason (a string) refuses.
FinalAnswerCheck = Callable[..., "bool | str | None"]
#: Receives a step (and the agent: as ``agent=`` if it takes that, else as a second argument).
StepCallback = Callable[..., None]

_INTERRUPTED_ANSWERING = "KeyboardInterrupt: interrupted while the model was answering"

#: Failures of the world (model, kernel, transfer), reported as a run in state "error".
_OPERATIONAL_ERRORS = (ModelError, KernelStartError, TransferError)


class MultiStepAgent:
    """The loop: memory, events, planning, final-answer checks, the max-steps fallback,
    interrupts and streaming. Subclasses define how one action step is taken.

    `format_answer` adds one model call after a text or number answer: given only the task and
    the answer, the model writes the answer in the form the task asks for (a template filled
    in, a rounding). `answer_form.accepted_rewrite` decides whether the rewrite is kept (same
    numbers, rounding allowed; words from the task or the answer);
    `FinalAnswerStep.rewritten_from` keeps the answer as given.

    `step_callbacks` is a list (called with each action step, as in smolagents) or a dict
    ``{step class: callback or list}`` (`PlanningStep`, `FinalAnswerStep`, `TaskStep`,
    `ActionStep`; smolagents' classes of those names work too). `return_full_result=False`
    makes `run()` return the answer alone; the default (None or True) returns a `RunResult`.
    """

    uses_code: ClassVar[bool] = True

    def __init__(
        self,
        tools: Iterable[Any] = (),
        model: Model | str | None = None,
        *,
        max_steps: int = 20,
        planning_interval: int | None = None,
        final_answer_checks: Sequence[FinalAnswerCheck] = (),
        step_callbacks: Sequence[StepCallback] | Mapping[Any, Any] = (),
        managed_agents: Sequence[MultiStepAgent] = (),
        instructions: str | None = None,
        name: str | None = None,
        description: str | None = None,
        observers: Sequence[Observer] = (),
        record_dir: str | Path | None = DEFAULT_DIRECTORY,
        max_tokens: int = 2048,
        max_observation_chars: int = 10_000,
        format_answer: bool = False,
        context_window: int | None = None,
        return_full_result: bool | None = None,
    ) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, not {max_steps}")
        if planning_interval is not None and planning_interval < 1:
            raise ValueError(f"planning_interval must be at least 1, not {planning_interval}")
        managed_agents = list(managed_agents or ())  # None, smolagents' default, is none
        self.model = resolve_model(model)
        self.max_steps = max_steps
        self.planning_interval = planning_interval
        self.final_answer_checks = list(final_answer_checks or ())
        check_step_callbacks(step_callbacks or ())
        self.step_callbacks = (
            dict(step_callbacks)
            if isinstance(step_callbacks, Mapping)
            else list(step_callbacks or ())
        )
        #: False: `run()` returns the answer alone (smolagents' default); None or True: a
        #: `RunResult`.
        self.return_full_result = return_full_result
        self.instructions = instructions
        self.name = name
        self.description = description
        self.max_tokens = max_tokens
        self.max_observation_chars = max_observation_chars
        self.format_answer = format_answer
        #: Tokens the model reads at most (None: the model's own figure, if it has one); older
        #: steps are left out of the prompt to stay inside it.
        self.context_window = context_window
        self.managed_agents = {managed_name(a): a for a in managed_agents}
        self.tools: dict[str, Tool] = {}
        for item in [*tools, *(managed_agent_tool(a) for a in managed_agents)]:
            self._add_tool(item)
        self.events = EventBus(observers)
        self.recorder = RunRecorder(record_dir) if record_dir is not None else None
        if self.recorder is not None:
            self.events.subscribe(self.recorder)
        self.memory = AgentMemory(system_prompt=self.system_prompt())
        self.last_result: RunResult | None = None
        self._interrupted = threading.Event()
        self._run_id = ""
        self._current_step: int | None = None

    # ----------------------------------------------------------------- set-up

    def _add_tool(self, item: Any) -> None:
        tool = as_tool(item)
        if tool.name == "final_answer":
            if isinstance(tool, FinalAnswerTool):
                return
            raise ValueError("a tool may not be named 'final_answer': every agent has it built in")
        if tool.name in self.tools:
            raise ValueError(f"two tools are named {tool.name!r}; tool names must be unique")
        self.tools[tool.name] = tool

    @property
    def prompt_tools(self) -> list[Tool]:
        """The tools the prompt lists: final_answer first, then the given ones in order."""
        return [final_answer, *self.tools.values()]

    def system_prompt(self) -> str:
        """The system prompt (the same for the same tools and options)."""
        raise NotImplementedError

    def subscribe(self, observer: Observer) -> Callable[[], None]:
        """Send every event of every run to `observer`; returns a function that unsubscribes."""
        return self.events.subscribe(observer)

    def _emit(self, event_type: type[Event], **fields: Any) -> None:
        self.events.emit(event_type(run_id=self._run_id, **fields))

    # ----------------------------------------------------------------- running

    def interrupt(self) -> None:
        """Stop the run: between steps, during a model call, and during an action."""
        self._interrupted.set()

    def run(
        self,
        task: str,
        stream: bool = False,
        reset: bool = True,
        images: Sequence[Any] | None = None,
        additional_args: Mapping[str, Any] | None = None,
        max_steps: int | None = None,
        return_full_result: bool | None = None,
        *,
        context: str | None = None,
    ) -> Any:
        """Run `task` to an answer (the arguments in smolagents' order). `reset=False`
        continues the conversation (and the session's state); `images` (PIL images, image
        bytes, paths or URLs) are shown to the model with the task; `additional_args` are
        given to the run by name; `stream=True` returns an iterator of events (the result is
        then in `last_result`). `context` (e.g. a summary of earlier runs) goes to the model
        before the task but is not shown or recorded as the task.

        Returns a `RunResult`, or with `return_full_result=False` (here or on the agent) the
        answer alone; a run that then ends in error or is interrupted raises `RunFailed`.
        """
        if not isinstance(task, str) or not task.strip():
            raise ValueError("the task must be a non-empty string saying what to do")
        steps = self.max_steps if max_steps is None else max_steps
        if steps < 1:
            raise ValueError(f"max_steps must be at least 1, not {steps}")
        pictures = [image_url(image) for image in images or ()]
        args = dict(additional_args or {})
        if stream:
            return self._stream(task, reset, args, steps, context, pictures)
        result = self._run(task, reset, args, steps, context, pictures)
        full = self.return_full_result if return_full_result is None else return_full_result
        if full is not False:
            return result
        if result.state in ("error", "interrupted"):
            raise RunFailed(result)
        return result.output

    def _stream(
        self,
        task: str,
        reset: bool,
        additional_args: dict[str, Any],
        max_steps: int,
        context: str | None,
        images: list[str],
    ) -> Iterator[Event]:
        events: queue.Queue[Any] = queue.Queue()
        done = object()
        failure: list[BaseException] = []
        unsubscribe = self.events.subscribe(events.put)

        def target() -> None:
            try:
                self._run(task, reset, additional_args, max_steps, context, images)
            except BaseException as exc:
                failure.append(exc)
            finally:
                events.put(done)

        worker = threading.Thread(target=target, name="smoldepot-run", daemon=True)
        worker.start()
        try:
            while (item := events.get()) is not done:
                yield item
        finally:
            if worker.is_alive():
                self.interrupt()
            worker.join()
            unsubscribe()
        if failure:
            raise failure[0]

    def _run(
        self,
        task: str,
        reset: bool,
        additional_args: dict[str, Any],
        max_steps: int,
        context: str | None = None,
        images: list[str] | None = None,
    ) -> RunResult:
        self._run_id = new_run_id()
        self._interrupted.clear()
        if reset:
            self.memory.reset()
            self._reset_session()
        first = len(self.memory.steps)
        timing = Timing(start=time.time())
        self._emit(
            RunStarted,
            task=task,
            model_id=self.model.model_id,
            max_steps=max_steps,
            tools=[t.name for t in self.prompt_tools],
            sandbox=self.sandbox_description(),
        )
        state, output, error, unexpected = "error", None, None, None
        answer_step = FinalAnswerStep(output=None)
        try:
            self._begin_run()
            task_text, names = self._give_args(task, additional_args)
            if context:
                task_text = f"{context}\n\nThe task now:\n{task_text}"
            task_step = TaskStep(task=task_text, additional_args_names=names, images=images or [])
            self.memory.steps.append(task_step)
            self._call_back(task_step)
            state, output = self._loop(max_steps)
            if state == "max_steps" and _is_blank(output):
                error = _no_answer(self.memory.steps[first:], max_steps)
            answer_step = FinalAnswerStep(output=output)
            if self.format_answer and can_rewrite(output):
                self._answer_in_task_form(task, answer_step)
                output = answer_step.output
        except KeyboardInterrupt:
            state = "interrupted"
        except _OPERATIONAL_ERRORS as exc:
            error = str(exc)
            self._emit(ErrorEvent, step=self._current_step, message=error)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self._emit(ErrorEvent, step=self._current_step, message=error)
            unexpected = exc
        finally:
            self._current_step = None
            timing.end = time.time()
            if state in ("success", "max_steps"):
                answer_step.timing.end = time.time()
                self.memory.steps.append(answer_step)
                self._emit(FinalAnswer, output=output)
                self._call_back(answer_step)
            steps = self.memory.steps[first:]
            usage = _total_usage(steps)
            self._emit(
                RunFinished,
                state=state,
                output=output,
                token_usage=usage,
                duration=timing.duration or 0.0,
                error=error,
            )
            record = self.recorder.path_for(self._run_id) if self.recorder else None
            self.last_result = RunResult(
                output=output,
                state=state,
                steps=steps,
                token_usage=usage,
                timing=timing,
                run_id=self._run_id,
                record_path=record,
                error=error,
            )
        if unexpected is not None:
            raise unexpected
        return self.last_result

    def _loop(self, max_steps: int) -> tuple[str, Any]:
        for number in range(1, max_steps + 1):
            self._check_interrupt()
            self._current_step = number
            if self.planning_interval and (number - 1) % self.planning_interval == 0:
                self._plan(number, max_steps)
                self._check_interrupt()
            step = self._action_step(number)
            if step.is_final_answer:
                return "success", step.final_answer
            self._check_interrupt()
        self._current_step = max_steps + 1
        return "max_steps", self._best_answer(max_steps + 1)

    def _answer_in_task_form(self, task: str, answer_step: FinalAnswerStep) -> None:
        """The answer-form call: rewrite `answer_step.output` in the form `task` asks for.

        A failed or interrupted call, or a refused rewrite, leaves the answer as it was: the run
        has its answer already, and this call must never lose it.
        """
        answer = answer_step.output
        try:
            response, rewrite = ask_for_task_form(
                self.model,
                task,
                answer,
                max_tokens=self.max_tokens,
                stop_when=lambda _text: self._interrupted.is_set(),
            )
        except (ModelError, KeyboardInterrupt) as exc:
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
            self._emit(
                ErrorEvent,
                step=self._current_step,
                message=f"the answer-form call failed ({reason}); the answer is kept as given",
            )
            return
        answer_step.token_usage = response.usage
        if rewrite is not None and not self._interrupted.is_set():
            answer_step.output, answer_step.rewritten_from = rewrite, answer
        self._emit(
            AnswerFormatted,
            original=answer,
            reply=response.text,
            output=answer_step.output,
            accepted=answer_step.rewritten_from is not None,
            token_usage=response.usage,
        )

    def _check_interrupt(self) -> None:
        if self._interrupted.is_set():
            raise KeyboardInterrupt

    # ----------------------------------------------------------------- pieces of a step

    def _call_model(
        self,
        step: int | None,
        messages: list[dict[str, Any]],
        *,
        stop_when: Callable[[str], bool] | None = None,
        stop: list[str] | None = None,
        tools: list[dict[str, Any]] | None = None,
        temperature: float | None = None,
    ) -> ModelResponse:
        """One model call, streamed as events. `temperature` is passed only to models whose
        generate() takes it (it breaks a loop of identical failing actions)."""

        def on_delta(text: str) -> None:
            self._emit(ModelDelta, step=step, text=text)

        def cut(text: str) -> bool:
            return self._interrupted.is_set() or (stop_when is not None and stop_when(text))

        options: dict[str, Any] = {}
        temperature = self._applied_temperature(temperature)
        if temperature is not None:
            options["temperature"] = temperature
        response = self.model.generate(
            messages,
            stop=stop,
            max_tokens=self.max_tokens,
            tools=tools,
            on_delta=on_delta,
            stop_when=cut,
            **options,
        )
        self._emit(ModelCallFinished, step=step, text=response.text, token_usage=response.usage)
        return response

    def _plan(self, number: int, max_steps: int) -> None:
        first = not any(isinstance(s, PlanningStep) for s in self._this_run_steps())
        request = {"role": "user", "content": planning_request(max_steps - number + 1, first)}
        started = time.time()
        response = self._call_model(None, [*self._history(), request])
        step = PlanningStep(
            plan=response.text.strip(),
            model_output=response.text,
            token_usage=response.usage,
            timing=Timing(start=started, end=time.time()),
        )
        self.memory.steps.append(step)
        self._emit(PlanningFinished, plan=step.plan)
        self._emit(StepFinished, step=step)
        self._call_back(step)

    def _applied_temperature(self, temperature: float | None) -> float | None:
        """`temperature`, part of every model's `generate`; None for a model that declares
        ``takes_temperature = False`` (it would ignore it: the record should not claim it)."""
        if getattr(self.model, "takes_temperature", True) is False:
            return None
        return temperature

    def _this_run_steps(self) -> list[MemoryStep]:
        for index in range(len(self.memory.steps) - 1, -1, -1):
            if isinstance(self.memory.steps[index], TaskStep):
                return self.memory.steps[index:]
        return list(self.memory.steps)

    def _interrupted_while_answering(self, step: ActionStep) -> None:
        """Record `step`, cut short while the model was answering; the caller re-raises."""
        step.error = _INTERRUPTED_ANSWERING
        self._finish_step(step)

    def _finish_step(self, step: ActionStep) -> None:
        """Record the step in memory, check a final answer (the checks see the step in
        memory), then the event and the callbacks."""
        self.memory.steps.append(step)
        if step.is_final_answer and not step.is_best_answer_fallback:
            reason = self._failed_check(step.final_answer)
            if reason is not None:
                step.is_final_answer = False
                note = final_answer_rejected(reason)
                step.observation = f"{step.observation}\n{note}" if step.observation else note
        step.timing.end = time.time()
        self._emit(StepFinished, step=step)
        self._call_back(step)

    def _failed_check(self, answer: Any) -> str | None:
        """Why a check refuses `answer`, or None when every check accepts it. A check gets
        ``(answer, memory)``, and ``agent=`` too if it takes that (as smolagents calls it)."""
        for check in self.final_answer_checks:
            name = getattr(check, "__name__", type(check).__name__)
            try:
                if _accepts(check, "agent"):
                    verdict = check(answer, self.memory, agent=self)
                else:
                    verdict = check(answer, self.memory)
                if isinstance(verdict, str):
                    if verdict.strip():
                        return verdict.strip()
                elif verdict is None or bool(verdict):
                    continue
            except Exception as exc:
                return f"the check {name} raised {type(exc).__name__}: {exc}"
            return f"the check {name} refused it"
        return None

    def _call_back(self, step: MemoryStep) -> None:
        for callback in callbacks_for(self.step_callbacks, step):
            try:
                if _accepts(callback, "agent"):
                    callback(step, agent=self)
                elif _takes_two(callback):
                    callback(step, self)
                else:
                    callback(step)
            except Exception as exc:
                name = getattr(callback, "__name__", repr(callback))
                self._emit(
                    ErrorEvent,
                    step=self._current_step,
                    message=f"step callback {name} raised {type(exc).__name__}: {exc}",
                )

    # ----------------------------------------------------------------- looking back

    def replay(self, detailed: bool = False, *, stream: Any = None) -> None:
        """Print the runs in memory as the console printer prints a live run (to `stream`,
        standard output by default); `detailed` adds each model reply as it was written."""
        printer = ConsolePrinter(stream, stream_model=detailed)
        last = self.last_result
        timing = last.timing if last is not None else None
        for event in memory_events(
            self.memory.steps,
            run_id=self._run_id or "replay",
            model_id=self.model.model_id,
            tools=[t.name for t in self.prompt_tools],
            max_steps=self.max_steps,
            last_state=last.state if last is not None else None,
            last_duration=timing.duration if timing is not None else None,
            detailed=detailed,
        ):
            printer(event)

    @property
    def logs(self) -> list[MemoryStep]:
        """The steps in memory: smolagents' old name for `memory.steps`."""
        warnings.warn(
            "agent.logs is smolagents' old name: use agent.memory.steps",
            DeprecationWarning,
            stacklevel=2,
        )
        return list(self.memory.steps)

    # ----------------------------------------------------------------- for subclasses

    def _history(self, images: bool = False, follow_up: str = "") -> list[dict[str, Any]]:
        """The memory as the next call's messages, inside the model's context window."""
        return self.memory.to_messages(
            images=images, follow_up=follow_up, budget_chars=self._budget_chars()
        )

    def _budget_chars(self) -> int | None:
        """Characters the history may take: the window less the reply's room, at a cautious
        three characters per token (no tokenizer needed); None when the window is unknown."""
        window = self.context_window or getattr(self.model, "context_window", None)
        if not isinstance(window, int) or window <= 0:
            return None
        room = (window - self.max_tokens) * _CHARS_PER_TOKEN - _REQUEST_ROOM
        return max(1_000, room)

    def _begin_run(self) -> None:
        """Claim what this run uses of shared resources (a code agent: its sidecar's tools)."""

    def sandbox_description(self) -> str:
        """Where this agent's code runs and why (empty for agents that run no code)."""
        return ""

    def _reset_session(self) -> None:
        """Forget the session's state when a run starts with reset=True."""

    def _give_args(self, task: str, additional_args: dict[str, Any]) -> tuple[str, list[str]]:
        """Hand `additional_args` to the run; returns the task text and the names given."""
        raise NotImplementedError

    def _action_step(self, number: int) -> ActionStep:
        """Take step `number`: call the model, act, and `_finish_step` the result."""
        raise NotImplementedError

    def _best_answer(self, number: int) -> Any:
        """After max_steps: one last model call for the best answer; returns it."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the agent holds (its kernel, its record file)."""
        if self.recorder is not None:
            self.recorder.close()

    def __enter__(self) -> MultiStepAgent:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _is_blank(output: Any) -> bool:
    return output is None or (isinstance(output, str) and not output.strip())


def _no_answer(steps: Iterable[MemoryStep], max_steps: int) -> str:
    """Why a run that used up its steps has no answer at all, from what its steps lacked."""
    counts: dict[str, int] = {}
    for step in steps:
        if isinstance(step, ActionStep) and step.error and not step.is_best_answer_fallback:
            line = step.error.strip().splitlines()[0][:160]
            counts[line] = counts.get(line, 0) + 1
    seen = "; ".join(f"{line} ({n} of them)" for line, n in list(counts.items())[:3])
    return (
        f"no answer: no final_answer in {max_steps} step{'s' * (max_steps != 1)} and the "
        f"last call for a best answer returned nothing{f' (the steps: {seen})' if seen else ''}; "
        "check that the model follows the prompt (a reply with a Thought and a ```python "
        "block), or raise max_steps"
    )


def _total_usage(steps: Iterable[MemoryStep]) -> TokenUsage:
    total = TokenUsage()
    for step in steps:
        if isinstance(step, ActionStep | PlanningStep | FinalAnswerStep):
            total = total + step.token_usage
    return total


def _accepts(function: Callable[..., Any], name: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def _takes_two(callback: Callable[..., Any]) -> bool:
    try:
        inspect.signature(callback).bind(None, None)
    except TypeError:
        return False
    except ValueError:
        return False
    return True
