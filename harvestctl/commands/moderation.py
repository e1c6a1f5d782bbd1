"""``moderation``: staff work through the appliance's API, from any machine signed in with ``harvestctl login``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from harvestctl import api
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
