"""A notebook's agent session: its sidecar kernel, its runs, and its background run.

One session per notebook kernel. It builds an agent for each ``%%agent`` cell from the settings
and the tools in the user's namespace, and carries the conversation from cell to cell as a short
summary of earlier tasks and answers. It holds no agent logic: the agent runs the loop.
"""

from __future__ import annotations

import os
import pickle
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from ..agents import CodeAgent, RunResult
from ..kernel import KernelExecutor, SandboxUnavailable, TransferError, choose_level
from ..models import Model, ModelError, ReplayModel, resolve_model
from ..tools import FinalAnswerTool, Tool, UserInputTool
from .config import SmolDepot

__all__ = ["NotebookSession", "RunOptions"]


@dataclass
class RunOptions:
    """One run's settings: the configuration, overridden by the cell's flags."""

    model: Model | str | None = None
    api_base: str | None = None
    max_steps: int = 20
    step_timeout: float = 300.0
    tools: list[str] | None = None
    authorized_imports: list[str] | None = None
    push: list[str] = field(default_factory=list)
    planning_interval: int | None = None
    format_answer: bool = False
    name: str | None = None
    sandbox: str | None = None


@dataclass
class _HistoryEntry:
    name: str | None
    task: str
    result: RunResult


class NotebookSession:
    """The sidecar and the runs of one notebook."""

    def __init__(self, shell: Any, config: SmolDepot) -> None:
        self.shell = shell
        self.config = config
        self.executor: KernelExecutor | None = None
        self._executor_settings: tuple[Any, ...] | None = None
        self.history: list[_HistoryEntry] = []
        self._forgotten = 0
        self._variables_lost_at = 0
        self.agent: CodeAgent | None = None
        self.background: threading.Thread | None = None
        self._background_started = 0.0

    # ----------------------------------------------------------------- the sidecar

    def _settings(self, sandbox: str | None) -> tuple[Any, ...]:
        config = self.config
        return (
            config.kernel_name,
            config.cwd,
            tuple(config.env_allowlist),
            sandbox or config.sandbox,
            config.network,
            tuple(config.sandbox_paths),
            config.resource_limits(),
            config.record_dir,
        )

    def sidecar(self, sandbox: str | None = None) -> KernelExecutor:
        """The session's sidecar, made anew if its settings (kernel, cwd, environment, sandbox)
        changed; `sandbox` overrides the configured level."""
        settings = self._settings(sandbox)
        if self.executor is not None and settings != self._executor_settings:
            print("The sidecar's settings changed: starting a new sidecar (variables are lost).")
            self.executor.shutdown()
            self.executor = None
            self._variables_lost_at = len(self.history)
        if self.executor is None:
            config = self.config
            try:
                self.executor = KernelExecutor(
                    kernel_name=config.kernel_name,
                    cwd=config.cwd,
                    env_allowlist=config.env_allowlist,
                    input_handler=_ask_notebook_user,
                    sandbox=sandbox or config.sandbox,
                    network=config.network,
                    sandbox_paths=config.sandbox_paths,
                    hidden_paths=[config.record_dir] if config.record_dir else [],
                    limits=config.resource_limits(),
                )
            except (SandboxUnavailable, ValueError) as exc:
                raise UsageError(str(exc)) from None
            self._executor_settings = settings
            if self.executor.sandbox.fell_back:
                print(f"Sandbox: {self.executor.describe()}")
        return self.executor

    def prewarm(self) -> None:
        """Start the sidecar in the background (at ``%load_ext``)."""
        self.sidecar().prewarm()

    def restart(self) -> None:
        """Restart the sidecar: its variables are lost; the conversation goes on."""
        self._require_idle("restart the sidecar")
        self.sidecar().restart()
        self._variables_lost_at = len(self.history)

    def reset(self) -> None:
        """Forget the conversation and restart the sidecar."""
        self._require_idle("reset")
        self._forgotten = len(self.history)
        self.restart()

    def shutdown(self) -> None:
        """Stop any background run and the sidecar (at ``%unload_ext`` and exit)."""
        self.stop()
        if self.executor is not None:
            self.executor.shutdown()
            self.executor = None

    # ----------------------------------------------------------------- tools and values

    def namespace_tools(self) -> dict[str, Tool]:
        """Every `Tool` (``@tool`` functions included) in the user's namespace, by variable."""
        found: dict[str, Tool] = {}
        for variable, value in list(self.shell.user_ns.items()):
            if variable.startswith("_") or not isinstance(value, Tool):
                continue
            if isinstance(value, FinalAnswerTool | UserInputTool):
                continue
            found[variable] = value
        return found

    def tools_for(self, names: list[str] | None) -> list[Tool]:
        """The tools for a run: all in the namespace, or those named (variable or tool name)."""
        available = self.namespace_tools()
        if names is None:
            chosen = list(available.values())
        else:
            by_name = {**{t.name: t for t in available.values()}, **available}
            missing = [n for n in names if n not in by_name]
            if missing:
                known = ", ".join(sorted({t.name for t in available.values()})) or "none"
                raise UsageError(
                    f"no tool named {', '.join(missing)} in the notebook (tools: {known}). "
                    "Define one with @tool, or drop it from --tools."
                )
            chosen = [by_name[n] for n in names]
        unique: dict[str, Tool] = {}
        for item in chosen:
            unique.setdefault(item.name, item)
        tools = list(unique.values())
        if self.config.ask_user:
            tools.append(UserInputTool())
        return tools

    def push(self, names: list[str]) -> None:
        """Copy user variables into the sidecar under the same names."""
        executor = self.sidecar()
        for name in names:
            if name not in self.shell.user_ns:
                raise UsageError(f"there is no variable named {name!r} in the notebook to push")
            try:
                executor.push(name, self.shell.user_ns[name])
            except (TransferError, ValueError, pickle.PicklingError, TypeError) as exc:
                raise UsageError(f"cannot push {name!r}: {exc}") from None

    def pull(self, names: list[str], trust: bool) -> dict[str, Any]:
        """Copy sidecar variables into the user's namespace under the same names."""
        executor = self.sidecar()
        values = {}
        for name in names:
            try:
                values[name] = executor.pull(name, trust=trust)
            except (NameError, TransferError, ValueError) as exc:
                raise UsageError(str(exc)) from None
        self.shell.user_ns.update(values)
        return values

    # ----------------------------------------------------------------- runs

    def _require_idle(self, what: str) -> None:
        if self.background is not None and self.background.is_alive():
            raise UsageError(
                f"cannot {what} while a background run is going: `%agent stop` it first, "
                "or wait for it (see `%agent status`)"
            )

    def conversation(self) -> str:
        """The summary of earlier runs that the next task carries; empty for a fresh one."""
        entries = self.history[self._forgotten :]
        if not entries:
            return ""
        lines = ["Earlier tasks in this notebook, and their answers:"]
        for number, entry in enumerate(entries, start=1):
            answer = str(entry.result.output) if entry.result.output is not None else "(none)"
            lines.append(f"{number}. {_clip(entry.task, 300)}")
            lines.append(f"   Answer: {_clip(answer, 300)} ({entry.result.state})")
        lost = self._variables_lost_at - self._forgotten
        if lost <= 0:
            lines.append("Their variables are still defined in the Python session.")
        elif lost >= len(entries):
            lines.append("The Python session was restarted since: their variables are gone.")
        else:
            lines.append(
                f"The Python session was restarted after task {lost}: "
                f"variables made by tasks 1-{lost} are gone."
            )
        return "\n".join(lines)

    def build_agent(self, options: RunOptions, observers: list[Any]) -> CodeAgent:
        """An agent for one run, on the session's sidecar."""
        try:
            model = resolve_model(options.model or self.config.model, options.api_base)
        except ModelError as exc:
            raise UsageError(str(exc)) from None
        agent = CodeAgent(
            self.tools_for(options.tools),
            model,
            executor=self.sidecar(options.sandbox),
            max_steps=options.max_steps,
            authorized_imports=options.authorized_imports,
            planning_interval=options.planning_interval,
            format_answer=options.format_answer,
            name=options.name,
            step_timeout=options.step_timeout,
            observers=observers,
            record_dir=self.config.record_dir,
            max_observation_chars=self.config.max_observation_chars,
            context_window=self.config.context_window,
        )
        if isinstance(model, ReplayModel):
            # A recorded run played back: where execution now goes another way (an error where
            # the recording showed a figure), the run view says so, as `%%agent --replay` does.
            from ..export.replay import watch_replay

            watch_replay(agent, model)
        return agent

    def run(self, agent: CodeAgent, task: str, options: RunOptions) -> RunResult:
        """Run in the foreground (the cell blocks; Kernel -> Interrupt stops it)."""
        self._require_idle("start another run")
        self.agent = agent
        additional = {name: self.shell.user_ns[name] for name in options.push}
        result = agent.run(task, additional_args=additional, context=self.conversation())
        assert isinstance(result, RunResult)
        self.history.append(_HistoryEntry(options.name, task, result))
        return result

    def run_in_background(
        self, agent: CodeAgent, task: str, options: RunOptions, done: Any
    ) -> None:
        """Run in a thread; `done(result)` is called at the end. `stop()` ends it."""
        self._require_idle("start another run")
        self.agent = agent
        additional = {name: self.shell.user_ns[name] for name in options.push}
        context = self.conversation()

        def target() -> None:
            result = agent.run(task, additional_args=additional, context=context)
            assert isinstance(result, RunResult)
            self.history.append(_HistoryEntry(options.name, task, result))
            done(result)

        self.background = threading.Thread(target=target, name="smoldepot-agent", daemon=True)
        self._background_started = time.monotonic()
        self.background.start()

    def stop(self) -> bool:
        """Stop the background run; False if none was going."""
        thread = self.background
        if thread is None or not thread.is_alive():
            return False
        if self.agent is not None:
            self.agent.interrupt()
        thread.join(timeout=30)
        return True

    @property
    def last(self) -> RunResult | None:
        """The last finished run's result."""
        return self.history[-1].result if self.history else None

    # ----------------------------------------------------------------- reports

    def status_text(self) -> str:
        """What `%agent status` prints."""
        model = self.config.model
        model_text = getattr(model, "model_id", model) or os.environ.get("SMOLDEPOT_MODEL")
        lines = [f"model:    {model_text or '(none: set SMOLDEPOT_MODEL or SmolDepot.model)'}"]
        executor = self.executor
        if executor is None or not executor.is_alive():
            lines.append("sidecar:  not running (it starts with the next run)")
        else:
            pid = executor.pid
            lines.append(f"sidecar:  running, pid {pid}, {_memory_of(pid)}")
        try:
            where = executor.describe() if executor else str(choose_level(self.config.sandbox))
        except SandboxUnavailable as exc:
            where = f"unavailable: {exc}"
        lines.append(f"sandbox:  {where}")
        tools = sorted(t.name for t in self.namespace_tools().values())
        lines.append(f"tools:    {', '.join(tools) or '(none)'}")
        lines.append(f"runs:     {len(self.history)} in this session")
        thread = self.background
        if thread is not None and thread.is_alive():
            step = getattr(self.agent, "_current_step", None) or 0
            elapsed = time.monotonic() - self._background_started
            lines.append(f"background: running, step {step}, {elapsed:.0f} s")
        else:
            lines.append("background: none")
        return "\n".join(lines)

    def history_text(self) -> str:
        """What `%agent history` prints."""
        if not self.history:
            return "No runs yet in this session."
        lines = []
        for number, entry in enumerate(self.history, start=1):
            result = entry.result
            label = f" [{entry.name}]" if entry.name else ""
            lines.append(
                f"{number}.{label} {result.state}: {_clip(entry.task, 60)} -> "
                f"{_clip(str(result.output), 40)} ({result.action_steps} steps, "
                f"{result.token_usage.total_tokens:,} tokens, run {result.run_id})"
            )
        return "\n".join(lines)

    def record_path(self, run: str | None) -> Path:
        """The record of `run`: a run id, a record path, a history number, or the last run."""
        if run is None:
            if self.last is None or self.last.record_path is None:
                raise UsageError("no recorded run yet in this session; name a run or a path")
            return Path(self.last.record_path)
        if run.isdigit() and 1 <= int(run) <= len(self.history):
            path = self.history[int(run) - 1].result.record_path
            if path is not None:
                return Path(path)
        candidate = Path(run)
        if candidate.exists():
            return candidate
        if self.config.record_dir:
            by_id = Path(self.config.record_dir) / f"{run}.jsonl"
            if by_id.exists():
                return by_id
        raise UsageError(f"no run {run!r}: give a run id, a record path or a history number")

    def recorded_runs(self) -> list[Path]:
        """Run records on disk, newest first."""
        if not self.config.record_dir:
            return []
        folder = Path(self.config.record_dir)
        if not folder.is_dir():
            return []
        return sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)


def _ask_notebook_user(prompt: str, password: bool) -> str:
    """Model code's own input(): asked through the notebook's input box."""
    if password:
        import getpass

        return getpass.getpass(prompt)
    return input(prompt)


def _memory_of(pid: int | None) -> str:
    """The resident memory of `pid` and every process below it (under bwrap, `pid` is
    bwrap's and the kernel runs below it)."""
    if pid is None:
        return "memory unknown"
    children: dict[int, list[int]] = {}
    try:
        entries = [int(e) for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        entries = []
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(entry)
    total, found, todo = 0, False, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            with open(f"/proc/{current}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        found = True
        except (OSError, ValueError):
            continue
    return f"{total / 1024:.0f} MiB resident" if found else "memory unknown"


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
