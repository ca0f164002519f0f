"""The M3ToolEval tools re-implemented for the benchmark harness: each behaviour the env README
documents (quirks included), and the same tools as our Tools and as smolagents tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import m3tooleval_env as env
from benchmarks.m3tooleval_tools import (
    BUILTINS_IN_CODE,
    Browser,
    CallLog,
    Environment,
    TravelAgency,
    load_environment,
    our_tools,
    smolagents_tools,
    toolset_specs,
)
from smoldepot_jupyter.kernel import KernelExecutor

ENV_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "bench" / "m3tooleval-env"


@pytest.fixture(scope="module")
def environment() -> Environment:
    if not (ENV_DIR / "tools.json").exists():
        pytest.skip(f"the M3ToolEval env folder is not at {ENV_DIR}")
    return load_environment(ENV_DIR)


def _by_name(tools) -> dict:
    return {t.name: t for t in tools}


# ------------------------------------------------------------------ message_decoder


def test_decoder_tools_behave_as_documented():
    assert env.convert_hex_to_ascii("48656c6c6f") == "Hello"
    assert env.reverse_string("abc") == "cba"
    assert env.caesar_decode("Khoor, Zruog!", 3) == "Hello, World!"
    assert env.caesar_decode("bcd", "1") == "abc"  # shift = int(shift)
    assert env.caesar_decode("ABC", 1) == "ZAB"  # wraps around
    assert env.string_length("hello") == 5
    assert env.minimum_value(3, 1, 2) == 1
    assert env.maximum_value("ab", "b") == "b"


# ------------------------------------------------------------------------------- DNA


def test_dna_tools_behave_as_documented_quirks_included():
    assert list(env.count_nucleotides("TACAG").items()) == [("T", 1), ("A", 2), ("C", 1), ("G", 1)]
    assert env.transcribe_dna_to_mrna("ACGT") == "UGCA"  # a complement, not transcription
    assert env.translate_mrna_to_amino_acid("AUGUUUUUCGGA") == (
        "Methionine-Phenylalanine-Phenylalanine-X"
    )
    assert env.translate_mrna_to_amino_acid("AUGUU") == "Methionine-X"  # short last chunk
    assert env.find_max_nucleotide("A", 2, "C", 3, "G", 3) == ("C", 3)  # a tuple; first wins
    assert env.is_valid_dna_sequence("ACGT")
    assert not env.is_valid_dna_sequence("ACGU")
    assert env.reverse_transcribe_mrna_to_dna("AUGC") == "TACG"


# ---------------------------------------------------------------------------- trade


def test_trade_tools_behave_as_documented():
    assert env.convert_currency(100, 1.5) == 150
    assert env.calculate_tariff(200, 5) == 10
    assert env.estimate_final_value(150, 11.25) == 161.25
    assert env.calculator("2 + (3 * 4)") == 14
    assert env.calculator("2 +") == "Failed to evaluate expression: 2 +"
    assert env.find_minimum(3.5, 1.5) == 1.5
    assert env.find_maximum(3.5, 1.5) == 3.5


# --------------------------------------------------------------------------- travel


def test_find_flights_strips_quotes_and_keeps_table_order(environment):
    agency = TravelAgency(environment)
    flights = agency.find_flights('"E"', "B", "2023-11-10")
    assert [f["price"] for f in flights] == [350, 165]
    assert flights[0]["from_location"] == '"E"'  # stored values stay quoted
    assert agency.find_flights("E", "B", "2023-11-11") == []


def test_find_flights_and_book_hotel_refuse_unknown_locations(environment):
    agency = TravelAgency(environment)
    with pytest.raises(ValueError, match=r"Origin Z is not supported\. Supported from_locations"):
        agency.find_flights("Z", "B", "2023-11-10")
    with pytest.raises(ValueError, match=r"Destination Z is not supported"):
        agency.find_flights("E", '"Z"', "2023-11-10")
    with pytest.raises(ValueError, match=r"Location Z is not supported"):
        agency.book_hotel("Z")


def test_book_hotel_needs_every_preference(environment):
    agency = TravelAgency(environment)
    hotels = agency.book_hotel('"A"', "wifi", "pool")
    assert [h["price_per_night"] for h in hotels] == [120, 50]
    assert agency.book_hotel("A", "wifi", "spa") == [
        h for h in agency.book_hotel("A") if "spa" in h["preferences"]
    ]


def test_travel_sum_is_varargs_so_a_list_fails_and_max_min_are_the_builtins():
    assert env.budget_calculator(450, 120, 3) == 810
    assert env.travel_sum(1, 2) == 3
    with pytest.raises(TypeError):
        env.travel_sum([1, 2])
    assert env.travel_max([1, 5, 2]) == 5  # builtin max over one iterable
    assert env.travel_min(4, 2) == 2


# ------------------------------------------------------------------------------ web


def test_browser_starts_on_home_and_renders_five_lines(environment):
    browser = Browser(environment)
    page = browser.view()
    lines = page.split("\n")
    assert lines[:4] == ["-" * 10, "[Web Page Name: /]", "[Viewing page 1 of 2]", ""]
    assert lines[4] == "Welcome to MagicWand Co.!"
    assert len(lines) == 4 + 5 + 1 and lines[-1] == "-" * 10


def test_click_url_opens_any_page_and_strips_single_quotes(environment):
    browser = Browser(environment)
    opened = browser.click_url("'/products/wand/legendary_wand'")  # not linked from '/'
    assert opened.startswith("[Opened page: /products/wand/legendary_wand]\n" + "-" * 10)
    assert browser.click_url("/nowhere") == "[URL not found.]"
    assert browser.history == ["/"]


def test_broken_links_of_the_data_are_kept(environment):
    browser = Browser(environment)
    assert browser.click_url("/blog/wand-maintenance") == "[URL not found.]"
    assert browser.click_url("/blog/wand_maintenance").startswith("[Opened page:")
    assert browser.click_url("/team/customer_support") == "[URL not found.]"


def test_scrolling_and_going_back(environment):
    browser = Browser(environment)
    assert browser.scroll_up() == "[Reached the top of the page.]\n"
    assert "[Viewing page 2 of 2]" in browser.scroll_down()
    assert browser.scroll_down() == "[Reached the bottom of the page.]\n"
    assert "[Viewing page 1 of 2]" in browser.scroll_up()
    assert browser.go_to_previous_page() == "[No previous page.]"
    browser.scroll_down()
    browser.click_url("/about")
    back = browser.go_to_previous_page()
    assert back.startswith("[Opened page: /]\n") and "[Viewing page 1 of 2]" in back  # scroll 0


def test_page_count_is_off_by_one_for_multiples_of_five(environment):
    pages = {"/": "\n".join(f"line {i}" for i in range(10)), "/short": "a\nb"}
    browser = Browser(Environment(ENV_DIR, {}, (), (), (), pages))
    assert "[Viewing page 1 of 3]" in browser.view()
    assert "[Viewing page 2 of 3]" in browser.scroll_down()
    assert browser.scroll_down() == "[Reached the bottom of the page.]\n"
    assert "[Viewing page 1 of 1]" in browser.click_url("/short")


# ------------------------------------------------------------------- as tools


def test_every_toolset_builds_for_every_agent_kind(environment):
    pytest.importorskip("smolagents", reason="the [bench] extra (smolagents) is not installed")
    for domain in environment.descriptions:
        specs = toolset_specs(environment, domain)
        assert [s.name for s in specs] == list(environment.descriptions[domain])
        builtins = [s for s in specs if s.name in BUILTINS_IN_CODE]
        assert len(our_tools(environment, domain, mode="code")) == len(specs) - len(builtins)
        assert len(our_tools(environment, domain, mode="json")) == len(specs)
        assert len(smolagents_tools(environment, domain)) == len(specs)
    with pytest.raises(ValueError, match="has no toolset 'astrology'"):
        toolset_specs(environment, "astrology")


def test_our_code_tools_keep_varargs_and_show_descriptions_from_tools_json(environment):
    tools = _by_name(our_tools(environment, "travel_itinerary_planning", mode="code"))
    assert tools["sum"].code_signature() == "def sum(*args: float) -> float:"
    assert tools["book_hotel"].code_signature() == (
        "def book_hotel(location: str, *preferences: str) -> list:"
    )
    prompt = tools["find_flights"].to_code_prompt()
    assert "Finds flights based on source, destination and date." in prompt
    assert "from_location: Where the flight leaves from" in prompt
    assert tools["sum"](1, 2) == 3


def test_max_and_min_are_python_builtins_in_our_code_tools_and_tools_for_json(environment):
    code = _by_name(our_tools(environment, "travel_itinerary_planning", mode="code"))
    assert "max" not in code and "min" not in code and "sum" in code
    json_tools = _by_name(our_tools(environment, "travel_itinerary_planning", mode="json"))
    assert json_tools["max"](args=[1, 5]) == 5 and json_tools["min"](args=[4, 2]) == 2


def test_in_our_sidecar_min_takes_a_key_as_the_builtin_does(environment):
    tools = our_tools(environment, "travel_itinerary_planning", mode="code")
    with KernelExecutor() as executor:
        executor.register_tools(tools)
        executor.push("flights", [{"price": 300}, {"price": 120}])
        execution = executor.run("print(min(flights, key=lambda f: f['price']), sum(1, 2))")
    assert execution.observation() == "{'price': 120} 3"  # and sum stays the varargs tool


def test_our_json_tools_take_varargs_as_a_list(environment):
    tools = _by_name(our_tools(environment, "travel_itinerary_planning", mode="json"))
    assert tools["sum"].code_signature() == "def sum(args: list[float]) -> float:"
    assert tools["sum"](args=[1, 2, 3]) == 6
    hotels = tools["book_hotel"](location="A", preferences=["wifi", "pool"])
    assert len(hotels) == 2
    # one value for a list argument counts as a list of it
    assert tools["book_hotel"](location="A", preferences="pool") == hotels
    schema = tools["sum"].to_json_schema()["function"]["parameters"]
    assert schema["properties"]["args"]["type"] == "array"


def test_each_build_has_its_own_browser(environment):
    first = _by_name(our_tools(environment, "web_browsing"))
    second = _by_name(our_tools(environment, "web_browsing"))
    first["click_url"]("/about")
    assert "[Web Page Name: /]" in second["view"]()


def test_call_log_records_calls_and_errors(environment):
    log = CallLog()
    tools = _by_name(our_tools(environment, "travel_itinerary_planning", log=log))
    tools["sum"](1, 2)
    with pytest.raises(ValueError):
        tools["find_flights"]("Q", "B", "2023-11-10")
    assert [c.name for c in log.calls] == ["sum", "find_flights"]
    assert [c.name for c in log.errors] == ["find_flights"]
    assert log.errors[0].error.startswith("ValueError: Origin Q")


def test_smolagents_tools_show_varargs_and_run_in_its_executor(environment):
    pytest.importorskip("smolagents")
    from smolagents.local_python_executor import LocalPythonExecutor

    log = CallLog()
    tools = _by_name(smolagents_tools(environment, "message_decoder", log=log))
    prompt = tools["minimum_value"].to_code_prompt()
    assert prompt.startswith("def minimum_value(*args: any) -> any:")
    assert "Finds the minimum value from given arguments." in prompt
    executor = LocalPythonExecutor([])
    executor.send_tools(tools)
    executor.send_variables({})
    result = executor("x = minimum_value(3, 1, 2)\nreverse_string('abc') + str(x)")
    assert result.output == "cba1"
    assert [c.name for c in log.calls] == ["minimum_value", "reverse_string"]
