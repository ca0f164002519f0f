"""Fault injection at scale: many runs, at least a hundred faults, through real parts.

Each run is a `CodeAgent` with a real `LiteLLMModel` talking HTTP to the fake OpenAI server of
``tests/fault_server.py``, acting in a real sidecar kernel (one shared by every run that does
not kill it). A seeded plan gives each run one to three faults:

- model faults, retried away or outlasting the retries: HTTP 429, HTTP 5xx, timeouts, streams
  cut off (before any text, or mid-answer), garbage bytes (not UTF-8, not JSON, not HTTP);
- replies a model gets wrong: an empty reply, a reply without code (once, or every reply);
- the sidecar SIGKILLed while an action sleeps;
- the record directory full (a 64 KiB tmpfs, full from the start or filling up mid-run) or
  read-only (a read-only bind mount); skipped, and said so, where mounting is not permitted;
- the host SIGKILLed mid-run (an agent in a child process; `--host-kills` of them).

For every run it checks what the issue "the host never breaks" asks: `agent.run` returned; a
run a fault ended has a state other than success and an error text naming the cause; a fault
the run got past left its trace (a retried request, a step's error, one `RecordWarning`); no
step was lost: the steps the agent emitted (`StepFinished` events) are all in memory and, unless
the record could not be written (and the user was warned), in the record `load_run` reads back.
For a killed host: the steps it had emitted are in its record, which loads as "incomplete", and
its sidecar goes away.

Prints one line per figure, then one JSON object (the last line).

    python benchmarks/faults.py [--runs 60] [--seed 0] [--host-kills 3]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smoldepot_jupyter import CodeAgent, LiteLLMModel, load_run
from smoldepot_jupyter.agents.result import RunResult
from smoldepot_jupyter.events import Event, StepFinished
from smoldepot_jupyter.kernel import KernelExecutor
from smoldepot_jupyter.memory import ActionStep, PlanningStep
from smoldepot_jupyter.records import RecordWarning

REPO = Path(__file__).resolve().parent.parent
RETRIES = 2  # three attempts per model call
TIMEOUT = 0.4  # seconds the model waits for the server
warnings.filterwarnings("ignore", category=DeprecationWarning)


def _load_fault_server() -> Any:
    path = REPO / "tests" / "fault_server.py"
    spec = importlib.util.spec_from_file_location("fault_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fault_server"] = module
    spec.loader.exec_module(module)
    return module


fs = _load_fault_server()


def code(body: str) -> str:
    return f"Thought: go\n```python\n{body}\n```"


# ----------------------------------------------------------------------------- the plan

#: Fault kinds, and whether each can end a run ("fatal") or only be got past ("transient").
MODEL_KINDS = ("http_429", "http_5xx", "timeout", "truncated", "garbage", "empty", "no_code")
RUN_KINDS = ("kernel_kill", "record_full", "record_read_only")
#: What the error text of a run a fatal fault ended must say.
CAUSES = {
    "http_429": ("unavailable", "HTTP 429"),
    "http_5xx": ("unavailable", "HTTP 5"),
    "timeout": ("unavailable", "timed out"),
    "truncated": ("stream broke", "before the reply was complete"),
    "garbage": ("not an OpenAI-style chat completion stream",),
    "empty": ("no answer",),
}


@dataclass
class Fault:
    kind: str
    step: int  # the step (model call) it hits
    fatal: bool = False
    variant: str = ""


@dataclass
class Plan:
    index: int
    steps: int  # normal steps before the final answer
    faults: list[Fault] = field(default_factory=list)

    @property
    def fatal(self) -> Fault | None:
        return next((f for f in self.faults if f.fatal), None)

    def has(self, kind: str) -> Fault | None:
        return next((f for f in self.faults if f.kind == kind), None)


def make_plan(index: int, rng: random.Random, run_kinds: tuple[str, ...]) -> Plan:
    plan = Plan(index, steps=rng.randint(1, 3))
    calls = plan.steps + 1  # model calls of a fault-free run (the last one answers)
    count = rng.choice((1, 2, 2, 3))
    if run_kinds and rng.random() < 0.3:
        kind = rng.choice(run_kinds)
        step = rng.randint(1, plan.steps) if kind == "kernel_kill" else 0
        variant = rng.choice(("from_start", "mid_run")) if kind == "record_full" else ""
        plan.faults.append(Fault(kind, step, variant=variant))
        count -= 1
    fatal_at = None
    if count and rng.random() < 0.4:
        # after the step whose action is killed, so that the kill happens
        kill = plan.has("kernel_kill")
        fatal_at = rng.randint(kill.step + 1 if kill else 1, calls)
        record = plan.has("record_full")
        if record is not None:
            record.variant = "from_start"  # the run may end before outputs fill the disk
        kind = rng.choice(tuple(CAUSES))
        variant = rng.choice(("not_utf8", "not_json", "not_http")) if kind == "garbage" else ""
        plan.faults.append(Fault(kind, fatal_at, fatal=True, variant=variant))
        count -= 1
    last = fatal_at or calls
    taken = {f.step for f in plan.faults if f.kind == "kernel_kill"}
    for _ in range(count):
        kind = rng.choice(MODEL_KINDS)
        step = rng.randint(1, last)
        if kind in ("empty", "no_code") and step in taken:
            continue  # that step's reply is the sleeping action
        variant = rng.choice(("not_utf8", "not_json", "not_http")) if kind == "garbage" else ""
        plan.faults.append(Fault(kind, step, variant=variant))
    plan.faults.sort(key=lambda f: (f.step, f.fatal))
    return plan


def _garbage(variant: str) -> Any:
    if variant == "not_json":
        return fs.Garbage(data=b"data: {this is not json\n\n")
    if variant == "not_http":
        return fs.Garbage(data=b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", http=False)
    return fs.Garbage(data=b"\x00\xff\xfe\x89PNG\r\n\x1a\n")


def _failing(fault: Fault, times: int, rng: random.Random) -> list[Any]:
    """`times` failing answers of `fault`'s kind (each a retryable failure)."""
    if fault.kind == "http_429":
        return [fs.Failure(429, "rate limit reached")] * times
    if fault.kind == "http_5xx":
        return [fs.Failure(rng.choice((500, 502, 503)), "upstream trouble")] * times
    if fault.kind == "timeout":
        return [fs.Reply(code("final_answer(0)"), delay=TIMEOUT * 4)] * times
    if fault.kind == "garbage":
        return [_garbage(fault.variant)] * times
    if fault.kind == "truncated":  # cut before any text: retried
        return [fs.Truncated(code("final_answer(0)"), after=1)] * times
    raise ValueError(fault.kind)


@dataclass
class Script:
    items: list[Any]
    requests: int  # the requests the run will make
    max_steps: int
    default: Any = None  # the server's answer once the items are used up
    output: Any = None  # the answer of a run that succeeds
    record_output: int = 0  # characters each normal step prints (to fill a disk)


def script_for(plan: Plan, rng: random.Random) -> Script:
    """The server items of `plan`, and what the run should then do."""
    answer = f"answer-{plan.index}"
    fill = 40_000 if (f := plan.has("record_full")) and f.variant == "mid_run" else 0
    kill = plan.has("kernel_kill")
    items: list[Any] = []
    steps_used = 0
    for call in range(1, plan.steps + 2):
        budget = RETRIES  # failures this call may see and still succeed
        for fault in [f for f in plan.faults if f.step == call and f.kind in MODEL_KINDS]:
            if fault.kind in ("empty", "no_code") and not fault.fatal:
                text = "" if fault.kind == "empty" else "I think the answer is near."
                items.append(fs.Reply(text))  # a step of its own, without code
                steps_used += 1
                budget = RETRIES  # the next model call retries afresh
            elif fault.kind == "truncated" and fault.fatal:
                items.append(fs.Truncated(code("print('half')\nprint('rest')"), after=4))
                return Script(items, len(items), steps_used + 2)
            elif fault.kind == "empty" and fault.fatal:
                budget = steps_used + 2
                return Script(items, len(items) + budget - steps_used + 1, budget, fs.Reply(""))
            elif fault.fatal:  # the failures that outlast the retries are all of its kind
                items += _failing(fault, budget + 1, rng)
                return Script(items, len(items), steps_used + 2)
            elif budget == 0:  # one more would end the run: not a fault this run gets past
                plan.faults.remove(fault)
            else:
                times = rng.randint(1, budget)
                budget -= times
                items += _failing(fault, times, rng)
        steps_used += 1
        if call <= plan.steps:
            if kill is not None and kill.step == call:
                body = "print('sleeping', flush=True)\nimport time\ntime.sleep(30)"
            else:
                body = f"v{call} = {call} * 7\nprint('step {call}', v{call}"
                body += f", 'x' * {fill})" if fill else ")"
            items.append(fs.Reply(code(body)))
        else:
            items.append(fs.Reply(code(f"final_answer({answer!r})")))
    return Script(items, len(items), steps_used + 1, output=answer, record_output=fill)


# ----------------------------------------------------------------------------- running


@dataclass
class Tally:
    faults: Counter = field(default_factory=Counter)
    runs: int = 0
    runs_ended_by_fault: int = 0
    ended_clearly: int = 0
    runs_got_past_faults: int = 0
    got_past_with_trace: int = 0
    steps_emitted: int = 0
    steps_lost_memory: int = 0
    steps_lost_record: int = 0
    steps_unrecorded_warned: int = 0
    record_warnings: int = 0
    observer_warnings: int = 0
    raised: int = 0
    problems: list[str] = field(default_factory=list)
    host_kills: int = 0
    host_steps_emitted: int = 0
    host_steps_lost: int = 0
    host_records_incomplete: int = 0
    host_sidecars_orphaned: int = 0

    def problem(self, plan: Plan | None, text: str) -> None:
        faults = [(f.kind, f.step, f.fatal) for f in plan.faults] if plan else []
        where = f"run {plan.index} {faults}" if plan else "killed"
        self.problems.append(f"{where}: {text}")


class Mounts:
    """The full and read-only record directories, or why there are none."""

    def __init__(self, root: Path) -> None:
        self.full = root / "full"
        self.read_only = root / "read-only"
        self.mounted: list[Path] = []
        self.reason = ""
        try:
            self.full.mkdir()
            self.read_only.mkdir()
            self._mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(self.full))
            self._mount("--bind", str(self.read_only), str(self.read_only))
            self._mount("-o", "remount,ro,bind", str(self.read_only))
        except (OSError, RuntimeError) as exc:
            self.reason = str(exc)

    def _mount(self, *args: str) -> None:
        done = subprocess.run(["mount", *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"mount {' '.join(args)}: {done.stderr.strip() or done.returncode}")
        target = Path(args[-1])
        if target not in self.mounted:
            self.mounted.append(target)

    def prepare_full(self, from_start: bool) -> None:
        for path in self.full.iterdir():
            path.unlink()
        if from_start:
            with contextlib.suppress(OSError), open(self.full / "filler", "wb") as filler:
                filler.write(b"\0" * 64 * 1024)

    def close(self) -> None:
        for target in reversed(self.mounted):
            if subprocess.run(["umount", str(target)], capture_output=True).returncode:
                subprocess.run(["umount", "-l", str(target)], capture_output=True)


def run_one(
    plan: Plan,
    rng: random.Random,
    server: Any,
    model: LiteLLMModel,
    executor: KernelExecutor,
    records: Path,
    mounts: Mounts,
    tally: Tally,
) -> None:
    script = script_for(plan, rng)
    with server._lock:
        server._queue.clear()
    server.requests.clear()
    server.default = script.default or fs.Failure(500, "no reply scripted for this request")
    server.script(*script.items)
    record_dir = records
    record_fault = plan.has("record_full") or plan.has("record_read_only")
    if plan.has("record_full"):
        mounts.prepare_full(plan.has("record_full").variant == "from_start")
        record_dir = mounts.full
    elif plan.has("record_read_only"):
        record_dir = mounts.read_only
    for fault in plan.faults:
        tally.faults[fault.kind + (":fatal" if fault.fatal else "")] += 1

    agent = CodeAgent(
        [], model, executor=executor, max_steps=script.max_steps, record_dir=record_dir
    )
    agent.step_timeout = 60
    events: list[Event] = []
    killed: list[int] = []

    def observe(event: Event) -> None:
        events.append(event)
        if (
            event.kind == "output_added"
            and not killed
            and "sleeping" in str(getattr(event, "output", {}).get("text", ""))
        ):
            killed.append(executor.pid)
            os.kill(killed[-1], signal.SIGKILL)

    agent.subscribe(observe)
    tally.runs += 1
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            result = agent.run(f"Run {plan.index}: find the answer.")
    except BaseException as exc:  # the one thing that must never happen
        tally.raised += 1
        tally.problem(plan, f"agent.run raised {type(exc).__name__}: {exc}")
        return
    finally:
        agent.close()
    assert isinstance(result, RunResult)
    record_warnings = [w for w in caught if issubclass(w.category, RecordWarning)]
    tally.record_warnings += len(record_warnings)
    tally.observer_warnings += sum(1 for w in caught if w.category.__name__ == "ObserverWarning")
    check_steps(plan, result, events, record_warnings, bool(record_fault), tally)
    check_outcome(plan, script, result, server, record_warnings, tally)


def check_steps(
    plan: Plan,
    result: RunResult,
    events: list[Event],
    record_warnings: list[Any],
    record_fault: bool,
    tally: Tally,
) -> None:
    emitted = [e.step for e in events if isinstance(e, StepFinished)]
    tally.steps_emitted += len(emitted)
    in_memory = [s.to_dict() for s in result.steps if isinstance(s, ActionStep | PlanningStep)]
    lost = [s for s in emitted if s not in in_memory]
    tally.steps_lost_memory += len(lost)
    if lost or len(in_memory) != len(emitted):
        tally.problem(plan, f"{len(emitted)} steps emitted, {len(in_memory)} in memory")
    try:
        recorded = [s.to_dict() for s in load_run(result.record_path).steps]
    except Exception as exc:  # a record that could not even start
        if not (record_fault and record_warnings):
            tally.problem(plan, f"record unreadable without a warning: {exc}")
        recorded = []
    missing = sum(1 for s in emitted if s not in recorded)
    if record_fault and record_warnings:
        tally.steps_unrecorded_warned += missing
    else:
        tally.steps_lost_record += missing
        if missing:
            tally.problem(plan, f"{missing} of {len(emitted)} steps missing from the record")


def check_outcome(
    plan: Plan,
    script: Script,
    result: RunResult,
    server: Any,
    record_warnings: list[Any],
    tally: Tally,
) -> None:
    traces = run_level_traces(plan, result, record_warnings)
    if len(server.requests) != script.requests:  # each scripted fault was served, no more
        traces.append(f"{len(server.requests)} requests, {script.requests} planned")
    fatal = plan.fatal
    if fatal is not None:
        tally.runs_ended_by_fault += 1
        expected = "max_steps" if fatal.kind == "empty" else "error"
        error = result.error or ""
        named = all(cause.lower() in error.lower() for cause in CAUSES[fatal.kind])
        if result.state != expected or not named:
            tally.problem(plan, f"ended {result.state!r} with error {error!r}")
        elif traces:
            tally.problem(plan, "; ".join(traces))
        else:
            tally.ended_clearly += 1
        return
    tally.runs_got_past_faults += 1
    if (result.state, result.output, result.error) != ("success", script.output, None):
        tally.problem(plan, f"expected success, got {result.state!r} {result.error!r}")
        return
    actions = [s for s in result.steps if isinstance(s, ActionStep)]
    if any(f.kind in ("empty", "no_code") for f in plan.faults):
        without_code = sum(1 for a in actions if a.error == "the reply had no code block")
        planned = sum(1 for f in plan.faults if f.kind in ("empty", "no_code"))
        if without_code != planned:
            traces.append(f"{without_code} steps without code, {planned} planned")
    if traces:
        tally.problem(plan, "; ".join(traces))
    else:
        tally.got_past_with_trace += 1


def run_level_traces(plan: Plan, result: RunResult, record_warnings: list[Any]) -> list[str]:
    """What is missing of the traces a killed sidecar or an unwritable record must leave."""
    traces = []
    actions = [s for s in result.steps if isinstance(s, ActionStep)]
    if plan.has("kernel_kill") and not any("KernelRestarted" in (a.error or "") for a in actions):
        traces.append("no step says the kernel was restarted")
    if plan.has("record_full") or plan.has("record_read_only"):
        reason = "No space left" if plan.has("record_full") else "Read-only file system"
        if len(record_warnings) != 1 or reason not in str(record_warnings[0].message):
            traces.append(f"{len(record_warnings)} record warnings, expected one ({reason})")
    elif record_warnings:
        traces.append(f"unexpected record warnings: {record_warnings[0].message}")
    return traces


# ----------------------------------------------------------------------------- killed hosts

HOST_SCRIPT = """
import sys
from smoldepot_jupyter import CodeAgent, ScriptedModel

def code(body):
    return "Thought: go\\n```python\\n" + body + "\\n```"

steps = int(sys.argv[2])
replies = [code(f"v{i} = {i}\\nprint('step', v{i})") for i in range(1, steps + 1)]
replies.append(code("print('sleeping', flush=True)\\nimport time\\ntime.sleep(120)"))
agent = CodeAgent([], ScriptedModel(replies), record_dir=sys.argv[1])

def report(event):
    if event.kind == "run_started":
        print("RECORD", agent.recorder.path_for(event.run_id), flush=True)
    elif event.kind == "step_finished":
        print("STEP", event.step.get("step_number"), flush=True)
    elif event.kind == "output_added" and "sleeping" in str(event.output.get("text", "")):
        print("SIDECAR", agent.executor.pid, flush=True)

agent.subscribe(report)
agent.run("Some steps, the last one slow.")
"""


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("State:"):
                return "Z" in line
    return False


def kill_a_host(index: int, rng: random.Random, records: Path, tally: Tally) -> None:
    """Run an agent in a child process, SIGKILL it mid-run, check its record and sidecar."""
    steps = rng.randint(1, 3)
    tally.faults["host_kill"] += 1
    tally.host_kills += 1
    host = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOST_SCRIPT), str(records), str(steps)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    record_path, sidecar, seen = None, None, []
    try:
        assert host.stdout is not None
        for line in host.stdout:
            word, _, rest = line.strip().partition(" ")
            if word == "RECORD":
                record_path = rest
            elif word == "STEP":
                seen.append(int(rest))
            elif word == "SIDECAR":
                sidecar = int(rest)
                break
        os.kill(host.pid, signal.SIGKILL)
        host.wait(timeout=30)
        tally.host_steps_emitted += len(seen)
        if record_path is None or sidecar is None:
            tally.problem(None, f"host {index} never reached its slow step")
            return
        record = load_run(record_path)
        recorded = [s.step_number for s in record.steps if isinstance(s, ActionStep)]
        tally.host_steps_lost += sum(1 for n in seen if n not in recorded)
        if record.state == "incomplete" and not record.complete:
            tally.host_records_incomplete += 1
        else:
            tally.problem(None, f"host {index}: record state {record.state!r}")
        deadline = time.monotonic() + 20
        while not _gone(sidecar) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _gone(sidecar):
            tally.host_sidecars_orphaned += 1
            tally.problem(None, f"host {index}: sidecar {sidecar} outlived its host")
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        if sidecar is not None and not _gone(sidecar):
            with contextlib.suppress(OSError):
                os.kill(sidecar, signal.SIGKILL)


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=60, help="agent runs with faults")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault plan")
    parser.add_argument("--host-kills", type=int, default=3, help="hosts SIGKILLed mid-run")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()
    tally = Tally()
    root = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    mounts = Mounts(root)
    run_kinds = RUN_KINDS if not mounts.reason else ("kernel_kill",)
    if mounts.reason:
        print(f"record-directory faults skipped: {mounts.reason}")
    executor = KernelExecutor(default_timeout=60, interrupt_grace=2.0)
    try:
        with fs.FaultyOpenAIServer() as server:
            model = LiteLLMModel(
                "openai/fault-bench",
                api_base=server.base_url,
                api_key="sk-bench-not-real",
                num_retries=RETRIES,
                retry_base_delay=0.005,
                timeout=TIMEOUT,
            )
            executor.start()
            for index in range(args.runs):
                plan = make_plan(index, rng, run_kinds)
                run_one(plan, rng, server, model, executor, root / "runs", mounts, tally)
        for index in range(args.host_kills):
            kill_a_host(index, rng, root / "host-runs", tally)
    finally:
        executor.shutdown()
        mounts.close()
        shutil.rmtree(root, ignore_errors=True)
    seconds = time.monotonic() - started

    injected = sum(tally.faults.values())
    print(f"runs: {tally.runs} agent runs + {tally.host_kills} killed hosts, seed {args.seed}")
    print(f"faults injected: {injected}")
    for kind, count in sorted(tally.faults.items()):
        print(f"  {kind}: {count}")
    print(f"agent.run raised: {tally.raised}")
    print(
        f"runs a fault ended: {tally.runs_ended_by_fault}, with a clear message: "
        f"{tally.ended_clearly}"
    )
    print(
        f"runs that got past their faults: {tally.runs_got_past_faults}, succeeded with the "
        f"fault's trace: {tally.got_past_with_trace}"
    )
    print(f"steps emitted: {tally.steps_emitted} (+ {tally.host_steps_emitted} by killed hosts)")
    print(f"steps lost from memory: {tally.steps_lost_memory}")
    print(f"steps lost from records: {tally.steps_lost_record + tally.host_steps_lost}")
    print(
        f"steps not recorded on a full / read-only disk (user warned): "
        f"{tally.steps_unrecorded_warned}; record warnings: {tally.record_warnings}"
    )
    print(
        f"killed hosts: records loading as incomplete {tally.host_records_incomplete}/"
        f"{tally.host_kills}, sidecars orphaned {tally.host_sidecars_orphaned}"
    )
    print(f"observer warnings: {tally.observer_warnings}")
    for problem in tally.problems[:20]:
        print(f"PROBLEM {problem}")
    print(f"wall time: {seconds:.1f} s")
    figures = {
        "runs": tally.runs,
        "host_kills": tally.host_kills,
        "faults_injected": injected,
        "faults_by_kind": dict(sorted(tally.faults.items())),
        "run_raised": tally.raised,
        "runs_ended_by_fault": tally.runs_ended_by_fault,
        "ended_with_clear_message": tally.ended_clearly,
        "runs_got_past_faults": tally.runs_got_past_faults,
        "got_past_with_trace": tally.got_past_with_trace,
        "steps_emitted": tally.steps_emitted + tally.host_steps_emitted,
        "steps_lost": tally.steps_lost_memory + tally.steps_lost_record + tally.host_steps_lost,
        "steps_unrecorded_warned": tally.steps_unrecorded_warned,
        "record_warnings": tally.record_warnings,
        "host_sidecars_orphaned": tally.host_sidecars_orphaned,
        "record_faults_skipped": mounts.reason or None,
        "problems": len(tally.problems),
        "seconds": round(seconds, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
