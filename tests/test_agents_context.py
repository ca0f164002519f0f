"""Long runs stay inside the model's context window: older steps leave the prompt in large
chunks, with a note, while memory, the record and the view keep everything."""

from __future__ import annotations

import itertools

import pytest

from smoldepot_jupyter import CodeAgent, LiteLLMModel, ScriptedModel, load_run
from smoldepot_jupyter.memory import ActionStep, AgentMemory, TaskStep

pytestmark = pytest.mark.timeout(240)


def _step(number: int, chars: int) -> ActionStep:
    return ActionStep(
        step_number=number,
        model_output=f"Thought: {number}\n```python\nprint({number})\n```",
        code=f"print({number})",
        observation="x" * chars,
    )


def _size(messages) -> int:
    return sum(len(str(m["content"])) for m in messages)


def test_without_a_budget_every_step_is_sent():
    memory = AgentMemory("system", [TaskStep(task="t"), *(_step(n, 500) for n in range(1, 21))])
    assert len(memory.to_messages()) == 1 + 1 + 2 * 20
    assert memory.elided_steps == 0


def test_over_budget_the_oldest_steps_leave_in_one_chunk_with_a_note():
    memory = AgentMemory(
        "system", [TaskStep(task="the task"), *(_step(n, 500) for n in range(1, 41))]
    )
    messages = memory.to_messages(budget_chars=8_000)
    assert _size(messages) <= 8_000
    assert memory.elided_steps > 20  # cut down to about half the budget, not just below it
    task = messages[1]["content"]
    assert task.startswith("New task:\nthe task")
    assert f"(steps 1-{memory.elided_steps}) are left out" in task
    assert "run's record" in task


def test_the_prefix_stays_the_same_until_the_next_cut():
    steps = [TaskStep(task="t"), *(_step(n, 500) for n in range(1, 31))]
    memory = AgentMemory("system", steps)
    first = memory.to_messages(budget_chars=10_000)
    memory.steps.append(_step(31, 500))
    second = memory.to_messages(budget_chars=10_000)
    assert second[: len(first)] == first


def test_the_task_and_the_last_two_steps_are_always_sent():
    memory = AgentMemory("system", [TaskStep(task="t"), *(_step(n, 5_000) for n in range(1, 6))])
    messages = memory.to_messages(budget_chars=1_000)
    observations = [m["content"] for m in messages if m["role"] == "user"][1:]
    assert len(observations) == 2  # steps 4 and 5
    assert memory.elided_steps == 3


def test_a_long_run_never_sends_more_than_the_window_and_the_record_keeps_every_step(tmp_path):
    # Given a 60-step run that prints a page each step, with a 6,000-token window
    prompts = []

    def reply(messages):
        prompts.append(messages)
        if len(prompts) >= 60:
            return "Thought: done\n```python\nfinal_answer(len(prompts_seen))\n```"
        return (
            "Thought: more\n```python\nprompts_seen = globals().get('prompts_seen', []) + [1]\n"
            f"print('row ' * 300, {len(prompts)})\n```"
        )

    agent = CodeAgent(
        [], ScriptedModel(reply), max_steps=70, record_dir=tmp_path, context_window=6_000
    )
    with agent:
        result = agent.run("Print a page per step.")

    # Then every prompt fits the window less the reply's room, variables lived on, and the
    # record has all 60 steps with their full observations
    budget = (6_000 - agent.max_tokens) * 3
    assert result.output == 59
    assert max(_size(p) for p in prompts) <= budget
    assert any("are left out here" in str(m["content"]) for m in prompts[-1])
    cuts = sum(1 for a, b in itertools.pairwise(prompts) if b[: len(a)] != a)
    # (each cut leaves about half the budget free, here room for four of these steps)
    assert 1 <= cuts <= len(prompts) // 3
    record = load_run(result.record_path)
    actions = [s for s in record.steps if isinstance(s, ActionStep)]
    assert len(actions) == 60
    assert all("row row" in a.observation for a in actions[:-1])


def test_litellm_knows_the_window_of_a_hosted_model_and_not_of_a_local_name():
    assert LiteLLMModel("openai/gpt-4o-mini").context_window == 128_000
    assert LiteLLMModel("openai/my-own-server-model").context_window is None
    assert LiteLLMModel("openai/my-own-server-model", context_window=8192).context_window == 8192
