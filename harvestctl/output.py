"""The only module that prints: tables or JSON on stdout, messages and progress on stderr."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


class Output:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def data(self, value: Any) -> None:
        """A verb's result, for scripts: only ever printed with --json."""
        if self.as_json:
            print(json.dumps(value, indent=2, default=str))

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], value: Any = None) -> None:
        """Rows for people, or ``value`` (default: rows as objects) as JSON."""
        if self.as_json:
            keys = [c.lower().replace(" ", "_") for c in columns]
            self.data(value if value is not None else [dict(zip(keys, row, strict=True)) for row in rows])
            return
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        stdout.print(table)

    def say(self, message: str) -> None:
        """A line for people; silent under --json so stdout stays parseable."""
        if not self.as_json:
            stderr.print(message)

    @contextmanager
    def progress(self, description: str) -> Iterator[Any]:
        """A spinner with a live task line on stderr; the caller updates ``description``."""
        columns = [SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()]
        with Progress(*columns, console=stderr, transient=True, disable=self.as_json) as progress:
            task = progress.add_task(description, total=None)
            yield lambda text: progress.update(task, description=text)


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None]) -> str:
    """A series as one line of block characters, lowest to highest; a blank where a value is missing."""
    known = [value for value in values if value is not None]
    low, high = (min(known), max(known)) if known else (0.0, 0.0)
    steps = len(SPARKS) - 1
    return "".join(
        " " if value is None else SPARKS[round((value - low) / (high - low) * steps) if high > low else 0]
        for value in values
    )


def error(message: str, hint: str) -> None:
    stderr.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    if hint:
        stderr.print(f"[dim]hint:[/] {hint}", soft_wrap=True)
