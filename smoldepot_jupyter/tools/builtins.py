"""The built-in tools every agent gets: `final_answer` (ends the run) and `user_input` (asks the
human), with their classes `FinalAnswerTool` and `UserInputTool`."""

import builtins
from collections.abc import Callable
from typing import Any

from .base import Tool

__all__ = ["FinalAnswerTool", "UserInputTool", "final_answer", "user_input"]


class FinalAnswerTool(Tool):
    """`final_answer(answer)` as the prompt describes it. The sidecar kernel defines and runs the
    real one (it ends the action); this object exists so the prompt lists it like any tool."""

    name = "final_answer"
    description = "Give the final answer to the task"
    inputs = {"answer": {"type": "any", "description": "The final answer to the task."}}  # noqa: RUF012
    output_type = "any"

    def forward(self, answer: Any) -> Any:
        return answer


class UserInputTool(Tool):
    """`user_input(question)`: asks the human and returns their answer.

    `ask` takes the question and returns the answer; by default it is `input()` at call time, which
    in a notebook kernel asks the notebook's user. Tests inject their own.
    """

    name = "user_input"
    description = (
        "Ask the user a question and return their answer. Use it only for information that only "
        "the user has."
    )
    inputs = {"question": {"type": "string", "description": "The question to ask the user."}}  # noqa: RUF012
    output_type = "string"

    def __init__(self, ask: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.ask = ask if ask is not None else _ask_with_input

    def forward(self, question: str) -> str:
        return str(self.ask(question))


def _ask_with_input(question: str) -> str:
    # Looked up at call time: ipykernel swaps builtins.input for one that asks the frontend.
    prompt = question if question[-1:].isspace() else f"{question} "
    return builtins.input(prompt)


#: The `final_answer` spec for prompts (the sidecar runs the real one).
final_answer = FinalAnswerTool()

#: `user_input` asking through `input()`; build `UserInputTool(ask=...)` to ask another way.
user_input = UserInputTool()
