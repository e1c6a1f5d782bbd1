"""``moderation``: staff work through the appliance's API, from any machine signed in with ``harvestctl login``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer

from harvestctl import api, evidence, output, queues
from harvestctl.appliance import Appliance
from harvestctl.errors import CliError, Exit

app = typer.Typer(help="Moderation through the API (sign in first with `harvestctl login`).", no_args_is_help=True)

#: the API's largest page
PAGE_LIMIT = 100
#: hex digits of a pseudonym shown in the table (the whole one is in --json)
SHORT = 12


@app.command()
def audit(
    ctx: typer.Context,
    subject: Annotated[str | None, typer.Option(help="only the entries about this user id")] = None,
    limit: Annotated[int, typer.Option(min=1, help="how many entries, newest first")] = 20,
    verify: Annotated[
        bool, typer.Option("--verify", help="check the whole chain instead; fails naming the first broken seq")
    ] = False,
) -> None:
    """The audit log of staff actions: who (as a pseudonym) did what to whom, newest first."""
    appliance: Appliance = ctx.obj
    with api.Session() as session:
        if verify:
            _verify(appliance, session)
            return
        entries = _entries(session, subject, limit)
    rows = [
        [
            entry["seq"],
            entry["at"],
            entry["action"],
            _short(entry["actor"]),
            _short(entry["subject"]),
            json.dumps(entry["detail"], ensure_ascii=False),
        ]
        for entry in entries
    ]
    appliance.out.table("Audit log", ["Seq", "At", "Action", "Actor", "Subject", "Detail"], rows, value=entries)


def _entries(session: api.Session, subject: str | None, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` entries, following the API's cursors."""
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(entries) < limit:
        page = session.get(
            "/api/admin/audit", limit=min(PAGE_LIMIT, limit - len(entries)), subject=subject, cursor=cursor
        )
        entries.extend(page["items"])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    return entries


def _verify(appliance: Appliance, session: api.Session) -> None:
    result = session.get("/api/admin/audit/verify")
    appliance.out.data(result)
    if not result["ok"]:
        raise CliError(
            f"audit log broken at seq {result['brokenAt']}: {result['reason']} ({result['checked']} entries intact)",
            "the log was altered in the database; keep a copy of it as it is now before anything else",
            Exit.UNHEALTHY,
        )
    appliance.out.say(f"audit log intact: {result['checked']} entries, head {result['head']}")


def _short(pseudonym: str | None) -> str:
    return pseudonym[:SHORT] if pseudonym else "—"


@app.command()
def stats(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(min=1, max=90, help="how many UTC days, today last")] = 7,
) -> None:
    """The review queues: what waits, past its SLA, how fast items are decided, what was decided, and items filed
    and decided per day."""
    appliance: Appliance = ctx.obj
    with api.Session() as session:
        figures = session.get("/api/admin/queue/stats", days=days)
    if appliance.out.as_json:
        appliance.out.data(figures)
        return
    rows = [
        [
            queue["kind"],
            queue["open"],
            f"[bold red]{queue['overdue']}[/]" if queue["overdue"] else "0",
            _seconds(queue["oldestSeconds"]),
            queue["decided"],
            _seconds(queue["medianSecondsToDecision"]),
        ]
        for queue in figures["queues"]
    ]
    columns = ["Queue", "Open", "Past SLA", "Oldest", f"Decided ({days}d)", "Median to decision"]
    appliance.out.table("Review queues", columns, rows)
    appliance.out.table(f"Decisions, last {days} days", ["Decision", "Count"], sorted(figures["decisions"].items()))
    per_day = figures["perDay"]
    appliance.out.table(
        f"Per day, {per_day[0]['date']} to {per_day[-1]['date']} (UTC)",
        ["Items", "Today", "Trend"],
        [
            [label, per_day[-1][key], output.sparkline([day[key] for day in per_day])]
            for key, label in (("filed", "filed"), ("decided", "decided"))
        ],
    )


@app.command()
def appeals(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=200, help="how many, most urgent first")] = 50,
) -> None:
    """Open appeals: the decision each is against, who appeals, age and SLA, and whether the decision was yours
    (then another moderator decides it)."""
    appliance: Appliance = ctx.obj
    now = dt.datetime.now(dt.UTC)
    with api.Session() as session:
        items = queues.open_items(session, queues.Kind.appeals, limit)
        views = [queues.fetch_appeal(session, item["subject"]) for item in items]
    rows = []
    for item, view in zip(items, views, strict=True):
        decided = view["decision"]
        rows.append(
            [
                item["subject"],
                f"{decided['measure']} · {decided['rule'] or '—'}",
                "the person decided about" if view["appellant"] == "affected" else "the reporter",
                evidence.age(item, now),
                evidence.due(item, now),
                evidence.holder(item, now),
                "yes: not yours to decide" if decided["byYou"] else "",
            ]
        )
    value = [view | {"item": item} for item, view in zip(items, views, strict=True)]
    columns = ["Appeal", "Against", "Appellant", "Age", "SLA due", "Holder", "Your decision"]
    appliance.out.table("Open appeals", columns, rows, value=value)
    appliance.out.say(
        f"{len(items)} open; read one with `harvestctl moderation show APPEAL --kind appeals`"
        if items
        else "no appeal waits"
    )


def _seconds(value: float | None) -> str:
    return "—" if value is None else evidence.span(dt.timedelta(seconds=value))
