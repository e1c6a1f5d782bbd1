"""A WebSocket client as the app uses it, and the API worker processes it talks to."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, unix_connect
from websockets.exceptions import ConnectionClosed

from tests.services import Stack, _spawn, wait_for


class ApiWorkers:
    """``count`` uvicorn processes started as supervisord starts them (the api program's command line), named
    ``<name>-NN`` so that several test packages can each run their own."""

    def __init__(self, stack: Stack, count: int, name: str = "api-test") -> None:
        self.stack = stack
        self.count = count
        self.name = name
        self.sockets = [stack.root / "run" / f"{self._name(n)}.sock" for n in range(count)]
        self.sockets[0].parent.mkdir(parents=True, exist_ok=True)
        for n in range(count):
            self.start(n)

    def _name(self, n: int) -> str:
        return f"{self.name}-{n:02d}"

    def command(self, n: int) -> list[str]:
        argv = self.stack.command("api")
        argv[argv.index("--uds") + 1] = str(self.sockets[n])
        return argv

    def start(self, n: int) -> None:
        self.sockets[n].unlink(missing_ok=True)
        log = _spawn(self.stack, self._name(n), self.command(n))
        wait_for(self.sockets[n].exists, f"API worker {n}", log=log)

    def pid(self, n: int) -> int:
        return self.stack.processes[self._name(n)].pid

    def kill(self, n: int) -> None:
        """``kill -9``: no shutdown, no goodbye to its sockets."""
        os.kill(self.pid(n), signal.SIGKILL)
        self.stack.processes[self._name(n)].wait()

    def rss_kb(self, n: int) -> int:
        status = Path(f"/proc/{self.pid(n)}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))

    def stop(self) -> None:
        for n in range(self.count):
            proc = self.stack.processes.pop(self._name(n), None)
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


class Live:
    """One socket: frames received are kept in order; ``next`` takes the first of a type."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.frames: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, workers: ApiWorkers, n: int, token: str | None = None, **options: Any) -> Live:
        connection = await unix_connect(str(workers.sockets[n]), "ws://localhost/api/ws", **options)
        live = cls(connection)
        if token is not None:
            await live.say("auth", token=token)
            ready = await live.next("ready")
            assert ready["data"]["userId"], ready
        return live

    async def say(self, kind: str, **data: Any) -> None:
        await self.connection.send(json.dumps({"type": kind, "data": data}))

    async def next(self, kind: str, timeout: float = 5.0, **matching: Any) -> dict[str, Any]:
        """The first frame of ``kind`` (whose data has ``matching``'s values), waiting for it if need be."""
        async with asyncio.timeout(timeout):
            while True:
                for frame in self.frames:
                    if frame["type"] == kind and all(frame["data"].get(k) == v for k, v in matching.items()):
                        self.frames.remove(frame)
                        return frame
                self.frames.append(json.loads(await self.connection.recv()))

    async def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Everything that arrives within ``seconds`` (and was not taken yet)."""
        with contextlib.suppress(TimeoutError, ConnectionClosed):
            async with asyncio.timeout(seconds):
                while True:
                    self.frames.append(json.loads(await self.connection.recv()))
        taken, self.frames = self.frames, []
        return taken

    async def closed_with(self, timeout: float = 10.0) -> int:
        """The close code the server ended the socket with (the frames before it are kept)."""
        with contextlib.suppress(ConnectionClosed):
            async with asyncio.timeout(timeout):
                while True:
                    self.frames.append(json.loads(await self.connection.recv()))
        assert self.connection.close_code is not None
        return self.connection.close_code

    async def close(self) -> None:
        await self.connection.close()
