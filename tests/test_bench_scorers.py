"""The benchmark scorers: M3ToolEval's reference scorer against the original's verdicts, the
lenient scorer, DABench's and MATH's strict scorers, and what `score` returns per suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.scorers import (
    answer_text,
    dabench_strict,
    expected_value,
    format_problem,
    lenient_scorer,
    math_strict,
    reference_scorer,
    score,
)

BENCH = Path(__file__).resolve().parents[1] / ".." / "shared" / "bench"
CASES = BENCH / "m3tooleval-env" / "reference_scorer_cases.jsonl"
M3_TASKS = BENCH / "m3tooleval-dev" / "tasks.jsonl"


def _m3_task(expected_repr: str, domain: str = "trade_calculator") -> dict:
    return {
        "id": f"{domain}/t",
        "question": "?",
        "expected": None,
        "toolset": domain,
        "meta": {"domain": domain, "expected_python_repr": expected_repr},
        "scorer": "m3tooleval",
    }


# ----------------------------------------------------------------- reference scorer


def test_reference_scorer_agrees_with_every_case_of_the_original():
    if not CASES.exists() or not M3_TASKS.exists():
        pytest.skip(f"the oracle {CASES} (or {M3_TASKS}) is not there")
    tasks = {}
    for line in M3_TASKS.read_text().splitlines():
        task = json.loads(line)
        tasks[task["id"]] = task
    cases = [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]
    assert len(cases) > 300
    disagreements = [
        (case["task_id"], case["answer_after_strip"], case["reference_accepts"])
        for case in cases
        if reference_scorer(case["answer_after_strip"], expected_value(tasks[case["task_id"]]))
        != case["reference_accepts"]
    ]
    assert disagreements == []


def test_reference_truncates_floats_and_coerces_bools_as_the_original_did():
    assert reference_scorer("161", 161.25)  # int(161.25) == 161
    assert not reference_scorer("161.2", 161.25)
    assert reference_scorer("161.25", 161.25)
    assert reference_scorer("0", False)  # int(False) == 0
    assert reference_scorer("'False'", False)  # literal_eval, then str()
    assert not reference_scorer("false", False)
    assert not reference_scorer("$161.25", 161.25)


def test_reference_compares_containers_by_their_exact_text():
    assert reference_scorer("[226800.0, 225984.0]", [226800.0, 225984.0])
    assert not reference_scorer("[226800, 225984]", [226800.0, 225984.0])
    assert not reference_scorer("'[226800.0, 225984.0]'", [226800.0, 225984.0])
    assert reference_scorer("{'T': 1, 'A': 2}", {"T": 1, "A": 2})
    assert not reference_scorer('{"T": 1, "A": 2}', {"T": 1, "A": 2})
    assert not reference_scorer("{'A': 2, 'T': 1}", {"T": 1, "A": 2})


def test_expected_value_comes_from_the_python_repr():
    assert expected_value(_m3_task("('A', 3)")) == ("A", 3)
    task = {"expected": ["A", 3], "meta": {"expected_python_type": "tuple"}}
    assert expected_value(task) == ("A", 3)
    assert expected_value({"expected": 5, "meta": {}}) == 5


# ------------------------------------------------------------------- lenient scorer


def test_lenient_reads_numbers_with_currency_signs_separators_and_rounding():
    assert lenient_scorer("$50,400.00", 50400.0)
    assert lenient_scorer("380.42", 380.41999999999996)
    assert lenient_scorer("248.92", 248.922)
    assert not lenient_scorer("248.9", 248.922)
    assert not lenient_scorer("161", 161.25)
    assert not lenient_scorer("about 5", 5)


def test_lenient_compares_lists_element_wise_and_dicts_as_mappings():
    assert lenient_scorer("[226800, 225984]", [226800.0, 225984.0])
    assert lenient_scorer("226800.0, 225984.0", [226800.0, 225984.0])
    assert not lenient_scorer("[226800.0]", [226800.0, 225984.0])
    assert lenient_scorer('{"A": 2, "T": 1}', {"T": 1, "A": 2})
    assert not lenient_scorer("{'T': 1}", {"T": 1, "A": 2})


def test_lenient_strips_quotes_and_ignores_case_except_for_decoder_outputs():
    assert lenient_scorer("'engineering'", "Engineering")
    assert lenient_scorer(" false ", False)
    assert lenient_scorer('"KMPP"', "KMPP", case_sensitive=True)
    assert not lenient_scorer("kmpp", "KMPP", case_sensitive=True)


def test_lenient_accepts_the_first_item_of_a_tuple_answer_alone():
    assert lenient_scorer("A", ("A", 3))
    assert lenient_scorer("('A', 3)", ("A", 3))
    assert not lenient_scorer("C", ("A", 3))


def test_score_gives_both_m3tooleval_verdicts_and_keeps_decoder_case():
    assert score(_m3_task("161.25"), "161") == {"reference": True, "lenient": False}
    assert score(_m3_task("161.25"), "$161.25") == {"reference": False, "lenient": True}
    decoder = _m3_task("'KMPP'", domain="message_decoder")
    assert score(decoder, "kmpp") == {"reference": False, "lenient": False}
    web = _m3_task("'Engineering'", domain="web_browsing")
    assert score(web, "engineering") == {"reference": False, "lenient": True}


# ------------------------------------------------------------------ dabench and math


def test_dabench_needs_every_sub_answer_exactly_or_within_1e6():
    expected = [["mean", "3.73"], ["kind", "positive"]]
    assert dabench_strict("@mean[3.73] and @kind[positive]", expected)
    assert dabench_strict("@kind[positive]\n@mean[3.7300000001]", expected)
    assert not dabench_strict("@mean[3.74] @kind[positive]", expected)
    assert not dabench_strict("@mean[3.73]", expected)  # unanswered = wrong
    assert not dabench_strict("mean is 3.73, positive", expected)


def test_dabench_reads_values_up_to_the_first_closing_bracket():
    # The expected value of dabench/273 was extracted the same way: "@outlier_list[[]]" -> "[".
    assert dabench_strict("@outlier_list[[]]", [["outlier_list", "["]])


def test_math_takes_the_last_number_of_the_answer():
    assert math_strict("The answer is 63.", "63")
    assert math_strict("x = 2, so b + c = 3.21", "3.21")
    assert math_strict("6.72e-05", ".0000672")
    assert math_strict("It is 1,234,567", "1234567")
    assert math_strict("-256", "-256")
    assert not math_strict("63 or maybe 64", "63")
    assert not math_strict("no idea", "2")
    assert math_strict("$x^2$", "x^2")  # non-numeric: spaces and $ removed


def test_score_keys_follow_the_suite_scorer_given_in_the_task_or_the_call():
    dabench = {"id": "d", "expected": [["a", "1"]], "scorer": "dabench"}
    assert score(dabench, "@a[1.0]") == {"strict": True}
    math_task = {"id": "m", "expected": "10"}
    assert score(math_task, 10, scorer="math") == {"strict": True}
    with pytest.raises(ValueError, match="unknown scorer"):
        score({"id": "x", "expected": 1}, "1")


def test_format_problem_tells_a_badly_written_answer_from_a_wrong_one():
    assert format_problem(_m3_task("50400.0"), "$50,400")
    assert not format_problem(_m3_task("50400.0"), "12")
    dabench = {"id": "d", "expected": [["a", "1"], ["b", "2"]], "scorer": "dabench"}
    assert format_problem(dabench, "@a[1] and b is 2")
    assert not format_problem(dabench, "@a[1] @b[3]")
    assert format_problem({"id": "m", "expected": "4", "scorer": "math"}, "four")


def test_answer_values_are_scored_as_their_text():
    numpy = pytest.importorskip("numpy")
    assert answer_text("cba") == "cba"
    assert answer_text(numpy.float64(68.71)) == "68.71"
    assert answer_text([numpy.int64(1), 2.0]) == "[1, 2.0]"
    assert answer_text({"T": 1}) == "{'T': 1}"
    assert answer_text(("A", 3)) == "('A', 3)"
    assert answer_text(None) == "None"
