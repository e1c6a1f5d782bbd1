"""The background job process: ``python -m server.worker``.

Handlers are found, not listed: every ``server/<domain>/jobs.py`` that exposes ``HANDLERS``, a mapping from
job kind to an async function taking a ``Job``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import pkgutil
import signal
import socket
from collections.abc import Mapping
from pathlib import Path

from piccolo.engine import engine_finder

from server import settings as settings_module
from server.platform import cache, database, logs
from server.platform.jobs import Handler, OutboxRelay, Worker

log = logging.getLogger("harvest.worker")


def discover_handlers() -> Mapping[str, Handler]:
    handlers: dict[str, Handler] = {}
    root = Path(__file__).parent
    for module in pkgutil.iter_modules([str(root)]):
        if module.ispkg and (root / module.name / "jobs.py").exists():
            jobs = importlib.import_module(f"server.{module.name}.jobs")
            handlers.update(getattr(jobs, "HANDLERS", {}))
    return handlers


async def main() -> None:
    settings = settings_module.current()
    logs.configure(settings.config.logging.level)
    engine = engine_finder()
    await database.open_pool(engine, max_size=8)
    valkey = cache.client_for(settings)
    await cache.ping(valkey)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(
        valkey,
        discover_handlers(),
        consumer=f"{socket.gethostname()}-{os.getpid()}",
        claim_idle_ms=settings.config.worker.reclaim_after_seconds * 1000,
    )
    try:
        await asyncio.gather(worker.run(stop), OutboxRelay(valkey, engine).run(stop))
    finally:
        await valkey.aclose()
        await database.close_pool(engine)
        log.info("worker stopped")


if __name__ == "__main__":
    asyncio.run(main())
