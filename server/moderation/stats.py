"""How the review queues are doing, for ``GET /api/admin/queue/stats``: what waits and for how long, how fast items are
decided, what was decided, and items filed and decided per UTC day.

Time to decision is a queue item's age when it was decided (filed → decided, waiting and reading included); the
outcomes are the decisions in the audit log (reveals, views, claims and releases are not decisions).
"""

from __future__ import annotations

import datetime as dt

import asyncpg

from server.web.schemas import Camel

#: the queue's item kinds, as the queue listing names them
KINDS = {"report": "reports", "photo": "photos", "verification": "verifications", "appeal": "appeals"}
#: audit actions that are decisions, as `<kind>.<decision>`; ban.confirm is a second moderator's approval
DECISIONS = (
    r"^(report\.[a-z]+|photo\.(approve|reject)|verification\.(approve|reject)|appeal\.(uphold|reject)|ban\.confirm)$"
)


class QueueFigures(Camel):
    kind: str
    open: int
    overdue: int
    oldest_seconds: int | None
    #: items decided in the window
    decided: int
    median_seconds_to_decision: float | None


class Day(Camel):
    date: dt.date
    filed: int
    decided: int


class ModerationStats(Camel):
    days: int
    queues: list[QueueFigures]
    #: decisions in the window by audit action (`report.warn`, `photo.reject`, `appeal.uphold`…)
    decisions: dict[str, int]
    per_day: list[Day]


async def figures(connection: asyncpg.Connection, days: int) -> ModerationStats:
    async with connection.transaction(readonly=True):
        await connection.execute("SET LOCAL TIME ZONE 'UTC'")
        today: dt.date = await connection.fetchval("SELECT current_date")
        first = today - dt.timedelta(days=days - 1)
        queues = {
            row["kind"]: row
            for row in await connection.fetch(
                "SELECT kind,"
                " count(*) FILTER (WHERE state = 'open') AS open,"
                " count(*) FILTER (WHERE state = 'open' AND due_at < now()) AS overdue,"
                " extract(epoch FROM now() - min(created_at) FILTER (WHERE state = 'open'))::bigint AS oldest,"
                " count(*) FILTER (WHERE decided_at >= $1) AS decided,"
                " percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - created_at))"
                "   FILTER (WHERE decided_at >= $1) AS median"
                " FROM moderation_queue GROUP BY kind",
                first,
            )
        }
        outcomes = await connection.fetch(
            "SELECT action, count(*) FROM moderation_audit WHERE at >= $1 AND action ~ $2 GROUP BY action ORDER BY action",
            first,
            DECISIONS,
        )
        filed = dict(
            await connection.fetch(
                "SELECT created_at::date, count(*) FROM moderation_queue WHERE created_at >= $1 GROUP BY 1", first
            )
        )
        decided = dict(
            await connection.fetch(
                "SELECT decided_at::date, count(*) FROM moderation_queue WHERE decided_at >= $1 GROUP BY 1", first
            )
        )
    dates = [first + dt.timedelta(days=n) for n in range(days)]
    return ModerationStats(
        days=days,
        queues=[
            QueueFigures(
                kind=name,
                open=queues[kind]["open"] if kind in queues else 0,
                overdue=queues[kind]["overdue"] if kind in queues else 0,
                oldest_seconds=queues[kind]["oldest"] if kind in queues else None,
                decided=queues[kind]["decided"] if kind in queues else 0,
                median_seconds_to_decision=queues[kind]["median"] if kind in queues else None,
            )
            for kind, name in KINDS.items()
        ],
        decisions={row["action"]: row["count"] for row in outcomes},
        per_day=[Day(date=day, filed=filed.get(day, 0), decided=decided.get(day, 0)) for day in dates],
    )
