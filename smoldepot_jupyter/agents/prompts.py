"""The words the agents send: system prompts and the few fixed user messages.

System prompts depend only on the tools and options, never on the task, time or run, so they are
byte-identical across runs and provider prompt caches hit. Planning and the max-steps best-answer
request are appended user messages, not another system prompt, for the same reason.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ..tools import Tool

__all__ = [
    "ANSWER_FORM_SYSTEM",
    "CODE_FOLLOW_UP",
    "NO_PROGRESS_REQUEST",
    "answer_form_request",
    "best_answer_request",
    "code_system_prompt",
    "final_answer_rejected",
    "json_system_prompt",
    "planning_request",
]

_CODE_INTRO = """\
You are an expert assistant who solves tasks by writing Python code, one step at a time.

At each step, answer with "Thought:" and one or two sentences on what you will do next and \
why, then one ```python block holding the code of this step (see the example below).

The code runs in a persistent Python session (a Jupyter kernel): variables, imports and \
functions you define stay available in later steps. What the code prints, and the value of its \
last line, comes back to you as the "Observation" of the step. Print what you need to see, and \
keep it short (e.g. `df.head()`, `len(items)`), since long output is cut.

When you know the answer, call `final_answer(answer)` in a code block. It ends the task; nothing \
after it runs. Give the answer in the form the task asks for: when the task shows an answer \
format or template, pass that template filled in with your values, as one string; otherwise a \
number, a short string, a list...

Rules:
- Always write a Thought and exactly one ```python block, then stop and wait for the Observation.
- Never invent an Observation, and never guess a value you can compute or look up: run code.
- Print a tool's result and look at it before writing code that depends on its form (its \
keys, its wording, whether it is empty).
- Tools are ordinary Python functions here: call them with the arguments shown. Do not redefine \
them or assign to their names.
- If a step fails, read the error, fix its cause, and try something different.
"""

_CODE_EXAMPLE = """\
Example:
New task:
What is the sum of the squares of the numbers from 1 to 10?

Thought: I will compute it directly.
```python
total = sum(n * n for n in range(1, 11))
print(total)
```
Observation:
385

Thought: The sum is 385.
```python
final_answer(385)
```
"""

_JSON_INTRO = """\
You are an expert assistant who solves tasks by calling tools, one step at a time.

At each step, call one or more tools. If you cannot call tools natively, answer with a short \
Thought and then a JSON block, exactly like this:
```json
{"name": "tool_name", "arguments": {"argument": "value"}}
```
(a list of such objects calls several tools at once). The results come back as the \
"Observation" of the step. When you know the answer, call the tool `final_answer` with \
`{"answer": ...}`; that ends the task. Give the answer in the form the task asks for: when the \
task shows an answer format or template, the answer is that template filled in, as one string.

Rules:
- Only call the tools listed below, with the arguments they take.
- Never invent an Observation, and never guess a value a tool can give you.
- If a call fails, read the error, fix the arguments, and try something different.
"""


CODE_FOLLOW_UP = (
    "Reply with a Thought and one ```python block: code for the next step, or "
    "final_answer(...) if this gives the answer."
)
"""Ends every observation a code agent reads: small models that see a result often answer in
prose, with no code, and then start over; this line turned such replies into final_answer calls
(BENCHMARKS.md, "Changes made")."""


NO_PROGRESS_REQUEST = (
    "Your last steps ran the same code with the same outcome, so more steps will not find "
    "anything new. From what you found so far, give your best final answer now, as a Thought "
    "and a ```python block that calls final_answer(...). If you are unsure, say so in the answer."
)
"""Sent as its own user message after the same action ran three times in a row with the same
outcome: notes and sampling did not move the 1.5B model out of such loops, this request did
(BENCHMARKS.md, "Changes made"). Without numbers: "three steps" made it answer 3."""


def _imports_line(authorized_imports: Collection[str] | None) -> str:
    if authorized_imports is None or "*" in authorized_imports:
        return "- You may import any installed Python module."
    allowed = ", ".join(sorted(authorized_imports)) or "none"
    return f"- You may import only these modules (and their submodules): {allowed}."


def code_system_prompt(
    tools: Sequence[Tool],
    authorized_imports: Collection[str] | None = None,
    instructions: str | None = None,
) -> str:
    """The CodeAgent's system prompt: how to act, the tools as Python signatures with
    docstrings, the allowed imports and the user's own instructions."""
    parts = [_CODE_INTRO.rstrip("\n"), _imports_line(authorized_imports), ""]
    if tools:
        parts.append("The tools, callable in your code:")
        parts.append("```python")
        parts.append("\n\n".join(t.to_code_prompt() for t in tools))
        parts += ["```", ""]
    parts.append(_CODE_EXAMPLE.rstrip("\n"))
    if instructions and instructions.strip():
        parts += ["", "Further instructions:", instructions.strip()]
    return "\n".join(parts)


def json_system_prompt(tools: Sequence[Tool], instructions: str | None = None) -> str:
    """The ToolCallingAgent's system prompt: how to call tools, and each tool's signature."""
    parts = [_JSON_INTRO.rstrip("\n"), "", "The tools:"]
    for t in tools:
        parts.append(f"- {t.code_signature().removeprefix('def ').rstrip(':')}")
        description = " ".join(t.description.split())
        parts.append(f"  {description}")
        for arg, info in t.inputs.items():
            parts.append(f"    {arg}: {' '.join(str(info.get('description', '')).split())}")
    if instructions and instructions.strip():
        parts += ["", "Further instructions:", instructions.strip()]
    return "\n".join(parts)


def planning_request(steps_left: int, first: bool) -> str:
    """The user message asking for a plan before the next step (no code in the answer)."""
    what = "Before you start" if first else "Before you continue"
    return (
        f"{what}, write a short plan. Do not write code in this answer.\n"
        "1. Facts given in the task.\n"
        "2. Facts to find out (and how).\n"
        "3. The plan: numbered steps that lead to the answer.\n"
        f"You have {steps_left} step{'s' if steps_left != 1 else ''} left."
    )


def best_answer_request(code: bool) -> str:
    """The user message of the last model call after max_steps: give the best answer now."""
    how = (
        "a Thought and a ```python block that calls final_answer(...)"
        if code
        else 'a call to the tool final_answer with {"answer": ...}'
    )
    return (
        "You have used all your steps. From what you found so far, give your best final answer "
        f"now, as {how}. If you are unsure, say so in the answer."
    )


def final_answer_rejected(reason: str) -> str:
    """Appended to the observation when a final-answer check refused the answer."""
    return (
        f"Your final answer was not accepted: {reason}\n"
        "Fix what the check points at, then call final_answer again."
    )


ANSWER_FORM_SYSTEM = (
    "You rewrite an answer in the form a task asks for. Reply with the rewritten answer only."
)
"""System prompt of the answer-form call (`format_answer=True`): a short, fresh context of task
and answer only, where a small model follows the task's wording far better than at the end of
a long run (BENCHMARKS.md, "Changes made")."""


def answer_form_request(task: str, answer: str) -> str:
    """The user message of the answer-form call: the task, the answer found, what to do."""
    return (
        f"Task:\n{task}\n\nAnswer found: {answer}\n\n"
        "Rewrite the answer found in the form the task asks for. If the task gives an answer "
        "format, copy that format exactly, with all its symbols, and replace each placeholder "
        "in it with its value, rounded as the task says."
    )
