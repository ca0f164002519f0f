"""Run records: written as the run happens, and loaded back even after a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from smoldepot_jupyter.events import (
    ActionParsed,
    EventBus,
    FinalAnswer,
    ModelCallFinished,
    ModelDelta,
    OutputAdded,
    RunFinished,
    RunStarted,
    StepFinished,
)
from smoldepot_jupyter.kernel.execution import Execution
from smoldepot_jupyter.memory import ActionStep, FinalAnswerStep, TaskStep
from smoldepot_jupyter.records import RecordError, RecordWarning, RunRecorder, load_run
from smoldepot_jupyter.usage import Timing, TokenUsage

REPO = Path(__file__).resolve().parents[1]
RUN = "20250101-000000-run"
STDOUT = {"output_type": "stream", "name": "stdout", "text": "3\n"}


def a_run(run_id: str = RUN, steps: int = 2, finish: bool = True) -> list:
    """The events of a small run: `steps` actions, the last one answering."""
    events = [
        RunStarted(run_id=run_id, task="Count the rows", model_id="m", max_steps=5, tools=[]),
        StepFinished(run_id=run_id, step=TaskStep("Count the rows", timing=Timing(0.0, 0.0))),
    ]
    for n in range(1, steps + 1):
        final = n == steps
        code = "final_answer(3)" if final else "print(3)"
        text = f"Thought: step {n}\n```python\n{code}\n```"
        execution = Execution(code=code, outputs=[STDOUT], duration=0.1)
        events += [
            ModelDelta(run_id=run_id, step=n, text=text[:8]),
            ModelCallFinished(run_id=run_id, step=n, text=text, token_usage=TokenUsage(100, 10)),
            ActionParsed(run_id=run_id, step=n, thought=f"step {n}", code=code),
            OutputAdded(run_id=run_id, step=n, index=0, output=STDOUT),
            StepFinished(
                run_id=run_id,
                step=ActionStep(
                    step_number=n,
                    model_output=text,
                    thought=f"step {n}",
                    code=code,
                    execution=execution,
                    observation="3",
                    token_usage=TokenUsage(100, 10),
                    timing=Timing(float(n), n + 0.5),
                    is_final_answer=final,
                    final_answer=3 if final else None,
                ),
            ),
        ]
    if finish:
        events += [
            StepFinished(run_id=run_id, step=FinalAnswerStep(3, Timing(9.0, 9.0))),
            FinalAnswer(run_id=run_id, output=3),
            RunFinished(
                run_id=run_id,
                state="success",
                output=3,
                token_usage=TokenUsage(100 * steps, 10 * steps),
                duration=2.0,
            ),
        ]
    return events


def test_recorder_writes_a_header_and_one_flushed_line_per_event(tmp_path):
    # given a recorder in the middle of a run
    recorder = RunRecorder(tmp_path)
    events = a_run(finish=False)
    for event in events:
        recorder(event)
    # when the file is read while the recorder still has it open
    lines = recorder.path_for(RUN).read_text(encoding="utf-8").splitlines()
    # then it holds the header, then every event so far, one JSON line each
    header = json.loads(lines[0])
    assert header["kind"] == "header" and header["format"] == "smoldepot.run"
    assert header["version"] == 1 and header["run_id"] == RUN and header["created"]
    assert [json.loads(line) for line in lines[1:]] == [e.to_dict() for e in events]
    recorder.close()


def test_recorder_writes_nothing_more_once_the_run_finished(tmp_path):
    recorder = RunRecorder(tmp_path)
    for event in a_run():
        recorder(event)
    recorder(ModelDelta(run_id=RUN, step=3, text="after the end"))
    assert load_run(recorder.path_for(RUN)).complete
    assert "after the end" not in recorder.path_for(RUN).read_text(encoding="utf-8")


def test_a_finished_run_loads_back_whole(tmp_path):
    # given a run recorded through the bus
    bus = EventBus([RunRecorder(tmp_path)])
    events = a_run(steps=3)
    for event in events:
        bus.emit(event)
    # when it is loaded
    record = load_run(tmp_path / f"{RUN}.jsonl")
    # then the run is all there
    assert (record.run_id, record.task, record.model_id) == (RUN, "Count the rows", "m")
    assert (record.state, record.output, record.complete) == ("success", 3, True)
    assert [type(s).__name__ for s in record.steps] == [
        "TaskStep",
        "ActionStep",
        "ActionStep",
        "ActionStep",
        "FinalAnswerStep",
    ]
    assert record.steps[1].execution.outputs == [STDOUT]
    assert record.model_turns == [
        f"Thought: step {n}\n```python\n{c}\n```"
        for n, c in [(1, "print(3)"), (2, "print(3)"), (3, "final_answer(3)")]
    ]
    assert record.token_usage == TokenUsage(300, 30) and record.duration == 2.0
    assert record.events == events


def test_a_record_with_a_truncated_last_line_loads_what_it_holds(tmp_path):
    # given a record whose last line was cut off mid-write
    recorder = RunRecorder(tmp_path)
    for event in a_run():
        recorder(event)
    path = recorder.path_for(RUN)
    content = path.read_bytes()
    cut = content[: content.rindex(b'"state"')]
    path.write_bytes(cut)
    # when it is loaded
    record = load_run(path)
    # then it has every step, its answer, and says it is incomplete
    assert record.complete is False and record.state == "incomplete"
    assert [s.step_number for s in record.steps if isinstance(s, ActionStep)] == [1, 2]
    assert record.output == 3
    assert record.token_usage == TokenUsage(200, 20)


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from smoldepot_jupyter.events import (
        EventBus, ModelCallFinished, ModelDelta, RunStarted, StepFinished)
    from smoldepot_jupyter.memory import ActionStep
    from smoldepot_jupyter.records import RunRecorder
    from smoldepot_jupyter.usage import TokenUsage

    run = "killed-run"
    bus = EventBus([RunRecorder(sys.argv[1])])
    bus.emit(RunStarted(run_id=run, task="Loop", model_id="m", max_steps=10, tools=[]))
    for n in range(1, 11):
        bus.emit(ModelDelta(run_id=run, step=n, text="Thought: "))
        time.sleep(0.05)
        bus.emit(ModelCallFinished(run_id=run, step=n, text=f"turn {n}",
                                   token_usage=TokenUsage(10, 1)))
        time.sleep(0.05)
        bus.emit(StepFinished(run_id=run, step=ActionStep(
            step_number=n, model_output=f"turn {n}", observation=str(n))))
        if n == 2:
            bus.emit(ModelDelta(run_id=run, step=3, text="Thought: half a"))
            print("ready", flush=True)
            time.sleep(60)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_record_reloads_after_the_writing_process_was_killed_mid_run(tmp_path):
    # given a process recording a run, killed without warning after its second step
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "runs")],
        stdout=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "ready"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    # when its record is loaded
    record = load_run(tmp_path / "runs" / "killed-run.jsonl")
    # then the steps that happened are there, and the record says it is incomplete
    assert record.complete is False and record.state == "incomplete"
    assert record.task == "Loop"
    assert [s.step_number for s in record.steps] == [1, 2]
    assert [s.observation for s in record.steps] == ["1", "2"]
    assert record.model_turns == ["turn 1", "turn 2"]
    assert record.token_usage == TokenUsage(20, 2)
    assert record.events[-1] == ModelDelta(
        run_id="killed-run", step=3, text="Thought: half a", timestamp=record.events[-1].timestamp
    )


@pytest.mark.parametrize(
    "content",
    ["", "just some notes\n", '{"kind": "run_started"}\n', '{"format": "something.else"}\n'],
    ids=["empty", "text", "events-without-header", "other-format"],
)
def test_a_file_that_is_not_a_run_record_is_refused(tmp_path, content):
    path = tmp_path / "notes.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RecordError, match="not a run record"):
        load_run(path)


def test_a_record_from_a_newer_version_asks_for_an_upgrade(tmp_path):
    path = tmp_path / "future.jsonl"
    path.write_text('{"kind": "header", "format": "smoldepot.run", "version": 99}\n')
    with pytest.raises(RecordError, match="upgrade smoldepot_jupyter"):
        load_run(path)


def test_a_damaged_line_before_the_end_is_skipped_and_named(tmp_path):
    recorder = RunRecorder(tmp_path)
    for event in a_run():
        recorder(event)
    path = recorder.path_for(RUN)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3][:10] + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.warns(RecordWarning, match=r"lines? 4\b"):
        record = load_run(path)
    assert record.damaged_lines == [4]
    assert record.complete is False and record.state == "success"


def test_a_disk_error_is_reported_once_and_never_reaches_the_run(tmp_path):
    # given a recorder whose directory cannot be created (a file is in the way)
    blocker = tmp_path / "runs"
    blocker.write_text("not a directory")
    bus = EventBus([RunRecorder(blocker)])
    # when two runs are recorded
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for event in a_run("run-a") + a_run("run-b"):
            bus.emit(event)
    # then one warning names the file and the error, and nothing was raised
    recorded = [w for w in caught if issubclass(w.category, RecordWarning)]
    assert len(recorded) == 1
    assert "run-a.jsonl" in str(recorded[0].message) and "Error" in str(recorded[0].message)


def test_a_run_id_cannot_place_its_record_outside_the_directory(tmp_path):
    recorder = RunRecorder(tmp_path / "runs")
    for event in a_run("../../escape"):
        recorder(event)
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [".._.._escape.jsonl"]
