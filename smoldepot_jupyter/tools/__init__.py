"""Tools the agent can call: the `Tool` base class, the `@tool` decorator and the built-ins.

A tool is data (name, description, input schema, output type) that prompts are rendered from, plus
a `forward` that does the work. Nothing here knows about kernels, models or the UI.
"""

from .base import FunctionTool, Tool, ToolDefinitionError
from .builtins import FinalAnswerTool, UserInputTool, final_answer, user_input
from .decorator import as_tool, tool
from .schema import JSON_TYPES

__all__ = [
    "JSON_TYPES",
    "FinalAnswerTool",
    "FunctionTool",
    "Tool",
    "ToolDefinitionError",
    "UserInputTool",
    "as_tool",
    "final_answer",
    "tool",
    "user_input",
]
