"""Supervisord's XML-RPC interface over its unix socket: the state of every Harvest process."""

from __future__ import annotations

import time
import xmlrpc.client
from dataclasses import dataclass
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from harvestctl.errors import CliError, Exit

#: start order; stop runs it backwards. Matches the programs' supervisord priorities.
SERVICES = ("postgres", "valkey", "seaweedfs", "api", "worker", "nginx")


@dataclass(frozen=True)
class Process:
    service: str
    name: str
    state: str
    pid: int | None
    uptime_seconds: int | None
    description: str


class Supervisor:
    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        transport = SupervisorTransport(None, None, serverurl=f"unix://{socket_path}")
        self.rpc = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.rpc.supervisor, method)(*args)
        except (OSError, ConnectionError) as exc:
            raise CliError(
                f"supervisord is not running ({self.socket_path}: {exc.strerror or exc})",
                "start the appliance with `harvestctl start`, or converge it with `harvestctl up`",
                Exit.NOT_RUNNING,
            ) from None
        except xmlrpc.client.Fault as fault:
            raise CliError(f"supervisord refused {method}: {fault.faultString}", "see `harvestctl status`") from None

    def alive(self) -> bool:
        try:
            return bool(self._call("getState")["statename"] == "RUNNING")
        except CliError:
            return False

    def processes(self) -> list[Process]:
        found = []
        for info in self._call("getAllProcessInfo"):
            running = info["statename"] == "RUNNING"
            found.append(
                Process(
                    service=info["group"],
                    name=info["name"],
                    state=info["statename"],
                    pid=info["pid"] if running else None,
                    uptime_seconds=info["now"] - info["start"] if running else None,
                    description=info["description"],
                )
            )
        order = {name: i for i, name in enumerate(SERVICES)}
        return sorted(found, key=lambda p: (order.get(p.service, len(order)), p.name))

    def known(self, service: str) -> None:
        if service not in {p.service for p in self.processes()}:
            raise CliError(
                f"no service named {service!r}",
                f"choose one of: {', '.join(SERVICES)} (see `harvestctl status`)",
                Exit.BAD_USAGE,
            )

    def start(self, service: str) -> None:
        self._act("startProcessGroup", service, wanted="RUNNING")

    def stop(self, service: str) -> None:
        self._act("stopProcessGroup", service, wanted="STOPPED")

    def _act(self, method: str, service: str, wanted: str) -> None:
        results = self._call(method, service, True)
        failed = [r for r in results if r["status"] != 80]  # 80 is supervisord's SUCCESS
        if failed:
            raise CliError(f"{service}: {failed[0]['description']}", f"read its log: `harvestctl logs {service}`")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            states = {p.state for p in self.processes() if p.service == service}
            if states == {wanted}:
                return
            time.sleep(0.2)

    def shutdown(self) -> None:
        self._call("shutdown")
