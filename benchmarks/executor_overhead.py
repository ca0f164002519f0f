"""Executor overhead: what the sidecar adds on top of the Jupyter protocol, measured in one run.

Every sidecar figure is measured at each sandbox level (``process`` and ``bwrap``) in the same
run, so their ratios compare like with like. Prints one line per figure, then one JSON object
(the last line): raw_floor_ms, compute_ratio_vs_smolagents, ``levels`` (per level: trivial_ms,
tool_call_ms, first_tool_call_ms, compute_ms, cold_start_ms, prewarmed_first_action_ms) and
the bwrap targets' ratios (bwrap_trivial_vs_floor, bwrap_cold_start_vs_process).

    python benchmarks/executor_overhead.py [--reps 200] [--levels process,bwrap]

The compute comparison needs smolagents (the `bench` extra); without it that ratio is null.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from typing import Any

import zmq
from jupyter_client import KernelManager

from smoldepot_jupyter.kernel import KernelExecutor

COMPUTE_CODE = """
total = 0
for i in range(300_000):
    total += i * i % 7
total
"""


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def raw_floor(reps: int) -> float:
    """Median of a bare execute_request of `1+1`, waiting for reply and idle, nothing else."""
    workdir = tempfile.mkdtemp(prefix="bench-raw-")
    km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(workdir, "k"))
    km.start_kernel(extra_arguments=["--HistoryManager.enabled=False"])
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    shell, iopub = kc.shell_channel.socket, kc.iopub_channel.socket
    poller = zmq.Poller()
    poller.register(shell, zmq.POLLIN)
    poller.register(iopub, zmq.POLLIN)
    times = []
    try:
        for _ in range(reps + 10):
            start = time.perf_counter()
            msg_id = kc.execute("1+1")
            got_reply = got_idle = False
            while not (got_reply and got_idle):
                ready = dict(poller.poll(10_000))
                if shell in ready:
                    reply = kc.shell_channel.get_msg(timeout=0)
                    got_reply = got_reply or reply["parent_header"].get("msg_id") == msg_id
                if iopub in ready:
                    msg = kc.iopub_channel.get_msg(timeout=0)
                    got_idle = got_idle or (
                        msg["parent_header"].get("msg_id") == msg_id
                        and msg["header"]["msg_type"] == "status"
                        and msg["content"]["execution_state"] == "idle"
                    )
            times.append(time.perf_counter() - start)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return statistics.median(times[10:])


def trivial(executor: KernelExecutor, reps: int) -> float:
    """Median round trip of `1+1` through KernelExecutor.run."""
    for _ in range(10):
        executor.run("1+1")
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        executor.run("1+1")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def tool_calls(executor: KernelExecutor, reps: int) -> tuple[float, float]:
    """Per-call cost of bridged calls (median over actions of ten calls each, timed inside the
    sidecar), and the median cost of the first call of an action."""
    code = (
        "import time as _t\n_times = []\n"
        "for _i in range(10):\n"
        "    _s = _t.perf_counter(); noop(_i); _times.append(_t.perf_counter() - _s)\n"
        "print(repr(_times))"
    )
    per_call, first = [], []
    for _ in range(max(reps // 10, 20)):
        execution = executor.run(code)
        times = eval(execution.outputs[0]["text"])  # our own printed list of floats
        per_call.append(sum(times) / len(times))
        first.append(times[0])
    return statistics.median(per_call), statistics.median(first)


def compute(executor: KernelExecutor, reps: int = 5) -> float:
    """Median wall time of the 300k-iteration pure-Python loop through KernelExecutor.run."""
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        execution = executor.run(COMPUTE_CODE)
        times.append(time.perf_counter() - start)
        assert execution.ok, execution.observation()
    return statistics.median(times)


def smolagents_compute(reps: int = 3) -> float | None:
    """The same loop in smolagents' LocalPythonExecutor (an AST interpreter), or None."""
    try:
        from smolagents.local_python_executor import LocalPythonExecutor
    except ImportError:
        return None
    executor = LocalPythonExecutor(additional_authorized_imports=[])
    executor.send_tools({})
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        executor(COMPUTE_CODE)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cold_start(level: str, reps: int = 5) -> float:
    """Median time from KernelExecutor() to a started, set-up sidecar."""
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        executor = KernelExecutor(sandbox=level)
        executor.start()
        times.append(time.perf_counter() - start)
        executor.shutdown()
    return statistics.median(times)


def prewarmed_first_action(level: str, reps: int = 5) -> float:
    """Median time of the first `run` after prewarm() had time to finish in the background."""
    times = []
    for _ in range(reps):
        executor = KernelExecutor(sandbox=level)
        executor.prewarm()
        time.sleep(8)  # the user reads and types while the kernel starts
        start = time.perf_counter()
        executor.run("1+1")
        times.append(time.perf_counter() - start)
        executor.shutdown()
    return statistics.median(times)


def level_figures(level: str, reps: int, floor_ms: float) -> dict[str, float]:
    """The sidecar's figures at one sandbox level."""

    def noop(i: int) -> int:
        """Return i."""
        return i

    figures: dict[str, float] = {}
    with KernelExecutor(sandbox=level) as executor:
        executor.register_tools([noop])
        figures["trivial_ms"] = _ms(trivial(executor, reps))
        ratio = figures["trivial_ms"] / floor_ms
        print(
            f"[{level}] executor trivial round trip: {figures['trivial_ms']} ms "
            f"({ratio:.2f} x floor)"
        )
        per_call, first = tool_calls(executor, reps)
        figures["tool_call_ms"] = _ms(per_call)
        figures["first_tool_call_ms"] = _ms(first)
        print(f"[{level}] bridged tool call: {figures['tool_call_ms']} ms per call (10 per action)")
        print(f"[{level}] first bridged call of an action: {figures['first_tool_call_ms']} ms")
        figures["compute_ms"] = _ms(compute(executor))
    print(f"[{level}] compute-heavy action (300k-iteration loop): {figures['compute_ms']} ms")
    figures["cold_start_ms"] = _ms(cold_start(level))
    print(f"[{level}] cold start to a ready sidecar: {figures['cold_start_ms']} ms")
    figures["prewarmed_first_action_ms"] = _ms(prewarmed_first_action(level))
    print(f"[{level}] first action after prewarm(): {figures['prewarmed_first_action_ms']} ms")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=200, help="repetitions for medians (>=200)")
    parser.add_argument(
        "--levels", default="process,bwrap", help="sandbox levels to measure (process,bwrap)"
    )
    args = parser.parse_args()

    figures: dict[str, Any] = {}
    figures["raw_floor_ms"] = _ms(raw_floor(args.reps))
    print(f"raw protocol floor (1+1, reply+idle): {figures['raw_floor_ms']} ms")
    levels = {}
    for level in args.levels.split(","):
        levels[level] = level_figures(level, args.reps, figures["raw_floor_ms"])
    figures["levels"] = levels
    theirs = smolagents_compute()
    ours = levels[next(iter(levels))]["compute_ms"]
    if theirs is None:
        figures["compute_ratio_vs_smolagents"] = None
        print("smolagents not installed: no compute comparison (pip install -e .[bench])")
    else:
        figures["compute_ratio_vs_smolagents"] = round(theirs * 1000 / ours, 1)
        print(
            f"same loop in smolagents LocalPythonExecutor: {_ms(theirs)} ms "
            f"({figures['compute_ratio_vs_smolagents']} x slower)"
        )
    if "bwrap" in levels:
        bwrap = levels["bwrap"]
        figures["bwrap_trivial_vs_floor"] = round(bwrap["trivial_ms"] / figures["raw_floor_ms"], 3)
        print(f"bwrap trivial round trip: {figures['bwrap_trivial_vs_floor']} x the floor")
        if "process" in levels:
            ratio = bwrap["cold_start_ms"] / levels["process"]["cold_start_ms"]
            figures["bwrap_cold_start_vs_process"] = round(ratio, 3)
            print(f"bwrap cold start: {figures['bwrap_cold_start_vs_process']} x process")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
