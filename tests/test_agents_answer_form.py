"""The answer-form call (``format_answer=True``): after a text or number answer, the model,
given only the task and the answer, writes the answer in the form the task asks for; a rewrite
that brings in a number of its own is refused and the answer stays as given."""

from __future__ import annotations

import pytest

from smoldepot_jupyter import CodeAgent, ScriptedModel, ToolCallingAgent, load_run
from smoldepot_jupyter.agents.answer_form import accepted_rewrite, can_rewrite, keeps_numbers
from smoldepot_jupyter.agents.prompts import ANSWER_FORM_SYSTEM
from smoldepot_jupyter.events import AnswerFormatted, ErrorEvent
from smoldepot_jupyter.kernel import KernelExecutor
from smoldepot_jupyter.memory import FinalAnswerStep, step_from_dict
from smoldepot_jupyter.models import ModelResponse, ModelUnavailableError
from smoldepot_jupyter.usage import TokenUsage

TASK = (
    "What is the correlation between height and weight?\n"
    "Answer format: @correlation[r] where r is rounded to two decimal places."
)


def answer_call(value):
    return ModelResponse(
        text="", tool_calls=[{"id": "c1", "name": "final_answer", "arguments": {"answer": value}}]
    )


@pytest.fixture
def make_agent(tmp_path):
    """A ToolCallingAgent (no kernel needed) whose first reply gives `answer` as its final
    answer, then plays `form_replies` for the answer-form call; its events are kept."""

    def make(answer, form_replies=(), **options):
        options.setdefault("record_dir", tmp_path / "runs")
        options.setdefault("format_answer", True)
        model = ScriptedModel([answer_call(answer), *form_replies])
        agent = ToolCallingAgent([], model, **options)
        agent.seen = []
        agent.subscribe(agent.seen.append)
        return agent

    return make


def final_step(result):
    return next(s for s in result.steps if isinstance(s, FinalAnswerStep))


def test_a_number_answer_is_rewritten_into_the_task_template(make_agent):
    agent = make_agent(0.5746598, ["@correlation[0.57]"])
    result = agent.run(TASK)
    assert (result.state, result.output) == ("success", "@correlation[0.57]")
    assert final_step(result).rewritten_from == 0.5746598


def test_the_answer_form_call_sees_only_the_task_and_the_answer(make_agent):
    agent = make_agent(0.5746598, ["@correlation[0.57]"])
    agent.run(TASK)
    system, request = agent.model.calls[-1]
    assert system == {"role": "system", "content": ANSWER_FORM_SYSTEM}
    assert TASK in request["content"] and "Answer found: 0.5746598" in request["content"]
    assert "final_answer" not in request["content"]


def test_a_rewrite_with_a_number_of_its_own_is_refused_and_the_answer_kept(make_agent):
    agent = make_agent(871, ["@count[871]\n@mean[31.54]"])
    result = agent.run("How many rows are left? Answer format: @count[n]")
    assert result.output == 871 and isinstance(result.output, int)
    assert final_step(result).rewritten_from is None
    formatted = next(e for e in agent.seen if isinstance(e, AnswerFormatted))
    assert (formatted.accepted, formatted.reply, formatted.output) == (
        False,
        "@count[871]\n@mean[31.54]",
        871,
    )


def test_the_answer_form_call_counts_in_the_run_tokens(make_agent):
    form = ModelResponse(text="@correlation[0.57]", usage=TokenUsage(300, 12))
    agent = make_agent(0.5746598, [form])
    result = agent.run(TASK)
    assert final_step(result).token_usage == TokenUsage(300, 12)
    action_tokens = sum(s.token_usage.prompt_tokens for s in result.steps[1:-1])
    assert result.token_usage.prompt_tokens == action_tokens + 300


def test_a_failing_answer_form_call_keeps_the_answer_and_says_so(make_agent):
    agent = make_agent("0.57", [ModelUnavailableError("the server went away")])
    result = agent.run(TASK)
    assert (result.state, result.output) == ("success", "0.57")
    errors = [e.message for e in agent.seen if isinstance(e, ErrorEvent)]
    assert errors and "the answer is kept as given" in errors[0]
    assert "the server went away" in errors[0]


@pytest.mark.parametrize("answer", [[1, 2, 3], {"a": 1}, True, None])
def test_answers_that_are_not_text_or_numbers_are_left_alone(make_agent, answer):
    agent = make_agent(answer)
    result = agent.run(TASK)
    assert result.output == answer
    assert len(agent.model.calls) == 1
    assert not any(isinstance(e, AnswerFormatted) for e in agent.seen)


def test_without_format_answer_no_call_is_made(make_agent):
    agent = make_agent(0.5746598, format_answer=False)
    result = agent.run(TASK)
    assert result.output == 0.5746598
    assert len(agent.model.calls) == 1


def test_a_rewrite_the_same_as_the_answer_keeps_its_type(make_agent):
    agent = make_agent(871, ["871"])
    assert agent.run("How many rows are left?").output == 871


def test_words_in_the_task_template_may_be_used():
    task = "What share of rows is valid? Answer format: @valid_share[share], rounded to 2 decimals."
    assert accepted_rewrite(0.8731, "@valid_share[0.87]", task) == "@valid_share[0.87]"


def test_the_record_keeps_the_rewrite_and_the_answer_as_given(make_agent):
    agent = make_agent(0.5746598, ["@correlation[0.57]"])
    result = agent.run(TASK)
    record = load_run(result.record_path)
    assert record.output == "@correlation[0.57]"
    kinds = [e.kind for e in record.events]
    assert kinds[-3:] == ["answer_formatted", "final_answer", "run_finished"]
    assert record.model_turns == [""]  # the answer-form call is not a turn a replay plays


def test_a_code_agent_answer_is_rewritten_too(tmp_path):
    model = ScriptedModel(
        ["Thought: I compute it.\n```python\nfinal_answer(round(0.5746598, 4))\n```", "@r[0.57]"]
    )
    with KernelExecutor() as executor:
        agent = CodeAgent([], model, executor=executor, record_dir=tmp_path, format_answer=True)
        result = agent.run("Give r. Answer format: @r[value], two decimals.")
    assert (result.output, final_step(result).rewritten_from) == ("@r[0.57]", 0.5747)


def test_memory_and_the_result_count_the_answer_form_calls_tokens_alike(tmp_path):
    model = ScriptedModel(
        ["Thought: I compute it.\n```python\nfinal_answer(round(0.5746598, 4))\n```", "@r[0.57]"]
    )
    with KernelExecutor() as executor:
        agent = CodeAgent([], model, executor=executor, record_dir=tmp_path, format_answer=True)
        result = agent.run("Give r. Answer format: @r[value], two decimals.")
    assert final_step(result).token_usage.total_tokens > 0
    assert agent.memory.token_usage == result.token_usage


def test_the_final_answer_step_round_trips_with_its_rewrite():
    step = FinalAnswerStep(output="@r[0.57]", rewritten_from=0.5746, token_usage=TokenUsage(9, 3))
    again = step_from_dict(step.to_dict())
    assert (again.output, again.rewritten_from, again.token_usage) == (
        "@r[0.57]",
        0.5746,
        TokenUsage(9, 3),
    )


# ------------------------------------------------------------------------- the rewrite's check


def test_rounding_to_the_decimals_written_is_accepted():
    assert keeps_numbers("0.5746598513059193", "@correlation_coefficient[0.57]")


def test_a_number_not_in_the_answer_is_refused():
    assert not keeps_numbers("none", "@correlation[0.00]\n@p_value[0.95]")


def test_a_rewrite_that_drops_the_answers_number_is_refused():
    task = "Which A/B test group won, and by how many users?"
    assert accepted_rewrite("14", "A/B", task) is None


def test_wrong_rounding_is_refused():
    assert not keeps_numbers("0.5746", "@r[0.58]")


def test_digits_inside_names_are_not_numbers():
    assert keeps_numbers("31.54", "@mean_fare_q1[31.54]")


def test_thousands_separators_are_read_as_one_number():
    assert keeps_numbers("1234567", "1,234,567 rows")


def test_a_solution_written_out_instead_of_a_rewrite_is_refused():
    reply = "To find f(2015, 2) we follow the recursion: f(0, j) = j + 1 mod 5, so the answer is 3"
    assert accepted_rewrite(3, reply) is None


def test_a_reply_repeating_the_task_is_refused():
    task = "Find the most common nucleotide in the DNA sequence and transcribe it to mRNA."
    reply = f"Task: {task}\nAnswer found: AAA"
    assert accepted_rewrite("AAA", reply, task) is None


def test_a_reply_with_a_word_from_neither_task_nor_answer_is_refused():
    task = "Is the data normal? Answer format: @is_normal[answer], answer is yes or no."
    assert accepted_rewrite("It is not normal", "@is_normal[no]", task) == "@is_normal[no]"
    assert accepted_rewrite("It is not normal", "@is_normal[maybe]", task) is None


def test_a_fenced_reply_is_unwrapped():
    task = "How many rows are left? Answer format: @count[n]"
    assert accepted_rewrite(871, "```\n@count[871]\n```", task) == "@count[871]"


def test_an_empty_or_very_long_reply_is_refused():
    assert accepted_rewrite("yes", "   ") is None
    assert accepted_rewrite("yes", "yes " * 400) is None


def test_text_and_real_numbers_can_be_rewritten_but_not_bools_or_containers():
    assert [can_rewrite(v) for v in ("a", 3, 0.5, True, [1], None)] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
