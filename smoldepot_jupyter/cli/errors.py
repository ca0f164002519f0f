"""`CommandError`: what a command reports as one ``smoldepot: error: ...`` line (exit status 2)."""

from __future__ import annotations

__all__ = ["CommandError", "one_line"]


class CommandError(Exception):
    """A command cannot do what was asked (no model, a bad tool path, a missing file or record).
    The message is one line saying what to do; the command exits with status 2."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def one_line(text: object) -> str:
    """`text` on one line: runs of whitespace, newlines included, become single spaces."""
    return " ".join(str(text).split())
