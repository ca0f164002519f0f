"""Five small tasks against a real local model (shared/tools/local-llm.sh), end to end.

Skipped, with the reason shown, when no OpenAI-compatible server answers at
``SMOLDEPOT_TEST_API_BASE`` (default http://127.0.0.1:8011/v1). Each task prints one JSON line
(solved, steps, tokens, seconds) so a run with ``-s`` gives the figures for the notes.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest

from smoldepot_jupyter import CodeAgent, LiteLLMModel, tool
from smoldepot_jupyter.kernel import KernelExecutor
from smoldepot_jupyter.memory import ActionStep

API_BASE = os.environ.get("SMOLDEPOT_TEST_API_BASE", "http://127.0.0.1:8011/v1")
MODEL_ID = os.environ.get("SMOLDEPOT_TEST_MODEL", "openai/qwen2.5-coder-1.5b-instruct")

pytestmark = pytest.mark.realmodel


def _server_answers() -> str | None:
    try:
        with urllib.request.urlopen(f"{API_BASE}/models", timeout=3) as response:
            response.read()
    except OSError as exc:
        return f"no model server answers at {API_BASE} ({exc}); start one with local-llm.sh start"
    return None


@pytest.fixture(scope="module")
def model():
    reason = _server_answers()
    if reason:
        pytest.skip(reason)
    return LiteLLMModel(MODEL_ID, api_base=API_BASE, api_key="none", temperature=0)


@tool
def get_exchange_rate(currency: str) -> float:
    """How many units of `currency` one US dollar buys today.

    Args:
        currency: A three-letter currency code, e.g. "EUR".
    """
    return {"EUR": 0.92, "GBP": 0.79, "JPY": 151.2}[currency.upper()]


def _number(value) -> float | None:
    try:
        return float(str(value).replace(",", "").strip())
    except ValueError:
        return None


TASKS = {
    "arithmetic": (
        "What is 1234 * 5678? Give the number as the final answer.",
        lambda answer, _: _number(answer) == 7006652,
    ),
    "strings": (
        "Reverse the string 'smoldepot' and make it upper case. Give that string as the answer.",
        lambda answer, _: str(answer).strip().strip("'\"") == "TOPEDLOMS",
    ),
    "tool_call": (
        "How many euros do 250 US dollars buy? Use the get_exchange_rate tool. "
        "Give the number of euros as the final answer.",
        lambda answer, _: _number(answer) is not None and abs(_number(answer) - 230.0) < 0.01,
    ),
    "csv": (
        "The file sales.csv (columns: region, amount) is in the working directory. "
        "Which region has the largest total amount? Give the region name as the final answer.",
        lambda answer, _: "north" in str(answer).lower(),
    ),
    "plot": (
        "With matplotlib, draw a line plot of y = x squared for the integers x from 0 to 10 and "
        "show it. Then give the largest y value in the plot as the final answer.",
        lambda answer, steps: _number(answer) == 100 and _has_image(steps),
    ),
}


def _has_image(steps) -> bool:
    return any(
        "image/png" in output.get("data", {})
        for step in steps
        if isinstance(step, ActionStep) and step.execution is not None
        for output in step.execution.outputs
    )


@pytest.mark.parametrize("name", list(TASKS))
def test_small_task_with_the_local_model(name, model, tmp_path):
    task, solved = TASKS[name]
    (tmp_path / "sales.csv").write_text(
        "region,amount\nNorth,120\nSouth,80\nNorth,95\nEast,150\nSouth,60\n"
    )
    started = time.monotonic()
    with (
        KernelExecutor(cwd=tmp_path) as executor,
        CodeAgent(
            [get_exchange_rate],
            model,
            executor=executor,
            max_steps=6,
            record_dir=os.environ.get("SMOLDEPOT_TEST_RECORD_DIR", tmp_path),
        ) as agent,
    ):
        result = agent.run(task)
    figures = {
        "task": name,
        "solved": bool(solved(result.output, result.steps)),
        "state": result.state,
        "answer": str(result.output)[:80],
        "steps": result.action_steps,
        "prompt_tokens": result.token_usage.prompt_tokens,
        "completion_tokens": result.token_usage.completion_tokens,
        "cached_tokens": result.token_usage.cached_prompt_tokens,
        "seconds": round(time.monotonic() - started, 1),
        "tokens_estimated": result.token_usage.estimated,
        "record": str(result.record_path),
    }
    print("REALMODEL", json.dumps(figures))
    assert result.state in ("success", "max_steps"), result.error
    assert figures["solved"], figures
