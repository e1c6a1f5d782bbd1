"""An API worker process of the safety tests' own, for the live-socket checks: chat's ``workers`` fixture is seen
by chat's tests only, and its process and socket names are taken while they run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.chat.live import ApiWorkers
from tests.services import Stack, _spawn, wait_for


class SafetyWorkers(ApiWorkers):
    """``ApiWorkers`` under names of their own (``api-safety-NN``)."""

    def _name(self, n: int) -> str:
        return f"api-safety-{n:02d}"

    def __init__(self, stack: Stack, count: int) -> None:
        self.stack = stack
        self.count = count
        self.sockets = [stack.root / "run" / f"{self._name(n)}.sock" for n in range(count)]
        self.sockets[0].parent.mkdir(parents=True, exist_ok=True)
        for n in range(count):
            self.start(n)

    def start(self, n: int) -> None:
        self.sockets[n].unlink(missing_ok=True)
        log = _spawn(self.stack, self._name(n), self.command(n))
        wait_for(self.sockets[n].exists, f"API worker {n}", log=log)

    def pid(self, n: int) -> int:
        return self.stack.processes[self._name(n)].pid

    def stop(self) -> None:
        for n in range(self.count):
            proc = self.stack.processes.pop(self._name(n), None)
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)


@pytest.fixture(scope="session")
def workers(stack: Stack) -> Iterator[ApiWorkers]:
    started = SafetyWorkers(stack, count=1)
    try:
        yield started
    finally:
        started.stop()
