"""ToolCallingAgent: native tool calls, JSON blocks in text, parallel calls, same results."""

from __future__ import annotations

import threading

import pytest

from smoldepot_jupyter import ScriptedModel, ToolCallingAgent, tool
from smoldepot_jupyter.memory import ActionStep
from smoldepot_jupyter.models import ModelResponse

barrier = threading.Barrier(2, timeout=10)


@tool
def multiply(a: float, b: float) -> float:
    """Multiply two numbers.

    Args:
        a: The first factor.
        b: The second factor.
    """
    return a * b


@tool
def meet(who: str) -> str:
    """Wait until another call of this tool runs at the same time, then greet.

    Args:
        who: Whom to greet.
    """
    barrier.wait()
    return f"hello {who}"


def call(name, **arguments):
    return {"id": f"call_{name}", "name": name, "arguments": arguments}


@pytest.fixture
def make_agent(tmp_path):
    def make(replies, tools=(multiply, meet), **options):
        return ToolCallingAgent(list(tools), ScriptedModel(replies), record_dir=tmp_path, **options)

    return make


def test_native_tool_calls_run_and_final_answer_ends(make_agent):
    agent = make_agent(
        [
            ModelResponse(tool_calls=[call("multiply", a=6, b=7)]),
            ModelResponse(tool_calls=[call("final_answer", answer=42)]),
        ]
    )
    result = agent.run("Multiply 6 by 7.")
    assert (result.state, result.output) == ("success", 42)
    first = next(s for s in result.steps if isinstance(s, ActionStep))
    assert "returned:\n42" in first.observation


def test_json_block_in_text_is_used_when_there_are_no_native_calls(make_agent):
    agent = make_agent(
        [
            'Thought: multiply.\n```json\n{"name": "multiply", "arguments": {"a": 2, "b": 3}}\n```',
            '{"name": "final_answer", "arguments": {"answer": "six"}}',
        ]
    )
    result = agent.run("Two times three, in words.")
    assert result.output == "six"


def test_native_calls_are_shown_to_the_model_in_its_history(make_agent):
    agent = make_agent(
        [
            ModelResponse(tool_calls=[call("multiply", a=2, b=2)]),
            ModelResponse(tool_calls=[call("final_answer", answer=4)]),
        ]
    )
    agent.run("Square two.")
    history = agent.model.calls[1]
    assert '"multiply"' in history[-2]["content"] and "returned:\n4" in history[-1]["content"]


def test_parallel_calls_run_concurrently(make_agent):
    agent = make_agent(
        [
            ModelResponse(tool_calls=[call("meet", who="ann"), call("meet", who="bob")]),
            ModelResponse(tool_calls=[call("final_answer", answer="met")]),
        ]
    )
    result = agent.run("Meet both.")
    step = next(s for s in result.steps if isinstance(s, ActionStep))
    assert "hello ann" in step.observation and "hello bob" in step.observation
    assert step.error is None


def test_unknown_tool_is_reported_with_the_tool_list(make_agent):
    agent = make_agent(
        [
            ModelResponse(tool_calls=[call("divide", a=1, b=2)]),
            ModelResponse(tool_calls=[call("final_answer", answer=0.5)]),
        ]
    )
    result = agent.run("Divide.")
    step = next(s for s in result.steps if isinstance(s, ActionStep))
    assert "no tool named 'divide'" in step.observation and "multiply" in step.observation


def test_text_without_a_tool_call_is_told_the_format(make_agent):
    agent = make_agent(
        ["I would multiply them.", '{"name": "final_answer", "arguments": {"answer": 1}}']
    )
    result = agent.run("Do it.")
    step = next(s for s in result.steps if isinstance(s, ActionStep))
    assert '"name"' in step.observation and '"arguments"' in step.observation
    assert result.output == 1


def test_max_steps_asks_for_a_best_answer(make_agent):
    agent = make_agent(
        [
            ModelResponse(tool_calls=[call("multiply", a=1, b=1)]),
            ModelResponse(tool_calls=[call("final_answer", answer="probably 1")]),
        ],
        max_steps=1,
    )
    result = agent.run("Hard.")
    assert (result.state, result.output) == ("max_steps", "probably 1")


def test_additional_args_are_given_in_the_task_text(make_agent):
    agent = make_agent([ModelResponse(tool_calls=[call("final_answer", answer="ok")])])
    agent.run("Use the value.", additional_args={"limit": 12})
    assert "limit = 12" in agent.model.calls[0][1]["content"]


def test_system_prompt_lists_the_tools_and_is_stable(make_agent):
    first = make_agent([]).memory.system_prompt
    second = make_agent([]).memory.system_prompt
    assert first == second
    assert "multiply(a: float, b: float) -> float" in first
    assert "final_answer" in first
