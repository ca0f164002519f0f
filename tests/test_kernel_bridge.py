"""The tool bridge over stdin: tool stubs, results, errors, input(), and final_answer."""

from __future__ import annotations

import datetime
from typing import ClassVar

import pytest
from conftest import result_text, stdout_text, value_of

from smoldepot_jupyter.kernel import SidecarObject

pytestmark = pytest.mark.timeout(120)

#: Every call the `record` tool received, in order.
RECORDED: list = []


def add(a: int, b: int = 2) -> int:
    """Add two integers.

    Returns their sum.
    """
    return a + b


def when() -> datetime.datetime:
    """A moment in time (not a JSON value)."""
    return datetime.datetime(2024, 2, 29, 12, 30)


def pair():
    """Two numbers as a tuple (JSON would turn it into a list)."""
    return (1, 2)


def boom(message: str):
    """Always fails."""
    raise RuntimeError(f"host refused: {message}")


def record(value):
    """Remember `value` on the host."""
    RECORDED.append(value)
    return len(RECORDED)


class ShoutTool:
    """A smolagents-style tool: name, description, inputs, output_type and forward."""

    name = "shout"
    description = "Make text loud."
    inputs: ClassVar[dict] = {"text": {"type": "string", "description": "What to shout."}}
    output_type = "string"

    def forward(self, text: str) -> str:
        return text.upper() + "!"


class RepeatTool:
    """A callable object with a name."""

    name = "repeat"

    def __call__(self, text: str, times: int = 2) -> str:
        """Repeat text."""
        return text * times


@pytest.fixture(scope="module")
def tools_executor(make_module_executor):
    ex = make_module_executor()
    registered = ex.register_tools([add, when, pair, boom, record, ShoutTool(), RepeatTool()])
    assert sorted(registered) == ["add", "boom", "pair", "record", "repeat", "shout", "when"]
    return ex


@pytest.fixture(autouse=True)
def _fresh_record():
    RECORDED.clear()


# ----------------------------------------------------------------------------- tool stubs


def test_help_on_a_tool_shows_its_signature_and_docstring(tools_executor):
    # When the model asks for help on a tool
    execution = tools_executor.run("help(add)")

    # Then it sees the tool's name, parameters and docstring
    text = stdout_text(execution)
    assert "add(a: int, b: int = 2) -> int" in text
    assert "Add two integers." in text
    assert "Returns their sum." in text


def test_inspect_signature_in_the_sidecar_shows_the_tool_parameters(tools_executor):
    # When the sidecar inspects a tool stub
    shown = value_of(tools_executor, "import inspect\nstr(inspect.signature(add))")

    # Then it has the host tool's parameters
    assert shown == "'(a: int, b: int = 2) -> int'"
    assert value_of(tools_executor, "list(inspect.signature(add).parameters)") == "['a', 'b']"


def test_calling_a_tool_runs_it_on_the_host_and_returns_its_json_result(tools_executor):
    # When model code calls a tool with positional and keyword arguments
    execution = tools_executor.run("total = add(40, b=2)\ntotal, type(total).__name__")

    # Then the host ran it and the sidecar got the result
    assert execution.error is None, execution.observation()
    assert result_text(execution) == "(42, 'int')"
    # and the call is recorded on the Execution
    (call,) = execution.tool_calls
    assert (call.name, call.args, call.kwargs, call.result, call.error) == (
        "add",
        [40],
        {"b": 2},
        42,
        None,
    )
    assert call.seconds >= 0


def test_tool_result_that_is_not_json_arrives_by_pickle(tools_executor):
    # When tools return a datetime and a tuple
    shown = value_of(tools_executor, "moment = when()\nboth = pair()\nmoment, both")

    # Then the sidecar gets the real objects, not their JSON approximations
    assert shown == "(datetime.datetime(2024, 2, 29, 12, 30), (1, 2))"
    assert value_of(tools_executor, "type(moment).__name__, type(both).__name__") == (
        "('datetime', 'tuple')"
    )


def test_tool_error_is_raised_in_the_sidecar_as_tool_error_with_the_host_message(tools_executor):
    # When a tool raises on the host and the model code does not catch it
    execution = tools_executor.run("boom('no way')")

    # Then the action fails with ToolError carrying the host's message
    assert execution.error is not None
    assert execution.error.ename == "ToolError"
    assert "RuntimeError: host refused: no way" in execution.error.evalue
    (call,) = execution.tool_calls
    assert call.name == "boom" and "host refused: no way" in call.error
    # and the observation shows the model's line, not the bridge's own frames
    observation = execution.observation()
    assert "----> 1 boom('no way')" in observation
    assert "<smoldepot>" not in observation
    assert "call_tool" not in observation
    assert "host refused: no way" in observation


def test_tool_error_can_be_caught_with_except_tool_error(tools_executor):
    # When model code catches the tool's failure
    code = (
        "try:\n"
        "    boom('caught')\n"
        "except ToolError as error:\n"
        "    print('handled:', error)\n"
        "print('and went on')\n"
    )
    execution = tools_executor.run(code)

    # Then the action goes on normally
    assert execution.error is None, execution.observation()
    assert stdout_text(execution) == (
        "handled: tool 'boom' failed: RuntimeError: host refused: caught\nand went on\n"
    )


def test_tool_called_with_a_non_json_argument_gets_a_tool_error_explaining_json(tools_executor):
    # When a tool is called with a function and with an arbitrary object
    for argument in ("lambda h: h", "object()"):
        execution = tools_executor.run(f"record({argument})")

        # Then the call fails in the sidecar with a message about JSON, and the tool did not run
        assert execution.error is not None
        assert execution.error.ename == "ToolError"
        assert "JSON" in execution.error.evalue
        assert "JSON" in execution.observation()
        assert execution.tool_calls == []
    assert RECORDED == []


def test_generators_sets_ranges_views_and_arrays_reach_a_tool_as_lists(tools_executor):
    # When a tool is called with collections that have no JSON form
    execution = tools_executor.run(
        "import numpy as np\n"
        "record((n * n for n in range(3)))\n"
        "record({7})\n"
        "record(range(2))\n"
        "record({'a': 1}.keys())\n"
        "record(np.arange(3))\n"
        "record(np.float64(0.5))"
    )

    # Then the tool receives the list of their items (and numbers as numbers)
    assert execution.error is None, execution.observation()
    assert RECORDED == [[0, 1, 4], [7], [0, 1], ["a"], [0, 1, 2], 0.5]


def test_tool_called_with_wrong_arguments_gets_a_type_error_naming_the_signature(tools_executor):
    # When a tool is called without its required argument
    execution = tools_executor.run("add(b=3)")

    # Then a TypeError shows the expected signature, and the host tool was not called
    assert execution.error is not None and execution.error.ename == "TypeError"
    assert "add(a: int, b: int = 2)" in execution.error.evalue
    assert execution.tool_calls == []


def test_object_tool_with_forward_is_offered_with_its_description(tools_executor):
    # Given a tool object with name, description, inputs and forward
    # When the model reads its help and calls it
    help_text = stdout_text(tools_executor.run("help(shout)"))
    shown = value_of(tools_executor, "shout('hello')")

    # Then it sees the description and parameters, and the call runs forward()
    assert "Make text loud." in help_text
    assert "text (string): What to shout." in help_text
    assert "shout(text: str) -> str" in help_text
    assert shown == "'HELLO!'"


def test_callable_object_with_a_name_is_offered(tools_executor):
    # Given a callable object with a `name`
    # When the model inspects and calls it
    signature = value_of(tools_executor, "import inspect\nstr(inspect.signature(repeat))")
    shown = value_of(tools_executor, "repeat('ab', times=3)")

    # Then its __call__ signature is shown and the call runs on the host
    assert signature == "'(text: str, times: int = 2) -> str'"
    assert shown == "'ababab'"


def test_a_tool_named_final_answer_is_refused(make_executor):
    # Given a tool that would shadow final_answer
    def final_answer(answer):
        return answer

    ex = make_executor(start=False)

    # When it is registered, Then it is refused
    with pytest.raises(ValueError, match="final_answer"):
        ex.register_tools([final_answer])
    assert "final_answer" not in ex.tool_names


def test_tools_registered_before_start_are_available_after_start(make_executor):
    # Given tools registered on an executor that has not started
    ex = make_executor(start=False)
    ex.register_tools([add])

    # When an action uses one
    execution = ex.run("add(1)")

    # Then the stub was installed when the kernel started
    assert execution.error is None, execution.observation()
    assert result_text(execution) == "3"


def test_tools_survive_a_kernel_restart_after_a_crash(make_executor):
    # Given a kernel with a tool, which then dies
    ex = make_executor()
    ex.register_tools([add])
    crashed = ex.run("import os\nos._exit(3)", timeout=60)
    assert crashed.restarted

    # When the next action calls the tool
    execution = ex.run("add(5, 5)")

    # Then the tool works in the new kernel
    assert execution.error is None, execution.observation()
    assert result_text(execution) == "10"


# ----------------------------------------------------------------------------- input()


def test_input_without_a_handler_raises_eof_error_with_a_clear_message(executor):
    # Given no input handler
    # When model code calls input()
    execution = executor.run("answer = input('Your name? ')")

    # Then it gets EOFError saying nobody can answer, and what to do instead
    assert execution.error is not None
    assert execution.error.ename == "EOFError"
    assert "input() has no one to answer it" in execution.error.evalue
    assert "input() has no one to answer it" in execution.observation()


def test_eof_error_from_input_can_be_caught(executor):
    # When model code guards its input() call
    code = "try:\n    input('? ')\nexcept EOFError:\n    print('fell back')"
    execution = executor.run(code)

    # Then it goes on with its fallback
    assert execution.error is None
    assert stdout_text(execution) == "fell back\n"


def test_getpass_without_a_handler_raises_eof_error(executor):
    # Given no input handler
    # When model code asks for a password
    execution = executor.run("import getpass\nsecret = getpass.getpass('Password: ')")

    # Then it gets EOFError, not the bridge's internal reply as a "password"
    assert execution.error is not None, value_of(executor, "secret")
    assert execution.error.ename == "EOFError"
    assert "no one to answer" in execution.error.evalue


def test_input_goes_to_the_input_handler_with_prompt_and_password_flag(make_executor):
    # Given an input handler that records its prompts
    prompts = []

    def handler(prompt: str, password: bool) -> str:
        prompts.append((prompt, password))
        return "s3cret" if password else "Ada"

    ex = make_executor(input_handler=handler)

    # When model code asks for input and for a password
    code = "import getpass\nname = input('Name? ')\npw = getpass.getpass('Password: ')\nname, pw"
    execution = ex.run(code)

    # Then the handler answered both, told which one was a password
    assert execution.error is None, execution.observation()
    assert result_text(execution) == "('Ada', 's3cret')"
    assert prompts == [("Name? ", False), ("Password: ", True)]
    assert execution.tool_calls == []


def test_input_handler_that_fails_gives_eof_error_with_its_message(executor):
    # Given an input handler that raises
    def handler(prompt, password):
        raise LookupError("no user at the keyboard")

    executor.input_handler = handler
    try:
        # When model code calls input()
        execution = executor.run("input('? ')")
    finally:
        executor.input_handler = None

    # Then the model sees EOFError with the handler's message; the host is unharmed
    assert execution.error is not None and execution.error.ename == "EOFError"
    assert "no user at the keyboard" in execution.error.evalue


# ----------------------------------------------------------------------------- final_answer


def test_final_answer_is_available_without_any_tool(executor):
    # When an action gives its final answer
    execution = executor.run("final_answer({'rows': [1, 2, 3]})")

    # Then the host receives the value as JSON, and there is no error
    assert execution.error is None, execution.observation()
    assert execution.has_final_answer is True
    assert execution.final_answer == {"rows": [1, 2, 3]}


def test_final_answer_ends_the_action_even_inside_except_exception(executor):
    # When final_answer is called inside `try ... except Exception`
    code = "try:\n    final_answer(1)\nexcept Exception:\n    pass\nprint('after')"
    execution = executor.run(code)

    # Then nothing after it runs
    assert "after" not in execution.observation()
    assert stdout_text(execution) == ""
    assert execution.has_final_answer and execution.final_answer == 1
    assert execution.error is None


def test_code_after_final_answer_does_not_run(executor):
    # When an action has statements after final_answer
    execution = executor.run("final_answer('done')\nran_after_final_answer = True")

    # Then they did not run
    assert execution.final_answer == "done"
    probe = executor.run("'ran_after_final_answer' in globals()")
    assert result_text(probe) == "False"


def test_final_answer_of_none_is_told_apart_from_no_answer(executor):
    # When one action answers None and another gives no answer
    answered_none = executor.run("final_answer(None)")
    no_answer = executor.run("None")

    # Then has_final_answer tells them apart
    assert answered_none.has_final_answer is True and answered_none.final_answer is None
    assert no_answer.has_final_answer is False and no_answer.final_answer is None


def test_final_answer_that_is_not_json_arrives_as_a_sidecar_object(executor):
    # When the answer is not a JSON value
    execution = executor.run("import datetime\nfinal_answer(datetime.date(2024, 1, 31))")

    # Then the host gets its type and repr
    assert execution.error is None, execution.observation()
    assert execution.has_final_answer
    answer = execution.final_answer
    assert isinstance(answer, SidecarObject)
    assert (answer.type, answer.repr) == ("date", "datetime.date(2024, 1, 31)")


def test_final_answer_value_stays_in_the_sidecar_as__final_answer(executor):
    # Given a final answer given by an action
    executor.run("final_answer({'kept': True, 'n': 7})")

    # When the host pulls `_final_answer`, or later code reads it
    pulled = executor.pull("_final_answer")
    shown = value_of(executor, "_final_answer['n'] * 6")

    # Then it is the real value
    assert pulled == {"kept": True, "n": 7}
    assert shown == "42"


def test_non_json_final_answer_can_be_pulled_with_trust(executor):
    # Given a non-JSON final answer
    executor.run("final_answer({1, 2, 3})")

    # When the host pulls it with trust
    pulled = executor.pull("_final_answer", trust=True)

    # Then it gets the real object
    assert pulled == {1, 2, 3}


def test_tool_call_after_a_swallowed_final_answer_is_refused(tools_executor):
    # Given model code that swallows final_answer's signal with `except BaseException`
    code = (
        "try:\n"
        "    final_answer('early')\n"
        "except BaseException:\n"
        "    pass\n"
        "record('should not happen')\n"
    )

    # When it then calls a tool
    execution = tools_executor.run(code)

    # Then the tool is not run, the call fails with a message, and the answer stands
    assert RECORDED == []
    assert execution.tool_calls == []
    assert execution.error is not None and execution.error.ename == "ToolError"
    assert "final_answer() was already called" in execution.error.evalue
    assert execution.has_final_answer and execution.final_answer == "early"


def test_final_answer_can_not_be_given_twice_in_one_action(executor):
    # Given model code that swallows the first final_answer and gives another
    code = (
        "try:\n    final_answer('first')\nexcept BaseException:\n    pass\nfinal_answer('second')"
    )

    # When it runs
    execution = executor.run(code)

    # Then the first answer stands and the second call is refused with a message
    assert execution.final_answer == "first"
    assert execution.error is not None
    assert "already called" in execution.error.evalue


def test_a_tuple_final_answer_arrives_as_a_tuple(executor):
    execution = executor.run("final_answer(('A', 3))")
    assert execution.final_answer == ("A", 3)
    assert isinstance(execution.final_answer, tuple)
