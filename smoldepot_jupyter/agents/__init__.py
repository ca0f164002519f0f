"""Agents: the multi-step loop, `CodeAgent` (acts in Python) and `ToolCallingAgent` (acts by
calling tools), and the `RunResult` a run returns."""

from .base import FinalAnswerCheck, MultiStepAgent, StepCallback
from .code_agent import CodeAgent
from .result import RUN_STATES, RunFailed, RunResult
from .tool_calling_agent import ToolCallingAgent

__all__ = [
    "RUN_STATES",
    "CodeAgent",
    "FinalAnswerCheck",
    "MultiStepAgent",
    "RunFailed",
    "RunResult",
    "StepCallback",
    "ToolCallingAgent",
]
