"""Memory steps: their JSON round trips, and the append-only messages built from them."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest

from smoldepot_jupyter.kernel.execution import Execution, ExecutionError, SidecarObject, ToolCall
from smoldepot_jupyter.memory import (
    ActionStep,
    AgentMemory,
    FinalAnswerStep,
    PlanningStep,
    TaskStep,
    step_from_dict,
    to_jsonable,
)
from smoldepot_jupyter.usage import Timing, TokenUsage

PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5Er"
    "kJggg=="
)


def an_execution(**changes) -> Execution:
    fields = {
        "code": "x = lookup('pi')\nprint(x)\nplot()",
        "outputs": [
            {"output_type": "stream", "name": "stdout", "text": "3.14159\n"},
            {
                "output_type": "display_data",
                "data": {"image/png": PNG, "text/plain": "<Figure>"},
                "metadata": {},
            },
            {
                "output_type": "execute_result",
                "execution_count": 3,
                "data": {"text/plain": "42"},
                "metadata": {},
            },
        ],
        "tool_calls": [
            ToolCall(name="lookup", args=["pi"], kwargs={}, result=3.14159, seconds=0.01)
        ],
        "duration": 0.25,
        "execution_count": 3,
        "notes": ["a note"],
    }
    fields.update(changes)
    return Execution(**fields)


def an_action(number: int = 1, **changes) -> ActionStep:
    fields = {
        "step_number": number,
        "model_output": f"Thought: step {number}\n```python\nprint({number})\n```",
        "thought": f"step {number}",
        "code": f"print({number})",
        "execution": an_execution(code=f"print({number})"),
        "observation": f"{number}",
        "token_usage": TokenUsage(100 * number, 10, 50),
        "timing": Timing(start=1000.0 + number, end=1000.5 + number),
    }
    fields.update(changes)
    return ActionStep(**fields)


def round_trip(step):
    return step_from_dict(json.loads(json.dumps(step.to_dict())))


def test_task_step_round_trips_through_json():
    # given a task with variables passed along
    step = TaskStep("Sum the column", ["df", "path"], Timing(1.0, 1.0))
    # when it goes through JSON and back / then it is the same step
    assert round_trip(step) == step


def test_planning_step_round_trips_through_json():
    step = PlanningStep(
        plan="1. load\n2. sum",
        model_output="Plan:\n1. load\n2. sum",
        token_usage=TokenUsage(300, 40, 256),
        timing=Timing(5.0, 7.5),
    )
    assert round_trip(step) == step


def test_action_step_with_a_real_execution_round_trips_through_json():
    # given an action whose execution failed after output, a tool call and an answer
    execution = an_execution(
        error=ExecutionError("ZeroDivisionError", "division by zero", ["Traceback", "1/0"]),
        final_answer=SidecarObject(type="DataFrame", repr="   a\n0  1"),
        has_final_answer=True,
        timed_out=False,
        dropped_output_chars=12,
    )
    step = an_action(
        3,
        execution=execution,
        error="ZeroDivisionError: division by zero",
        tool_calls_requested=[{"name": "lookup", "arguments": {"q": "pi"}}],
        is_final_answer=True,
        final_answer={"total": 6, "items": [1, 2, 3]},
    )
    # when it goes through JSON and back
    loaded = round_trip(step)
    # then every field, the execution included, is the same
    assert loaded == step
    assert loaded.execution.final_answer == SidecarObject(type="DataFrame", repr="   a\n0  1")


def test_action_step_without_execution_round_trips_through_json():
    step = ActionStep(step_number=2, model_output="no code here", error="no code block found")
    assert round_trip(step) == step


def test_final_answer_step_round_trips_through_json():
    step = FinalAnswerStep(output=[1, "two", {"three": 3.0}], timing=Timing(9.0, 9.0))
    assert round_trip(step) == step


def test_a_value_that_is_not_json_is_kept_as_its_type_and_repr():
    # given an answer that JSON cannot hold
    step = FinalAnswerStep(output={1, 2}, timing=Timing(9.0, 9.0))
    # when it goes through JSON and back
    loaded = round_trip(step)
    # then it is known by its type and repr
    assert loaded.output == SidecarObject(type="set", repr="{1, 2}")
    assert to_jsonable((1, {"k": b"x"})) == [1, {"k": {"type": "bytes", "repr": "b'x'"}}]


def test_memory_round_trips_through_json_with_every_step_type():
    memory = AgentMemory(
        system_prompt="You are a code agent.",
        steps=[
            TaskStep("task", [], Timing(1.0, 1.0)),
            PlanningStep("plan", timing=Timing(2.0, 3.0)),
            an_action(1),
            FinalAnswerStep("done", Timing(4.0, 4.0)),
        ],
    )
    loaded = AgentMemory.from_dict(json.loads(json.dumps(memory.to_dict())))
    assert loaded == memory


def test_an_unknown_step_type_is_refused_with_the_known_types():
    with pytest.raises(ValueError, match="expected one of task, planning, action, final_answer"):
        step_from_dict({"type": "telepathy"})


def test_an_action_step_keeps_the_requests_and_temperature_of_its_call_through_json():
    step = ActionStep(step_number=4, requests=["Answer now."], temperature=0.7)
    assert round_trip(step) == step


def test_a_record_written_with_model_input_messages_still_loads():
    data = {**an_action(1).to_dict(), "model_input_messages": [{"role": "user", "content": "x"}]}
    assert step_from_dict(data) == an_action(1)


def next_step_variants() -> list:
    return [
        an_action(9),
        an_action(9, error="NameError: name 'x' is not defined", observation=""),
        an_action(9, is_final_answer=True, final_answer=42),
        an_action(9, is_best_answer_fallback=True, final_answer="best guess"),
        PlanningStep("revised plan"),
        FinalAnswerStep(42),
        TaskStep("a follow-up task", ["df"]),
    ]


def test_messages_for_earlier_steps_are_byte_identical_whatever_step_comes_next():
    # given a run of several steps of every kind
    steps = [
        TaskStep("Count the rows", ["df"]),
        PlanningStep("1. look at df\n2. count"),
        an_action(1),
        an_action(2, error="KeyError: 'x'", observation="Traceback ... KeyError: 'x'"),
        an_action(3, is_final_answer=True, final_answer=3),
        FinalAnswerStep(3),
        TaskStep("And the columns?"),
        an_action(4, observation="", error="no code block found"),
    ]
    for n in range(len(steps) + 1):
        before = AgentMemory("system prompt", steps[:n])
        sent = json.dumps(before.to_messages(images=True))
        for following in next_step_variants():
            # when any step is appended after step n
            after = AgentMemory("system prompt", [*steps[:n], following]).to_messages(images=True)
            # then the messages for steps 1..n are sent again byte for byte
            assert json.dumps(after[: len(before.to_messages())]) == sent


def test_messages_render_system_task_plan_action_and_observation_in_order():
    memory = AgentMemory(
        "SYSTEM",
        [
            TaskStep("Count the rows", ["df"]),
            PlanningStep("count them"),
            an_action(1, model_output="Thought: go\n```python\nlen(df)\n```", observation="3"),
            an_action(2, model_output="final_answer(3)", is_final_answer=True, final_answer=3),
            FinalAnswerStep(3),
        ],
    )
    messages = memory.to_messages()
    assert [m["role"] for m in messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert messages[0]["content"] == "SYSTEM"
    assert "Count the rows" in messages[1]["content"] and "df" in messages[1]["content"]
    assert messages[2]["content"] == "count them"
    assert messages[4]["content"] == "Thought: go\n```python\nlen(df)\n```"
    assert messages[5]["content"] == "Observation:\n3"
    assert messages[6]["content"] == "final_answer(3)"


def test_an_error_not_already_in_the_observation_is_shown_to_the_model():
    given_parse_error = an_action(1, observation="", error="no code block found")
    given_traceback = an_action(1, observation="Traceback\nNameError: x", error="NameError: x")
    assert given_parse_error.to_messages()[1]["content"] == "Error:\nno code block found"
    assert given_traceback.to_messages()[1]["content"] == "Observation:\nTraceback\nNameError: x"


def test_a_follow_up_ends_every_observation_but_not_the_observation_itself():
    step = an_action(1, observation="3")
    assert step.to_messages(follow_up="Reply with code.")[1]["content"] == (
        "Observation:\n3\n\nReply with code."
    )
    assert step.observation == "3"


def test_no_follow_up_is_added_after_a_final_answer():
    final = an_action(2, observation="", is_final_answer=True, final_answer=3)
    memory = AgentMemory("SYSTEM", [an_action(1, observation="3"), final])
    texts = [m["content"] for m in memory.to_messages(follow_up="NEXT")]
    assert [t.endswith("NEXT") for t in texts] == [False, False, True, False]


def test_roles_alternate_across_a_continued_conversation():
    memory = AgentMemory(
        "SYSTEM",
        [
            TaskStep("first"),
            PlanningStep("plan"),
            an_action(1),
            an_action(2, is_final_answer=True, final_answer=1),
            FinalAnswerStep(1),
            TaskStep("second"),
            an_action(1),
            an_action(2, is_best_answer_fallback=True, final_answer="guess"),
            TaskStep("third"),
        ],
    )
    roles = [m["role"] for m in memory.to_messages()[1:]]
    assert all(a != b for a, b in pairwise(roles)), roles


def test_images_an_action_displayed_are_attached_only_for_vision_models():
    step = an_action(1)
    assert isinstance(step.to_messages()[1]["content"], str)
    parts = step.to_messages(images=True)[1]["content"]
    assert parts[0] == {"type": "text", "text": "Observation:\n1"}
    assert parts[1] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}


def test_token_usage_sums_every_model_call_in_memory():
    memory = AgentMemory(
        steps=[
            TaskStep("t"),
            PlanningStep("p", token_usage=TokenUsage(5, 1, 0)),
            an_action(1),
            an_action(2),
        ]
    )
    assert memory.token_usage == TokenUsage(5 + 100 + 200, 1 + 10 + 10, 50 + 50)


def test_summary_lists_each_earlier_task_with_its_final_answer():
    memory = AgentMemory(
        steps=[
            TaskStep("What is 2+2?"),
            an_action(1, is_final_answer=True, final_answer=4),
            FinalAnswerStep(4),
            TaskStep("Name a prime"),
            an_action(1),
            TaskStep("And a long one? " + "x" * 50),
            an_action(1, is_best_answer_fallback=True, final_answer=""),
        ]
    )
    assert memory.summary(max_chars=30) == (
        "Earlier tasks in this conversation and their final answers:\n"
        "Task 1: What is 2+2?\nAnswer 1: 4\n"
        "Task 2: Name a prime\nAnswer 2: (no final answer)\n"
        f"Task 3: And a long one? {'x' * 14} […]\nAnswer 3: "
    )
    assert AgentMemory().summary() == ""


def test_reset_forgets_the_steps_and_keeps_the_system_prompt():
    memory = AgentMemory("SYSTEM", [TaskStep("t"), an_action(1)])
    memory.reset()
    assert memory.steps == [] and memory.to_messages() == [{"role": "system", "content": "SYSTEM"}]


def test_an_empty_model_output_is_sent_as_a_visible_placeholder():
    step = an_action(1, model_output="", observation="", error="the model returned nothing")
    assert step.to_messages()[0] == {"role": "assistant", "content": "(empty response)"}
