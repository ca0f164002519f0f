"""Run view streaming cost: what the throttled widget view adds while a model streams a step.

Feeds N `ModelDelta` events (token-sized strings) through an `EventBus` with a `RunView`
subscribed, then the `ActionParsed` that ends the stream, and compares with the same loop on a
bus without the view (events created and dispatched, nothing drawn). Measured in this process
(widget comms are no-ops) and inside a real ipykernel (widget updates serialized and sent on
iopub, as in a notebook); the JSON line reports the kernel figures when that ran.

Prints one line per figure, then one JSON object (the last line) with exactly the keys
deltas, view_ms, baseline_ms, added_ms, percent_of_step; percent_of_step is the added time as a
share of generating the N tokens at 8 tokens/s (250 s for 2,000 tokens).

    python benchmarks/view_streaming.py [--deltas 2000] [--repeat 7] [--no-kernel]
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from smoldepot_jupyter.events import (  # noqa: E402
    ActionParsed,
    EventBus,
    ModelDelta,
    RunStarted,
    new_run_id,
)

TOKENS_PER_SECOND = 8.0
_TEXT = (
    "Thought: I will load the table, check the columns, and compute the mean of each numeric "
    "column before plotting the distribution of the target variable. "
)


def token_pieces(count: int) -> list[str]:
    """`count` token-sized strings (words and spaces, ~4 characters each), as a model streams."""
    words = _TEXT.replace(" ", " \x00").split("\x00")
    return [words[i % len(words)] for i in range(count)]


def _stream(bus: EventBus, run_id: str, pieces: list[str]) -> float:
    start = time.perf_counter()
    for piece in pieces:
        bus.emit(ModelDelta(run_id=run_id, step=1, text=piece))
    bus.emit(ActionParsed(run_id=run_id, step=1, thought="".join(pieces), code="x = 1"))
    return time.perf_counter() - start


def measure(deltas: int, repeat: int) -> dict[str, Any]:
    """Median wall time of the streaming loop with and without a view, and the view's widget
    updates (HTML values set) in one run."""
    from smoldepot_jupyter.ui import RunView

    pieces = token_pieces(deltas)
    baseline, with_view, updates = [], [], 0
    for round_ in range(repeat + 1):  # round 0 warms imports and caches, and is not counted
        run_id = new_run_id()
        bus = EventBus()
        bus.emit(RunStarted(run_id=run_id, task="t", model_id="m", max_steps=3))
        plain = _stream(bus, run_id, pieces)

        view = RunView()
        counted: list[Any] = []
        bus = EventBus([view])
        bus.emit(RunStarted(run_id=run_id, task="t", model_id="m", max_steps=3))
        bus.emit(ModelDelta(run_id=run_id, step=1, text=""))
        view.flush()
        for widget in _descendants(view.widget):
            if hasattr(widget, "value") and isinstance(widget.value, str):
                widget.observe(counted.append, names="value")
        drawn = _stream(bus, run_id, pieces)
        view.close()
        if round_:
            baseline.append(plain)
            with_view.append(drawn)
            updates = len(counted)
    view_ms = statistics.median(with_view) * 1000
    baseline_ms = statistics.median(baseline) * 1000

    # Every delta drawn (no throttle): what a real stream costs when tokens come slower than
    # the throttle interval (8 tokens/s is under its 20 draws/s, so each token is drawn).
    view = RunView(throttle=0.0)
    bus = EventBus([view])
    run_id = new_run_id()
    bus.emit(RunStarted(run_id=run_id, task="t", model_id="m", max_steps=3))
    every_ms = _stream(bus, run_id, pieces) * 1000
    view.close()
    return {
        "view_ms": view_ms,
        "baseline_ms": baseline_ms,
        "updates": updates,
        "every_delta_drawn_ms": every_ms,
    }


def _descendants(widget: Any) -> list[Any]:
    found = [widget]
    for child in getattr(widget, "children", ()):
        found.extend(_descendants(child))
    return found


def measure_in_kernel(deltas: int, repeat: int) -> dict[str, Any] | None:
    """`measure` run inside a fresh ipykernel, where widget updates are real comm messages."""
    try:
        from jupyter_client import KernelManager
    except ImportError:
        return None
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(ROOT), extra_arguments=["--HistoryManager.enabled=False"])
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        code = (
            f"import sys, json; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'benchmarks')!r}]\n"
            "import view_streaming\n"
            f"print('RESULT ' + json.dumps(view_streaming.measure({deltas}, {repeat})))\n"
        )
        msg_id = kc.execute(code)
        deadline = time.monotonic() + 600
        result = None
        while time.monotonic() < deadline:
            try:
                msg = kc.get_iopub_msg(timeout=5)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                for line in content["text"].splitlines():
                    if line.startswith("RESULT "):
                        result = json.loads(line[len("RESULT ") :])
            elif kind == "error":
                print("\n".join(content["traceback"]), file=sys.stderr)
                return None
            elif kind == "status" and content["execution_state"] == "idle":
                break
        return result
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _report(label: str, deltas: int, figures: dict[str, Any]) -> dict[str, Any]:
    added = figures["view_ms"] - figures["baseline_ms"]
    step_ms = deltas / TOKENS_PER_SECOND * 1000
    print(f"[{label}] baseline (bus only):     {figures['baseline_ms']:9.2f} ms")
    print(f"[{label}] with the run view:       {figures['view_ms']:9.2f} ms")
    print(
        f"[{label}] added by the view:       {added:9.2f} ms ({added / deltas * 1000:.2f} µs/delta)"
    )
    print(f"[{label}] widget value updates:    {figures['updates']:9d} for {deltas:,} deltas")
    drawn = figures["every_delta_drawn_ms"] - figures["baseline_ms"]
    print(
        f"[{label}] every delta drawn:       {drawn:9.2f} ms added ({drawn / deltas * 1000:.1f} "
        f"µs/draw; {drawn / step_ms * 100:.3f} % of the step: the cost at 8 tokens/s, when "
        "each token is drawn)"
    )
    print(
        f"[{label}] share of the step:       {added / step_ms * 100:9.4f} % of "
        f"{step_ms / 1000:.0f} s ({deltas:,} tokens at {TOKENS_PER_SECOND:g} tokens/s)"
    )
    return {
        "deltas": deltas,
        "view_ms": round(figures["view_ms"], 3),
        "baseline_ms": round(figures["baseline_ms"], 3),
        "added_ms": round(added, 3),
        "percent_of_step": round(added / step_ms * 100, 5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deltas", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-kernel", action="store_true", help="measure in this process only")
    args = parser.parse_args()

    summary = _report("in-process", args.deltas, measure(args.deltas, args.repeat))
    if not args.no_kernel:
        figures = measure_in_kernel(args.deltas, args.repeat)
        if figures is None:
            print("[ipykernel] could not measure inside a kernel; reporting the in-process run")
        else:
            summary = _report("ipykernel", args.deltas, figures)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
