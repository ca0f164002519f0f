"""Agents managed by an agent: each is a tool of its manager, called with a task in words."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..tools import FunctionTool
from .result import RunResult

if TYPE_CHECKING:
    from .base import MultiStepAgent

__all__ = ["managed_agent_tool", "managed_name"]


def managed_name(agent: MultiStepAgent) -> str:
    """The tool name of a managed agent: its name, which it must have, with a description."""
    if not agent.name or not agent.description:
        raise ValueError(
            "a managed agent needs a name and a description, e.g. "
            "CodeAgent(..., name='analyst', description='Answers questions about data')"
        )
    return agent.name


def managed_agent_tool(agent: MultiStepAgent) -> FunctionTool:
    """A managed agent as a tool of its manager: give it a task, get its final answer."""
    name = managed_name(agent)

    def delegate(task: str) -> Any:
        result = agent.run(task, return_full_result=True)
        assert isinstance(result, RunResult)
        if result.state == "success":
            return result.output  # the value itself: a number stays a number
        if result.state == "max_steps":
            return f"{result.output}\n(best answer after running out of steps; it may be wrong)"
        return f"(the agent {name} stopped: {result.state}; {result.error or 'no answer'})"

    delegate.__name__ = delegate.__qualname__ = name
    return FunctionTool(
        delegate,
        name=name,
        description=(
            f"{agent.description.strip()} (a team member: give it a complete task in plain "
            "words, with everything it needs; it answers with its final answer)"
        ),
        inputs={"task": {"type": "string", "description": "The task, stated in full."}},
        output_type="any",
    )
