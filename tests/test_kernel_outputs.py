"""What an action's outputs look like: nbformat v4 dicts, in order, merged, within a budget."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import kept_output_chars, result_text, stdout_text, validate_outputs

pytestmark = pytest.mark.timeout(180)

FIVE_MB_IMAGE = (
    "from IPython.display import Image, display\n"
    "import os\n"
    "display(Image(data=os.urandom(5 * 10**6), format='png'))\n"
)


def test_outputs_are_valid_nbformat_v4_outputs(executor):
    # Given an action producing every kind of output
    code = (
        "import sys\n"
        "from IPython.display import display, HTML\n"
        "print('to stdout')\n"
        "print('to stderr', file=sys.stderr)\n"
        "display(HTML('<b>bold</b>'))\n"
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3]); plt.show()\n"
        "{'result': 1}\n"
    )

    # When it runs
    execution = executor.run(code)

    # Then each output validates as a v4 code-cell output, and all kinds are there
    assert execution.error is None, execution.observation()
    validate_outputs(execution.outputs)
    kinds = {o["output_type"] for o in execution.outputs}
    assert kinds == {"stream", "display_data", "execute_result"}


def test_error_output_is_valid_nbformat_v4(executor):
    # Given an action that prints, then fails
    execution = executor.run("print('before the error')\n1 / 0")

    # Then the error output is a valid v4 output after the stream output
    assert [o["output_type"] for o in execution.outputs] == ["stream", "error"]
    validate_outputs(execution.outputs)
    assert execution.outputs[1]["ename"] == "ZeroDivisionError"


def test_outputs_keep_arrival_order(executor):
    # Given an action that prints, displays, and prints again
    code = (
        "from IPython.display import display\n"
        "print('first', flush=True)\n"
        "display('second')\n"
        "print('third', flush=True)\n"
        "'fourth'\n"
    )

    # When it runs
    execution = executor.run(code)

    # Then the outputs are in the order they were produced
    summary = [
        (o["output_type"], o.get("text") or o.get("data", {}).get("text/plain"))
        for o in execution.outputs
    ]
    assert summary == [
        ("stream", "first\n"),
        ("display_data", "'second'"),
        ("stream", "third\n"),
        ("execute_result", "'fourth'"),
    ]


def test_consecutive_chunks_of_one_stream_are_merged(executor):
    # Given an action that writes to stdout in separate, flushed chunks
    code = (
        "import time\n"
        "for i in range(3):\n"
        "    print(f'chunk {i}', flush=True)\n"
        "    time.sleep(0.2)\n"
    )

    # When it runs
    execution = executor.run(code)

    # Then they form one stdout output, as a notebook shows them
    assert execution.outputs == [
        {"output_type": "stream", "name": "stdout", "text": "chunk 0\nchunk 1\nchunk 2\n"}
    ]


def test_stdout_and_stderr_stay_separate_outputs(executor):
    # Given an action writing to both streams
    execution = executor.run("import sys\nprint('out')\nprint('err', file=sys.stderr)")

    # Then each stream has its own output
    streams = {o["name"]: o["text"] for o in execution.outputs if o["output_type"] == "stream"}
    assert streams == {"stdout": "out\n", "stderr": "err\n"}


def test_interleaved_streams_keep_their_order(executor):
    # Given an action alternating between stdout and stderr, flushing each write
    code = (
        "import sys\n"
        "print('out 1', flush=True)\n"
        "print('err 1', file=sys.stderr, flush=True)\n"
        "print('out 2', flush=True)\n"
    )

    # When it runs
    execution = executor.run(code)

    # Then only consecutive chunks of one stream are merged: three outputs, in order
    assert [(o["name"], o["text"]) for o in execution.outputs] == [
        ("stdout", "out 1\n"),
        ("stderr", "err 1\n"),
        ("stdout", "out 2\n"),
    ]


def test_clear_output_removes_earlier_outputs_as_a_notebook_would(executor):
    # Given a progress display that clears itself before each update
    code = (
        "from IPython.display import clear_output\n"
        "for step in range(3):\n"
        "    clear_output(wait=True)\n"
        "    print(f'step {step}', flush=True)\n"
    )

    # When it runs
    execution = executor.run(code)

    # Then only the last state is kept
    assert execution.outputs == [{"output_type": "stream", "name": "stdout", "text": "step 2\n"}]
    assert execution.observation() == "step 2"


def test_updated_display_is_changed_in_place(executor):
    # Given a display that is updated later by its display id
    code = (
        "from IPython.display import display\n"
        "handle = display('first version', display_id=True)\n"
        "print('between', flush=True)\n"
        "handle.update('second version')\n"
    )

    # When it runs
    execution = executor.run(code)

    # Then the display keeps its place and shows its last version
    assert [o["output_type"] for o in execution.outputs] == ["display_data", "stream"]
    assert execution.outputs[0]["data"]["text/plain"] == "'second version'"
    validate_outputs(execution.outputs)


def test_run_returns_only_after_all_outputs_arrived(executor):
    # Given actions whose last output is produced right before they end
    for attempt in range(10):
        # When each runs
        execution = executor.run(
            f"for i in range(300):\n    print(i)\nprint('last line {attempt}')\n'result {attempt}'"
        )

        # Then run() did not return before the final outputs arrived
        assert stdout_text(execution).endswith(f"299\nlast line {attempt}\n"), attempt
        assert result_text(execution) == f"'result {attempt}'"


def test_outputs_of_one_action_do_not_leak_into_the_next(executor):
    # Given an action with output, followed by a silent one
    executor.run("print('belongs to the first action')")

    # When the silent action runs
    execution = executor.run("silent_assignment = 1")

    # Then it has no outputs of its own
    assert execution.outputs == []


def test_on_output_listener_receives_add_events_while_running(executor):
    # Given a listener that answers the first output by creating a file the action waits for
    # (in the sidecar's working directory, which it sees at every level)
    flag = Path(executor.cwd) / f"listener-saw-output-{os.getpid()}"
    flag.unlink(missing_ok=True)
    events = []

    def listener(event, index, output):
        events.append((event, index, output and dict(output)))
        if event == "add" and output and "waiting" in output.get("text", ""):
            flag.touch()

    code = (
        "import os, time\n"
        "print('waiting for the listener', flush=True)\n"
        "deadline = time.monotonic() + 60\n"
        f"while not os.path.exists({str(flag)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        f"print('listener answered' if os.path.exists({str(flag)!r}) else 'no answer')\n"
        "'done'\n"
    )

    # When the action runs with that listener
    execution = executor.run(code, on_output=listener)

    # Then the listener heard the first output while the action was still running
    assert "listener answered" in stdout_text(execution)
    adds = [(index, output) for event, index, output in events if event == "add"]
    # (print's text and its newline are two writes: under load ipykernel may send them apart)
    index, first = adds[0]
    assert (index, first["output_type"], first["name"]) == (0, "stream", "stdout")
    assert first["text"].startswith("waiting for the listener")
    assert adds[-1][1]["output_type"] == "execute_result"
    assert adds[-1][0] == len(execution.outputs) - 1


def test_matplotlib_draws_inline_png(executor):
    # Given a plot drawn with pyplot (no backend chosen by the action)
    execution = executor.run("import matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nplt.show()")

    # Then it arrives as a display_data output holding a PNG
    assert execution.error is None, execution.observation()
    images = [o for o in execution.outputs if o["output_type"] == "display_data"]
    assert len(images) == 1
    assert "image/png" in images[0]["data"]
    assert execution.observation().startswith("[image/png ")


def test_output_budget_keeps_at_most_max_output_bytes_and_counts_the_rest(executor):
    # Given the default budget of 1,000,000 characters per action
    assert executor.max_output_bytes == 1_000_000

    # When an action prints 100 million characters at once
    started = time.monotonic()
    execution = executor.run("print('x' * 10**8)", timeout=120)

    # Then the host keeps at most the budget, counts what it dropped, and says so
    assert time.monotonic() - started < 60
    assert execution.error is None
    assert 0 < kept_output_chars(execution) <= 1_000_000
    assert execution.dropped_output_chars >= 10**8 - 1_000_000
    observation = execution.observation()
    assert "dropped" in observation
    assert f"{execution.dropped_output_chars:,}" in observation
    assert len(observation) < 12_000


def test_output_budget_is_per_action(executor):
    # Given an action that used up its output budget
    executor.run("print('y' * 2_000_000)")

    # When the next action prints a little
    execution = executor.run("print('fits again')")

    # Then its output is kept in full and nothing is reported dropped
    assert stdout_text(execution) == "fits again\n"
    assert execution.dropped_output_chars == 0
    assert "dropped" not in execution.observation()


def test_five_megabyte_image_is_dropped_and_counted_under_the_default_budget(executor):
    # Given the default output budget of 1,000,000 characters
    # When an action displays a 5 MB image
    execution = executor.run(FIVE_MB_IMAGE)

    # Then the image is not kept, its size is counted, and the observation says so
    assert execution.error is None, execution.observation()
    assert not [o for o in execution.outputs if "image/png" in o.get("data", {})]
    assert execution.dropped_output_chars >= 5 * 10**6
    assert "dropped" in execution.observation()


def test_five_megabyte_image_is_kept_with_a_bigger_budget(make_executor):
    # Given an executor with a 20 MB output budget
    ex = make_executor(max_output_bytes=20_000_000)

    # When an action displays a 5 MB image
    execution = ex.run(FIVE_MB_IMAGE)

    # Then the image is kept whole and nothing is dropped
    assert execution.error is None, execution.observation()
    images = [o for o in execution.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1
    assert len(images[0]["data"]["image/png"]) >= 5 * 10**6 * 4 // 3
    assert execution.dropped_output_chars == 0
    assert "[image/png" in execution.observation()
    validate_outputs(execution.outputs)


def test_output_written_to_file_descriptor_one_is_captured(executor):
    # Given an action writing straight to the stdout file descriptor
    # (ipykernel forwards such output from a thread: give it a moment before the action ends)
    execution = executor.run("import os, time\nos.write(1, b'raw fd output\\n')\ntime.sleep(1)")

    # Then the text still shows up as an output
    assert execution.error is None
    assert "raw fd output" in execution.observation()
