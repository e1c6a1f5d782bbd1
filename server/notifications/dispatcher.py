"""Sends what is owed when it is due: pushes through their providers, emails through the SMTP relay.

    owed (pending, due) ──claim: attempt recorded, lease──► sending ──provider/relay──► sent · dropped · failed
         ▲                                                    │ 429/5xx/unreachable: again after Retry-After
         └──────── quiet hours: held until they end ◄─────────┘ or a backoff (given up after [push] give_up_hours)

Every worker process runs one dispatcher; they share the table with SKIP LOCKED. A claim commits the attempt
before the request goes out. If the process dies after a provider accepted a push but before its outcome is
written, the lease runs out and another dispatcher sends it again: that is the one window in which a device
can be sent one push twice, and the second carries the same apns-id and the same collapse id / tag as the
first, so the device shows it in the first one's place rather than beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import smtplib
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence

import asyncpg
from piccolo.engine.postgres import PostgresEngine

from server.notifications import email, pushes
from server.notifications.deliveries import CHANNEL, KEEP_DAYS
from server.notifications.preferences import HELD, settled
from server.notifications.providers.base import Outcome, Provider, Push, Verdict
from server.platform import database
from server.platform.mail import Mailer
from server.settings import Settings

log = logging.getLogger("harvest.notifications")

#: an Expo receipt not ready a day after sending is not asked for again
RECEIPT_PATIENCE = dt.timedelta(days=1)

_CLAIM = """
WITH due AS (
    SELECT id FROM notification_deliveries
    WHERE (state = 'pending' AND due_at <= now()) OR (state = 'sending' AND lease_until < now())
    ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE notification_deliveries d
    SET state = 'sending', attempts = d.attempts + 1, lease_until = now() + $2 * interval '1 second'
    FROM due WHERE d.id = due.id
    RETURNING d.*
)
SELECT c.id, c.user_id, c.channel, c.kind, c.topic, c.about, c.message_ids, c.attempts, c.device_id,
       v.token, v.provider
FROM claimed c LEFT JOIN notification_devices v ON v.id = c.device_id
"""

# Each outcome is written only by the claim that made the attempt (its attempt number fences it): a dispatcher
# whose lease ran out must not overwrite what the one that took over found. A digest's sent_at was set when it
# was composed (what it tells is as of then), and is kept.
_SENT = """
UPDATE notification_deliveries SET state = 'sent', sent_at = coalesce(sent_at, now()), lease_until = NULL,
    detail = NULL, receipt = $3, receipt_due_at = CASE WHEN $3::text IS NULL THEN NULL ELSE now() + $4 * interval '1 minute' END
WHERE id = $1 AND state = 'sending' AND attempts = $2
"""

_SETTLE = """
UPDATE notification_deliveries SET state = $3, lease_until = NULL, detail = $4
WHERE id = $1 AND state = 'sending' AND attempts = $2
"""

# Back to pending, due again at $3; if a newer pending one of its device (or person) and topic exists, the ids it
# counts join that one instead, so the device still gets one push for both. $5 takes back the attempt (a hold).
_AGAIN = """
WITH mine AS (
    SELECT id, channel, user_id, device_id, topic, message_ids FROM notification_deliveries
    WHERE id = $1 AND state = 'sending' AND attempts = $2
), merged AS (
    UPDATE notification_deliveries p
    SET message_ids = p.message_ids || ARRAY(SELECT unnest(mine.message_ids) EXCEPT SELECT unnest(p.message_ids)),
        due_at = least(p.due_at, $3)
    FROM mine
    WHERE p.state = 'pending' AND p.channel = mine.channel AND p.topic = mine.topic AND p.id <> mine.id
      AND p.device_id IS NOT DISTINCT FROM mine.device_id AND p.user_id = mine.user_id
    RETURNING p.id
)
UPDATE notification_deliveries d
SET state = CASE WHEN EXISTS (SELECT 1 FROM merged) THEN 'dropped'
                 WHEN $5 = 0 AND d.created_at < now() - $6 * interval '1 hour' THEN 'failed'
                 ELSE 'pending' END,
    detail = CASE WHEN EXISTS (SELECT 1 FROM merged) THEN 'joined a newer push of its topic' ELSE $4 END,
    due_at = $3, lease_until = NULL, attempts = d.attempts - $5
FROM mine WHERE d.id = mine.id
"""

# Emails go out one after another, so a batch of them can outlast its lease: each renews its claim just before it
# is sent, and one that another dispatcher took over meanwhile (its attempt moved on) is left to that one.
_RENEW = """
UPDATE notification_deliveries SET lease_until = now() + $3 * interval '1 second'
WHERE id = $1 AND state = 'sending' AND attempts = $2
RETURNING id
"""

_RECEIPTS_DUE = """
UPDATE notification_deliveries SET receipt_due_at = now() + $2 * interval '1 second'
WHERE id IN (
    SELECT id FROM notification_deliveries WHERE receipt IS NOT NULL AND receipt_due_at <= now()
    ORDER BY receipt_due_at LIMIT $1 FOR UPDATE SKIP LOCKED
)
RETURNING id, receipt, device_id, sent_at
"""


def backoff(attempt: int) -> float:
    """Seconds before trying a provider again that gave no Retry-After: doubling, at most five minutes, spread
    so that many pushes held back by one outage do not all return at once."""
    return min(300.0, 2.0**attempt) * random.uniform(0.8, 1.2)  # noqa: S311 - spreading retries, not a secret


class Dispatcher:
    def __init__(
        self,
        engine: PostgresEngine,
        settings: Settings,
        providers: Mapping[str, Provider],
        mailer: Mailer,
        *,
        batch: int = 200,
        poll_seconds: float = 1.0,
    ) -> None:
        self.engine = engine
        self.push = settings.config.push
        self.providers = providers
        self.mailer = mailer
        self.batch = batch
        self.poll_seconds = poll_seconds
        #: longer than any one round of requests takes (their timeouts are 10 s), so only a dead process loses one
        self.lease_seconds = settings.config.worker.reclaim_after_seconds
        self._told: set[str] = set()

    def _once(self, what: str, message: str) -> None:
        """One log line per process for a standing condition (a provider without credentials, no SMTP relay)."""
        if what not in self._told:
            self._told.add(what)
            log.warning(message)

    async def step(self) -> int:
        """Send one batch of what is due; how many deliveries it took."""
        async with database.connection(self.engine) as connection:
            rows = await connection.fetch(_CLAIM, self.batch, self.lease_seconds)
            if not rows:
                return 0
            settle = _Settler(connection, self.push.give_up_hours, self.push.receipts_minutes)
            await self._pushes(connection, settle, [row for row in rows if row["channel"] == "push"])
            for row in rows:
                if row["channel"] == "email":
                    await self._email(connection, settle, row)
        return len(rows)

    async def _pushes(self, connection: asyncpg.Connection, settle: _Settler, rows: list[asyncpg.Record]) -> None:
        preferences = await settled(connection, list({row["user_id"] for row in rows}))
        now = dt.datetime.now(dt.UTC)
        owed: list[pushes.Owed] = []
        for row in rows:
            person = preferences.get(row["user_id"])
            if row["device_id"] is None or person is None:
                await settle.drop(row, "the device was removed")
            elif person.mode(row["kind"]) != "immediate":
                await settle.drop(row, "the person turned these pushes off")
            elif (until := person.quiet_until(now)) is not None:
                await settle.hold(row, until)
            elif row["provider"] not in self.providers:
                self._once(row["provider"], f"{row['provider']} pushes are skipped: no credentials configured")
                await settle.drop(row, f"{row['provider']} is not configured")
            else:
                owed.append(
                    pushes.Owed(
                        row["id"], row["user_id"], row["kind"], row["topic"], row["about"], list(row["message_ids"]),
                        row["token"], row["provider"],
                    )
                )  # fmt: skip
        composed = await pushes.compose(
            connection, owed, {user_id: person.previews for user_id, person in preferences.items()}
        )
        by_id = {row["id"]: row for row in rows}
        for gone in (item for item in owed if item.id not in composed):
            await settle.drop(by_id[gone.id], "its match has ended")
        by_provider: dict[str, list[Push]] = defaultdict(list)
        for item in owed:
            if item.id in composed:
                by_provider[item.provider].append(composed[item.id])
        # Providers are asked side by side, and each answer is written as soon as it comes: a provider that
        # hangs holds back only its own pushes, and a process that dies meanwhile resends only those.
        await asyncio.gather(
            *(
                self._send(self.providers[name], chunk, settle, by_id)
                for name, queued in by_provider.items()
                for chunk in _chunks(queued, self.providers[name].batch)
            )
        )

    @staticmethod
    async def _send(
        provider: Provider, chunk: Sequence[Push], settle: _Settler, rows: Mapping[uuid.UUID, asyncpg.Record]
    ) -> None:
        try:
            outcomes = await provider.send(chunk)
        except Exception:
            # An answer the client did not expect must not end the worker (and with it every other lane).
            log.exception(
                "push provider answered unexpectedly; its pushes are tried again", extra={"provider": provider.name}
            )
            outcomes = [Outcome(Verdict.RETRY, detail="unexpected answer")] * len(chunk)
        for push, outcome in zip(chunk, outcomes, strict=True):
            await settle.outcome(rows[push.id], outcome)

    async def _email(self, connection: asyncpg.Connection, settle: _Settler, row: asyncpg.Record) -> None:
        if await connection.fetchval(_RENEW, row["id"], row["attempts"], self.lease_seconds) is None:
            return
        if not self.mailer.configured:
            self._once("smtp", "emails are not sent: no SMTP relay configured ([email] smtp_host)")
            await settle.drop(row, "no SMTP relay is configured")
            return
        letter = await email.compose(connection, row["id"], row["user_id"], row["kind"])
        if letter is None:
            await settle.drop(row, "nothing left to tell")
            return
        try:
            await self.mailer.send(letter.to, letter.subject, letter.text, headers=letter.headers)
        except (OSError, smtplib.SMTPException) as exc:
            await settle.outcome(row, Outcome(Verdict.RETRY, detail=f"SMTP: {type(exc).__name__}"))
        else:
            await settle.outcome(row, Outcome(Verdict.SENT))

    async def check_receipts(self) -> int:
        """Ask Expo what became of pushes it accepted: a device it reports gone is removed."""
        expo = self.providers.get("expo")
        receipts: Callable[[Sequence[str]], Awaitable[dict[str, Outcome]]] | None = getattr(expo, "receipts", None)
        if receipts is None:
            return 0
        async with database.connection(self.engine) as connection:
            rows = await connection.fetch(_RECEIPTS_DUE, 1000, self.lease_seconds)
            if not rows:
                return 0
            found = await receipts([row["receipt"] for row in rows])
            now = dt.datetime.now(dt.UTC)
            for row in rows:
                outcome = found.get(row["receipt"])
                if outcome is None and now - row["sent_at"] < RECEIPT_PATIENCE:
                    continue  # not ready yet: asked again when the claim above runs out
                if outcome is not None and outcome.verdict is Verdict.INVALID_TOKEN and row["device_id"]:
                    await connection.execute("DELETE FROM notification_devices WHERE id = $1", row["device_id"])
                await connection.execute(
                    "UPDATE notification_deliveries SET receipt = NULL, receipt_due_at = NULL,"
                    " detail = coalesce($2, detail) WHERE id = $1",
                    row["id"],
                    outcome.detail or None if outcome else "no receipt came",
                )
        return len(rows)

    async def sweep(self) -> int:
        """Forget settled deliveries past their keeping time."""
        async with database.connection(self.engine) as connection:
            status = await connection.execute(
                "DELETE FROM notification_deliveries WHERE id IN (SELECT id FROM notification_deliveries"
                " WHERE state IN ('sent', 'failed', 'dropped') AND created_at < now() - $1 * interval '1 day'"
                " LIMIT 10000)",
                KEEP_DAYS,
            )
        return int(status.split()[-1])

    async def run(self, stop: asyncio.Event) -> None:
        wake = asyncio.Event()
        listener: asyncpg.Connection | None = None
        loop = asyncio.get_running_loop()
        chores_at = 0.0
        while not stop.is_set():
            try:
                if listener is None or listener.is_closed():
                    listener = await self.engine.get_new_connection()
                    await listener.add_listener(CHANNEL, lambda *_: wake.set())
                wake.clear()
                while await self.step() == self.batch:
                    pass
                if loop.time() >= chores_at:
                    chores_at = loop.time() + 30
                    await self.check_receipts()
                    await self.sweep()
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("notification dispatch paused", extra={"error": str(exc)})
            # NOTIFY wakes it for what is owed now; the poll finds what came due (a burst's wait, a retry, quiet
            # hours ending).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=self.poll_seconds)
        if listener is not None:
            await listener.close()
        for provider in self.providers.values():
            await provider.aclose()


def _chunks(items: Sequence[Push], size: int) -> list[Sequence[Push]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class _Settler:
    """Writes each delivery's outcome, fenced by the attempt that made it."""

    def __init__(self, connection: asyncpg.Connection, give_up_hours: int, receipts_minutes: int) -> None:
        self.connection = connection
        #: providers answer side by side, and one connection runs one statement at a time
        self.turn = asyncio.Lock()
        self.give_up_hours = give_up_hours
        self.receipts_minutes = receipts_minutes

    async def drop(self, row: asyncpg.Record, why: str) -> None:
        async with self.turn:
            await self.connection.execute(_SETTLE, row["id"], row["attempts"], "dropped", why)

    async def hold(self, row: asyncpg.Record, until: dt.datetime) -> None:
        async with self.turn:
            await self._again(row, until, HELD, took_back=1)

    async def outcome(self, row: asyncpg.Record, outcome: Outcome) -> None:
        async with self.turn:
            await self._outcome(row, outcome)

    async def _outcome(self, row: asyncpg.Record, outcome: Outcome) -> None:
        if outcome.verdict is Verdict.SENT:
            await self.connection.execute(_SENT, row["id"], row["attempts"], outcome.receipt, self.receipts_minutes)
        elif outcome.verdict is Verdict.INVALID_TOKEN:
            async with self.connection.transaction():
                await self.connection.execute(_SETTLE, row["id"], row["attempts"], "dropped", outcome.detail)
                await self.connection.execute("DELETE FROM notification_devices WHERE id = $1", row["device_id"])
        elif outcome.verdict is Verdict.RETRY:
            wait = outcome.retry_after if outcome.retry_after is not None else backoff(row["attempts"])
            await self._again(row, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait), outcome.detail, took_back=0)
        else:
            await self.connection.execute(_SETTLE, row["id"], row["attempts"], "failed", outcome.detail)

    async def _again(self, row: asyncpg.Record, due: dt.datetime, why: str, *, took_back: int) -> None:
        for _ in range(3):
            try:
                await self.connection.execute(
                    _AGAIN, row["id"], row["attempts"], due, why, took_back, self.give_up_hours
                )
                return
            except asyncpg.UniqueViolationError:
                # A newer pending one of its topic was owed between the merge's look and the write: look again.
                continue
        log.warning("a delivery could not be put back; its lease will return it", extra={"delivery": str(row["id"])})
