"""Tools: the `Tool` base class, `@tool`, `as_tool` and the built-ins, as the prompt and the
sidecar see them."""

import builtins
import copy
import inspect
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Optional

import pytest
from conftest import stdout_text

from smoldepot_jupyter.kernel.bridge import tool_spec
from smoldepot_jupyter.tools import (
    FinalAnswerTool,
    FunctionTool,
    Tool,
    ToolDefinitionError,
    UserInputTool,
    as_tool,
    final_answer,
    tool,
    user_input,
)


class Catalogue(Tool):
    name = "catalogue"
    description = "Look titles up in the catalogue."
    inputs = {  # noqa: RUF012
        "query": {"type": "string", "description": "The text to look for."},
        "limit": {"type": "integer", "description": "How many titles at most.", "nullable": True},
    }
    output_type = "array"

    def __init__(self) -> None:
        super().__init__()
        self.setups = 0

    def setup(self) -> None:
        self.setups += 1

    def forward(self, query: str, limit: int | None = None) -> list[str]:
        return [f"{query} {i}" for i in range(limit or 2)]


def search(query: str, limit: int = 5) -> list:
    """Search the catalogue.

    Args:
        query: The text to look for.
        limit: How many results to return at most.

    Returns:
        The matching titles, best first.
    """
    return [query] * limit


SEARCH_PROMPT = '''def search(query: str, limit: int = 5) -> list:
    """Search the catalogue.

    Args:
        query: The text to look for.
        limit: How many results to return at most.

    Returns:
        The matching titles, best first.
    """'''


def input_of(fn: Callable[..., Any], arg: str) -> dict[str, Any]:
    return tool(fn).inputs[arg]


# ------------------------------------------------------------------------------ Tool subclasses


def test_subclass_call_runs_forward() -> None:
    assert Catalogue()("tea", limit=1) == ["tea 0"]


def test_setup_is_lazy_and_runs_once() -> None:
    catalogue = Catalogue()
    assert catalogue.setups == 0
    catalogue("a")
    catalogue("b")
    assert catalogue.setups == 1


def test_failed_setup_runs_again_on_the_next_call() -> None:
    class Flaky(Catalogue):
        def setup(self) -> None:
            self.setups += 1
            if self.setups == 1:
                raise ConnectionError("not yet")

    flaky = Flaky()
    with pytest.raises(ConnectionError):
        flaky("a")
    assert flaky("a") == ["a 0", "a 1"]
    assert flaky.setups == 2


def test_setup_runs_once_under_concurrent_calls() -> None:
    class Slow(Catalogue):
        def setup(self) -> None:
            time.sleep(0.05)
            self.setups += 1

    slow = Slow()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(slow, ["a"] * 8))
    assert (slow.setups, results[0]) == (1, ["a 0", "a 1"])


def test_set_up_tool_can_be_deep_copied() -> None:
    catalogue = Catalogue()
    catalogue("a")
    assert copy.deepcopy(catalogue)("b", limit=1) == ["b 0"]


def test_to_dict_has_name_description_inputs_output_type() -> None:
    assert Catalogue().to_dict() == {
        "name": "catalogue",
        "description": "Look titles up in the catalogue.",
        "inputs": Catalogue.inputs,
        "output_type": "array",
    }


def test_to_dict_is_a_copy() -> None:
    catalogue = Catalogue()
    catalogue.to_dict()["inputs"]["query"]["type"] = "integer"
    assert catalogue.inputs["query"]["type"] == "string"


def test_code_prompt_of_a_subclass_shows_types_from_inputs() -> None:
    assert Catalogue().code_signature() == (
        "def catalogue(query: str, limit: int | None = None) -> list:"
    )


def test_indented_description_is_dedented_in_the_prompt() -> None:
    class Indented(Tool):
        name = "indented"
        description = """Do a thing.
            Carefully."""
        inputs = {}  # noqa: RUF012

        def forward(self) -> None:
            return None

    assert Indented().to_code_prompt() == (
        'def indented() -> Any:\n    """Do a thing.\n    Carefully.\n    """'
    )


def test_code_prompt_is_byte_identical_across_instances() -> None:
    assert Catalogue().to_code_prompt() == Catalogue().to_code_prompt()


def test_forward_missing_an_input_is_rejected_at_class_definition() -> None:
    with pytest.raises(ToolDefinitionError, match=r"describes \['limit'\].*does not take"):

        class Broken(Tool):
            name = "broken"
            description = "Broken."
            inputs = {  # noqa: RUF012
                "query": {"type": "string", "description": "q"},
                "limit": {"type": "integer", "description": "l"},
            }

            def forward(self, query: str) -> str:
                return query


def test_forward_parameter_not_in_inputs_is_rejected_at_class_definition() -> None:
    with pytest.raises(ToolDefinitionError, match=r"forward\(\) takes \['extra'\]"):

        class Broken(Tool):
            name = "broken"
            description = "Broken."
            inputs = {"query": {"type": "string", "description": "q"}}  # noqa: RUF012

            def forward(self, query: str, extra: int) -> str:
                return query


def test_forward_with_star_kwargs_is_rejected() -> None:
    with pytest.raises(ToolDefinitionError, match=r"forward\(\) takes \*\*options"):

        class Broken(Tool):
            name = "broken"
            description = "Broken."
            inputs = {"query": {"type": "string", "description": "q"}}  # noqa: RUF012

            def forward(self, query: str, **options: Any) -> str:
                return query


def test_unknown_input_type_is_rejected() -> None:
    with pytest.raises(ToolDefinitionError, match=r"input 'query' has type 'str'"):

        class Broken(Tool):
            name = "broken"
            description = "Broken."
            inputs = {"query": {"type": "str", "description": "q"}}  # noqa: RUF012

            def forward(self, query: str) -> str:
                return query


def test_unknown_output_type_is_rejected() -> None:
    with pytest.raises(ToolDefinitionError, match="output_type 'text'"):

        class Broken(Tool):
            name = "broken"
            description = "Broken."
            inputs = {}  # noqa: RUF012
            output_type = "text"

            def forward(self) -> str:
                return ""


def test_name_that_is_not_an_identifier_is_rejected() -> None:
    with pytest.raises(ToolDefinitionError, match="'web-search' is not a Python identifier"):

        class Broken(Tool):
            name = "web-search"
            description = "Broken."
            inputs = {}  # noqa: RUF012

            def forward(self) -> str:
                return ""


def test_input_without_description_is_rejected() -> None:
    with pytest.raises(ToolDefinitionError, match='"type" and "description"'):

        class Broken(Tool):
            name = "broken"
            description = "Broken."
            inputs = {"query": {"type": "string"}}  # noqa: RUF012

            def forward(self, query: str) -> str:
                return query


def test_attributes_set_in_init_are_validated_at_instantiation() -> None:
    class Configured(Tool):
        description = "Configured per instance."
        inputs = {"x": {"type": "integer", "description": "x"}}  # noqa: RUF012

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        def forward(self, x: int) -> int:
            return x

    assert Configured("double")(2) == 2
    with pytest.raises(ToolDefinitionError, match="'not ok' is not a Python identifier"):
        Configured("not ok")


def test_subclass_of_subclass_is_validated_after_its_own_init() -> None:
    class Base(Tool):
        description = "Base."
        inputs = {"x": {"type": "integer", "description": "x"}}  # noqa: RUF012

        def __init__(self) -> None:
            super().__init__()

        def forward(self, x: int) -> int:
            return x

    class Named(Base):
        def __init__(self) -> None:
            super().__init__()  # Base's __init__ ends before the name is set
            self.name = "named"

    assert Named().name == "named"


# ------------------------------------------------------------------------------------- @tool


def test_tool_takes_name_and_description_from_the_function() -> None:
    made = tool(search)
    assert (made.name, made.description) == ("search", "Search the catalogue.")


def test_tool_inputs_come_from_hints_and_args_section() -> None:
    assert tool(search).inputs == {
        "query": {"type": "string", "description": "The text to look for."},
        "limit": {
            "type": "integer",
            "description": "How many results to return at most.",
            "default": 5,
        },
    }


def test_tool_output_comes_from_return_hint_and_returns_section() -> None:
    made = tool(search)
    assert made.output_type == "array"
    assert made.output_description == "The matching titles, best first."


def test_tool_is_a_function_tool() -> None:
    assert isinstance(tool(search), FunctionTool)


def test_tool_calls_the_original_function() -> None:
    assert tool(search)("tea", limit=2) == ["tea", "tea"]


def test_tool_forward_has_the_function_signature() -> None:
    made = tool(search)
    assert inspect.signature(made.forward) == inspect.signature(search)
    assert inspect.signature(made) == inspect.signature(search)


def test_tool_keeps_the_function_reachable() -> None:
    assert tool(search).function is search


def test_tool_code_prompt_renders_signature_and_docstring() -> None:
    assert tool(search).to_code_prompt() == SEARCH_PROMPT


def test_tool_code_prompt_is_deterministic() -> None:
    assert tool(search).to_code_prompt() == tool(search).to_code_prompt()


def test_long_description_keeps_text_before_the_sections() -> None:
    def lookup(word: str) -> str:
        """Look a word up.

        Uses the offline dictionary.

        Args:
            word: The word.
        """
        return word

    assert tool(lookup).description == "Look a word up.\n\nUses the offline dictionary."


def test_multiline_argument_description_is_joined() -> None:
    def lookup(word: str) -> str:
        """Look a word up.

        Args:
            word (str): The word,
                in any case.
        """
        return word

    assert input_of(lookup, "word")["description"] == "The word, in any case."


def test_missing_type_hint_is_rejected() -> None:
    def lookup(word) -> str:  # type: ignore[no-untyped-def]
        """Look a word up.

        Args:
            word: The word.
        """
        return word

    with pytest.raises(ToolDefinitionError, match="argument 'word' has no type hint"):
        tool(lookup)


def test_undocumented_argument_is_rejected() -> None:
    def lookup(word: str, lang: str) -> str:
        """Look a word up.

        Args:
            word: The word.
        """
        return word

    with pytest.raises(ToolDefinitionError, match="argument 'lang' is not documented"):
        tool(lookup)


def test_documented_argument_the_function_lacks_is_rejected() -> None:
    def lookup(word: str) -> str:
        """Look a word up.

        Args:
            word: The word.
            lang: The language.
        """
        return word

    with pytest.raises(ToolDefinitionError, match=r"documents \['lang'\]"):
        tool(lookup)


def test_unsupported_type_hint_is_rejected() -> None:
    def lookup(words: set[str]) -> str:
        """Look words up.

        Args:
            words: The words.
        """
        return ""

    with pytest.raises(ToolDefinitionError, match=r"'words' has type hint set\[str\]"):
        tool(lookup)


def test_function_without_docstring_is_rejected() -> None:
    def lookup(word: str) -> str:
        return word

    with pytest.raises(ToolDefinitionError, match="write a docstring"):
        tool(lookup)


def test_star_args_are_rejected() -> None:
    def lookup(*words: str) -> str:
        """Look words up.

        Args:
            words: The words.
        """
        return ""

    with pytest.raises(ToolDefinitionError, match="list each argument explicitly"):
        tool(lookup)


def test_lambda_is_rejected() -> None:
    with pytest.raises(ToolDefinitionError, match="plain name"):
        tool(lambda x: x)


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (list, {"type": "array"}),
        (dict, {"type": "object"}),
        (tuple, {"type": "array"}),
        (Any, {"type": "any"}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
        (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
        (int | str, {"type": ["integer", "string"]}),
    ],
)
def test_supported_type_hints_map_to_json_types(hint: Any, expected: dict[str, Any]) -> None:
    def f(x):  # type: ignore[no-untyped-def]
        """F.

        Args:
            x: X.
        """

    f.__annotations__ = {"x": hint}
    assert {k: v for k, v in input_of(f, "x").items() if k != "description"} == expected


def test_optional_hint_is_nullable() -> None:
    def f(x: Optional[int]) -> None:  # noqa: UP045 - the old spelling must work too
        """F.

        Args:
            x: X.
        """

    assert input_of(f, "x") == {"type": "integer", "description": "X.", "nullable": True}


def test_union_with_none_hint_is_nullable() -> None:
    def f(x: str | None) -> None:
        """F.

        Args:
            x: X.
        """

    assert input_of(f, "x")["nullable"] is True


def test_literal_hint_becomes_an_enum() -> None:
    def f(unit: Literal["km", "mi"]) -> None:
        """F.

        Args:
            unit: The unit.
        """

    assert input_of(f, "unit") == {
        "type": "string",
        "description": "The unit.",
        "enum": ["km", "mi"],
    }


def test_literal_hint_renders_as_literal_in_the_prompt() -> None:
    def convert(unit: Literal["km", "mi"]) -> float:
        """Convert.

        Args:
            unit: The unit.
        """
        return 1.0

    assert tool(convert).code_signature() == "def convert(unit: Literal['km', 'mi']) -> float:"


def test_none_default_makes_an_argument_nullable() -> None:
    def f(x: int = None) -> None:  # type: ignore[assignment]  # noqa: RUF013
        """F.

        Args:
            x: X.
        """

    assert input_of(f, "x")["nullable"] is True


def test_default_is_recorded_and_argument_is_not_required() -> None:
    made = tool(search)
    assert made.inputs["limit"]["default"] == 5
    assert made.to_json_schema()["function"]["parameters"]["required"] == ["query"]


def test_string_annotations_are_resolved() -> None:
    def f(x: "int") -> "str":  # as `from __future__ import annotations` leaves them
        """F.

        Args:
            x: X.
        """
        return str(x)

    made = tool(f)
    assert (made.inputs["x"]["type"], made.output_type) == ("integer", "string")


def test_return_hint_a_schema_cannot_name_is_any() -> None:
    def f(x: int) -> set[int]:
        """F.

        Args:
            x: X.
        """
        return {x}

    assert tool(f).output_type == "any"


def test_json_schema_for_native_tool_calling() -> None:
    def f(x: int, tags: list[str] | None = None) -> None:
        """F.

        Args:
            x: X.
            tags: Tags.
        """

    assert tool(f).to_json_schema() == {
        "type": "function",
        "function": {
            "name": "f",
            "description": "F.",
            "parameters": {
                "type": "object",
                "properties": {
                    "x": {"type": "integer", "description": "X."},
                    "tags": {
                        "type": ["array", "null"],
                        "description": "Tags.",
                        "items": {"type": "string"},
                        "default": None,
                    },
                },
                "required": ["x"],
            },
        },
    }


# ------------------------------------------------------------------------------------ as_tool


def test_as_tool_returns_our_tool_unchanged() -> None:
    catalogue = Catalogue()
    assert as_tool(catalogue) is catalogue


def test_as_tool_converts_a_documented_function() -> None:
    assert as_tool(search).to_code_prompt() == SEARCH_PROMPT


def test_as_tool_converts_a_bound_method() -> None:
    class Shelf:
        def count(self, title: str) -> int:
            """Count copies of a title.

            Args:
                title: The title.
            """
            return len(title)

    made = as_tool(Shelf().count)
    assert (made.name, made("abc")) == ("count", 3)


class DuckTool:
    """Shaped like a smolagents Tool, without importing smolagents."""

    name = "weather"
    description = "The weather in a city."
    inputs = {  # noqa: RUF012
        "city": {"type": "string", "description": "The city."},
        "photo": {"type": "image", "description": "A photo of the sky.", "nullable": True},
    }
    output_type = "string"

    def __init__(self) -> None:
        self.is_initialized = False

    def setup(self) -> None:
        self.is_initialized = True

    def forward(self, city: str, photo: Any = None) -> str:
        return f"sunny in {city}"

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        if not self.is_initialized:
            self.setup()
        return self.forward(*args, **kwargs)


def test_as_tool_wraps_a_smolagents_style_tool() -> None:
    duck = DuckTool()
    made = as_tool(duck)
    assert isinstance(made, Tool)
    assert made("Oslo") == "sunny in Oslo"
    assert duck.is_initialized


def test_as_tool_maps_smolagents_only_types_to_any() -> None:
    assert as_tool(DuckTool()).inputs["photo"]["type"] == "any"


def test_as_tool_keeps_the_smolagents_forward_signature() -> None:
    made = as_tool(DuckTool())
    assert list(inspect.signature(made.forward).parameters) == ["city", "photo"]


def test_as_tool_builds_a_signature_when_forward_takes_kwargs() -> None:
    class Loose(DuckTool):
        def forward(self, **kwargs: Any) -> str:
            return f"sunny in {kwargs['city']}"

    made = as_tool(Loose())
    assert str(inspect.signature(made.forward)) == "(city, photo=None)"
    assert made(city="Rome") == "sunny in Rome"


def test_as_tool_rejects_a_tool_class_with_a_hint_to_instantiate() -> None:
    with pytest.raises(TypeError, match=r"pass an instance, e.g. Catalogue\(\)"):
        as_tool(Catalogue)


def test_as_tool_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match="cannot make a tool from 42"):
        as_tool(42)


def test_as_tool_converts_a_real_smolagents_tool() -> None:
    smolagents = pytest.importorskip("smolagents")

    class Reverse(smolagents.Tool):
        name = "reverse"
        description = "Reverse a text."
        inputs = {  # noqa: RUF012
            "text": {"type": "string", "description": "The text."},
            "times": {"type": "integer", "description": "How often.", "nullable": True},
        }
        output_type = "string"

        def forward(self, text: str, times: int | None = None) -> str:
            return text[::-1] * (times or 1)

    made = as_tool(Reverse())
    assert made("abc", times=2) == "cbacba"
    assert made.code_signature() == "def reverse(text: str, times: int | None = None) -> str:"


@pytest.mark.filterwarnings("ignore:Function 'shout' has decorators")
def test_as_tool_converts_a_smolagents_decorated_function() -> None:
    smolagents = pytest.importorskip("smolagents")

    @smolagents.tool
    def shout(text: str) -> str:
        """Shout a text.

        Args:
            text: The text.
        """
        return text.upper()

    assert as_tool(shout)(text="hi") == "HI"


# ---------------------------------------------------------------------------------- built-ins


def test_final_answer_spec_describes_final_answer() -> None:
    assert final_answer.to_dict() == {
        "name": "final_answer",
        "description": "Give the final answer to the task",
        "inputs": {"answer": {"type": "any", "description": "The final answer to the task."}},
        "output_type": "any",
    }


def test_final_answer_code_prompt() -> None:
    assert final_answer.to_code_prompt() == (
        "def final_answer(answer: Any) -> Any:\n"
        '    """Give the final answer to the task\n'
        "\n"
        "    Args:\n"
        "        answer: The final answer to the task.\n"
        '    """'
    )


def test_final_answer_returns_the_answer() -> None:
    assert FinalAnswerTool()({"x": 1}) == {"x": 1}


def test_user_input_asks_through_the_injected_callable() -> None:
    asked: list[str] = []

    def ask(question: str) -> str:
        asked.append(question)
        return "blue"

    answer = UserInputTool(ask=ask)(question="Favourite colour?")
    assert (answer, asked) == ("blue", ["Favourite colour?"])


def test_user_input_defaults_to_builtin_input_at_call_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(builtins, "input", lambda prompt="": f"typed after {prompt!r}")
    assert user_input("Name?") == "typed after 'Name? '"


def test_user_input_code_prompt_signature() -> None:
    assert user_input.code_signature() == "def user_input(question: str) -> str:"


# ------------------------------------------------------------------------ through the bridge


def test_bridge_spec_of_a_function_tool_has_the_real_parameters() -> None:
    params = tool_spec(tool(search))["params"]
    assert [(p["name"], p.get("annotation"), p.get("default")) for p in params] == [
        ("query", "str", None),
        ("limit", "int", 5),
    ]


def test_sidecar_stub_shows_and_calls_the_tool(make_executor: Callable[..., Any]) -> None:
    ex = make_executor()
    ex.register_tools([tool(search), Catalogue(), UserInputTool(ask=lambda q: "green")])
    execution = ex.run(
        "import inspect\n"
        "print(inspect.signature(search))\n"
        "print(search('tea', limit=2), catalogue('x', limit=1), user_input('Colour?'))"
    )
    assert execution.error is None, execution.observation()
    assert stdout_text(execution) == (
        "(query: str, limit: int = 5) -> list\n['tea', 'tea'] ['x 0'] green\n"
    )
