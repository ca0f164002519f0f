"""`CodeAgent`: the model acts by writing Python, which runs in the sidecar kernel."""

from __future__ import annotations

import time
import warnings
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from ..events import ActionParsed, OutputAdded, OutputChanged, ToolCallFinished
from ..kernel import ExecutionInterrupted, Executor, KernelExecutor
from ..memory import ActionStep
from ..models import Model
from ..parsing import (
    has_statements,
    is_complete_action,
    missing_code_message,
    parse_code_action,
)
from ..records import DEFAULT_DIRECTORY
from ..tools import Tool
from .base import MultiStepAgent
from .prompts import (
    CODE_FOLLOW_UP,
    NO_PROGRESS_REQUEST,
    best_answer_request,
    code_system_prompt,
)
from .smolagents_compat import authorized_imports_for, kernel_options, sandbox_for

__all__ = ["CodeAgent"]

_STOP = ["Observation:"]
_UNSTICK_TEMPERATURE = 0.7
_ONLY_COMMENTS = (
    "Your ```python block held only comments, so nothing ran. Put the code of this step in "
    "it: call a tool, compute, or print what you need to see; or call final_answer(...) if you "
    "know the answer."
)
_REPEATED_FAILURE = (
    "[This is the same code as {which}, and it failed again. Running it once more will not "
    "help: read the error above and change the code.]"
)
_REPEATED_RESULT = (
    "[This is the same code as the previous step, and it printed the same result. If this "
    "result answers the task, call final_answer(...) with it now; if not, do something "
    "different.]"
)


class _ObservedTool:
    """A tool as the executor sees it (same name, signature and docstring), reporting each call
    as an event while the action runs."""

    def __init__(self, tool: Tool, agent: CodeAgent) -> None:
        self._tool = tool
        self._agent = agent
        self.name = tool.name
        self.description = tool.description
        self.inputs = tool.inputs
        self.output_type = tool.output_type
        self.forward = tool.forward

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            result = self._tool(*args, **kwargs)
        except BaseException as exc:  # SystemExit too: the bridge makes it a tool error
            self._agent._tool_finished(self.name, args, kwargs, None, exc, started)
            raise
        self._agent._tool_finished(self.name, args, kwargs, result, None, started)
        return result


class CodeAgent(MultiStepAgent):
    """An agent whose actions are Python code run by an `Executor`: its own `KernelExecutor`
    at the `sandbox` level asked for (``"auto"``: bubblewrap where it works), unless one is
    given. Variables persist across steps, and across runs with ``reset=False``.

    `observe_images=True` shows a vision model the pictures its actions display (``images=``
    is its old name). smolagents' arguments are taken with its meaning:

    - `additional_authorized_imports`: smolagents' base modules (`BASE_BUILTIN_MODULES`) plus
      those listed, ``"*"`` for any; our `authorized_imports` is the whole list (None: any).
    - `executor_type`: ``"local"`` runs at our default level (``"auto"``); ``"docker"``,
      ``"e2b"``, ``"modal"``, ``"blaxel"`` and ``"wasm"`` (sandboxes elsewhere) run in the
      local ``"bwrap"`` sandbox, an error where bubblewrap cannot run.
    - `executor_kwargs`: `KernelExecutor` arguments (``network``, ``sandbox_paths``,
      ``limits``, ...), and ``timeout_seconds`` for `step_timeout`; other keys are an error.
    """

    uses_code = True

    def __init__(
        self,
        tools: Iterable[Any] = (),
        model: Model | str | None = None,
        executor: Executor | None = None,
        max_steps: int = 20,
        authorized_imports: Collection[str] | None = None,
        planning_interval: int | None = None,
        final_answer_checks: Any = (),
        step_callbacks: Any = (),
        managed_agents: Any = (),
        instructions: str | None = None,
        name: str | None = None,
        description: str | None = None,
        *,
        step_timeout: float = 300.0,
        observe_images: bool = False,
        sandbox: str = "auto",
        additional_authorized_imports: Collection[str] | None = None,
        executor_type: str | None = None,
        executor_kwargs: Mapping[str, Any] | None = None,
        images: bool | None = None,
        **options: Any,
    ) -> None:
        if images is not None:
            warnings.warn(
                "CodeAgent(images=...) is now observe_images=...; images= is what run() takes "
                "(pictures shown with the task)",
                DeprecationWarning,
                stacklevel=2,
            )
            observe_images = images
        if additional_authorized_imports is not None:
            if authorized_imports is not None:
                raise ValueError(
                    "give authorized_imports (the whole list) or additional_authorized_imports "
                    "(added to smolagents' base modules), not both"
                )
            authorized_imports = authorized_imports_for(additional_authorized_imports)
        self.additional_authorized_imports = list(additional_authorized_imports or [])
        level = sandbox if executor_type is None else sandbox_for(executor_type)
        if executor_type is not None and sandbox not in ("auto", level):
            raise ValueError(
                f"executor_type={executor_type!r} means sandbox={level!r}, and sandbox="
                f"{sandbox!r} was given too: give one of them"
            )
        kernel_kwargs, timeout = kernel_options(executor_kwargs)
        if executor is not None and (kernel_kwargs or executor_type not in (None, "local")):
            raise ValueError(
                "executor_type and executor_kwargs set up the sidecar the agent starts; this "
                "agent was given its executor: configure that one (KernelExecutor(sandbox=..., "
                "network=...))"
            )
        self.step_timeout = step_timeout if timeout is None else float(timeout)
        self.observe_images = observe_images
        self._owns_executor = executor is None
        if executor is None:
            record_dir = options.get("record_dir", DEFAULT_DIRECTORY)
            hidden = [] if record_dir is None else [record_dir]
            executor = KernelExecutor(sandbox=level, hidden_paths=hidden, **kernel_kwargs)
        self.executor: Executor = executor
        #: Modules the actions may import (None: any). Applied to the executor for every action,
        #: whatever its own setting, so agents sharing one executor each keep their own list.
        self.authorized_imports = (
            None if authorized_imports is None else sorted(set(authorized_imports))
        )
        super().__init__(
            tools,
            model,
            max_steps=max_steps,
            planning_interval=planning_interval,
            final_answer_checks=final_answer_checks,
            step_callbacks=step_callbacks,
            managed_agents=managed_agents,
            instructions=instructions,
            name=name,
            description=description,
            **options,
        )
        self._observed_tools = [_ObservedTool(t, self) for t in self.tools.values()]
        #: Callables the sidecar may call though the prompt does not list them (a replay's
        #: recorded tools); part of every run's tools like the listed ones.
        self.unlisted_tools: list[Any] = []
        user_input = self.tools.get("user_input")
        self._input_handler = (
            None if user_input is None else lambda prompt, password: str(user_input(prompt))
        )
        self._session_used = False
        self._acting = False
        #: How many steps in a row repeated an earlier one with the same outcome (the same
        #: failing code, the same printed result, the same reply without code).
        self._repeats = 0
        if self._owns_executor:
            self.executor.prewarm()

    def interrupt(self) -> None:
        """Stop the run; an action running in the sidecar is interrupted at once."""
        super().interrupt()
        if self._acting:
            self.executor.interrupt()

    def system_prompt(self) -> str:
        return code_system_prompt(self.prompt_tools, self.authorized_imports, self.instructions)

    def sandbox_description(self) -> str:
        return self.executor.describe()

    def _begin_run(self) -> None:
        # A shared sidecar may hold an earlier run's tools: this run's replace them.
        self.executor.use_tools(
            [*self._observed_tools, *self.unlisted_tools],
            self._input_handler,
            self.authorized_imports,
        )

    def _tool_finished(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        result: Any,
        error: BaseException | None,
        started: float,
    ) -> None:
        self._emit(
            ToolCallFinished,
            step=self._current_step or 0,
            name=name,
            args=list(args),
            kwargs=dict(kwargs),
            result_repr="" if error is not None else _short_repr(result),
            error=None if error is None else f"{type(error).__name__}: {error}",
            seconds=time.perf_counter() - started,
        )

    def _reset_session(self) -> None:
        if self._session_used:
            self.executor.restart()
            self._session_used = False

    def _give_args(self, task: str, additional_args: dict[str, Any]) -> tuple[str, list[str]]:
        for name, value in additional_args.items():
            self.executor.push(name, value)
        if additional_args:
            self._session_used = True
        return task, list(additional_args)

    def _run_code(self, step: ActionStep, code: str) -> None:
        number = step.step_number

        def on_output(event: str, index: int, output: dict[str, Any] | None) -> None:
            if event == "add" and output is not None:
                self._emit(OutputAdded, step=number, index=index, output=output)
            elif event == "change" and output is not None:
                self._emit(OutputChanged, step=number, index=index, output=output)

        self._session_used = True
        self._acting = True
        try:
            if self._interrupted.is_set():
                step.error = "KeyboardInterrupt: interrupted before the action ran"
                self._finish_step(step)
                raise KeyboardInterrupt
            execution = self.executor.run(code, timeout=self.step_timeout, on_output=on_output)
        except ExecutionInterrupted as interrupted:
            step.execution = interrupted.execution
            step.observation = interrupted.execution.observation(self.max_observation_chars)
            step.error = "KeyboardInterrupt: the action was interrupted"
            self._finish_step(step)
            raise
        finally:
            self._acting = False
        step.execution = execution
        step.observation = execution.observation(self.max_observation_chars)
        if execution.error is not None:
            step.error = str(execution.error)
        if execution.has_final_answer:
            step.is_final_answer = True
            step.final_answer = execution.final_answer

    def _model_step(self, number: int, extra: list[dict[str, Any]] | None = None) -> ActionStep:
        step = ActionStep(step_number=number)
        added = list(extra or [])
        temperature = None
        repeats = self._repeats if number > 1 else 0  # a new run starts afresh
        if extra is None and repeats >= 2:
            # The same action three times in a row: ask for the answer found so far.
            added.append({"role": "user", "content": NO_PROGRESS_REQUEST})
        elif repeats:
            # A model that just repeated an action word for word would, at temperature 0,
            # repeat it again: sample this call instead.
            temperature = _UNSTICK_TEMPERATURE
        messages = self._history(images=self.observe_images, follow_up=CODE_FOLLOW_UP) + added
        step.requests = [str(m.get("content", "")) for m in added]
        step.temperature = self._applied_temperature(temperature)
        try:
            response = self._call_model(
                number,
                messages,
                stop_when=is_complete_action,
                stop=_STOP,
                temperature=step.temperature,
            )
        except KeyboardInterrupt:
            self._interrupted_while_answering(step)
            raise
        step.model_output = response.text
        step.token_usage = response.usage
        parsed = parse_code_action(response.text)
        step.thought, step.code = parsed.thought, parsed.code
        self._emit(ActionParsed, step=number, thought=parsed.thought, code=parsed.code)
        return step

    def _action_step(self, number: int) -> ActionStep:
        step = self._model_step(number)
        if self._interrupted.is_set():
            self._interrupted_while_answering(step)
            raise KeyboardInterrupt
        repeated = False
        if step.code is None:
            step.error = "the reply had no code block"
            step.observation = missing_code_message()
            repeated = self._repeats_reply_without_code(step)
        elif not has_statements(step.code):
            step.error = "the code block held only comments"
            step.observation = _ONLY_COMMENTS
        else:
            self._run_code(step, step.code)
            note = self._repeat_note(step)
            if note is not None:
                step.observation += f"\n{note}"
                repeated = True
        self._repeats = self._repeats + 1 if repeated else 0
        self._finish_step(step)
        return step

    def _actions_before(self, step: ActionStep) -> list[ActionStep]:
        """The action steps of this run before `step`."""
        return [s for s in self._this_run_steps() if isinstance(s, ActionStep) and s is not step]

    def _repeats_reply_without_code(self, step: ActionStep) -> bool:
        """Whether `step`, a reply with no code, says word for word what the previous reply
        with no code said: the same loop as a repeated action, without the action."""
        earlier = self._actions_before(step)
        if not earlier:
            return False
        last = earlier[-1]
        said = (step.model_output or "").strip()
        return last.code is None and bool(said) and (last.model_output or "").strip() == said

    def _repeat_note(self, step: ActionStep) -> str | None:
        """The note for an action that makes no progress, a loop small models fall into and do
        not leave at temperature 0: code that already failed earlier in this run (the previous
        step or any before it) failing again, or the previous step's code printing the same
        result again. None otherwise."""
        if step.is_final_answer:
            return None
        earlier = self._actions_before(step)
        code = (step.code or "").strip()
        if not earlier or not code:
            return None
        if step.error is not None:
            failed = [s for s in earlier if s.error is not None and (s.code or "").strip() == code]
            if not failed:
                return None
            latest = failed[-1]
            which = "the previous step" if latest is earlier[-1] else f"step {latest.step_number}"
            return _REPEATED_FAILURE.format(which=which)
        last = earlier[-1]
        if (last.code or "").strip() != code or last.error is not None:
            return None
        if last.observation.removesuffix(f"\n{_REPEATED_RESULT}") == step.observation:
            return _REPEATED_RESULT
        return None

    def _best_answer(self, number: int) -> Any:
        request = {"role": "user", "content": best_answer_request(code=True)}
        step = self._model_step(number, [request])
        step.is_best_answer_fallback = True
        if step.code is not None and not self._interrupted.is_set():
            self._run_code(step, step.code)
        answer = step.final_answer if step.is_final_answer else (step.thought or step.model_output)
        step.is_final_answer = True
        step.final_answer = answer
        self._finish_step(step)
        return answer

    def close(self) -> None:
        """Shut down the sidecar kernel (if this agent started it) and close the record."""
        if self._owns_executor:
            self.executor.shutdown()
        super().close()


def _short_repr(value: Any, limit: int = 2_000) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<{type(value).__name__} (repr failed: {exc})>"
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit:,} more]"
