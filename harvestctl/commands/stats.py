"""``harvestctl stats``: how the app is used — sign-ups, active users, matches, messages, the match rate — per day,
with the moderation backlog, read from the appliance's database."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from harvestctl import output
from harvestctl.appliance import Appliance
from harvestctl.evidence import span

#: the daily series as the table names them, in its order
FIGURES = {
    "active": "Active users",
    "signups": "Sign-ups",
    "likes": "Likes given",
    "matches": "Matches",
    "matchRate": "Match rate",
    "messages": "Messages",
    "reports": "Reports filed",
}


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _shown(name: str, value: float | None) -> str:
    if value is None:
        return "—"
    return _share(value) if name == "matchRate" else f"{value:,.0f}"


def _average(values: list[Any]) -> float | None:
    known = [value for value in values if value is not None]
    return sum(known) / len(known) if known else None


def stats(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(min=2, max=365, help="how many UTC days the sparklines cover, today last")] = 30,
) -> None:
    """Sign-ups, active users (DAU/WAU/MAU), likes, matches, the match rate and messages per day, each with a
    sparkline, and what waits for moderators."""
    appliance: Appliance = ctx.obj
    appliance.require_root("stats")
    report = appliance.manage("stats", "--days", str(days))
    if appliance.out.as_json:
        appliance.out.data(report)
        return
    users = report["users"]
    appliance.out.table(
        "Users",
        ["Accounts", "DAU", "WAU", "MAU", "DAU/MAU"],
        [
            [
                f"{users['total']:,}",
                users["dau"],
                users["wau"],
                users["mau"],
                _share(users["dau"] / users["mau"] if users["mau"] else None),
            ]
        ],
    )
    series = report["series"]
    rows = [
        [
            label,
            _shown(name, series[name][-1]),
            _shown(name, _average(series[name][-7:])),
            output.sparkline(series[name]),
        ]
        for name, label in FIGURES.items()
    ]
    first, last = report["days"][0], report["days"][-1]
    appliance.out.table(
        f"Per day, {first} to {last} (UTC)", ["Figure", "Today", "7-day average", f"Last {days} days"], rows
    )
    backlog = [
        [
            row["kind"],
            row["open"],
            f"[bold red]{row['overdue']}[/]" if row["overdue"] else "0",
            span(dt.timedelta(seconds=row["oldestSeconds"] or 0)),
        ]
        for row in report["moderation"]
    ]
    appliance.out.table("Moderation backlog", ["Queue", "Open", "Past SLA", "Oldest"], backlog)
    if not backlog:
        appliance.out.say("nothing waits for a moderator")
