"""What ``bench chat --chaos`` does to the appliance while messages flow, and the API workers' memory, read the way
the kernel counts it."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from harvestctl.supervisor import Supervisor


def api_rss(supervisor: Supervisor) -> dict[str, int]:
    """Resident memory of each running API worker, in bytes (``VmRSS`` of ``/proc/<pid>/status``)."""
    found = {}
    for process in supervisor.processes():
        if process.service == "api" and process.pid:
            with open(f"/proc/{process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        found[process.name] = int(line.split()[1]) * 1024
    return found


@dataclass
class Chaos:
    """Kills an API worker (``kill -9``; supervisord starts it again) once a third of the messages are acknowledged,
    and restarts Valkey once two thirds are; notes when each happened and how long the recovery took."""

    supervisor: Supervisor
    messages: int
    events: list[dict[str, Any]] = field(default_factory=list)
    _killed: tuple[str, int, float] | None = None

    def __call__(self, acked: int) -> None:
        if not self.events and acked >= self.messages / 3:
            self._kill_worker(acked)
        elif len(self.events) == 1 and acked >= 2 * self.messages / 3:
            self._restart_valkey(acked)
        self._watch_restart()

    def _kill_worker(self, acked: int) -> None:
        victim = next(p for p in self.supervisor.processes() if p.service == "api" and p.pid)
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        self._killed = (victim.name, victim.pid, time.monotonic())
        self.events.append({"what": f"kill -9 {victim.name} (pid {victim.pid})", "atAcknowledged": acked})

    def _watch_restart(self) -> None:
        """Notes when supervisord has the killed worker running again under a new pid."""
        if self._killed is None:
            return
        name, pid, at = self._killed
        back = [p for p in self.supervisor.processes() if p.name == name and p.state == "RUNNING" and p.pid != pid]
        if back:
            self.events[0]["backAfterSeconds"] = round(time.monotonic() - at, 1)
            self._killed = None

    def _restart_valkey(self, acked: int) -> None:
        started = time.monotonic()
        self.supervisor.stop("valkey")
        self.supervisor.start("valkey")
        self.events.append(
            {"what": "restart valkey", "atAcknowledged": acked, "seconds": round(time.monotonic() - started, 1)}
        )

    def settle(self, timeout: float = 60) -> None:
        """Wait for the killed worker to be back, if it is not yet."""
        deadline = time.monotonic() + timeout
        while self._killed is not None and time.monotonic() < deadline:
            time.sleep(0.5)
            self._watch_restart()
