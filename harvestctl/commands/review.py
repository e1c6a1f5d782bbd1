"""``moderation queue``, ``next``, ``claim``, ``release``, ``show`` and ``decide``: the review queue worked one verb
at a time through the API, for scripts and for a moderator without a terminal to spare (``review`` is the loop).

A decision needs the item's lease: take one with ``next`` (the most urgent free item) or ``claim``, read the
report with ``show``, then ``decide``. main.py registers these on the ``moderation`` group.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any

import typer

from harvestctl import api, evidence, output
from harvestctl.appliance import Appliance
from harvestctl.errors import CliError, Exit

#: the API's longest suspension
LONGEST_SUSPENSION = dt.timedelta(days=365)
TAKEN_HINT = "another moderator holds it; try `harvestctl moderation next`"
NOT_HELD_HINT = "take it first: `harvestctl moderation next`, or `claim ITEM_ID` from `harvestctl moderation queue`"


class Kind(StrEnum):
    reports = "reports"
    photos = "photos"
    verifications = "verifications"
    appeals = "appeals"


class Decision(StrEnum):
    dismiss = "dismiss"
    warn = "warn"
    restrict = "restrict"
    suspend = "suspend"
    ban = "ban"


class Rule(StrEnum):
    """The rules a decision rests on, in the order the review loop numbers them 1–9."""

    minor_safety = "minor-safety"
    threats = "threats"
    sexual_content = "sexual-content"
    harassment = "harassment"
    hate = "hate"
    scam = "scam"
    spam = "spam"
    fake_profile = "fake-profile"
    other_rules = "other-rules"


RULES = tuple(rule.value for rule in Rule)

KindOption = Annotated[Kind, typer.Option(help="which queue")]


@contextlib.contextmanager
def hinted(hints: dict[int, str]) -> Iterator[None]:
    """Give an API failure the hint that fits this verb; ``api.problem`` words them as "… (HTTP 409)"."""
    try:
        yield
    except CliError as failure:
        for status, hint in hints.items():
            if failure.message.endswith(f"(HTTP {status})"):
                raise CliError(failure.message, hint, failure.code) from None
        raise


def take_next(session: api.Session, kind: str) -> dict[str, Any] | None:
    """Claim the most urgent free item; None when nothing is free."""
    item: dict[str, Any] | None = session.call("POST", "/api/admin/queue/next", params={"kind": kind})
    return item


def claim_item(session: api.Session, item_id: str) -> dict[str, Any]:
    """Claim an item, or renew the lease on one held."""
    with hinted({409: TAKEN_HINT, 404: "it was decided, or never was; `harvestctl moderation queue` lists open items"}):
        item: dict[str, Any] = session.call("POST", f"/api/admin/queue/{item_id}/claim")
    return item


def release_item(session: api.Session, item_id: str) -> None:
    with hinted({409: "its lease is not yours (it ran out, or another moderator holds it): nothing to give back"}):
        session.call("POST", f"/api/admin/queue/{item_id}/release")


def open_items(session: api.Session, kind: str, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = session.get("/api/admin/queue", kind=kind, limit=limit)["items"]
    return items


def fetch_report(session: api.Session, report_id: str) -> dict[str, Any]:
    with hinted({404: "check the id: `harvestctl moderation queue` lists reports by their subject id"}):
        view: dict[str, Any] = session.get(f"/api/admin/reports/{report_id}")
    return view


def send_decision(session: api.Session, report_id: str, body: dict[str, Any]) -> dict[str, Any]:
    hints = {
        409: NOT_HELD_HINT,
        422: "only a suspension takes --until, within 365 days; an erased account can only be dismissed",
    }
    try:
        with hinted(hints):
            decided: dict[str, Any] = session.call("POST", f"/api/admin/reports/{report_id}/decision", json=body)
    except CliError as failure:
        # A 403 here is usually the report about the moderator's own account, not a missing role.
        if "own account" in failure.message:
            raise CliError(
                failure.message, "release it for another moderator: `harvestctl moderation release`"
            ) from None
        raise
    return decided


def suspension_end(text: str, now: dt.datetime) -> dt.datetime:
    """``--until``: a date (midnight UTC) or a date-time; one without a zone is read as UTC."""
    try:
        end = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"{text!r} is not a date", "give --until as 2026-12-31 or 2026-12-31T18:00+01:00") from None
    end = end if end.tzinfo else end.replace(tzinfo=dt.UTC)
    if not now < end <= now + LONGEST_SUSPENSION:
        raise CliError(f"{text} is not within the next 365 days", "a suspension ends in the future, within a year")
    return end


def _item_rows(items: list[dict[str, Any]]) -> list[list[Any]]:
    now = dt.datetime.now(dt.UTC)
    return [
        [
            item["id"],
            evidence.severity(item),
            item["kind"],
            item["subject"],
            evidence.age(item, now),
            evidence.due(item, now),
            evidence.holder(item, now),
        ]
        for item in items
    ]


ITEM_COLUMNS = ["Item", "Severity", "Kind", "Subject", "Age", "SLA due", "Holder"]


def queue(
    ctx: typer.Context,
    kind: KindOption = Kind.reports,
    limit: Annotated[int, typer.Option(min=1, max=200, help="how many items, most urgent first")] = 50,
) -> None:
    """Open items, most urgent first: severity, age, the SLA deadline (OVERDUE once it has passed) and holder."""
    appliance: Appliance = ctx.obj
    with api.Session() as session:
        items = open_items(session, kind.value, limit)
    appliance.out.table(f"Review queue: {kind.value}", ITEM_COLUMNS, _item_rows(items), value=items)
    overdue = sum(item["overdue"] for item in items)
    appliance.out.say(f"{len(items)} open, {overdue} past their SLA" if items else "the queue is empty")


def next_item(ctx: typer.Context, kind: KindOption = Kind.reports) -> None:
    """Claim the most urgent free item; its lease is yours until you decide, release it, or it runs out."""
    appliance: Appliance = ctx.obj
    with api.Session() as session:
        item = take_next(session, kind.value)
    if item is None:
        appliance.out.data(None)
        appliance.out.say("nothing is waiting: every open item is decided or held by someone")
        return
    appliance.out.table("Claimed", ITEM_COLUMNS, _item_rows([item]), value=item)
    appliance.out.say(f"read it with `harvestctl moderation show {item['subject']}`")


def claim(ctx: typer.Context, item_id: Annotated[str, typer.Argument(help="the queue item's id")]) -> None:
    """Claim an item, or renew your lease on it; fails while another moderator holds it."""
    appliance: Appliance = ctx.obj
    with api.Session() as session:
        item = claim_item(session, item_id)
    appliance.out.table("Claimed", ITEM_COLUMNS, _item_rows([item]), value=item)


def release(ctx: typer.Context, item_id: Annotated[str, typer.Argument(help="the queue item's id")]) -> None:
    """Give an item back undecided, for anyone to take."""
    appliance: Appliance = ctx.obj
    with api.Session() as session:
        release_item(session, item_id)
    appliance.out.data({"released": item_id})
    appliance.out.say(f"released {item_id}")


def show(
    ctx: typer.Context, report_id: Annotated[str, typer.Argument(help="the report's id (an item's subject)")]
) -> None:
    """A report with its frozen evidence: profile, photos, the conversation as a transcript, and past strikes."""
    appliance: Appliance = ctx.obj
    with api.Session() as session:
        view = fetch_report(session, report_id)
    appliance.out.data(view)
    if not appliance.out.as_json:
        output.stdout.print(evidence.report(view))


def decide(
    ctx: typer.Context,
    report_id: Annotated[str, typer.Argument(help="the report's id")],
    decision: Annotated[Decision, typer.Argument(help="what to do about it")],
    *,
    rule: Annotated[Rule, typer.Option(help="the rule it rests on; the person is told which")],
    note: Annotated[str, typer.Option(help="the facts in your words; part of the statement the person gets")] = "",
    until: Annotated[str | None, typer.Option(help="suspend: when it ends (a date, or a date-time)")] = None,
) -> None:
    """Decide a report whose item you hold; all but dismiss write a strike and tell the person why."""
    appliance: Appliance = ctx.obj
    body: dict[str, Any] = {"decision": decision.value, "rule": rule.value}
    if note:
        body["note"] = note
    if until is not None:
        body["until"] = suspension_end(until, dt.datetime.now(dt.UTC)).isoformat()
    elif decision is Decision.suspend:
        raise CliError("a suspension needs an end", "add --until 2026-12-31 (at most 365 days ahead)", Exit.BAD_USAGE)
    with api.Session() as session:
        decided = send_decision(session, report_id, body)
    appliance.out.data(decided)
    closed = decided["resolvedReports"]
    also = f"; closed {len(closed)} other open report(s) about the same person" if closed else ""
    appliance.out.say(f"{decision.value} ({rule.value}) on report {report_id}{also}")
