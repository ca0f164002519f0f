"""The benchmark harness end to end on tiny suites: scripted models stand in for the server
(ScriptedModel for ours, a fake litellm client for smolagents), real kernels run our actions."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks import answer_form_report
from benchmarks.bench_agents import Outcome
from benchmarks.bench_report import render_summary
from benchmarks.run_suite import (
    RunConfig,
    failure_category,
    main,
    read_results,
    run,
    select_tasks,
)
from smoldepot_jupyter.agents.prompts import ANSWER_FORM_SYSTEM
from smoldepot_jupyter.models import ScriptedModel

ENV_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "bench" / "m3tooleval-env"

TOOL_TASKS = [
    {
        "id": "decoder/reverse",
        "question": "Reverse the string 'abc' with the tool.",
        "expected": "cba",
        "toolset": "message_decoder",
        "files": [],
        "meta": {"domain": "message_decoder", "expected_python_repr": "'cba'"},
    },
    {
        "id": "travel/total",
        "question": "A flight costs 400 and the hotel 150 a night. Total for 3 nights?",
        "expected": 850,
        "toolset": "travel_itinerary_planning",
        "files": [],
        "meta": {"domain": "travel_itinerary_planning", "expected_python_repr": "850"},
    },
]
DATA_TASK = {
    "id": "data/sum",
    "question": "What is the sum of column n in numbers.csv?",
    "expected": "6",
    "toolset": None,
    "files": ["numbers.csv"],
    "meta": {},
}

# Replies by task (a word of its question) and turn (assistant messages so far).
OURS_CODE = {
    "Reverse": [
        "Thought: I use the tool.\n```python\nprint(reverse_string('abc'))\n```",
        "Thought: Done.\n```python\nfinal_answer('cba')\n```",
    ],
    "flight": [
        "Thought: Add them.\n```python\nprint(sum([400, 450]))\n```",  # the varargs quirk
        "Thought: Use the tool.\n```python\nfinal_answer(budget_calculator(400, 150, 3))\n```",
    ],
    "numbers.csv": [
        "Thought: Read it.\n```python\n"
        "final_answer(sum(int(x) for x in open('numbers.csv').read().split()[1:]))\n```",
    ],
}
SMOLAGENTS_CODE = {
    "Reverse": [
        "Thought: I use the tool.\n<code>\nprint(reverse_string('abc'))\n</code>",
        "Thought: Done.\n<code>\nfinal_answer('cba')\n</code>",
    ],
    "flight": [
        "Thought: Use the tool.\n<code>\nfinal_answer(budget_calculator(400, 150, 3))\n</code>",
    ],
    "numbers.csv": [
        "Thought: Read it.\n<code>\nimport pandas as pd\n"
        "final_answer(int(pd.read_csv('numbers.csv')['n'].sum()))\n</code>",
    ],
}
OURS_JSON = {
    "Reverse": [
        'Calling it.\n```json\n{"name": "reverse_string", "arguments": {"string": "abc"}}\n```',
        '```json\n{"name": "final_answer", "arguments": {"answer": "cba"}}\n```',
    ],
    "flight": [
        '```json\n{"name": "find_flights", "arguments": {"from_location": "Q", '
        '"to_location": "B", "date": "2023-11-10"}}\n```',
        '```json\n{"name": "final_answer", "arguments": {"answer": "$850"}}\n```',
    ],
}


def _reply(script: dict[str, list], messages: list[dict]) -> object:
    task = next(str(m["content"]) for m in messages if m["role"] == "user")
    turn = sum(1 for m in messages if m["role"] == "assistant")
    for word, replies in script.items():
        if word in task:
            return replies[min(turn, len(replies) - 1)]
    raise AssertionError(f"no script for task {task[:80]!r}")


class FakeLiteLLM:
    """What smolagents calls as its litellm client: scripted replies, fixed reported usage."""

    def __init__(self, script: dict[str, list]) -> None:
        self.script = script
        self.requests: list[dict] = []

    def completion(self, **request):
        self.requests.append(request)
        text = _reply(self.script, request["messages"])
        message = SimpleNamespace(role="assistant", content=text, tool_calls=None)
        usage = SimpleNamespace(
            prompt_tokens=100, completion_tokens=10, prompt_tokens_details={"cached_tokens": 40}
        )
        return SimpleNamespace(choices=[SimpleNamespace(message=message)], usage=usage)


def _count(messages=None, text=None) -> int:
    return len(json.dumps(messages) if messages is not None else text) // 4


def _write_suite(folder: Path, meta: dict, tasks: list[dict], files: dict | None = None) -> Path:
    folder.mkdir()
    (folder / "suite.json").write_text(json.dumps(meta))
    (folder / "tasks.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    if files:
        (folder / "files").mkdir()
        for name, text in files.items():
            (folder / "files" / name).write_text(text)
    return folder


@pytest.fixture
def suites(tmp_path: Path) -> dict[str, Path]:
    if not (ENV_DIR / "tools.json").exists():
        pytest.skip(f"the M3ToolEval env folder is not at {ENV_DIR}")
    (tmp_path / "m3tooleval-env").symlink_to(ENV_DIR.resolve())
    tools = _write_suite(
        tmp_path / "toy-tools",
        {"name": "toy-tools", "scorer": "m3tooleval", "toolsets": "m3tooleval-env", "max_steps": 3},
        TOOL_TASKS,
    )
    data = _write_suite(
        tmp_path / "toy-data",
        {"name": "toy-data", "scorer": "math", "max_steps": 3},
        [DATA_TASK],
        {"numbers.csv": "n\n1\n2\n3\n"},
    )
    return {"tools": tools, "data": data, "out": tmp_path / "out"}


def _config(suites: dict[str, Path], agents: list[str], names=("tools",), **options) -> RunConfig:
    return RunConfig(
        suites=[suites[n] for n in names],
        model_id="scripted",
        out=suites["out"],
        agents=agents,
        **options,
    )


def _ours(script: dict[str, list]):
    return lambda: ScriptedModel(lambda messages: _reply(script, messages))


def test_code_agents_solve_tasks_in_their_workdir_and_every_task_is_a_result_line(suites):
    pytest.importorskip("smolagents", reason="the [bench] extra (smolagents) is not installed")
    fake = FakeLiteLLM(SMOLAGENTS_CODE)
    config = _config(suites, ["ours-code", "smolagents-code"], names=("tools", "data"))
    rows = run(
        config,
        make_ours_model=_ours(OURS_CODE),
        smolagents_client=lambda: fake,
        token_count=_count,
        progress=None,
    )
    keys = [(r["agent"], r["task_id"]) for r in rows]
    assert keys == [
        ("ours-code", "decoder/reverse"),
        ("ours-code", "travel/total"),
        ("ours-code", "data/sum"),
        ("smolagents-code", "decoder/reverse"),
        ("smolagents-code", "travel/total"),
        ("smolagents-code", "data/sum"),
    ]  # agent by agent
    assert rows == read_results(suites["out"] / "results.jsonl")
    by = {(r["agent"], r["task_id"]): r for r in rows}
    for row in rows:
        assert row["solved"], row
        assert row["state"] == "success" and row["error"] is None
        assert row["category"] is None
        assert row["tokens_counted"]["prompt"] > 0 and row["tokens_counted"]["completion"] > 0
        assert row["wall_time"] > 0
    reverse = by[("ours-code", "decoder/reverse")]
    assert reverse["answer"] == "cba"
    assert reverse["verdicts"] == {"reference": True, "lenient": True}
    assert reverse["steps"] == 2 and reverse["model_calls"] == 2
    assert reverse["tool_calls"] == 1 and reverse["tool_errors"] == 0
    assert Path(reverse["record"]).exists()
    travel = by[("ours-code", "travel/total")]
    assert travel["answer"] == "850" and travel["tool_errors"] == 1
    assert travel["issues"]["tool_error"] == 1  # sum([400, 450]) hit the varargs quirk
    assert by[("ours-code", "data/sum")]["verdicts"] == {"strict": True}
    peer = by[("smolagents-code", "decoder/reverse")]
    calls = peer["model_calls"]
    assert calls == 2 and peer["steps"] == 2
    assert peer["tokens"] == {
        "prompt": 100 * calls,
        "completion": 10 * calls,
        "cached": 40 * calls,
        "estimated": False,
    }
    sent = [r for r in fake.requests if "reverse" in json.dumps(r["messages"])]
    assert peer["tokens_counted"]["prompt"] == sum(_count(messages=r["messages"]) for r in sent)
    request = fake.requests[0]
    assert request["temperature"] == 0 and request["max_tokens"] == 2048
    assert all(isinstance(m["content"], str) for m in request["messages"])  # flattened
    summary = (suites["out"] / "summary.md").read_text()
    assert "## toy-tools" in summary and "## toy-data" in summary
    assert "| ours-code / smolagents-code | 2 | 100.0% vs 100.0% |" in summary
    meta = json.loads((suites["out"] / "run.json").read_text())
    assert meta["model"] == "scripted" and meta["sessions"][0]["planned_tasks"] == 6
    head = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True
    )
    assert head.returncode == 0, head.stderr
    assert meta["sessions"][0]["commit"].removesuffix("+dirty") == head.stdout.strip()


def test_json_agent_calls_tools_by_name_and_failures_get_categories(suites):
    rows = run(
        _config(suites, ["ours-json"]),
        make_ours_model=_ours(OURS_JSON),
        token_count=_count,
        progress=None,
    )
    reverse, travel = rows
    assert reverse["solved"] and reverse["steps"] == 2 and reverse["tool_calls"] == 1
    assert travel["answer"] == "$850"
    assert travel["verdicts"] == {"reference": False, "lenient": True}
    assert travel["category"] == "wrong_answer_format"
    assert travel["tool_errors"] == 1 and travel["issues"]["tool_error"] == 1
    summary = (suites["out"] / "summary.md").read_text()
    assert "| agent | wrong_answer_format |" in summary


def test_a_model_that_never_acts_runs_out_of_steps_as_no_code(suites):
    silent = {"Reverse": ["I think the answer is cba."], "flight": ["No idea."]}
    rows = run(
        _config(suites, ["ours-json"], limit=1, max_steps=2),
        make_ours_model=_ours(silent),
        token_count=_count,
        progress=None,
    )
    (row,) = rows
    assert row["state"] == "max_steps" and row["steps"] == 2 and row["model_calls"] == 3
    assert row["issues"]["no_code"] == 2
    assert row["category"] == "no_code"


def test_resume_runs_only_what_is_missing_and_a_used_folder_needs_it(suites):
    script = {**OURS_JSON}
    run(
        _config(suites, ["ours-json"], limit=1),
        make_ours_model=_ours(script),
        token_count=_count,
        progress=None,
    )
    with pytest.raises(ValueError, match="--resume"):
        run(_config(suites, ["ours-json"]), make_ours_model=_ours(script), token_count=_count)
    model = ScriptedModel(lambda messages: _reply(script, messages))
    rows = run(
        _config(suites, ["ours-json"], resume=True),
        make_ours_model=lambda: model,
        token_count=_count,
        progress=None,
    )
    assert [r["task_id"] for r in rows] == ["decoder/reverse", "travel/total"]
    questions = {m[1]["content"] for m in model.calls}
    assert all("flight" in q for q in questions)  # only the missing task ran


def test_an_interrupted_run_keeps_finished_tasks_and_resumes(suites):
    script = {"Reverse": OURS_JSON["Reverse"], "flight": [KeyboardInterrupt()]}
    with pytest.raises(KeyboardInterrupt):
        run(
            _config(suites, ["ours-json"]),
            make_ours_model=_ours(script),
            token_count=_count,
            progress=None,
        )
    out = suites["out"]
    assert [r["task_id"] for r in read_results(out / "results.jsonl")] == ["decoder/reverse"]
    assert "## toy-tools" in (out / "summary.md").read_text()
    rows = run(
        _config(suites, ["ours-json"], resume=True),
        make_ours_model=_ours(OURS_JSON),
        token_count=_count,
        progress=None,
    )
    assert [r["task_id"] for r in rows] == ["decoder/reverse", "travel/total"]


def test_progress_line_shows_task_agent_elapsed_and_eta(suites):
    stream = io.StringIO()
    run(
        _config(suites, ["ours-json"]),
        make_ours_model=_ours(OURS_JSON),
        token_count=_count,
        progress=stream,
    )
    text = stream.getvalue()
    assert "\r[1/2] ours-json toy-tools/decoder/reverse  elapsed 0:00:00  ETA ?" in text
    assert "\r[2/2] ours-json toy-tools/travel/total" in text and "ETA 0:00:0" in text


def test_a_broken_model_is_an_error_line_and_the_run_goes_on(suites):
    def broken():
        raise RuntimeError("server gone")

    rows = run(_config(suites, ["ours-json"]), make_ours_model=broken, progress=None)
    assert [r["state"] for r in rows] == ["error", "error"]
    assert rows[0]["error"] == "RuntimeError: server gone"
    assert rows[0]["category"] == "agent_error" and rows[0]["answer"] is None


def test_importing_the_benchmark_agents_sets_the_local_price_table_before_litellm():
    # given an environment without LITELLM_LOCAL_MODEL_COST_MAP
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    code = (
        "import os, sys\n"
        "import benchmarks.bench_agents\n"
        "print('litellm' in sys.modules, os.environ.get('LITELLM_LOCAL_MODEL_COST_MAP'))\n"
    )
    # when the module that builds the litellm clients is imported on its own
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    # then litellm is not imported yet, and it will read its price table locally
    assert done.stdout.split() == ["False", "True"]


def test_failure_category_rules():
    answered = Outcome(state="success", steps=3)
    assert failure_category(answered, solved=True, form_failed=False) is None
    assert failure_category(answered, solved=False, form_failed=True) == "wrong_answer_format"
    assert failure_category(answered, solved=False, form_failed=False) == "wrong_answer"
    issues = {"no_code": 1, "tool_error": 0, "runtime_error": 3, "timeout": 0}
    out_of_steps = Outcome(state="max_steps", steps=4, issues=issues)
    assert failure_category(out_of_steps, False, False) == "runtime_error"
    calm = Outcome(state="max_steps", steps=4, issues={**issues, "runtime_error": 1})
    assert failure_category(calm, False, False) == "max_steps"
    timed_out = Outcome(state="error", error="ModelUnavailableError: request timed out")
    assert failure_category(timed_out, False, False) == "timeout"


def test_cli_refuses_bad_arguments(suites, capsys):
    assert main([str(suites["tools"]), "--model", "m", "--resume"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err
    out = str(suites["out"])
    assert main([str(suites["tools"]), "--model", "m", "--agents", "nope", "--out", out]) == 2
    assert "unknown agents" in capsys.readouterr().err


def test_every_k_takes_a_spread_subset_before_the_limit():
    tasks = [{"id": str(n)} for n in range(10)]
    assert [t["id"] for t in select_tasks(tasks, every=3)] == ["0", "3", "6", "9"]
    assert [t["id"] for t in select_tasks(tasks, every=3, limit=2)] == ["0", "3"]
    assert select_tasks(tasks) == tasks


def test_only_keeps_the_tasks_whose_id_matches_a_pattern_before_every_and_limit():
    tasks = [{"id": f"{kind}/{n}"} for kind in ("travel", "web") for n in range(4)]
    assert [t["id"] for t in select_tasks(tasks, only=["travel/*"], every=2)] == [
        "travel/0",
        "travel/2",
    ]
    picked = select_tasks(tasks, only=["web/3", "travel/1"], limit=5)
    assert [t["id"] for t in picked] == ["travel/1", "web/3"]  # the suite's order
    assert select_tasks(tasks, only=["Travel/*"]) == []  # case counts, as in task ids


def test_only_from_the_command_line_reaches_the_run_and_its_session_record(suites, capsys):
    args = [str(suites["tools"]), "--model", "m", "--agents", "ours-json"]
    args += ["--out", str(suites["out"]), "--only", "travel/*", "--max-steps", "1"]
    code = main([*args, "--api-base", "http://127.0.0.1:1/v1"])  # no server: the task errs
    rows = read_results(suites["out"] / "results.jsonl")
    assert code == 0 and [r["task_id"] for r in rows] == ["travel/total"]
    session = json.loads((suites["out"] / "run.json").read_text())["sessions"][-1]
    assert session["only"] == ["travel/*"]
    summary = (suites["out"] / "summary.md").read_text()
    assert "- tasks run, per session: all tasks with ids matching travel/*" in summary


def test_only_matching_no_task_is_refused_with_an_example_id(suites):
    with pytest.raises(ValueError, match="matches no task of toy-tools: its ids look like"):
        run(_config(suites, ["ours-json"], only=["travel"]), token_count=_count, progress=None)


def test_every_below_one_is_refused_with_the_flag_named():
    with pytest.raises(ValueError, match="--every must be 1 or more"):
        select_tasks([{"id": "a"}], every=0)


def result_line(agent: str, task: str, solved: bool, prompt: int = 100) -> dict:
    """A result line of the toy suite, as run_suite writes one."""
    return {
        "suite": "toy",
        "task_id": task,
        "agent": agent,
        "solved": solved,
        "verdicts": {"strict": solved},
        "primary_scorer": "strict",
        "steps": 1,
        "tokens_counted": {"prompt": prompt, "completion": 0},
        "category": None if solved else "wrong_answer",
    }


def test_prompt_tokens_per_solved_task_count_the_failed_tasks_too():
    rows = [
        result_line("ours-code", "t1", True, 100),
        result_line("ours-code", "t2", False, 300),
        result_line("smolagents-code", "t1", True, 1000),
        result_line("smolagents-code", "t2", True, 1000),
    ]
    summary = render_summary(rows, {"model": "m", "sessions": [{"every": 3, "limit": None}]})
    assert "| ours-code | 2 | 50.0% | 1.00 | 200 | 200 / 0 | 100 | 400 |" in summary
    assert "| ours-code / smolagents-code | 2 | 50.0% vs 100.0% | 0.50× |" in summary
    assert summary.count("0.40×") == 1
    assert "- tasks run, per session: one task in 3" in summary


def test_format_answer_gives_our_agents_the_answer_form_call(suites):
    def model(messages):
        if messages[0]["content"] == ANSWER_FORM_SYSTEM:
            return "850"  # the task asks for a bare number; the answer was "$850"
        return _reply(OURS_JSON, messages)

    rows = run(
        _config(suites, ["ours-json"], format_answer=True),
        make_ours_model=lambda: ScriptedModel(model),
        token_count=_count,
        progress=None,
    )
    travel = rows[1]
    assert travel["answer"] == "850" and travel["verdicts"]["reference"] is True
    meta = json.loads((suites["out"] / "run.json").read_text())
    assert meta["format_answer"] is True


def test_each_line_names_the_code_and_the_answer_form_option_that_made_it(suites):
    pytest.importorskip("smolagents", reason="the [bench] extra (smolagents) is not installed")
    fake = FakeLiteLLM(SMOLAGENTS_CODE)
    rows = run(
        _config(suites, ["ours-code", "smolagents-code"], limit=1, format_answer=True),
        make_ours_model=lambda: ScriptedModel(
            lambda m: "cba" if m[0]["content"] == ANSWER_FORM_SYSTEM else _reply(OURS_CODE, m)
        ),
        smolagents_client=lambda: fake,
        token_count=_count,
        progress=None,
    )
    head = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    ours, peer = rows
    assert (ours["format_answer"], peer["format_answer"]) == (True, None)
    assert ours["commit"] and ours["commit"].startswith(head) and peer["commit"] == ours["commit"]
    session = json.loads((suites["out"] / "run.json").read_text())["sessions"][-1]
    assert session["format_answer"] is True


def test_the_answer_form_report_counts_the_rewrites_that_solved_a_task(suites, capsys):
    def model(messages):
        if messages[0]["content"] == ANSWER_FORM_SYSTEM:
            return "850"
        return _reply(OURS_JSON, messages)

    run(
        _config(suites, ["ours-json"], format_answer=True),
        make_ours_model=lambda: ScriptedModel(model),
        token_count=_count,
        progress=None,
    )
    capsys.readouterr()
    results = suites["out"] / "results.jsonl"
    ours = read_results(results)
    peer = {**ours[1], "agent": "smolagents-code", "format_answer": None}
    without = {**ours[1], "agent": "ours-code", "format_answer": False}
    with results.open("a") as sink:  # lines of runs that asked for no answer-form call
        sink.write(json.dumps(peer) + "\n" + json.dumps(without) + "\n")
    assert answer_form_report.main([str(suites["out"]), str(suites["tools"])]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    totals = json.loads(lines[-1])
    assert totals["tasks"] == len(lines) - 1 == 2  # the two added lines are not counted
    assert (totals["rewrites_kept"], totals["solved_by_the_rewrite"]) == (1, 1)
    assert any("'$850' -> '850'" in line and "rewrite kept" in line for line in lines)
