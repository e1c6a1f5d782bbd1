"""A report and its queue item drawn for a moderator: the frozen evidence as people read it, and SLA clocks.

The API names nobody in the evidence, so neither do these: the two people are "reporter" and "reported".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

#: what a severity means to the person working the queue (0 is worked first)
SEVERITIES = {0: "urgent", 1: "high", 2: "normal"}
#: how the two people in a transcript are told apart
SPEAKERS = {"reporter": "cyan", "reported": "magenta"}
#: lines of a review screen besides the transcript, the strikes and the footer (the decision prompts included)
SCREEN_LINES = 14


def when(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def span(delta: dt.timedelta) -> str:
    """A duration as people say it: 45s, 12m, 3h 5m, 4d 2h."""
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m" if minutes else f"{seconds}s"


def age(item: dict[str, Any], now: dt.datetime) -> str:
    created = when(item["createdAt"])
    return span(now - created) if created else "—"


def due(item: dict[str, Any], now: dt.datetime) -> str:
    """The SLA clock: how long is left, or, in red, how long ago it ran out."""
    deadline = when(item["dueAt"])
    if deadline is None:
        return "—"
    if item["overdue"] or deadline <= now:
        return f"[bold red]OVERDUE[/] [red]{span(now - deadline)}[/]"
    return f"in {span(deadline - now)}"


def holder(item: dict[str, Any], now: dt.datetime, me: str | None = None) -> str:
    """Who holds the item's lease; an ended lease holds nothing."""
    lease = when(item["leaseUntil"])
    if not item["claimedBy"] or lease is None or lease <= now:
        return "—"
    who = "you" if item["claimedBy"] == me else str(item["claimedBy"])[:8]
    return f"{who} ({span(lease - now)} left)"


def severity(item: dict[str, Any]) -> str:
    level = item["severity"]
    name = SEVERITIES.get(level, str(level))
    return f"[bold red]{name}[/]" if level == 0 else name


def report(view: dict[str, Any], messages: int | None = None) -> RenderableType:
    """The report, its evidence and the reported person's past strikes; only the last ``messages`` of the
    conversation when given (the whole transcript otherwise)."""
    evidence = view["evidence"]
    filed = when(view["createdAt"])
    head = Text.assemble(
        ("report ", "bold"),
        (str(view["id"]), "bold"),
        "  ·  ",
        (view["reason"], "bold yellow"),
        f"  ·  filed {filed:%Y-%m-%d %H:%M} UTC" if filed else "",
        f"  ·  {view['state']}",
    )
    parts: list[RenderableType] = [head]
    if view["details"]:
        parts.append(Text(f"the reporter wrote: “{view['details']}”", style="italic"))
    parts += [_profile(evidence.get("profile") or {}), _photos(evidence.get("photos") or [])]
    parts += _conversation(evidence.get("conversation") or {}, view.get("messageId"), messages)
    parts.append(_strikes(view["strikes"]))
    return Group(*parts)


def _profile(profile: dict[str, Any]) -> Text:
    facts = [
        str(profile.get(key))
        for key in ("firstName", "age", "gender", "jobTitle", "education", "relationshipGoal")
        if profile.get(key)
    ]
    text = Text.assemble(("profile  ", "bold"), ", ".join(facts) or "—")
    if profile.get("interests"):
        text.append(f"  ·  interests: {', '.join(profile['interests'])}")
    if profile.get("bio"):
        text.append(f"\n         bio: “{profile['bio']}”")
    return text


def _photos(photos: list[dict[str, Any]]) -> Text:
    listed = [
        f"{str(photo['photoId'])[:8]} {photo['state']} ({'copy kept' if photo.get('copy') else 'gone'})"
        for photo in photos
    ]
    return Text.assemble(("photos   ", "bold"), f"{len(photos)}: " + "; ".join(listed) if photos else "none")


def _conversation(conversation: dict[str, Any], named: str | None, last: int | None) -> list[RenderableType]:
    said = conversation.get("messages") or []
    if not conversation.get("matched"):
        state = "not matched (or unmatched over 90 days ago)"
    elif conversation.get("endedAt"):
        state = f"unmatched {conversation['endedAt'][:16].replace('T', ' ')}"
    else:
        state = "matched"
    shown = said if last is None else said[-last:] if last > 0 else []
    omitted = f", the last {len(shown)} shown" if len(shown) < len(said) else ""
    lines: list[RenderableType] = [
        Text.assemble(("chat     ", "bold"), f"{state}; {len(said)} message(s) kept{omitted}")
    ]
    for message in shown:
        at = when(message.get("createdAt"))
        content = message.get("content") or ""
        if message.get("type") == "photo":
            content = f"[photo, {'copy kept' if message.get('photoCopy') else 'gone'}] {content}".rstrip()
        line = Text(f"  {at:%m-%d %H:%M} " if at else "  ", style="dim")
        line.append(f"{message['from']:>8}: ", style=SPEAKERS.get(message["from"], ""))
        line.append(content)
        if named and message.get("messageId") == named:
            line.append("  ◀ reported", style="bold red")
        lines.append(line)
    return lines


def _strikes(strikes: list[dict[str, Any]]) -> RenderableType:
    if not strikes:
        return Text.assemble(("strikes  ", "bold"), "none before")
    # The API passes strike rows through as the database names their columns.
    table = Table(title="past strikes", title_justify="left", box=None, pad_edge=False)
    for column in ("when", "measure", "rule", "until", "overturned"):
        table.add_column(column)
    for strike in strikes:
        table.add_row(
            str(strike["created_at"])[:16].replace("T", " "),
            strike["measure"],
            strike["rule"],
            str(strike["until"] or "—")[:16].replace("T", " "),
            "yes" if strike["overturned_at"] else "",
        )
    return table


def screen(
    console: Console, header: str, card: tuple[dict[str, Any], dict[str, Any]] | None, footer: list[str]
) -> None:
    """One screen of ``moderation review``: the header, the held item's clocks and its report, with as much of the
    conversation as fits, then the footer's lines (markup)."""
    console.clear()
    console.print(header)
    if card is None:
        console.rule("queue clear")
    else:
        item, view = card
        now = dt.datetime.now(dt.UTC)
        console.rule(f"{severity(item)} · SLA {due(item, now)} · waited {age(item, now)}", align="left")
        strikes = len(view["strikes"]) + 2 if view["strikes"] else 0
        room = console.height - SCREEN_LINES - strikes - len(footer)
        console.print(report(view, messages=max(room, 0)))
    console.rule()
    for line in footer:
        console.print(Text.from_markup(line))
