"""Finds every domain's declaration and runs export and erasure across all of them."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import pkgutil
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey
from valkey.exceptions import ResponseError, ValkeyError

log = logging.getLogger("harvest.privacy")

#: how long an erasure waits for an append-only-file rewrite already under way before starting its own
REWRITE_WAIT_SECONDS = 30.0

Exporter = Callable[[uuid.UUID], Awaitable[dict[str, Any]]]
Eraser = Callable[[uuid.UUID], Awaitable[None]]


@dataclass(frozen=True)
class DomainData:
    name: str
    #: every table the domain owns, whether or not a row can name a person
    tables: tuple[str, ...]
    export: Exporter
    #: runs inside the erasure's transaction; a domain with objects in storage enqueues their deletion
    #: there too, so the objects go exactly when the rows do
    erase: Eraser
    #: erased after the others (the account itself goes last, since other rows point at it)
    last: bool = False
    #: Valkey keys holding copies of the person's data, dropped once the erasure has committed
    cache_keys: Callable[[uuid.UUID], list[str]] = lambda _: []


@cache
def domains() -> tuple[DomainData, ...]:
    top = Path(__file__).resolve().parent.parent
    found = []
    for module in pkgutil.iter_modules([str(top)]):
        if module.ispkg and (top / module.name / "privacy.py").exists():
            found.append(importlib.import_module(f"server.{module.name}.privacy").PRIVACY)
    return tuple(sorted(found, key=lambda d: (d.last, d.name)))


async def export(user_id: uuid.UUID) -> dict[str, Any]:
    return {domain.name: await domain.export(user_id) for domain in domains()}


async def erase(db: PostgresEngine, valkey: Valkey, user_id: uuid.UUID) -> None:
    """Every domain's erasure in one transaction: all of a person's data goes, or none of it does."""
    async with db.transaction():
        for domain in domains():
            await domain.erase(user_id)
    keys = [key for domain in domains() for key in domain.cache_keys(user_id)]
    if keys:
        try:
            await valkey.delete(*keys)
            await _rewrite_append_only_file(valkey)
        except (ValkeyError, OSError):
            log.warning("cache unreachable during erasure; cached copies expire on their own")


async def _rewrite_append_only_file(valkey: Valkey) -> None:
    """Have Valkey rewrite its append-only file after the deletion, so the deleted copies leave its disk.

    A rewrite that forks after the deletion leaves them out, and the files that still hold them are
    removed when it ends. One already under way may have forked before: wait for it, then start another.
    Erasures arriving together share these rewrites rather than starting one each.
    """
    deadline = time.monotonic() + REWRITE_WAIT_SECONDS
    while True:
        persistence = await valkey.info("persistence")
        if not persistence.get("aof_enabled") or persistence.get("aof_rewrite_scheduled"):
            return
        if not persistence["aof_rewrite_in_progress"]:
            # "Already in progress" means another erasure's began after our INFO, so after the deletion.
            with contextlib.suppress(ResponseError):
                await valkey.bgrewriteaof()  # type: ignore[no-untyped-call]
            return
        if time.monotonic() > deadline:
            log.warning("Valkey's append-only file is still being rewritten; erased cache copies wait for the next")
            return
        await asyncio.sleep(0.05)
