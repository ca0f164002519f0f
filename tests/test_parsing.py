"""Parsing model replies: the code of a code action, whether a streamed action is complete, and
JSON tool calls for models without native tool calling."""

import pytest

from smoldepot_jupyter.parsing import (
    ActionParseError,
    ParsedAction,
    ToolCallRequest,
    has_statements,
    is_complete_action,
    missing_code_message,
    parse_code_action,
    parse_json_tool_calls,
)

FENCE = "```"


def code_of(text: str) -> str | None:
    return parse_code_action(text).code


# ------------------------------------------------------------------------------ code formats


@pytest.mark.parametrize("tag", ["py", "python", "python3", "Python", ""])
def test_python_fences_are_found(tag: str) -> None:
    assert code_of(f"{FENCE}{tag}\nprint(1)\n{FENCE}") == "print(1)"


def test_code_tag_is_found() -> None:
    assert code_of("<code>\nprint(1)\n</code>") == "print(1)"


def test_code_tag_on_one_line_is_found() -> None:
    assert code_of("Thought: easy.<code>print(1)</code>") == "print(1)"


def test_several_blocks_are_joined_in_order_with_a_blank_line() -> None:
    text = (
        f"{FENCE}py\na = 1\n{FENCE}\nThen:\n<code>\nb = 2\n</code>\n{FENCE}python\nc = 3\n{FENCE}"
    )
    action = parse_code_action(text)
    assert action.code == "a = 1\n\nb = 2\n\nc = 3"
    assert action.blocks == ["a = 1", "b = 2", "c = 3"]


def test_prose_before_and_after_is_not_code() -> None:
    text = f"I will count.\n{FENCE}python\nprint(len('abc'))\n{FENCE}\nThis prints 3."
    assert code_of(text) == "print(len('abc'))"


def test_thought_is_the_prose_before_the_code() -> None:
    text = f"I will count the letters.\n{FENCE}python\nprint(3)\n{FENCE}\nDone."
    assert parse_code_action(text).thought == "I will count the letters."


def test_thought_and_code_labels_are_stripped() -> None:
    text = f"Thought: I will count.\nCode:\n{FENCE}py\nprint(3)\n{FENCE}"
    assert parse_code_action(text) == ParsedAction("I will count.", "print(3)", ["print(3)"])


def test_bold_markdown_labels_are_stripped() -> None:
    text = f"**Thought:** I will count.\n**Code:**\n{FENCE}py\nprint(3)\n{FENCE}"
    assert parse_code_action(text).thought == "I will count."


def test_unclosed_final_fence_runs_to_the_end() -> None:
    assert code_of(f"Thought: go.\n{FENCE}python\nx = 1\nprint(x)\n") == "x = 1\nprint(x)"


def test_unclosed_code_tag_runs_to_the_end() -> None:
    # smolagents' format: the stream stops at the stop sequence "</code>".
    assert code_of("Thought: go.\n<code>\nfinal_answer(2)\n") == "final_answer(2)"


def test_end_code_marker_after_the_fence_is_dropped() -> None:
    text = f"Code:\n{FENCE}py\nprint(1)\n{FENCE}<end_code>\nObservation:"
    assert code_of(text) == "print(1)"


def test_end_code_marker_in_an_unclosed_block_is_dropped() -> None:
    assert code_of(f"{FENCE}py\nprint(1)\n<end_code>") == "print(1)"


def test_closing_fence_glued_to_the_last_line_is_dropped() -> None:
    assert code_of(f"{FENCE}py\nprint(1){FENCE}") == "print(1)"


def test_indented_fence_is_dedented() -> None:
    text = f"  {FENCE}python\n  if True:\n      print(1)\n  {FENCE}"
    assert code_of(text) == "if True:\n    print(1)"


@pytest.mark.parametrize("language", ["bash", "json", "text", "output"])
def test_other_language_fences_are_ignored_beside_python(language: str) -> None:
    text = f"{FENCE}{language}\nls -l\n{FENCE}\n{FENCE}python\nprint(1)\n{FENCE}\n"
    assert code_of(text) == "print(1)"


def test_other_language_fence_is_not_part_of_the_thought() -> None:
    text = f"Listing.\n{FENCE}bash\nls\n{FENCE}\nIn Python:\n{FENCE}python\nprint(1)\n{FENCE}"
    assert parse_code_action(text).thought == "Listing.\nIn Python:"


def test_untagged_fence_after_a_python_block_is_not_code() -> None:
    text = f"{FENCE}python\nprint(2)\n{FENCE}\nObservation:\n{FENCE}\n2\n{FENCE}"
    assert code_of(text) == "print(2)"


def test_other_language_fence_is_used_when_nothing_else_exists() -> None:
    assert code_of(f"{FENCE}text\nprint(1)\n{FENCE}") == "print(1)"


def test_fence_inside_a_code_tag_is_unwrapped() -> None:
    text = f"<code>\n{FENCE}python\nprint(1)\n{FENCE}\n</code>"
    assert code_of(text) == "print(1)"


def test_unclosed_fence_inside_an_unclosed_code_tag_is_unwrapped() -> None:
    assert code_of(f"<code>\n{FENCE}py\nprint(1)\n") == "print(1)"


def test_bare_python_without_any_block_is_code() -> None:
    assert code_of("final_answer(6 * 7)") == "final_answer(6 * 7)"


def test_bare_python_after_a_code_label_is_code() -> None:
    action = parse_code_action("Thought: multiply.\nCode:\nfinal_answer(6 * 7)")
    assert (action.thought, action.code) == ("multiply.", "final_answer(6 * 7)")


# ------------------------------------------------------------------------------ weird inputs


def test_empty_string_has_no_code() -> None:
    assert parse_code_action("") == ParsedAction(thought="", code=None, blocks=[])


def test_only_prose_has_no_code() -> None:
    action = parse_code_action("Thought: I think the answer is Paris, the capital of France.")
    assert (action.code, action.thought) == (
        None,
        "I think the answer is Paris, the capital of France.",
    )


@pytest.mark.parametrize("prose", ["Yes", "42", "Answer: Paris", "math.pi"])
def test_prose_that_happens_to_parse_is_not_code(prose: str) -> None:
    assert code_of(prose) is None


def test_empty_fence_has_no_code() -> None:
    assert code_of(f"Nothing to run.\n{FENCE}python\n\n{FENCE}") is None


def test_backticks_inside_a_string_stay_in_the_code() -> None:
    text = f'{FENCE}python\nfence = "{FENCE}"\nprint(fence + "py")\n{FENCE}\nAfter.'
    assert code_of(text) == f'fence = "{FENCE}"\nprint(fence + "py")'


def test_fence_line_inside_a_triple_quoted_string_does_not_end_the_block() -> None:
    code = f'doc = """\n{FENCE}\nexample\n{FENCE}\n"""\nprint(doc)'
    assert code_of(f"{FENCE}python\n{code}\n{FENCE}\nDone.") == code


def test_closing_tag_inside_a_string_does_not_end_the_block() -> None:
    code = 'html = "<code>x</code>"\nprint(html)'
    assert code_of(f"<code>\n{code}\n</code>") == code


def test_windows_line_endings_are_normalised() -> None:
    text = f"Thought: go.\r\n{FENCE}python\r\nx = 1\r\nprint(x)\r\n{FENCE}\r\n"
    assert parse_code_action(text) == ParsedAction("go.", "x = 1\nprint(x)", ["x = 1\nprint(x)"])


def test_code_in_a_leading_think_block_is_not_the_action() -> None:
    text = (
        f"<think>Maybe {FENCE}python\nprint(0)\n{FENCE}</think>\n{FENCE}python\nprint(1)\n{FENCE}"
    )
    assert code_of(text) == "print(1)"


def test_unclosed_think_block_has_no_action_yet() -> None:
    assert code_of(f"<think>Perhaps\n{FENCE}python\nprint(0)\n{FENCE}") is None


def test_missing_code_message_shows_the_format_with_an_example() -> None:
    message = missing_code_message()
    assert message.startswith("Your reply had no ```python block, so nothing was run.")
    assert code_of(message) == "final_answer(result)"


def test_missing_code_example_holds_no_computation_to_copy() -> None:
    # a small model copied "total = 2 + 3" into its answer; the example computes nothing
    assert "+" not in code_of(missing_code_message())


# ------------------------------------------------------------------------ is_complete_action


def test_closed_fence_is_a_complete_action() -> None:
    assert is_complete_action(f"Thought: go.\n{FENCE}python\nprint(1)\n{FENCE}")


def test_closed_code_tag_is_a_complete_action() -> None:
    assert is_complete_action("Thought: go.\n<code>\nprint(1)\n</code>")


@pytest.mark.parametrize(
    "partial",
    ["", "Thought: I will", f"{FENCE}py", f"{FENCE}python\nprint(1)\n", f"{FENCE}python\nx\n``"],
)
def test_open_fence_is_not_complete(partial: str) -> None:
    assert not is_complete_action(partial)


def test_open_code_tag_is_not_complete() -> None:
    assert not is_complete_action("<code>\nprint(1)\n</cod")


def test_closed_fence_in_another_language_is_not_complete() -> None:
    assert not is_complete_action(f"{FENCE}bash\nls\n{FENCE}")


def test_fence_line_inside_an_open_string_is_not_complete() -> None:
    assert not is_complete_action(f'{FENCE}python\ndoc = """\n{FENCE}\n')


def test_fence_after_the_string_closes_is_complete() -> None:
    assert is_complete_action(f'{FENCE}python\ndoc = """\n{FENCE}\n"""\n{FENCE}')


# -------------------------------------------------------------------------- JSON tool calls


def test_json_call_in_a_json_fence() -> None:
    text = f'Calling.\n{FENCE}json\n{{"name": "search", "arguments": {{"q": "tea"}}}}\n{FENCE}'
    assert parse_json_tool_calls(text) == [ToolCallRequest("search", {"q": "tea"})]


def test_bare_json_call_among_prose() -> None:
    text = 'I will search: {"name": "search", "arguments": {"q": "tea"}} and then answer.'
    assert parse_json_tool_calls(text) == [ToolCallRequest("search", {"q": "tea"})]


def test_list_of_json_calls() -> None:
    text = '[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"s": "}{"}}]'
    assert parse_json_tool_calls(text) == [
        ToolCallRequest("a", {}),
        ToolCallRequest("b", {"s": "}{"}),
    ]


def test_arguments_given_as_a_json_string() -> None:
    text = '{"name": "a", "arguments": "{\\"x\\": 1}"}'
    assert parse_json_tool_calls(text) == [ToolCallRequest("a", {"x": 1})]


def test_openai_shaped_call() -> None:
    text = '{"type": "function", "function": {"name": "a", "arguments": {"x": 1}}}'
    assert parse_json_tool_calls(text) == [ToolCallRequest("a", {"x": 1})]


def test_action_and_action_input_keys() -> None:
    text = 'Action:\n{"action": "search", "action_input": {"q": "tea"}}'
    assert parse_json_tool_calls(text) == [ToolCallRequest("search", {"q": "tea"})]


def test_call_in_tool_call_tags() -> None:
    text = '<tool_call>\n{"name": "f", "arguments": {"x": 2}}\n</tool_call>'
    assert parse_json_tool_calls(text) == [ToolCallRequest("f", {"x": 2})]


def test_fenced_json_wins_over_bare_json() -> None:
    text = (
        'For example {"name": "demo", "arguments": {}} is a call.\n'
        f'{FENCE}json\n{{"name": "real", "arguments": {{}}}}\n{FENCE}'
    )
    assert parse_json_tool_calls(text) == [ToolCallRequest("real", {})]


def test_json_call_with_windows_line_endings() -> None:
    text = f'{FENCE}json\r\n{{\r\n  "name": "a",\r\n  "arguments": {{"x": 1}}\r\n}}\r\n{FENCE}'
    assert parse_json_tool_calls(text) == [ToolCallRequest("a", {"x": 1})]


def test_no_json_raises_with_the_expected_format() -> None:
    with pytest.raises(ActionParseError, match=r'no tool call\. Reply .*\{"name": "<tool name>"'):
        parse_json_tool_calls("I would rather chat.")


def test_json_without_a_call_raises_saying_what_is_missing() -> None:
    with pytest.raises(ActionParseError, match='needs a "name" and "arguments"'):
        parse_json_tool_calls('{"query": "tea"}')


def test_broken_json_raises() -> None:
    with pytest.raises(ActionParseError):
        parse_json_tool_calls('{"name": "a", "arguments": {"x": }')


def test_empty_reply_raises() -> None:
    with pytest.raises(ActionParseError):
        parse_json_tool_calls("")


# ------------------------------------------------------------- a final answer stated in prose


def test_final_answer_written_as_a_call_in_prose_becomes_code() -> None:
    assert parse_code_action("Final answer(7006652)").code == "final_answer(7006652)"


def test_final_answer_label_with_a_number_becomes_code_with_the_number() -> None:
    assert parse_code_action("Thought: done.\n**Final Answer:** 42").code == "final_answer(42)"


def test_final_answer_label_with_words_becomes_code_with_a_string() -> None:
    assert parse_code_action("Final answer: Paris").code == "final_answer('Paris')"


def test_prose_merely_mentioning_a_final_answer_is_not_code() -> None:
    assert parse_code_action("The final answer will be computed next.").code is None


def test_stated_final_answer_is_ignored_when_a_code_block_exists() -> None:
    text = f"Final answer: 3\n{FENCE}python\nprint(1)\n{FENCE}"
    assert parse_code_action(text).code == "print(1)"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("# the code for this step", False),
        ("\n# one\n\n   # two\n", False),
        ("x = 1  # set x", True),
        ("print(", True),
    ],
)
def test_has_statements_is_false_only_for_comments_and_blank_lines(code, expected):
    assert has_statements(code) is expected
