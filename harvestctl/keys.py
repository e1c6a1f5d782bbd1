"""Single keys from the terminal, as they are pressed: no Enter needed, nothing echoed.

The terminal is put in cbreak mode (not raw) so Ctrl-C still interrupts and output keeps its line endings; it is
restored on the way out whatever happens. Keys typed ahead are kept in order, so a quick moderator's "w4⏎" is
three keys even when they arrive in one read.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import time
import tty
from collections.abc import Callable
from types import TracebackType
from typing import Any

from rich.console import Console

ENTER = "\n"
ESCAPE = "\x1b"
BACKSPACES = ("\x7f", "\b")
#: how often the caller's ``idle`` runs while no key comes (seconds)
TICK = 1.0


class Keys:
    def __init__(self) -> None:
        self.fd = sys.stdin.fileno()
        self._typed: list[str] = []
        self._saved: list[Any] = []

    def __enter__(self) -> Keys:
        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def read(self, idle: Callable[[], None] = lambda: None) -> str:
        """The next key (Enter is "\\n"; an arrow or other escape sequence comes whole); ``idle`` runs about every
        second while waiting. End of input reads as "q"."""
        last = time.monotonic()
        while not self._typed:
            ready, _, _ = select.select([self.fd], [], [], TICK)
            if time.monotonic() - last >= TICK:
                idle()
                last = time.monotonic()
            if not ready:
                continue
            data = os.read(self.fd, 256).decode(errors="replace")
            if not data:
                return "q"
            self._typed.extend("\n" if key == "\r" else key for key in data)
        key = self._typed.pop(0)
        if key == ESCAPE and self._typed[:1] in (["["], ["O"]):
            # An escape sequence (arrows, function keys): one key, ending at its first letter or "~".
            while self._typed:
                part = self._typed.pop(0)
                key += part
                if len(key) > 2 and (part.isalpha() or part == "~"):
                    break
        return key

    def line(self, console: Console, prompt: str, idle: Callable[[], None] = lambda: None) -> str | None:
        """A line typed after ``prompt``, echoed as it is typed (Backspace works); None on Escape."""
        console.print(prompt, end="", markup=False)
        typed = ""
        while (key := self.read(idle)) != ENTER:
            if key == ESCAPE:
                return None
            if key in BACKSPACES:
                if typed:
                    typed = typed[:-1]
                    console.file.write("\b \b")
            elif key.isprintable() and len(key) == 1:
                typed += key
                console.file.write(key)
            console.file.flush()
        return typed.strip()
