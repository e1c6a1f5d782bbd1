"""Forgot-password does the same work whether or not the account exists, so its timing tells nothing.

The work is compared operation by operation (the statements Postgres runs, the commands Valkey runs)
rather than by timing, which would make a flaky test; measure_forgot_password.py reports the medians.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx
import pytest
from piccolo.engine.postgres import PostgresEngine
from valkey.asyncio import Valkey

from tests.factories import register

Work = tuple[list[str], Counter[str]]


def _shape(statement: str) -> str:
    """A statement with its values taken out: what was done, not to whom."""
    return re.sub(r"'(?:[^']|'')*'|\b\d+\b", "?", statement)


async def _valkey_calls(valkey: Valkey) -> Counter[str]:
    stats = await valkey.info("commandstats")
    return Counter({name: int(value["calls"]) for name, value in stats.items()})


async def work_of(
    db: PostgresEngine, valkey: Valkey, monkeypatch: pytest.MonkeyPatch, call: Callable[[], Awaitable[httpx.Response]]
) -> Work:
    """The Postgres statements (in order) and Valkey commands (counted) that one request causes."""
    statements: list[str] = []
    with monkeypatch.context() as patch:
        # Piccolo reports every statement it runs when log_queries is on; record them instead of printing.
        patch.setattr(db, "log_queries", True)
        patch.setattr(PostgresEngine, "print_query", lambda _, query_id, query: statements.append(_shape(query)))
        before = await _valkey_calls(valkey)
        response = await call()
        after = await _valkey_calls(valkey)
    assert response.status_code == 202, response.text
    return statements, after - before


async def test_forgot_password_does_the_same_work_for_an_existing_and_a_missing_account(
    client, db, valkey, monkeypatch
):
    existing = (await register(client))["user"]["email"]
    missing = f"nobody.{existing}"

    def ask(email: str) -> Callable[[], Awaitable[httpx.Response]]:
        return lambda: client.post("/api/auth/forgot-password", json={"email": email})

    await work_of(
        db, valkey, monkeypatch, ask("warm.up@example.com")
    )  # first-call costs (prepared statements) out of the way
    existing_work = await work_of(db, valkey, monkeypatch, ask(existing))
    missing_work = await work_of(db, valkey, monkeypatch, ask(missing))
    assert existing_work[0] and any("job_outbox" in s or "INSERT" in s for s in existing_work[0])
    assert missing_work == existing_work
