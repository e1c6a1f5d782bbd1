"""The background job process: ``python -m server.worker``.

It runs the listeners wired in ``server/listeners.py``, every lane in one process; the operator runs more
processes with ``[worker] processes``, and every process also relays committed events from the outbox and
sends the pushes and emails that are due (``server/notifications/dispatcher.py``), and erases banned accounts
past their keeping time (``server/moderation/retention.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket

from server import settings as settings_module
from server.listeners import LISTENERS
from server.moderation import retention
from server.notifications import providers
from server.notifications.dispatcher import Dispatcher
from server.platform import cache, database, logs
from server.platform.events import Lane, Listeners
from server.platform.jobs import DeadLetters, LaneLimits, OutboxRelay, Worker
from server.platform.mail import Mailer
from server.platform.storage import Storage
from server.settings import Settings

log = logging.getLogger("harvest.worker")


def lane_limits(settings: Settings) -> dict[Lane, LaneLimits]:
    worker = settings.config.worker
    return {
        Lane.FAST: LaneLimits(worker.fast_in_flight, worker.fast_time_limit_seconds),
        Lane.HEAVY: LaneLimits(worker.heavy_in_flight or os.cpu_count() or 1, worker.heavy_time_limit_seconds),
    }


async def main() -> None:
    settings = settings_module.current()
    logs.configure(settings.config.logging.level)
    # Checked before anything connects: a clash of listener names stops the process at start-up.
    listeners = Listeners(LISTENERS)
    engine = database.engine()
    await database.open_pool(engine, max_size=8)
    valkey = cache.client_for(settings)
    await cache.ping(valkey)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    dead_letters = DeadLetters(valkey, keep=settings.config.worker.dead_letters_kept)
    worker = Worker(
        valkey,
        listeners,
        consumer=f"{socket.gethostname()}-{os.getpid()}",
        lanes=lane_limits(settings),
        dead_letters=dead_letters,
        claim_idle_ms=settings.config.worker.reclaim_after_seconds * 1000,
    )
    dispatcher = Dispatcher(engine, settings, providers.providers(settings), Mailer(settings))
    try:
        await asyncio.gather(
            worker.run(stop),
            OutboxRelay(valkey, engine, listeners, dead_letters=dead_letters).run(stop),
            dispatcher.run(stop),
            retention.run(engine, valkey, Storage(settings), settings.config.moderation.ban_evidence_days, stop),
        )
    finally:
        await valkey.aclose()
        await database.close_pool(engine)
        log.info("worker stopped")


if __name__ == "__main__":
    asyncio.run(main())
