"""`%%agent` and `%agent`: what a notebook user types. No agent logic lives here.

``%%agent`` shows a live run view under the cell, runs the task (the cell blocks; Kernel ->
Interrupt stops it), turns the view into its static rendering at the end, and returns the final
answer as the cell's value. ``%agent SUBCOMMAND`` manages the session.
"""

from __future__ import annotations

import re
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, output_can_be_silenced
from IPython.display import display

from .arguments import parse_cell_line, parse_line, usage_text
from .config import SmolDepot
from .session import NotebookSession, RunOptions

__all__ = ["AgentMagics", "AgentRunError", "agent_cell_without_body"]


class AgentRunError(RuntimeError):
    """Raised by a ``%%agent`` cell whose run ended in error, when ``SmolDepot.raise_on_error``
    is on (after the run view is shown): the notebook stops there, as at any failing cell."""

    def __init__(self, run_id: str, error: str | None) -> None:
        self.run_id = run_id
        self.error = error or "the run failed"
        super().__init__(f"the agent run {run_id} ended in error: {self.error}")

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback through the magic machinery: the run view
        # above already shows where the run failed.
        return [f"{type(self).__name__}: {self}"]


_BODILESS_AGENT_CELL = re.compile(r"%%agent(?:[ \t][^\n]*)?\n?")


def agent_cell_without_body(lines: list[str]) -> list[str]:
    """An IPython input transformer: a cell that is only the ``%%agent`` line (``%%agent
    --replay run.jsonl``, as the README writes it) gets an empty body line, so that IPython
    hands it to the magic instead of refusing a cell magic with an empty body; the magic then
    replays, or says the task is missing."""
    if len(lines) == 1 and _BODILESS_AGENT_CELL.fullmatch(lines[0]):
        return [lines[0] if lines[0].endswith("\n") else lines[0] + "\n", "\n"]
    return lines


@magics_class
class AgentMagics(Magics):
    """The ``%%agent`` cell magic and the ``%agent`` line magic."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.settings = SmolDepot(parent=shell)
        shell.configurables.append(self.settings)
        self.session = NotebookSession(shell, self.settings)

    @output_can_be_silenced
    @line_cell_magic
    def agent(self, line: str, cell: str | None = None) -> Any:
        """Run an agent on the task in the cell, or manage the session (``%agent status``...).

        Type ``%agent`` alone for the usage."""
        if cell is None:
            return self._subcommand(line)
        return self._run_cell(line, cell)

    # ----------------------------------------------------------------- %%agent

    def _options(self, flags: Any) -> RunOptions:
        config = self.settings
        return RunOptions(
            model=flags.model or config.model,
            api_base=flags.api_base or config.api_base,
            max_steps=flags.max_steps or config.max_steps,
            step_timeout=flags.timeout or config.step_timeout,
            tools=flags.tools,
            authorized_imports=flags.imports or config.authorized_imports,
            push=flags.push or [],
            planning_interval=flags.plan,
            format_answer=flags.format_answer or config.format_answer,
            name=flags.name,
            sandbox=flags.sandbox,
        )

    def _run_cell(self, line: str, cell: str) -> Any:
        flags = parse_cell_line(line)
        task = cell.strip()
        if flags.replay:
            from ..export.replay import replay_in_notebook

            replayed = replay_in_notebook(self.session, flags.replay, delay=flags.delay)
            self._raise_if_failed(replayed)
            return replayed.output
        if not task:
            raise UsageError(
                f"the cell holds no task: write it below the %%agent line\n\n{usage_text()}"
            )
        options = self._options(flags)
        missing = [name for name in options.push if name not in self.shell.user_ns]
        if missing:
            raise UsageError(f"--push names no notebook variable: {', '.join(missing)}")
        if flags.reset:
            self.session.reset()
        from ..ui import RunDisplay, RunView

        view = RunView()
        observer = view if self.settings.stream else _without_deltas(view)
        agent = self.session.build_agent(options, observers=[observer])
        run_display = RunDisplay(view).show()
        if flags.background:

            def done(result: Any) -> None:
                view.flush()
                run_display.finish(self.settings.final_render)

            self.session.run_in_background(agent, task, options, done)
            return None
        try:
            result = self.session.run(agent, task, options)
        finally:
            view.flush()
            run_display.finish(self.settings.final_render)
        self._raise_if_failed(result)
        if flags.json:
            return result.to_dict()
        return result.output

    def _raise_if_failed(self, result: Any) -> None:
        """``SmolDepot.raise_on_error``: a run that ended in error makes the cell raise."""
        if self.settings.raise_on_error and result.state == "error":
            raise AgentRunError(result.run_id, result.error)

    # ----------------------------------------------------------------- %agent

    def _subcommand(self, line: str) -> Any:
        command, args = parse_line(line)
        session = self.session
        if command == "status":
            print(session.status_text())
        elif command == "reset":
            session.reset()
            print("Conversation forgotten; the sidecar restarted with no variables.")
        elif command == "restart":
            session.restart()
            print("The sidecar restarted: its variables are gone; the conversation goes on.")
        elif command == "stop":
            print("Background run stopped." if session.stop() else "No background run.")
        elif command == "history":
            print(session.history_text())
        elif command == "runs":
            self._list_runs()
        elif command == "show":
            self._show(args.run)
        elif command == "export":
            from ..export import export_notebook

            path = export_notebook(
                session.record_path(args.run), args.path, live_tools=args.live_tools
            )
            print(f"Exported to {path}")
        elif command == "replay":
            from ..export.replay import replay_in_notebook

            replayed = replay_in_notebook(session, args.path, delay=args.delay)
            self._raise_if_failed(replayed)
            return replayed.output
        elif command == "push":
            session.push(args.names)
            print(f"Pushed {', '.join(args.names)} into the sidecar.")
        elif command == "pull":
            values = session.pull(args.names, args.trust)
            described = ", ".join(f"{n} ({type(v).__name__})" for n, v in values.items())
            print(f"Pulled {described} into the notebook.")
            return values[args.names[0]] if len(values) == 1 else None
        elif command == "tools":
            self._list_tools()
        elif command == "config":
            self._show_config()
        elif command == "last":
            return session.last
        return None

    def _list_runs(self) -> None:
        from ..records import RecordError, load_run

        paths = self.session.recorded_runs()
        if not paths:
            print(f"No recorded runs in {self.settings.record_dir or '(recording is off)'}.")
            return
        for path in paths[:20]:
            try:
                record = load_run(path)
            except RecordError as exc:
                print(f"{path.stem}  (unreadable: {exc})")
                continue
            task = " ".join(str(record.task).split())[:60]
            print(f"{record.run_id}  {record.state:<11}  {task}")
        if len(paths) > 20:
            print(f"... and {len(paths) - 20} older runs in {self.settings.record_dir}")

    def _show(self, run: str | None) -> None:
        from ..records import load_run
        from ..ui import RunViewState, static_bundle

        record = load_run(self.session.record_path(run))
        state = RunViewState.from_events(record.events)
        display(static_bundle(state), raw=True)

    def _list_tools(self) -> None:
        tools = self.session.tools_for(None)
        if not tools:
            print("No tools: define some with @tool.")
            return
        for item in tools:
            print(item.code_signature().removeprefix("def ").rstrip(":"))

    def _show_config(self) -> None:
        config = self.settings
        for name in sorted(config.trait_names(config=True)):
            value = getattr(config, name)
            if name == "model" and value is not None and not isinstance(value, str):
                value = f"{type(value).__name__}({getattr(value, 'model_id', '?')!r})"
            print(f"SmolDepot.{name} = {value!r}")


def _without_deltas(view: Any) -> Any:
    """The view, minus the streamed words (SmolDepot.stream = False)."""

    def observer(event: Any) -> None:
        if event.kind != "model_delta":
            view(event)

    return observer
