"""``moderation review``: the queue worked from the keyboard, one report after another, in as few keys as can be.

Each screen is the most urgent free report (claimed through ``/queue/next``), its evidence, and a status line
with the live queue count and the SLA breaches. A decision is a decision key, a rule digit and Enter (the note
prompt): ``w4⏎`` warns under rule 4, harassment. It is staged, not sent: the next report is shown at once, and
the staged decision goes to the API when the moderator acts on that one (or quits). Until then ``u`` takes it
back, and the report returns to the screen: an undo that never needs the API to reverse anything, which works
because the lease on the decided report is held (and renewed) until the decision is sent.

Leases are renewed once half of one has passed while the moderator reads; leaving releases whatever is held.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from harvestctl import api, evidence, output
from harvestctl.appliance import Appliance
from harvestctl.commands import review
from harvestctl.errors import CliError, Exit
from harvestctl.keys import ESCAPE, Keys

DECISION_KEYS = {"d": "dismiss", "w": "warn", "r": "restrict", "s": "suspend", "b": "ban"}
QUIT = ("q", "\x04")
RULE_KEYS = "123456789"
T = TypeVar("T")
#: a suspension's length when the moderator just presses Enter
DEFAULT_SUSPENSION_DAYS = 7
#: the largest queue the status line counts exactly (the API's largest page)
COUNTED = 200
#: how often the status line counts the queue again (seconds)
STATUS_SECONDS = 10.0
#: how long to wait before a call the appliance refused as one too many (seconds)
PAUSE = 5.0
KEY_HELP = (
    "[bold]d[/] dismiss  [bold]w[/] warn  [bold]r[/] restrict  [bold]s[/] suspend  [bold]b[/] ban"
    "   ·   [bold]n[/] skip  [bold]u[/] undo  [bold]q[/] quit"
)
RULE_HELP = "  ".join(f"[bold]{n}[/] {rule}" for n, rule in enumerate(review.RULES, 1))


class ReviewKind(StrEnum):
    """Only reports are decided from the CLI; photos, verifications and appeals have their own screens."""

    reports = "reports"


@dataclass
class Card:
    """One held item and the report it is about."""

    item: dict[str, Any]
    report: dict[str, Any]
    #: when to renew the lease (time.monotonic())
    renew_at: float = 0.0


@dataclass
class Staged:
    card: Card
    body: dict[str, Any]


@dataclass
class Tally:
    decided: int = 0
    skipped: int = 0
    undone: int = 0
    #: seconds spent waiting for the appliance's rate limit
    paused: float = 0.0
    started: float = field(default_factory=time.monotonic)


class Reviewer:
    def __init__(self, session: api.Session, kind: str, keys: Keys, console: Console) -> None:
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
        elif key == "n":
            self._send_staged()
            self._skip()
        elif key in DECISION_KEYS:
            self._send_staged()
            body = self._compose(DECISION_KEYS[key])
            if body is not None:
                self.staged = Staged(self.current, body)
                self.current = self._take()
        else:
            self.flash = f"[yellow]{escape(repr(key))} does nothing here[/]"

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
        self.flash = f"skipped report {skipped.item['subject']}"

    def _take(self) -> Card | None:
        """The most urgent free item not skipped this sitting, claimed, with its report."""
        item = self._api(review.take_next, self.kind) if not self.skipped else self._first_not_skipped()
        if item is None:
            return None
        card = Card(item, self._api(review.fetch_report, item["subject"]))
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
                claimed: dict[str, Any] = self._api(review.claim_item, item["id"])
                return claimed
        return None

    def _compose(self, decision: str) -> dict[str, Any] | None:
        """The rest of a decision from the keyboard: a suspension's days, the rule, a note; None if cancelled."""
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
        self.console.print(f"[bold]{decision}[/] under which rule?  {RULE_HELP}   [dim](Esc cancels)[/]")
        while not ((key := self.keys.read(self._renew)) in RULE_KEYS and len(key) == 1):
            if key in (ESCAPE, "u"):
                return None
        body["rule"] = review.RULES[int(key) - 1]
        note = self._ask(f"{decision} · {body['rule']} — note for the statement (Enter to skip): ")
        if note is None:
            return None
        if note:
            body["note"] = note
        return body

    def _ask(self, prompt: str) -> str | None:
        return self.keys.line(self.console, prompt, self._renew)

    def _send_staged(self) -> None:
        staged, self.staged = self.staged, None
        if staged is None:
            return
        report_id, body = staged.card.item["subject"], staged.body
        try:
            decided = self._api(review.send_decision, report_id, body)
        except CliError as failure:
            self.flash = f"[red]not sent[/]: {body['decision']} on report {report_id}: {escape(failure.message)}"
            self._release(staged.card)
            return
        self.tally.decided += 1
        closed = len(decided["resolvedReports"])
        also = f"; {closed} other open report(s) about them closed with it" if closed else ""
        self.flash = f"[green]sent[/]: {body['decision']} · {body['rule']} on report {report_id}{also}"

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
                card.item = self._api(review.claim_item, card.item["id"])
            except CliError as failure:
                self.flash = f"[red]lost the lease on report {card.item['subject']}[/]: {escape(failure.message)}"
                card.renew_at = float("inf")
                continue
            self._schedule(card)

    def _release(self, card: Card) -> None:
        self._release_item(card.item["id"])

    def _release_item(self, item_id: str) -> None:
        # A lease that already ran out, or was taken over, leaves nothing of ours to give back.
        with contextlib.suppress(CliError):
            self._api(review.release_item, item_id)

    def _api(self, call: Callable[..., T], *args: Any) -> T:
        """``call(session, *args)``, waiting out the appliance's per-user limit on calls a minute: a quick
        moderator can outrun it (each report takes three calls), and a refused call changed nothing, so it is
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
        items = self._api(review.open_items, self.kind, COUNTED)
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

    def _draw(self) -> None:
        minutes = (time.monotonic() - self.tally.started) / 60
        header = (
            f"[bold]Harvest review[/] · {self.kind} · {self._status()} · decided {self.tally.decided}"
            f" in {minutes:.1f} min · skipped {self.tally.skipped}"
        )
        footer = []
        if self.current is None:
            waiting = " (only items you skipped are left)" if self.skipped else ""
            footer.append(f"nothing is waiting{waiting}: any key looks again")
        if self.staged is not None:
            body = self.staged.body
            footer.append(
                f"staged: [bold]{body['decision']} · {body['rule']}[/] on report {self.staged.card.item['subject']}"
                " — sent when you act on the next one; [bold]u[/] takes it back"
            )
        if self.flash:
            footer.append(self.flash)
            self.flash = ""
        footer.append(KEY_HELP)
        card = (self.current.item, self.current.report) if self.current else None
        evidence.screen(self.console, header, card, footer)


def review_queue(
    ctx: typer.Context,
    kind: Annotated[ReviewKind, typer.Option(help="which queue")] = ReviewKind.reports,
) -> None:
    """Work the queue from the keyboard: decision key, rule digit, Enter; n skips, u undoes, q quits."""
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
        reviewer = Reviewer(session, kind.value, keys, console)
        reviewer.run()
    tally = reviewer.tally
    seconds = round(time.monotonic() - tally.started, 1)
    appliance.out.data(
        {
            "decided": tally.decided,
            "skipped": tally.skipped,
            "undone": tally.undone,
            "seconds": seconds,
            "rateLimitedSeconds": tally.paused,
        }
    )
    appliance.out.say(
        f"decided {tally.decided}, skipped {tally.skipped}, undid {tally.undone} in {seconds / 60:.1f} min;"
        " every item you held was given back"
    )
