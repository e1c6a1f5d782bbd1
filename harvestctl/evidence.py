"""Queue items drawn for a moderator: a report's frozen evidence as people read it, a waiting photo, a
verification request, an appeal with the decision it is against, and the SLA clocks.

The API names nobody in the evidence, so neither do these: the two people are "reporter" and "reported". Photos
are blurred thumbnails (``pictures``) until the moderator reveals them; then the revealed ones are drawn instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from harvestctl import pictures

#: what a severity means to the person working the queue (0 is worked first)
SEVERITIES = {0: "urgent", 1: "high", 2: "normal"}
#: how the two people in a transcript are told apart
SPEAKERS = {"reporter": "cyan", "reported": "magenta"}
#: lines of a review screen besides the transcript, the strikes, the pictures and the footer (prompts included)
SCREEN_LINES = 14
#: (caption, image bytes) of photos revealed, in the order ``photos_of`` lists them
Sharp = list[tuple[str, bytes]]


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


def photos_of(view: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """(caption, photo id, blurhash) of every photo a report kept a copy of: profile photos, then photos sent in
    the chat. The id is None where the evidence does not name one (it cannot be revealed)."""
    evidence = view["evidence"]
    kept: list[tuple[str, str | None, str | None]] = [
        (f"profile {n}", str(photo["photoId"]), photo.get("blurhash"))
        for n, photo in enumerate(evidence.get("photos") or [], 1)
        if photo.get("copy")
    ]
    messages = (evidence.get("conversation") or {}).get("messages") or []
    kept += [
        (f"sent by {message['from']}", message.get("photoId"), message.get("photoBlurhash"))
        for message in messages
        if message.get("photoCopy")
    ]
    return kept


def drawn(shots: list[tuple[str, str | None]], sharp: Sharp | None, width: int) -> list[tuple[str, Text]]:
    """Blurred thumbnails of (caption, blurhash) shots, or the ``sharp`` photos once revealed, sized so a row of
    them fits ``width`` columns."""
    if sharp is None:
        return [(caption, pictures.blurred(hash_)) for caption, hash_ in shots]
    if not sharp:
        return []
    columns = max(min(pictures.REVEALED[0], width // len(sharp) - 2), 8)
    size = (columns, min(pictures.REVEALED[1], columns * 5 // 8 + 1))
    return [(f"{caption} (revealed)", pictures.sharp(data, size)) for caption, data in sharp]


def report(
    view: dict[str, Any], messages: int | None = None, shown: list[tuple[str, Text]] | None = None
) -> RenderableType:
    """The report, its evidence and the reported person's past strikes; only the last ``messages`` of the
    conversation when given (the whole transcript otherwise); the photos ``shown`` under the list of photos."""
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
    if shown:
        parts.append(pictures.row(shown))
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


def fitted(view: dict[str, Any], room: int, shown: list[tuple[str, Text]]) -> RenderableType:
    """``report`` with as much of the conversation as fits ``room`` lines beside its strikes and photos."""
    strikes = len(view["strikes"]) + 2 if view["strikes"] else 0
    return report(view, max(room - strikes - pictures.height(shown), 0), shown)


def photo(view: dict[str, Any], shown: list[tuple[str, Text]]) -> RenderableType:
    """A photo waiting for review: its facts and the picture (blurred until revealed)."""
    taken = when(view["createdAt"])
    head = Text.assemble(
        ("photo ", "bold"),
        (str(view["id"]), "bold"),
        f"  ·  {view['state']}  ·  {view.get('width') or '?'}×{view.get('height') or '?'}",
        f"  ·  uploaded {taken:%Y-%m-%d %H:%M} UTC" if taken else "",
    )
    return Group(head, pictures.row(shown))


def verification(subject: str, pose: str | None, shown: list[tuple[str, Text]]) -> RenderableType:
    """A verification request: nothing of it until revealed (the view is audited), then the pose asked for, the
    selfie and the person's approved photos side by side."""
    head = Text.assemble(("verification ", "bold"), (subject, "bold"))
    if pose is None:
        return Group(head, Text("the selfie and the profile photos are shown on reveal (written to the audit log)"))
    return Group(head, Text.assemble("asked to: ", (pose, "bold yellow")), pictures.row(shown))


def appeal(view: dict[str, Any], room: int, shown: list[tuple[str, Text]]) -> RenderableType:
    """An appeal: who appeals which decision, in their words, and the report behind it."""
    decided = view["decision"]
    filed = when(view["createdAt"])
    until = f" until {decided['until'][:16].replace('T', ' ')}" if decided.get("until") else ""
    parts: list[RenderableType] = [
        Text.assemble(
            ("appeal ", "bold"),
            (str(view["id"]), "bold"),
            f"  ·  by the {'person decided about' if view['appellant'] == 'affected' else 'reporter'}",
            f"  ·  filed {filed:%Y-%m-%d %H:%M} UTC" if filed else "",
        ),
        Text.assemble(
            ("against  ", "bold"),
            (f"{decided['measure']}{until}", "bold yellow"),
            f" · {decided.get('rule') or '—'}",
            (" · your own decision: another moderator must decide this" if decided.get("byYou") else "", "red"),
        ),
    ]
    if decided.get("note"):
        parts.append(Text(f"the decision said: “{decided['note']}”", style="italic"))
    parts.append(Text(f"the appeal says: “{view['text']}”", style="italic"))
    if view.get("report"):
        parts.append(fitted(view["report"], room - len(parts), shown))
    return Group(*parts)


def subject(
    kind: str, subject_id: str, view: dict[str, Any], sharp: Sharp | None, *, room: int, width: int
) -> RenderableType:
    """A queue item's subject as its kind is read, in ``room`` lines and ``width`` columns: photos blurred, or the
    ``sharp`` ones once revealed."""
    if kind == "photo":
        return photo(view, drawn([("the photo", view.get("blurhash"))], sharp, width))
    if kind == "verification":
        return verification(subject_id, view.get("pose"), drawn([], sharp, width))
    about = view.get("report") if kind == "appeal" else view
    shots = [(caption, hash_) for caption, _, hash_ in photos_of(about)] if about else []
    shown = drawn(shots, sharp, width)
    return appeal(view, room, shown) if kind == "appeal" else fitted(view, room, shown)


def screen(
    console: Console,
    header: str,
    item: dict[str, Any] | None,
    draw: Callable[[int], RenderableType],
    footer: list[str],
) -> None:
    """One screen of ``moderation review``: the header, the held item's clocks and ``draw(room)`` of it — room
    being the lines left for a transcript — then the footer's lines (markup)."""
    console.clear()
    console.print(header)
    if item is None:
        console.rule("queue clear")
    else:
        now = dt.datetime.now(dt.UTC)
        console.rule(
            f"{item['kind']} · {severity(item)} · SLA {due(item, now)} · waited {age(item, now)}", align="left"
        )
        console.print(draw(console.height - SCREEN_LINES - len(footer)))
    console.rule()
    for line in footer:
        console.print(Text.from_markup(line))
