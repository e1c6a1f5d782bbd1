"""``/health`` says the process is up; ``/ready`` says every dependency answers (503 naming any that don't)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Controller, Response, get
from litestar.datastructures import State

from server.platform import cache, database
from server.web.problems import problem

Check = Callable[[], Awaitable[None]]


async def _probe(check: Check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await check()
    except Exception as exc:  # noqa: BLE001 - any failure means "down"; the reason is reported
        reason = str(exc) or type(exc).__name__
        return {"ok": False, "error": reason[:200]}
    return {"ok": True, "latencyMs": round((time.perf_counter() - started) * 1000, 1)}


class OpsController(Controller):
    include_in_schema = True
    tags = ["operations"]

    @get("/health", cache_control=None, sync_to_thread=False)
    def health(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/ready")
    async def ready(self, state: State) -> Response[dict[str, Any]]:
        checks: dict[str, Check] = {
            "postgres": lambda: database.ping(state.db),
            "valkey": lambda: cache.ping(state.valkey),
            "storage": state.storage.ping,
        }
        results = dict(zip(checks, await asyncio.gather(*(_probe(c) for c in checks.values())), strict=True))
        down = [name for name, result in results.items() if not result["ok"]]
        if down:
            return problem(503, f"not ready: {', '.join(down)} down", slug="not-ready", checks=results)
        return Response({"status": "ready", "checks": results})
