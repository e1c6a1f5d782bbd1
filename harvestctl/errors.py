"""The CLI's one failure type: a one-line reason, a hint, and a stable exit code."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    BAD_CONFIG = 2
    NOT_ROOT = 3
    NOT_RUNNING = 4
    PROVISION_FAILED = 5
    NOT_READY = 6
    UNHEALTHY = 7
    BAD_USAGE = 64


class CliError(Exception):
    def __init__(self, message: str, hint: str = "", code: Exit = Exit.FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code
