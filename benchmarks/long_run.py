"""Long runs: a 200-step scripted run, with and without a context window, measured in one run.

Prints, for each: the largest prompt sent (characters, and the estimated tokens), how many times
the prompt's prefix changed (a cut that empties prompt caches), host memory growth (tracemalloc
peak over the run, and RSS), and the per-step overhead of the loop (wall time per step of an
action that does nearly nothing). The last line is one JSON object.

    python benchmarks/long_run.py [--steps 200] [--window 32768]
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import tempfile
import time
import tracemalloc
from typing import Any

from smoldepot_jupyter import CodeAgent, ScriptedModel
from smoldepot_jupyter.kernel import KernelExecutor

#: What each step prints: about what a data step shows (a frame's head, a describe()).
_OUTPUT_LINES = 40


def _reply_for(steps: int, prompts: list[list[dict[str, Any]]]):
    def reply(messages: list[dict[str, Any]]) -> str:
        prompts.append(messages)
        turn = len(prompts)
        if turn >= steps:
            return "Thought: done\n```python\nfinal_answer(total)\n```"
        body = (
            f"total = globals().get('total', 0) + {turn}\n"
            f"for i in range({_OUTPUT_LINES}):\n"
            f"    print('step {turn} row', i, 'value', i * {turn})"
        )
        return f"Thought: step {turn}, keep going\n```python\n{body}\n```"

    return reply


def _prefix_changes(prompts: list[list[dict[str, Any]]]) -> int:
    """Calls whose messages do not start with the previous call's messages (a cache miss)."""
    changes = 0
    for before, after in itertools.pairwise(prompts):
        if after[: len(before)] != before:
            changes += 1
    return changes


def measure(steps: int, window: int | None, executor: KernelExecutor) -> dict[str, Any]:
    prompts: list[list[dict[str, Any]]] = []
    agent = CodeAgent(
        [],
        ScriptedModel(_reply_for(steps, prompts)),
        executor=executor,
        max_steps=steps + 5,
        record_dir=tempfile.mkdtemp(prefix="long-run-"),
        context_window=window,
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.perf_counter()
    result = agent.run("Add up the step numbers, one step at a time.")
    wall = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    agent.close()
    sizes = [sum(len(str(m["content"])) for m in p) for p in prompts]
    return {
        "state": result.state,
        "steps": len(prompts),
        "largest_prompt_chars": max(sizes),
        "largest_prompt_tokens_est": max(sizes) // 3,
        "prefix_changes": _prefix_changes(prompts),
        "python_peak_mib": round(peak / 2**20, 1),
        "rss_growth_mib": round((rss_after - rss_before) / 1024, 1),
        "ms_per_step": round(wall * 1000 / len(prompts), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--window", type=int, default=32_768, help="context window in tokens")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    with KernelExecutor() as executor:
        for name, window in (("no_window", None), (f"window_{args.window}", args.window)):
            executor.restart()
            row = measure(args.steps, window, executor)
            figures[name] = row
            print(
                f"{name}: {row['steps']} steps ({row['state']}), largest prompt "
                f"{row['largest_prompt_chars']:,} chars (~{row['largest_prompt_tokens_est']:,} "
                f"tokens), prefix changed {row['prefix_changes']} times, python peak "
                f"{row['python_peak_mib']} MiB, RSS growth {row['rss_growth_mib']} MiB, "
                f"{row['ms_per_step']} ms per step"
            )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
