"""`Executor`: what the agents need of whatever runs their actions.

`KernelExecutor` is the implementation, at every sandbox level; the agents depend only on this
protocol, so another way of running a sidecar (a remote gateway, a test double that still runs
real code) is a new class, not a change to the loop.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, Protocol, runtime_checkable

from .bridge import InputHandler
from .execution import Execution
from .outputs import OutputListener

__all__ = ["Executor"]


@runtime_checkable
class Executor(Protocol):
    """Runs Python actions with state kept between them; tools are called back on the host.

    `run` never raises for anything the action does (it may raise `ExecutionInterrupted` when
    the host itself is interrupted); `use_tools` scopes the tools, the input handler and the
    authorized imports to one run, so an earlier run's tools are not callable in a later one.
    """

    authorized_imports: frozenset[str] | None
    input_handler: InputHandler | None

    def start(self) -> None: ...

    def prewarm(self) -> None: ...

    def run(
        self, code: str, timeout: float | None = None, on_output: OutputListener | None = None
    ) -> Execution: ...

    def interrupt(self) -> None: ...

    def restart(self) -> None: ...

    def shutdown(self) -> None: ...

    def push(self, name: str, value: Any) -> None: ...

    def pull(self, name: str, trust: bool = False) -> Any: ...

    def is_alive(self) -> bool: ...

    def use_tools(
        self,
        tools: Iterable[Any],
        input_handler: InputHandler | None = None,
        authorized_imports: Collection[str] | None = None,
    ) -> list[str]: ...

    def describe(self) -> str: ...
