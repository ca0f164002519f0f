"""CodeAgent behaviour with a scripted model and a real sidecar kernel.

Each test reads as the conversation: what the model says, what the agent did about it.
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest

from smoldepot_jupyter import CodeAgent, ScriptedModel, load_run, tool
from smoldepot_jupyter.agents.prompts import CODE_FOLLOW_UP, NO_PROGRESS_REQUEST, code_system_prompt
from smoldepot_jupyter.events import RunFinished, StepFinished
from smoldepot_jupyter.kernel import KernelExecutor
from smoldepot_jupyter.memory import ActionStep, PlanningStep
from smoldepot_jupyter.models import ModelUnavailableError


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


@tool
def fails(reason: str) -> str:
    """Always fails, with the given reason.

    Args:
        reason: What to say.
    """
    raise ValueError(f"cannot do that: {reason}")


def code(body: str, thought: str = "I act.") -> str:
    return f"Thought: {thought}\n```python\n{body}\n```"


@pytest.fixture(scope="module")
def sidecar():
    with KernelExecutor(interrupt_grace=2) as executor:
        yield executor


@pytest.fixture
def make_agent(sidecar, tmp_path):
    """A CodeAgent on the shared sidecar, recording into tmp_path."""
    agents = []

    def make(replies, tools=(add, fails), **options):
        options.setdefault("record_dir", tmp_path / "runs")
        agent = CodeAgent(list(tools), ScriptedModel(replies), executor=sidecar, **options)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        agent.close()


def action_steps(result):
    return [s for s in result.steps if isinstance(s, ActionStep)]


def test_final_answer_ends_the_run_with_the_value(make_agent):
    agent = make_agent([code("x = add(2, 3)\nprint(x)"), code("final_answer(x * 10)")])
    result = agent.run("Add 2 and 3, times ten.")
    assert (result.state, result.output) == ("success", 50)
    assert next(s.observation for s in action_steps(result)) == "5"


def test_reply_without_code_is_told_the_expected_format(make_agent):
    agent = make_agent(["I think the answer is 4.", code("final_answer(4)")])
    result = agent.run("What is 2+2?")
    first = action_steps(result)[0]
    assert first.code is None
    assert "```python" in first.observation and "final_answer" in first.observation
    assert result.output == 4
    # the model was shown that instruction in its next call
    assert first.observation in agent.model.calls[1][-1]["content"]


def test_every_observation_the_model_reads_ends_with_what_to_reply(make_agent):
    agent = make_agent([code("x = 2 + 3\nprint(x)"), code("final_answer(x)")])
    result = agent.run("Add 2 and 3.")
    first = action_steps(result)[0]
    sent = agent.model.calls[1][-1]["content"]
    assert sent.endswith(CODE_FOLLOW_UP) and first.observation in sent
    assert CODE_FOLLOW_UP not in first.observation


class WholeReplyModel:
    """A provider that does not stream: each reply arrives whole, whatever `stop_when` says."""

    model_id = "whole-reply"

    def __init__(self, replies):
        self.replies = list(replies)

    def generate(self, messages, **options):
        from smoldepot_jupyter.models import ModelResponse

        return ModelResponse(text=self.replies.pop(0), model_id=self.model_id)


TWO_BLOCKS = (
    "Thought: two parts\n```python\nparts = ['a']\n```\nthen\n"
    "```python\nparts.append('b')\nprint(parts)\n```"
)


def test_two_code_blocks_arriving_together_run_in_order(sidecar, tmp_path):
    model = WholeReplyModel([TWO_BLOCKS, code("final_answer(parts)")])
    with CodeAgent([], model, executor=sidecar, record_dir=tmp_path) as agent:
        result = agent.run("Build a list.")
    assert action_steps(result)[0].observation == "['a', 'b']"
    assert result.output == ["a", "b"]


def test_streamed_reply_is_cut_after_the_first_complete_block(make_agent):
    agent = make_agent([TWO_BLOCKS, code("final_answer(parts)")])
    result = agent.run("Build a list.")
    first = action_steps(result)[0]
    assert first.code == "parts = ['a']"
    assert "append" not in first.model_output
    assert result.output == ["a"]


def test_block_redefining_final_answer_is_refused_and_the_run_goes_on(make_agent):
    agent = make_agent([code("def final_answer(x):\n    return x"), code("final_answer('ok')")])
    result = agent.run("Answer ok.")
    refused = action_steps(result)[0]
    assert "GuardRailViolation" in refused.observation
    assert "final_answer" in refused.observation
    assert result.output == "ok"


def test_import_outside_the_allowed_list_is_refused_with_the_list(make_agent):
    agent = make_agent(
        [code("import socket"), code("import math\nfinal_answer(math.floor(2.5))")],
        authorized_imports=["math"],
    )
    result = agent.run("Floor 2.5.")
    refused = action_steps(result)[0]
    assert "socket" in refused.observation and "math" in refused.observation
    assert result.output == 2
    assert "You may import only these modules" in agent.memory.system_prompt


def test_tool_error_becomes_the_observation(make_agent):
    agent = make_agent([code("fails('the moon')"), code("final_answer('gave up')")])
    result = agent.run("Try the failing tool.")
    step = action_steps(result)[0]
    assert "ToolError" in step.observation and "cannot do that: the moon" in step.observation
    assert step.execution.tool_calls[0].error == "ValueError: cannot do that: the moon"


def test_tool_calls_are_reported_as_events_while_the_action_runs(make_agent):
    seen = []
    agent = make_agent([code("add(1, 2)\nadd(3, 4)\nfinal_answer('done')")])
    agent.subscribe(lambda e: seen.append(e) if e.kind == "tool_call_finished" else None)
    agent.run("Add twice.")
    assert [(e.name, e.args, e.result_repr) for e in seen] == [
        ("add", [1, 2], "3"),
        ("add", [3, 4], "7"),
    ]


def test_max_steps_ends_with_a_marked_best_answer(make_agent):
    agent = make_agent(
        [
            code("print('still looking')"),
            code("print('still')"),
            code("final_answer('best guess')"),
        ],
        max_steps=2,
    )
    result = agent.run("Find something hard.")
    assert (result.state, result.output) == ("max_steps", "best guess")
    last = action_steps(result)[-1]
    assert last.is_best_answer_fallback
    assert "You have used all your steps" in agent.model.calls[-1][-1]["content"]


def test_best_answer_without_code_uses_the_text(make_agent):
    agent = make_agent([code("print(1)"), "Thought: it is probably 7."], max_steps=1)
    result = agent.run("Guess.")
    assert result.state == "max_steps"
    assert "probably 7" in result.output


def test_interrupt_during_a_slow_action_keeps_the_steps(make_agent):
    agent = make_agent([code("kept = 1\nprint('started')"), code("import time\ntime.sleep(60)")])
    threading.Timer(3.0, agent.interrupt).start()
    started = time.monotonic()
    result = agent.run("Sleep long.")
    assert time.monotonic() - started < 30
    assert result.state == "interrupted", result.error
    assert len(action_steps(result)) == 2
    assert "KeyboardInterrupt" in action_steps(result)[1].observation
    assert agent.executor.run("print(kept)").observation() == "1"


def test_host_keyboard_interrupt_during_an_action_ends_the_run_as_interrupted(make_agent):
    agent = make_agent([code("import time\nprint('slow')\ntime.sleep(60)")])
    main = threading.main_thread().ident
    timer = threading.Timer(2.0, lambda: _raise_in(main))
    timer.start()
    result = agent.run("Sleep.")
    assert result.state == "interrupted"
    step = action_steps(result)[0]
    assert step.execution is not None and "slow" in step.observation
    assert agent.executor.run("1+1").observation() == "2"


def _raise_in(thread_id):
    import ctypes

    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(KeyboardInterrupt)
    )


def test_final_answer_check_failure_goes_back_to_the_model(make_agent):
    def must_be_even(answer, memory):
        return True if answer % 2 == 0 else f"{answer} is odd; the task wants an even number"

    agent = make_agent(
        [code("final_answer(3)"), code("final_answer(4)")], final_answer_checks=[must_be_even]
    )
    result = agent.run("An even number.")
    assert (result.state, result.output) == ("success", 4)
    assert "3 is odd" in agent.model.calls[1][-1]["content"]


def test_planning_steps_come_every_interval_as_appended_messages(make_agent):
    agent = make_agent(
        [
            "1. facts\n2. plan",
            code("print(1)"),
            code("print(2)"),
            "revised plan",
            code("final_answer(3)"),
        ],
        planning_interval=2,
    )
    result = agent.run("Count.")
    kinds = [type(s).__name__ for s in result.steps]
    assert kinds[:3] == ["TaskStep", "PlanningStep", "ActionStep"]
    assert isinstance(result.steps[4], PlanningStep)
    planning_call = agent.model.calls[0]
    assert planning_call[0]["role"] == "system"
    assert "write a short plan" in planning_call[-1]["content"]
    assert agent.model.calls[1][0] == planning_call[0]


def test_step_callbacks_receive_every_finished_step(make_agent):
    seen = []
    agent = make_agent(
        [code("print(1)"), code("final_answer(1)")],
        step_callbacks=[lambda step: seen.append(step.step_number)],
    )
    agent.run("One.")
    assert seen == [1, 2]


def test_a_raising_step_callback_does_not_stop_the_run(make_agent):
    def broken(step):
        raise RuntimeError("callback bug")

    errors = []
    agent = make_agent([code("final_answer(1)")], step_callbacks=[broken])
    agent.subscribe(lambda e: errors.append(e.message) if e.kind == "error" else None)
    assert agent.run("One.").output == 1
    assert "callback bug" in errors[0]


def test_same_tools_give_byte_identical_system_prompts_across_runs_and_agents(make_agent):
    first = make_agent([code("final_answer(1)"), code("final_answer(2)")])
    first.run("One.")
    first.run("Two.")
    second = make_agent([code("final_answer(3)")])
    second.run("Three.")
    prompts = [c[0]["content"] for c in first.model.calls + second.model.calls]
    assert len(set(prompts)) == 1
    assert [c[0]["role"] for c in first.model.calls] == ["system", "system"]


def test_prompts_grow_append_only_within_a_run(make_agent):
    agent = make_agent([code("a = 1"), code("b = 2"), code("final_answer(a + b)")])
    agent.run("Sum.")
    calls = agent.model.calls
    for earlier, later in itertools.pairwise(calls):
        assert later[: len(earlier)] == earlier


def test_reset_false_continues_the_conversation_and_the_variables(make_agent):
    agent = make_agent([code("memo = 41\nfinal_answer('stored')"), code("final_answer(memo + 1)")])
    agent.run("Store 41.")
    result = agent.run("Add one to what you stored.", reset=False)
    assert result.output == 42
    texts = [m["content"] for m in agent.model.calls[1] if isinstance(m["content"], str)]
    assert any("Store 41." in t for t in texts)


def test_reset_true_starts_from_a_clean_kernel(make_agent):
    agent = make_agent(
        [code("leftover = 1\nfinal_answer(1)"), code("final_answer('leftover' in dir())")]
    )
    agent.run("Set a variable.")
    assert agent.run("Is it there?").output is False


def test_additional_args_are_pushed_and_named_in_the_task(make_agent):
    agent = make_agent([code("final_answer(sum(numbers))")])
    result = agent.run("Sum the numbers.", additional_args={"numbers": [1, 2, 3]})
    assert result.output == 6
    task_message = agent.model.calls[0][1]["content"]
    assert "numbers" in task_message


def test_stream_true_yields_events_ending_with_run_finished(make_agent):
    agent = make_agent([code("print('hi')"), code("final_answer('bye')")])
    events = list(agent.run("Greet.", stream=True))
    kinds = [e.kind for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert "model_delta" in kinds and "output_added" in kinds
    assert sum(isinstance(e, StepFinished) for e in events) == 2
    assert agent.last_result.output == "bye"


def test_model_failure_ends_the_run_in_error_keeping_the_steps(make_agent):
    agent = make_agent([code("x = 1\nprint(x)"), ModelUnavailableError("the server is down")])
    result = agent.run("Do two things.")
    assert result.state == "error"
    assert "the server is down" in result.error
    assert len(action_steps(result)) == 1
    record = load_run(result.record_path)
    assert record.state == "error" and record.complete


def test_run_is_recorded_and_reloads_with_steps_outputs_and_tokens(make_agent):
    agent = make_agent([code("print('hello')"), code("final_answer(5)")])
    result = agent.run("Say hello.")
    record = load_run(result.record_path)
    assert (record.state, record.output, record.complete) == ("success", 5, True)
    actions = [s for s in record.steps if isinstance(s, ActionStep)]
    assert actions[0].execution.outputs[0]["text"] == "hello\n"
    assert record.token_usage.total_tokens == result.token_usage.total_tokens > 0
    assert record.model_turns == [
        "Thought: I act.\n```python\nprint('hello')\n```",
        "Thought: I act.\n```python\nfinal_answer(5)\n```",
    ]


def test_run_result_sums_the_tokens_of_its_steps(make_agent):
    agent = make_agent([code("print(1)"), code("final_answer(1)")])
    result = agent.run("One.")
    total = sum(s.token_usage.total_tokens for s in action_steps(result))
    assert result.token_usage.total_tokens == total > 0
    assert result.timing.duration > 0 and result.run_id


def test_managed_agent_is_a_tool_of_its_manager(sidecar, tmp_path):
    helper = CodeAgent(
        [add],
        ScriptedModel([code("final_answer(add(20, 22))")]),
        name="adder",
        description="Adds numbers for you.",
        record_dir=tmp_path,
    )
    manager = CodeAgent(
        [],
        ScriptedModel([code("answer = adder('add 20 and 22')\nfinal_answer(answer)")]),
        executor=sidecar,
        managed_agents=[helper],
        record_dir=tmp_path,
    )
    try:
        result = manager.run("Ask the adder.")
        assert result.output == 42  # the managed agent's answer arrives as the value it is
        assert "def adder(task: str) -> Any:" in manager.memory.system_prompt
        assert helper.executor is not sidecar
    finally:
        helper.close()
        manager.close()


def test_managed_agent_without_a_name_is_refused(tmp_path):
    nameless = CodeAgent([], ScriptedModel([]), record_dir=None)
    try:
        with pytest.raises(ValueError, match="needs a name and a description"):
            CodeAgent([], ScriptedModel([]), managed_agents=[nameless], record_dir=None)
    finally:
        nameless.close()


def test_user_input_tool_answers_model_code_input(make_agent):
    from smoldepot_jupyter.tools import UserInputTool

    asked = []
    ask = UserInputTool(ask=lambda q: asked.append(q) or "blue")
    agent = make_agent(
        [code("colour = input('Favourite colour?')\nfinal_answer(colour)")], tools=[ask]
    )
    assert agent.run("Ask the colour.").output == "blue"
    assert asked == ["Favourite colour?"]


def test_empty_task_is_refused_with_a_clear_error(make_agent):
    agent = make_agent([])
    with pytest.raises(ValueError, match="non-empty string"):
        agent.run("   ")


def test_no_model_configured_says_how_to_set_one(monkeypatch):
    monkeypatch.delenv("SMOLDEPOT_MODEL", raising=False)
    from smoldepot_jupyter.models import NoModelConfigured

    with pytest.raises(NoModelConfigured, match="SMOLDEPOT_MODEL"):
        CodeAgent([], None, record_dir=None)


def test_run_finished_is_the_last_event_of_every_run(make_agent, tmp_path):
    finished = []
    agent = make_agent([code("final_answer(1)")])
    agent.subscribe(lambda e: finished.append(e) if isinstance(e, RunFinished) else None)
    agent.run("One.")
    assert finished[0].state == "success"
    assert Path(agent.last_result.record_path).exists()


def test_repeating_a_failed_action_word_for_word_is_pointed_out(make_agent):
    agent = make_agent(
        [code("print(no_such_name)"), code("print(no_such_name)"), code("final_answer(0)")]
    )
    result = agent.run("Print it.")
    first, second = action_steps(result)[:2]
    assert "same code as the previous step" not in first.observation
    assert "same code as the previous step" in second.observation


def test_name_error_suggests_the_close_name(make_agent):
    agent = make_agent(
        [code("Total_Count = 3"), code("print(total_count)"), code("final_answer(1)")]
    )
    result = agent.run("Count.")
    assert "Did you mean: 'Total_Count'?" in action_steps(result)[1].observation


def test_context_reaches_the_model_but_is_not_the_recorded_task(make_agent):
    agent = make_agent([code("final_answer(1)")])
    result = agent.run("The task.", context="Earlier: the user likes tea.")
    sent = agent.model.calls[0][1]["content"]
    assert "Earlier: the user likes tea." in sent and sent.endswith("The task.")
    assert load_run(result.record_path).task == "The task."


def test_after_a_verbatim_repeated_failure_the_next_call_samples(make_agent):
    agent = make_agent(
        [code("print(no_such)"), code("print(no_such)"), code("x = 1"), code("final_answer(x)")]
    )
    agent.run("Loop, then recover.")
    assert agent.model.temperatures == [None, None, 0.7, None]


def test_a_model_that_declares_it_takes_no_temperature_is_called_without_one(sidecar, tmp_path):
    # Given a model whose generate has no temperature, saying so (temperature is part of the
    # Model protocol: a model that cannot sample declares it rather than being sniffed)
    class Plain:
        model_id = "plain"
        takes_temperature = False

        def __init__(self):
            self.replies = [code("print(nope)"), code("print(nope)"), code("final_answer(2)")]

        def generate(
            self, messages, *, stop=None, max_tokens=None, tools=None, on_delta=None, stop_when=None
        ):
            from smoldepot_jupyter.models import ModelResponse

            return ModelResponse(text=self.replies.pop(0))

    # When the repeated failure would ask for sampling, Then the call goes out without it
    with CodeAgent([], Plain(), executor=sidecar, record_dir=tmp_path) as agent:
        result = agent.run("Go.")
    assert result.output == 2
    assert all(s.temperature is None for s in action_steps(result))


def test_repeating_an_action_with_the_same_result_is_pointed_out(make_agent):
    agent = make_agent([code("print('AAA')"), code("print('AAA')"), code("final_answer('AAA')")])
    result = agent.run("Say it.")
    first, second = action_steps(result)[:2]
    assert "printed the same result" not in first.observation
    assert "printed the same result" in second.observation
    assert "call final_answer(...) with it now" in second.observation


def test_the_same_code_with_a_different_result_is_not_a_repeat(make_agent):
    agent = make_agent(
        [code("n = 0"), code("n += 1\nprint(n)"), code("n += 1\nprint(n)"), code("final_answer(n)")]
    )
    result = agent.run("Count up.")
    assert all("same code" not in s.observation for s in action_steps(result))
    assert agent.model.temperatures == [None] * 4


def test_after_a_repeat_with_the_same_result_the_next_call_samples(make_agent):
    agent = make_agent([code("print(1)"), code("print(1)"), code("final_answer(1)")])
    agent.run("Loop, then answer.")
    assert agent.model.temperatures == [None, None, 0.7]


def test_every_further_repeat_of_the_same_result_is_pointed_out_too(make_agent):
    agent = make_agent([code("print(2)")] * 3 + [code("final_answer(2)")])
    result = agent.run("Loop twice.")
    assert ["printed the same result" in s.observation for s in action_steps(result)[:3]] == [
        False,
        True,
        True,
    ]


def test_returning_to_code_that_failed_two_steps_earlier_is_pointed_out(make_agent):
    agent = make_agent(
        [
            code("print(view().split('A')[1])"),
            code("print(view().split('a')[1])"),
            code("print(view().split('A')[1])"),
            code("final_answer(0)"),
        ]
    )
    result = agent.run("Alternate.")
    steps = action_steps(result)
    assert "same code as" not in steps[1].observation
    assert "This is the same code as step 1, and it failed again" in steps[2].observation


def test_a_block_of_only_comments_is_not_run_and_the_model_is_told_to_write_code(make_agent):
    agent = make_agent([code("# the code for this step"), code("final_answer(3)")])
    result = agent.run("Answer.")
    first = action_steps(result)[0]
    assert first.execution is None
    assert first.error == "the code block held only comments"
    assert "held only comments, so nothing ran" in first.observation
    assert result.output == 3


def test_a_system_prompt_without_tools_has_no_empty_tools_block():
    prompt = code_system_prompt([], ["math"])
    assert "The tools, callable in your code" not in prompt
    assert "```python\n\n```" not in prompt
    assert "Example:" in prompt


def test_an_agent_prompt_lists_final_answer_then_the_tools_as_python(make_agent):
    prompt = make_agent([code("final_answer(1)")]).system_prompt()
    assert "The tools, callable in your code:\n```python\ndef final_answer(" in prompt
    assert "\ndef add(a: int, b: int) -> int:" in prompt


def test_the_same_action_three_times_in_a_row_brings_a_request_for_the_answer(make_agent):
    agent = make_agent([code("print('AAA')")] * 3 + [code("final_answer('AAA')")])
    result = agent.run("Say it.")
    assert result.output == "AAA"
    last_call = agent.model.calls[3]
    assert last_call[-1] == {"role": "user", "content": NO_PROGRESS_REQUEST}
    assert all(NO_PROGRESS_REQUEST not in str(call) for call in agent.model.calls[:3])
    assert agent.model.temperatures == [None, None, 0.7, None]


def test_a_failing_action_three_times_in_a_row_brings_the_request_too(make_agent):
    agent = make_agent([code("print(no_such_name)")] * 3 + [code("final_answer(0)")])
    agent.run("Print it.")
    assert agent.model.calls[3][-1]["content"] == NO_PROGRESS_REQUEST


def test_the_same_reply_without_code_three_times_brings_the_request_too(make_agent):
    prose = "Thought: The values are too large to compute."
    agent = make_agent([prose] * 3 + [code("final_answer('unsure')")])
    result = agent.run("Compute it.")
    assert result.output == "unsure"
    assert agent.model.calls[3][-1]["content"] == NO_PROGRESS_REQUEST
    assert agent.model.temperatures == [None, None, 0.7, None]


def test_the_record_shows_the_request_and_the_sampling_each_call_had(make_agent):
    agent = make_agent([code("print('AAA')")] * 3 + [code("final_answer('AAA')")])
    result = agent.run("Say it.")
    steps = [s for s in load_run(result.record_path).steps if isinstance(s, ActionStep)]
    assert [s.requests for s in steps] == [[], [], [], [NO_PROGRESS_REQUEST]]
    assert [s.temperature for s in steps] == [None, None, 0.7, None]


def test_the_request_when_steps_run_out_is_recorded_with_its_step(make_agent):
    agent = make_agent([code("x = 1"), code("final_answer(x)")], max_steps=1)
    result = agent.run("Answer.")
    last = action_steps(result)[-1]
    assert last.is_best_answer_fallback
    assert len(last.requests) == 1 and "final_answer" in last.requests[0]
