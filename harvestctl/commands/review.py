"""``moderation queue``, ``next``, ``claim``, ``release``, ``show`` and ``decide``: the review queues worked one verb
at a time through the API, for scripts and for a moderator without a terminal to spare (``review`` is the loop).

A decision needs the item's lease: take one with ``next`` (the most urgent free item) or ``claim``, read its
subject with ``show``, then ``decide``. main.py registers these on the ``moderation`` group.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

import typer

from harvestctl import api, evidence, output, queues
from harvestctl.appliance import Appliance
from harvestctl.errors import CliError, Exit
from harvestctl.queues import DESKS, Kind

KindOption = Annotated[Kind | None, typer.Option(help="one queue only (all of them without)")]
SubjectKind = Annotated[Kind, typer.Option("--kind", help="which queue the subject is in")]
SUBJECT_HELP = "the subject's id: a report, photo, verification request or appeal (an item's Subject)"


class Decision(StrEnum):
    """Every decision of every queue; which ones a subject takes depends on its queue."""

    dismiss = "dismiss"
    warn = "warn"
    restrict = "restrict"
    suspend = "suspend"
    ban = "ban"
    approve = "approve"
    reject = "reject"
    uphold = "uphold"


Rule = StrEnum("Rule", {rule.replace("-", "_"): rule for rule in queues.RULES})  # type: ignore[misc]
Reason = StrEnum(  # type: ignore[misc]
    "Reason", {reason.replace("-", "_"): reason for reason in (*queues.PHOTO_REASONS, *queues.VERIFICATION_REASONS)}
)


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
    kind: KindOption = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="how many items, most urgent first")] = 50,
) -> None:
    """Open items, most urgent first: severity, age, the SLA deadline (OVERDUE once it has passed) and holder."""
    appliance: Appliance = ctx.obj
    with api.Session() as session:
        items = queues.open_items(session, kind, limit)
    title = f"Review queue: {kind.value if kind else 'all'}"
    appliance.out.table(title, ITEM_COLUMNS, _item_rows(items), value=items)
    overdue = sum(item["overdue"] for item in items)
    appliance.out.say(f"{len(items)} open, {overdue} past their SLA" if items else "the queue is empty")


def next_item(ctx: typer.Context, kind: KindOption = None) -> None:
    """Claim the most urgent free item; its lease is yours until you decide, release it, or it runs out."""
    appliance: Appliance = ctx.obj
    with api.Session() as session:
        item = queues.take_next(session, kind)
    if item is None:
        appliance.out.data(None)
        appliance.out.say("nothing is waiting: every open item is decided or held by someone")
        return
    appliance.out.table("Claimed", ITEM_COLUMNS, _item_rows([item]), value=item)
    queue_kind = DESKS[item["kind"]].kind.value
    appliance.out.say(f"read it with `harvestctl moderation show {item['subject']} --kind {queue_kind}`")


def claim(ctx: typer.Context, item_id: Annotated[str, typer.Argument(help="the queue item's id")]) -> None:
    """Claim an item, or renew your lease on it; fails while another moderator holds it."""
    appliance: Appliance = ctx.obj
    with api.Session() as session:
        item = queues.claim_item(session, item_id)
    appliance.out.table("Claimed", ITEM_COLUMNS, _item_rows([item]), value=item)


def release(ctx: typer.Context, item_id: Annotated[str, typer.Argument(help="the queue item's id")]) -> None:
    """Give an item back undecided, for anyone to take."""
    appliance: Appliance = ctx.obj
    with api.Session() as session:
        queues.release_item(session, item_id)
    appliance.out.data({"released": item_id})
    appliance.out.say(f"released {item_id}")


def show(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help=SUBJECT_HELP)],
    kind: SubjectKind = Kind.reports,
    reveal: Annotated[
        bool, typer.Option(help="draw its photos sharp; the appliance writes each reveal to the audit log")
    ] = False,
) -> None:
    """A subject as the review loop shows it: a report with its frozen evidence, a photo, a verification request
    (only with --reveal: it is faces), or an appeal with the decision it is against. Photos are blurred unless
    --reveal."""
    appliance: Appliance = ctx.obj
    desk = queues.BY_QUEUE[kind]
    item_kind = desk.item
    if item_kind == "verification" and not reveal:
        raise CliError(
            "a verification request is a selfie and profile photos: it is only shown revealed",
            f"add --reveal (written to the audit log): `harvestctl moderation show {subject} --kind verifications --reveal`",
            Exit.BAD_USAGE,
        )
    with api.Session() as session:
        view = queues.read(session, item_kind, subject)
        revealed = queues.reveal(session, item_kind, subject, view) if reveal else None
    if revealed is not None:
        view = view | {"revealedPhotos": [caption for caption, _ in revealed.photos]} | revealed.facts
    appliance.out.data(view)
    if appliance.out.as_json:
        return
    sharp = revealed.photos if revealed else None
    # Room for the whole transcript: a terminal scrolls.
    output.stdout.print(evidence.subject(item_kind, subject, view, sharp, room=10_000, width=output.stdout.width))


def decide(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help=SUBJECT_HELP)],
    decision: Annotated[
        Decision,
        typer.Argument(
            help="reports: dismiss|warn|restrict|suspend|ban; photos and verifications: approve|reject; appeals: uphold|reject"
        ),
    ],
    *,
    kind: SubjectKind = Kind.reports,
    rule: Annotated[Rule | None, typer.Option(help="reports: the rule it rests on; the person is told which")] = None,
    reason: Annotated[Reason | None, typer.Option(help="rejecting a photo or verification: the preset reason")] = None,
    note: Annotated[
        str, typer.Option(help="reports and appeals: the facts in your words, which the person is told")
    ] = "",
    until: Annotated[str | None, typer.Option(help="suspend: when it ends (a date, or a date-time)")] = None,
) -> None:
    """Decide an item you hold; a report's decisions but dismiss write a strike and tell the person why."""
    appliance: Appliance = ctx.obj
    desk = queues.BY_QUEUE[kind]
    item_kind = desk.item
    body = decision_body(desk, decision.value, rule=rule, reason=reason, note=note, until=until)
    with api.Session() as session:
        decided = queues.send_decision(session, item_kind, subject, body)
    appliance.out.data(decided)
    appliance.out.say(f"{queues.outcome(item_kind, body, decided)} {subject}")


def decision_body(
    desk: queues.Desk, decision: str, *, rule: StrEnum | None, reason: StrEnum | None, note: str, until: str | None
) -> dict[str, Any]:
    """The decision's JSON, refused here with a hint when its queue would refuse it."""
    if decision not in desk.decisions:
        raise CliError(
            f"{decision} is not a decision about {desk.kind.value}",
            f"{desk.kind.value} take {', '.join(desk.decisions)}",
            Exit.BAD_USAGE,
        )
    body: dict[str, Any] = {"decision": decision}
    picked = rule if desk.choice_field == "rule" else reason
    if decision in desk.chosen:
        if picked is None or picked.value not in desk.choices:
            raise CliError(
                f"{decision} on {desk.kind.value} needs --{desk.choice_field}",
                f"one of {', '.join(desk.choices)}",
                Exit.BAD_USAGE,
            )
        body[desk.choice_field] = picked.value
    if note:
        if not desk.takes_note:
            raise CliError(f"{desk.kind.value} take no note", "leave out --note", Exit.BAD_USAGE)
        body["note"] = note
    if decision == "suspend":
        if until is None:
            raise CliError(
                "a suspension needs an end", "add --until 2026-12-31 (at most 365 days ahead)", Exit.BAD_USAGE
            )
        body["until"] = queues.suspension_end(until, dt.datetime.now(dt.UTC)).isoformat()
    elif until is not None:
        raise CliError("only a suspension takes --until", "leave out --until, or decide suspend", Exit.BAD_USAGE)
    return body
