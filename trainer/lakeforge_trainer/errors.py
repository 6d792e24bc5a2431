"""Failures the trainer reports with a specific exit code (docs/design.md#the-trainer-protocol)."""

from __future__ import annotations

EXIT_DONE = 0
EXIT_BAD_INPUT = 2
EXIT_PREEMPTED = 75
EXIT_CRASH = 1


class BadInput(Exception):
    """Input the user must fix: retrying cannot help. Exit 2 with an `error` event of kind `bad_input`."""

    def __init__(self, message: str, *, reason: str = "config", file: str | None = None, column: str | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.file = file
        self.column = column


class Preempted(Exception):
    """Raised after a checkpoint was written on SIGTERM/SIGINT/parent death: exit 75."""
