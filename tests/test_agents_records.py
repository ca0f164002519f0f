"""Runs are never lost: records survive a killed process, replay plays them back, and a real
litellm model behind a flaky server still finishes the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from fake_openai_server import Failure, FakeOpenAIServer, Reply

from smoldepot_jupyter import CodeAgent, LiteLLMModel, ReplayModel, ScriptedModel, load_run
from smoldepot_jupyter.memory import ActionStep

AGENT_SCRIPT = """
import sys
from smoldepot_jupyter import CodeAgent, ScriptedModel

def code(body):
    return "Thought: go\\n```python\\n" + body + "\\n```"

model = ScriptedModel([
    code("first = 'one'\\nprint(first)"),
    code("second = 'two'\\nprint(second)"),
    code("print('ready', flush=True)\\nimport time\\ntime.sleep(120)"),
])
agent = CodeAgent([], model, record_dir=sys.argv[1])
agent.subscribe(lambda e: print("RECORD", agent.recorder.path_for(e.run_id), flush=True)
                if e.kind == "run_started" else None)
agent.subscribe(lambda e: print("OUTPUT", e.output.get("text", ""), flush=True)
                if e.kind == "output_added" else None)
agent.run("Three steps, the last one slow.")
"""


def test_record_of_a_sigkilled_run_reloads_with_the_steps_that_happened(tmp_path):
    script = tmp_path / "agent_run.py"
    script.write_text(textwrap.dedent(AGENT_SCRIPT))
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "runs")],
        stdout=subprocess.PIPE,
        text=True,
    )
    record_path = None
    try:
        deadline = time.monotonic() + 120
        for line in process.stdout:
            if line.startswith("RECORD "):
                record_path = line.split(" ", 1)[1].strip()
            if line.startswith("OUTPUT ready"):
                break
            assert time.monotonic() < deadline, "the agent never reached its slow step"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    record = load_run(record_path)
    assert record.complete is False and record.state == "incomplete"
    actions = [s for s in record.steps if isinstance(s, ActionStep)]
    assert [a.observation for a in actions] == ["one", "two"]
    assert len(record.model_turns) == 3


def code(body: str) -> str:
    return f"Thought: go\n```python\n{body}\n```"


def test_replay_plays_the_recorded_turns_with_real_execution(tmp_path):
    original = CodeAgent(
        [],
        ScriptedModel(
            [code("values = [3, 1, 2]\nprint(sorted(values))"), code("final_answer(max(values))")]
        ),
        record_dir=tmp_path,
    )
    with original:
        recorded = original.run("Sort and take the max.")
    with CodeAgent([], ReplayModel(recorded.record_path), record_dir=tmp_path) as replayer:
        replayed = replayer.run("Sort and take the max.")
    assert replayed.output == recorded.output == 3
    steps = [s for s in replayed.steps if isinstance(s, ActionStep)]
    assert steps[0].observation == "[1, 2, 3]"
    assert replayer.model.model_id.startswith("replay:")


def test_replay_asking_for_more_turns_than_recorded_says_execution_diverged(tmp_path):
    with CodeAgent([], ScriptedModel([code("final_answer(1)")]), record_dir=tmp_path) as agent:
        recorded = agent.run("One.")
    model = ReplayModel(recorded.record_path)
    model.generate([{"role": "user", "content": "x"}])
    with pytest.raises(Exception, match="went another way"):
        model.generate([{"role": "user", "content": "y"}])


def test_rate_limit_then_success_finishes_the_run(tmp_path):
    with FakeOpenAIServer() as server:
        server.script(
            Failure(429, "slow down", headers={"Retry-After": "0.1"}),
            Reply(text=code("final_answer(6 * 7)")),
        )
        model = LiteLLMModel(
            "openai/test-model",
            api_base=server.base_url,
            api_key="sk-test-not-real",
            retry_base_delay=0.01,
        )
        with CodeAgent([], model, record_dir=tmp_path) as agent:
            result = agent.run("Multiply six by seven.")
        assert (result.state, result.output) == ("success", 42)
        assert len(server.requests) == 2
        assert server.requests[1].body["max_tokens"] == 2048
