"""``stats``: how the app is used, per UTC day, from Postgres — what an operator is asked for on Monday morning.

Active users are accounts that signed in or kept a login alive (a token refresh) that day (``auth_active_days``);
WAU and MAU count each account once over the last 7 and 30 days. The match rate is the day's new matches per
like or superlike given that day. The moderation backlog is what waits in the review queues now, and how much
of it has run past its SLA.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

#: each daily series: its rows per UTC day since $1
_SERIES = {
    "signups": "SELECT created_at::date AS day, count(*) FROM users WHERE created_at >= $1 GROUP BY 1",
    "matches": "SELECT created_at::date AS day, count(*) FROM matches WHERE created_at >= $1 GROUP BY 1",
    "messages": "SELECT created_at::date AS day, count(*) FROM chat_messages WHERE created_at >= $1 GROUP BY 1",
    "likes": "SELECT created_at::date AS day, count(*) FROM swipes WHERE created_at >= $1 AND action <> 'pass' GROUP BY 1",
    "reports": "SELECT created_at::date AS day, count(*) FROM safety_reports WHERE created_at >= $1 GROUP BY 1",
    "active": "SELECT day, count(*) FROM auth_active_days WHERE day >= $1 GROUP BY 1",
}


async def figures(connection: asyncpg.Connection, days: int) -> dict[str, Any]:
    """The last ``days`` UTC days, oldest first, and the figures of now."""
    async with connection.transaction(readonly=True):
        # In UTC for this transaction only, so a timestamp's ::date is its UTC day.
        await connection.execute("SET LOCAL TIME ZONE 'UTC'")
        return await _figures(connection, days)


async def _figures(connection: asyncpg.Connection, days: int) -> dict[str, Any]:
    today = await connection.fetchval("SELECT current_date")
    first = today - dt.timedelta(days=days - 1)
    dates = [first + dt.timedelta(days=n) for n in range(days)]
    series: dict[str, list[Any]] = {}
    for name, query in _SERIES.items():
        by_day = {row["day"]: row["count"] for row in await connection.fetch(query, first)}
        series[name] = [by_day.get(day, 0) for day in dates]
    series["matchRate"] = [
        round(matches / likes, 4) if likes else None
        for matches, likes in zip(series["matches"], series["likes"], strict=True)
    ]
    users = await connection.fetchrow(
        "SELECT count(*) AS total,"
        " (SELECT count(DISTINCT user_id) FROM auth_active_days WHERE day = $1) AS dau,"
        " (SELECT count(DISTINCT user_id) FROM auth_active_days WHERE day > $1 - 7) AS wau,"
        " (SELECT count(DISTINCT user_id) FROM auth_active_days WHERE day > $1 - 30) AS mau"
        " FROM users",
        today,
    )
    backlog = await connection.fetch(
        "SELECT kind, count(*) AS open, count(*) FILTER (WHERE due_at < now()) AS overdue,"
        " extract(epoch FROM now() - min(created_at))::bigint AS oldest_seconds"
        " FROM moderation_queue WHERE state = 'open' GROUP BY kind ORDER BY kind"
    )
    return {
        "days": [day.isoformat() for day in dates],
        "series": series,
        "users": {key: users[key] for key in ("total", "dau", "wau", "mau")},
        "moderation": [
            {
                "kind": row["kind"],
                "open": row["open"],
                "overdue": row["overdue"],
                "oldestSeconds": row["oldest_seconds"],
            }
            for row in backlog
        ],
    }


async def stats(days: int) -> dict[str, Any]:
    from server.platform import database

    async with database.connection(database.engine()) as connection:
        return await figures(connection, days)
