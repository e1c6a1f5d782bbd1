"""``moderation review``: the queues worked from the keyboard, one item after another, in as few keys as can be.

Each screen is the most urgent free item of every queue (or of ``--kind``), claimed through ``/queue/next``: a
report with its evidence, a photo waiting for review, a verification request, or an appeal with the decision it is
against; and a status line with the live queue count and the SLA breaches. Photos are blurred thumbnails until
``v`` reveals them (the appliance audits every reveal); a photo or a verification is decided only once revealed.

A decision is a decision key, then a numbered preset where one is needed, then Enter where a note may be written:
``w4⏎`` warns under rule 4, harassment; ``x1`` rejects a photo for nudity; ``a`` approves. It is staged, not sent:
the next item is shown at once, and the staged decision goes to the API when the moderator acts on that one (or
quits). Until then ``u`` takes it back, and the item returns to the screen: an undo that never needs the API to
reverse anything, which works because the lease on the decided item is held (and renewed) until it is sent.

Leases are renewed once half of one has passed while the moderator reads; leaving releases whatever is held.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console, RenderableType
from rich.markup import escape

from harvestctl import api, evidence, output, queues
from harvestctl.appliance import Appliance
from harvestctl.errors import CliError, Exit
from harvestctl.keys import ESCAPE, Keys
from harvestctl.queues import DESKS, Kind

#: each kind's decision keys; "a" is for the person (approve, uphold), "x" against them
DECISION_KEYS = {
    "report": {"d": "dismiss", "w": "warn", "r": "restrict", "s": "suspend", "b": "ban"},
    "photo": {"a": "approve", "x": "reject"},
    "verification": {"a": "approve", "x": "reject"},
    "appeal": {"a": "uphold", "x": "reject"},
}
#: the kinds decided only once their photos were revealed: the decision is about the picture itself
LOOK_FIRST = ("photo", "verification")
QUIT = ("q", "\x04")
T = TypeVar("T")
#: a suspension's length when the moderator just presses Enter
DEFAULT_SUSPENSION_DAYS = 7
#: the largest queue the status line counts exactly (the API's largest page)
COUNTED = 200
#: how often the status line counts the queue again (seconds)
STATUS_SECONDS = 10.0
#: how long to wait before a call the appliance refused as one too many (seconds)
PAUSE = 5.0
COMMON_KEYS = "[bold]v[/] reveal photos (logged)  [bold]n[/] skip  [bold]u[/] undo  [bold]q[/] quit"


def key_help(kind: str) -> str:
    decisions = "  ".join(f"[bold]{key}[/] {decision}" for key, decision in DECISION_KEYS[kind].items())
    return f"{decisions}   ·   {COMMON_KEYS}"


def choice_help(choices: tuple[str, ...]) -> str:
    return "  ".join(f"[bold]{n}[/] {choice}" for n, choice in enumerate(choices, 1))


@dataclass
class Card:
    """One held item, what the screen shows of it, and its photos once revealed."""

    item: dict[str, Any]
    view: dict[str, Any]
    revealed: queues.Revealed | None = None
    #: when to renew the lease (time.monotonic())
    renew_at: float = 0.0

    @property
    def kind(self) -> str:
        return str(self.item["kind"])

    @property
    def subject(self) -> str:
        return str(self.item["subject"])


@dataclass
class Staged:
    card: Card
    body: dict[str, Any]


@dataclass
class Tally:
    decided: int = 0
    skipped: int = 0
    undone: int = 0
    revealed: int = 0
    #: seconds spent waiting for the appliance's rate limit
    paused: float = 0.0
    started: float = field(default_factory=time.monotonic)


class Reviewer:
    def __init__(self, session: api.Session, kind: Kind | None, keys: Keys, console: Console) -> None:
        self.session = session
        self.kind = kind
        self.keys = keys
        self.console = console
        self.current: Card | None = None
        self.staged: Staged | None = None
        #: items skipped this sitting, passed over while anything else is free
        self.skipped: set[str] = set()
        self.flash = ""
        self.tally = Tally()
        #: open items, SLA breaches, and decisions sent, when the queue was last counted
        self.counts = (0, 0, 0)
        self.counted_at = -STATUS_SECONDS

    def run(self) -> None:
        """The loop; whatever ends it, the staged decision is sent only on ``q`` and every lease is given back."""
        try:
            self.current = self._take()
            while True:
                self._draw()
                key = self.keys.read(self._renew)
                if key in QUIT:
                    self._send_staged()
                    return
                self._act(key)
        finally:
            for card in self._held():
                self._release(card)

    def _act(self, key: str) -> None:
        if key == "u":
            self._undo()
        elif self.current is None:
            # Nothing on screen: any other key looks again, items skipped before included.
            self._send_staged()
            self.skipped.clear()
            self.current = self._take()
        elif key == "v":
            self._reveal(self.current)
        elif key == "n":
            self._send_staged()
            self._skip()
        elif key in DECISION_KEYS[self.current.kind]:
            self._decide(self.current, DECISION_KEYS[self.current.kind][key])
        else:
            self.flash = f"[yellow]{escape(repr(key))} does nothing here[/]"

    def _decide(self, card: Card, decision: str) -> None:
        if card.kind in LOOK_FIRST and card.revealed is None:
            self.flash = f"[yellow]look before you decide: [bold]v[/] shows the {card.kind} (and is logged)[/]"
            return
        self._send_staged()
        body = self._compose(card.kind, decision)
        if body is not None:
            self.staged = Staged(card, body)
            self.current = self._take()

    def _reveal(self, card: Card) -> None:
        if card.revealed is not None:
            return
        try:
            card.revealed = self._api(queues.reveal, card.kind, card.subject, card.view)
        except CliError as failure:
            # Gone meanwhile (the owner deleted the photo, the account was erased): say so, and carry on.
            self.flash = f"[red]could not reveal {card.kind} {card.subject}[/]: {escape(failure.message)}"
            return
        self.tally.revealed += 1
        shown = len(card.revealed.photos)
        self.flash = f"revealed {shown} photo(s); the reveal is in the audit log" if shown else "no photo to reveal"

    def _undo(self) -> None:
        if self.staged is None:
            self.flash = "[yellow]nothing to undo: decisions already sent stay sent[/]"
            return
        if self.current is not None:
            self._release(self.current)
        self.current, self.staged = self.staged.card, None
        self.tally.undone += 1
        self.flash = "undone: nothing was sent"

    def _skip(self) -> None:
        assert self.current is not None
        skipped = self.current
        self.skipped.add(skipped.item["id"])
        # Taken while the skipped item is still held, so the queue cannot hand the same one back.
        self.current = self._take()
        self._release(skipped)
        self.tally.skipped += 1
        self.flash = f"skipped {skipped.kind} {skipped.subject}"

    def _take(self) -> Card | None:
        """The most urgent free item not skipped this sitting, claimed, with what its screen shows."""
        item = self._api(queues.take_next, self.kind) if not self.skipped else self._first_not_skipped()
        if item is None:
            return None
        try:
            view = self._api(queues.read, item["kind"], item["subject"])
        except CliError as failure:
            # Gone between the claim and the read (an erased account's items go with it): passed over this sitting.
            self._release_item(item["id"])
            self.skipped.add(item["id"])
            self.flash = f"[yellow]passed over {item['kind']} {item['subject']}[/]: {escape(failure.message)}"
            return self._take()
        card = Card(item, view)
        self._schedule(card)
        return card

    def _first_not_skipped(self) -> dict[str, Any] | None:
        """Claimed from the listing: ``/queue/next`` would hand a skipped item straight back."""
        now = dt.datetime.now(dt.UTC)
        for item in self._count():
            lease = evidence.when(item["leaseUntil"])
            if item["id"] in self.skipped or (lease is not None and lease > now):
                continue
            # Another moderator may take it between the listing and the claim (409): try the next one.
            with contextlib.suppress(CliError):
                claimed: dict[str, Any] = self._api(queues.claim_item, item["id"])
                return claimed
        return None

    def _compose(self, kind: str, decision: str) -> dict[str, Any] | None:
        """The rest of a decision from the keyboard: a suspension's days, the preset, a note; None if cancelled."""
        desk = DESKS[kind]
        body: dict[str, Any] = {"decision": decision}
        if decision == "suspend":
            typed = self._ask(f"suspend for how many days? [{DEFAULT_SUSPENSION_DAYS}] ")
            if typed is None:
                return None
            days = typed or str(DEFAULT_SUSPENSION_DAYS)
            if not days.isdigit() or not 1 <= int(days) <= 365:
                self.flash = f"[red]{escape(days)!r} is not a number of days from 1 to 365[/]"
                return None
            body["until"] = (dt.datetime.now(dt.UTC) + dt.timedelta(days=int(days))).isoformat()
        if decision in desk.chosen:
            picked = self._pick(f"[bold]{decision}[/] {desk.choice_field}?", desk.choices)
            if picked is None:
                return None
            body[desk.choice_field] = picked
        if desk.takes_note:
            said = " · ".join(str(body[key]) for key in ("decision", desk.choice_field) if key in body)
            note = self._ask(f"{said} — note for the person (Enter to skip): ")
            if note is None:
                return None
            if note:
                body["note"] = note
        return body

    def _pick(self, question: str, choices: tuple[str, ...]) -> str | None:
        """One of ``choices`` by its digit; None on Esc or u."""
        self.console.print(f"{question}  {choice_help(choices)}   [dim](Esc cancels)[/]")
        digits = [str(n) for n in range(1, len(choices) + 1)]
        while (key := self.keys.read(self._renew)) not in digits:
            if key in (ESCAPE, "u"):
                return None
        return choices[int(key) - 1]

    def _ask(self, prompt: str) -> str | None:
        return self.keys.line(self.console, prompt, self._renew)

    def _send_staged(self) -> None:
        staged, self.staged = self.staged, None
        if staged is None:
            return
        card, body = staged.card, staged.body
        try:
            decided = self._api(queues.send_decision, card.kind, card.subject, body)
        except CliError as failure:
            self.flash = (
                f"[red]not sent[/]: {body['decision']} on {card.kind} {card.subject}: {escape(failure.message)}"
            )
            self._release(card)
            return
        self.tally.decided += 1
        self.flash = f"[green]sent[/]: {queues.outcome(card.kind, body, decided)} {card.subject}"

    def _held(self) -> list[Card]:
        return [card for card in (self.current, self.staged.card if self.staged else None) if card is not None]

    def _schedule(self, card: Card) -> None:
        """Renew at half the lease: with the API's 10 minutes, every 5 minutes the moderator lingers."""
        lease = evidence.when(card.item["leaseUntil"])
        left = (lease - dt.datetime.now(dt.UTC)).total_seconds() if lease else 0.0
        card.renew_at = time.monotonic() + max(left / 2, 5.0)

    def _renew(self) -> None:
        for card in self._held():
            if time.monotonic() < card.renew_at:
                continue
            try:
                card.item = self._api(queues.claim_item, card.item["id"])
            except CliError as failure:
                self.flash = f"[red]lost the lease on {card.kind} {card.subject}[/]: {escape(failure.message)}"
                card.renew_at = float("inf")
                continue
            self._schedule(card)

    def _release(self, card: Card) -> None:
        self._release_item(card.item["id"])

    def _release_item(self, item_id: str) -> None:
        # A lease that already ran out, or was taken over, leaves nothing of ours to give back.
        with contextlib.suppress(CliError):
            self._api(queues.release_item, item_id)

    def _api(self, call: Callable[..., T], *args: Any) -> T:
        """``call(session, *args)``, waiting out the appliance's per-user limit on calls a minute: a quick
        moderator can outrun it (each item takes three calls), and a refused call changed nothing, so it is
        safe to send again."""
        while True:
            try:
                return call(self.session, *args)
            except CliError as failure:
                if not failure.message.endswith("(HTTP 429)"):
                    raise
            self.console.print(f"[yellow]the appliance allows so many calls a minute; trying again in {PAUSE:.0f} s[/]")
            time.sleep(PAUSE)
            self.tally.paused += PAUSE

    def _count(self) -> list[dict[str, Any]]:
        """The open items, most urgent first; noted for the status line."""
        items = self._api(queues.open_items, self.kind, COUNTED)
        self.counts = (len(items), sum(item["overdue"] for item in items), self.tally.decided)
        self.counted_at = time.monotonic()
        return items

    def _status(self) -> str:
        """The queue's size and SLA breaches, asked for again every STATUS_SECONDS (calls are rationed), counting
        down meanwhile by the decisions sent."""
        if time.monotonic() - self.counted_at >= STATUS_SECONDS:
            self._count()
        open_now, breaches, decided_then = self.counts
        count = max(open_now - (self.tally.decided - decided_then), 0)
        late = f"[bold red]{breaches} past SLA[/]" if breaches else "0 past SLA"
        return f"[bold]{count}{'+' if open_now == COUNTED else ''} open[/] · {late}"

    def _card(self, card: Card, room: int) -> RenderableType:
        sharp, facts = (card.revealed.photos, card.revealed.facts) if card.revealed else (None, {})
        return evidence.subject(card.kind, card.subject, card.view | facts, sharp, room=room, width=self.console.width)

    def _draw(self) -> None:
        minutes = (time.monotonic() - self.tally.started) / 60
        header = (
            f"[bold]Harvest review[/] · {self.kind.value if self.kind else 'all queues'} · {self._status()}"
            f" · decided {self.tally.decided} in {minutes:.1f} min · skipped {self.tally.skipped}"
        )
        footer = []
        if self.current is None:
            waiting = " (only items you skipped are left)" if self.skipped else ""
            footer.append(f"nothing is waiting{waiting}: any key looks again")
        if self.staged is not None:
            body, card = self.staged.body, self.staged.card
            footer.append(
                f"staged: [bold]{queues.outcome(card.kind, body, {})}[/] {card.subject}"
                " — sent when you act on the next one; [bold]u[/] takes it back"
            )
        if self.flash:
            footer.append(self.flash)
            self.flash = ""
        footer.append(key_help(self.current.kind) if self.current else COMMON_KEYS)
        current = self.current
        evidence.screen(
            self.console,
            header,
            current.item if current else None,
            lambda room: self._card(current, room) if current else "",
            footer,
        )


def review_queue(
    ctx: typer.Context,
    kind: Annotated[Kind | None, typer.Option(help="one queue only (all of them, most urgent first, without)")] = None,
) -> None:
    """Work the queues from the keyboard: a decision key, a numbered preset, Enter; v reveals photos (logged), n
    skips, u undoes, q quits."""
    appliance: Appliance = ctx.obj
    # With --json the screen is drawn on stderr, so stdout carries only the sitting's tally.
    console = output.stderr if appliance.out.as_json else output.stdout
    if not sys.stdin.isatty() or not console.is_terminal:
        raise CliError(
            "review needs a terminal: it reads single keys and redraws the screen",
            "in scripts use `harvestctl moderation next`, `show` and `decide` (each takes --json)",
            Exit.BAD_USAGE,
        )
    with api.Session() as session, Keys() as keys:
        reviewer = Reviewer(session, kind, keys, console)
        reviewer.run()
    tally = reviewer.tally
    seconds = round(time.monotonic() - tally.started, 1)
    appliance.out.data(
        {
            "decided": tally.decided,
            "skipped": tally.skipped,
            "undone": tally.undone,
            "revealed": tally.revealed,
            "seconds": seconds,
            "rateLimitedSeconds": tally.paused,
        }
    )
    appliance.out.say(
        f"decided {tally.decided}, skipped {tally.skipped}, undid {tally.undone}, revealed {tally.revealed}"
        f" in {seconds / 60:.1f} min; every item you held was given back"
    )
