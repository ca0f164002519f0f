"""Accepting an answer rewritten into the task's form: the form may change, the numbers not.

With ``format_answer=True`` the agent asks the model once more, in a short fresh context of the
task and the answer only, to write the answer in the form the task asks for (a template to fill
in, a rounding). There a small model sometimes solves the task anew, or fills a template's other
slots with numbers of its own, or drops the answer for a word of the task. `accepted_rewrite`
therefore keeps a rewrite only if its numbers are the answer's (exactly or rounded, none added,
none dropped) and its words come from the task or the answer: the rewrite can change the form
and the rounding, never the substance.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable
from typing import Any

from ..models import Model, ModelResponse
from .prompts import ANSWER_FORM_SYSTEM, answer_form_request

__all__ = [
    "ANSWER_FORM_MAX_TOKENS",
    "MAX_REWRITE_CHARS",
    "accepted_rewrite",
    "ask_for_task_form",
    "can_rewrite",
    "keeps_numbers",
    "keeps_words",
]

#: The answer-form call writes a short answer: a filled-in template, not a solution.
ANSWER_FORM_MAX_TOKENS = 512

#: A number standing on its own: not part of a name such as ``q1`` or ``x2.y``.
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?!\w)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_WORD = re.compile(r"[^\W\d_]+")
_FENCE = re.compile(r"^```[\w-]*\n(.*?)\n?```$", re.DOTALL)

#: Longer replies are explanations or new solutions, not an answer written in another form.
MAX_REWRITE_CHARS = 1000

#: A reply holding this many leading characters of the task repeats the task: not an answer.
_ECHO_CHARS = 40


def can_rewrite(answer: Any) -> bool:
    """Whether `answer` is text or a real number, the answers the rewrite applies to (a table,
    a figure or a list stays the object it is)."""
    if isinstance(answer, bool):
        return False
    return isinstance(answer, str | numbers.Real)


def _numbers(text: str) -> list[tuple[float, int | None]]:
    """Each number in `text` with its count of decimals (None when written with an exponent)."""
    found = []
    for token in _NUMBER.findall(_THOUSANDS.sub("", text)):
        try:
            value = float(token)
        except ValueError:
            continue
        exponent = "e" in token.lower()
        decimals = None if exponent else len(token.split(".")[1]) if "." in token else 0
        found.append((value, decimals))
    return found


def keeps_numbers(answer: str, rewrite: str) -> bool:
    """Whether the numbers of `rewrite` are those of `answer`, exactly or rounded to the
    decimals the rewrite writes them with: none new, none dropped."""
    given = [value for value, _ in _numbers(answer)]
    written = _numbers(rewrite)
    for value, decimals in written:
        if not any(_same_or_rounded(original, value, decimals) for original in given):
            return False
    for original in given:
        if not any(_same_or_rounded(original, value, decimals) for value, decimals in written):
            return False
    return True


def _same_or_rounded(original: float, value: float, decimals: int | None) -> bool:
    if original == value:
        return True
    if decimals is None:
        return False
    return abs(round(original, decimals) - value) <= 1e-9 * max(1.0, abs(value))


def accepted_rewrite(answer: Any, reply: str, task: str = "") -> str | None:
    """The model's `reply` as the new answer, or None to keep `answer`: None when the reply is
    empty, too long, the same text, repeats the start of `task`, adds or drops a number of
    `answer`, or has a word that is in neither `task` nor `answer` (the form comes from the
    task, the content from the answer)."""
    text = reply.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    if len(text) > 2 and text[0] == text[-1] == "`":
        text = text[1:-1].strip()
    original = str(answer)
    if not text or len(text) > MAX_REWRITE_CHARS or text == original.strip():
        return None
    if not keeps_numbers(original, text):
        return None
    opening = " ".join(task.split())[:_ECHO_CHARS]
    if len(opening) == _ECHO_CHARS and opening in " ".join(text.split()):
        return None
    if not keeps_words(f"{task}\n{original}", text):
        return None
    return text


def keeps_words(source: str, rewrite: str) -> bool:
    """Whether every word of `rewrite` (letters only, any case) is a word of `source`."""
    known = {w.casefold() for w in _WORD.findall(source)}
    return all(w.casefold() in known for w in _WORD.findall(rewrite))


def ask_for_task_form(
    model: Model,
    task: str,
    answer: Any,
    *,
    max_tokens: int,
    stop_when: Callable[[str], bool] | None = None,
) -> tuple[ModelResponse, str | None]:
    """One call of `model` with only `task` and `answer`: its response, and the rewrite to use
    (None: keep `answer`). Model errors propagate; the caller keeps the answer then."""
    messages = [
        {"role": "system", "content": ANSWER_FORM_SYSTEM},
        {"role": "user", "content": answer_form_request(task, str(answer))},
    ]
    response = model.generate(
        messages, max_tokens=min(max_tokens, ANSWER_FORM_MAX_TOKENS), stop_when=stop_when
    )
    return response, accepted_rewrite(answer, response.text, task)
