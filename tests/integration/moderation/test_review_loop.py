"""``harvestctl moderation review`` driven as a moderator drives it: keys typed into a real terminal (tmux), fifty
mixed reports cleared with every kind of decision, one taken back with ``u`` and one skipped with ``n``; the
keys each decision took and the time to clear the queue are printed and kept beside the test's files."""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from valkey.asyncio import Valkey

from server.moderation import audit
from tests.factories import bearer
from tests.integration.moderation.mixed import Mixed, mixed_queue
from tests.integration.moderation.staff import staff
from tests.integration.moderation.test_cli_login import HARVESTCTL, signed_in
from tests.services import Stack

#: the seeded queue: 50 items of every kind
COUNTS = {"reports": 32, "photos": 8, "verifications": 5, "appeals": 5}
ITEMS = sum(COUNTS.values())
#: the item on screen: the first line of its subject (an appeal's report comes after it)
ON_SCREEN = re.compile(r"^(report|photo|verification|appeal) ([0-9a-f-]{36})", re.MULTILINE)
#: a thumbnail's caption under the report's photos (a crowd member's first photo has no object, so no copy)
THUMBNAIL = re.compile(r"^\s*profile \d+\s*$", re.MULTILINE)
#: the keys each decision takes, in turn per kind: (keys, decision, preset); "\n" is Enter
PLANS = {
    "report": [
        ("d9\n", "dismiss", "other-rules"),
        ("w4\n", "warn", "harassment"),
        ("r7\n", "restrict", "spam"),
        ("s\n6\n", "suspend", "scam"),
        ("b2\n", "ban", "threats"),
        ("w8\n", "warn", "fake-profile"),
        ("s3\n1\n", "suspend", "minor-safety"),
        ("d5\n", "dismiss", "hate"),
        ("r3\n", "restrict", "sexual-content"),
    ],
    # A photo or a selfie is decided only once revealed: "v" first.
    "photo": [("va", "approve", ""), ("vx1", "reject", "nudity"), ("vx4", "reject", "minor")],
    "verification": [("va", "approve", ""), ("vx3", "reject", "not-the-same-person")],
    "appeal": [("a\n", "uphold", ""), ("x\n", "reject", "")],
}
#: where, in the order items come up, the moderator takes a decision back and where they skip one
UNDO_AT, SKIP_AT = 7, 20
#: what the audit log names each kind's subject by in an entry's detail
DETAIL = {"report": "report", "photo": "photo", "verification": "request", "appeal": "appeal"}


class Terminal:
    """One tmux session on a socket of its own, 200 by 50, running one command (which should then sleep, so its
    last screen stays to be read until ``close``)."""

    def __init__(self, folder: Path, command: str) -> None:
        self.socket = f"harvest-review-{uuid.uuid4().hex[:8]}"
        self.keys = 0
        self._tmux("new-session", "-d", "-x", "200", "-y", "50", "-s", "review", command)

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True)
        return done.stdout

    def type(self, keys: str) -> int:
        """Each character as one key press (Enter for "\\n"); how many were pressed."""
        for key in keys:
            if key == "\n":
                self._tmux("send-keys", "-t", "review", "Enter")
            else:
                self._tmux("send-keys", "-t", "review", "-l", key)
        self.keys += len(keys)
        return len(keys)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "review")

    def wait(self, until: Callable[[str], bool], what: str, seconds: float = 75.0) -> str:
        """The screen once ``until`` holds for it; long enough to sit out a minute of the API's rate limit."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            shown = self.screen()
            if until(shown):
                return shown
            time.sleep(0.02)
        raise AssertionError(f"the screen never showed {what}:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)


def on_screen(shown: str) -> str | None:
    found = ON_SCREEN.search(shown)
    return found.group(2) if found else None


def moved_on(from_subject: str | None) -> Callable[[str], bool]:
    return lambda shown: (
        on_screen(shown) != from_subject and (on_screen(shown) is not None or "nothing is waiting" in shown)
    )


@pytest.fixture
async def queue(app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack) -> Mixed:
    made = await mixed_queue(app, client, valkey, stack, **COUNTS)
    assert len(made.subjects) == ITEMS
    return made


async def test_fifty_mixed_items_cleared_from_the_keyboard_each_as_keyed_and_all_audited(
    client, db, queue, https_api, tmp_path
):
    url, ca_file = https_api
    moderator = await staff(client, db)
    open_items = await client.get("/api/admin/queue", params={"limit": 200}, headers=bearer(moderator["accessToken"]))
    assert {item["subject"] for item in open_items.json()["items"]} == set(queue.subjects)
    home = tmp_path / "home"
    signed_in(home, url, ca_file, moderator["user"]["email"])

    env = f"HOME={shlex.quote(str(home))} XDG_CONFIG_HOME={shlex.quote(str(home / '.config'))}"
    result, tally = tmp_path / "exit-code", tmp_path / "tally.json"
    command = f"env -u HARVEST_ROOT -u COLUMNS -u LINES {env} {HARVESTCTL} moderation review --json > {tally}; echo $? > {result}; sleep 600"
    terminal = Terminal(tmp_path, f"sh -c {shlex.quote(command)}")
    keyed: dict[str, tuple[str, str]] = {}
    keys_per_decision: dict[str, list[int]] = {kind: [] for kind in PLANS}
    turns = dict.fromkeys(PLANS, 0)
    try:
        started = time.monotonic()
        current = on_screen(terminal.wait(on_screen, "the first item"))
        skipped: str | None = None
        turn = 0
        while current is not None or skipped is not None:
            if current is None:
                # Only the skipped item is left: any key looks again and brings it back.
                terminal.type("\n")
                current = on_screen(terminal.wait(on_screen, "the skipped item"))
                assert current == skipped
                skipped = None
            if turn == SKIP_AT and skipped is None:
                skipped = current
                terminal.type("n")
                current = on_screen(terminal.wait(moved_on(current), "the item after the one skipped"))
                turn += 1
                continue
            if current not in queue.subjects:
                # Only a dismissed report whose appeal was just upheld comes back, reopened, as a new item.
                assert keyed.get(queue.reopens.get(current, ""), ("",))[0] == "uphold", terminal.screen()
                queue.subjects[current] = "report"
            kind = queue.subjects[current]
            pressed = 0
            if current in queue.with_photos:
                # The report's photos are blurred thumbnails until revealed; the reveal draws them sharp.
                blurred = terminal.wait(lambda shown: THUMBNAIL.search(shown) is not None, "the blurred thumbnail")
                assert "(revealed)" not in blurred
                pressed += terminal.type("v")
                terminal.wait(lambda shown: "(revealed)" in shown, "the revealed evidence photo")
            keys, decision, preset = PLANS[kind][turns[kind] % len(PLANS[kind])]
            pressed += terminal.type(keys)
            if turn == UNDO_AT:
                # Staged, the next item is up; "u" takes the decision back and returns this one.
                terminal.wait(moved_on(current), "the next item")
                pressed += terminal.type("u")
                assert on_screen(terminal.wait(lambda s, c=current: on_screen(s) == c, "the undone item")) == current
                turns[kind] += 1
                keys, decision, preset = PLANS[kind][turns[kind] % len(PLANS[kind])]
                pressed += terminal.type(keys)
            keyed[current] = (decision, preset)
            keys_per_decision[kind].append(pressed)
            turns[kind] += 1
            current = on_screen(terminal.wait(moved_on(current), "the next item"))
            turn += 1
        assert "nothing is waiting" in terminal.screen()
        terminal.type("q")
        terminal.wait(lambda _: result.exists(), "harvestctl ending")
        seconds = time.monotonic() - started
    finally:
        terminal.close()

    assert result.read_text().strip() == "0", terminal.keys
    sitting = json.loads(tally.read_text())
    assert (sitting["decided"], sitting["skipped"], sitting["undone"]) == (len(queue.subjects), 1, 1)
    assert set(keyed) == set(queue.subjects) and len(keyed) in (ITEMS, ITEMS + 1)
    left = await client.get("/api/admin/queue", headers=bearer(moderator["accessToken"]))
    assert left.json() == {"items": []}

    # Every decision is in the audit log as it was keyed, made by this moderator, and so is every reveal.
    async with db.pool.acquire() as connection:
        entries = await audit.newest(connection, 5000)
    mine = [entry for entry in entries if entry.actor == audit.pseudonym(uuid.UUID(moderator["user"]["id"]))]
    logged = {}
    for entry in mine:
        kind, _, decision = entry.action.partition(".")
        if kind in DETAIL and decision not in ("reveal", "view"):
            detail = entry.detail
            logged[detail[DETAIL[kind]]] = (decision, detail.get("rule") or detail.get("reason") or "")
    assert logged == keyed
    revealed = {
        (entry.action, entry.detail.get("report") or entry.detail.get("photo") or entry.detail.get("request"))
        for entry in mine
    }
    for subject in queue.of("photo"):
        assert ("photo.reveal", subject) in revealed
    for subject in queue.of("verification"):
        assert ("verification.view", subject) in revealed
    for subject in queue.with_photos:
        assert ("photo.reveal", subject) in revealed

    # The decisions took hold: photo and verification states, appeals decided, reports' strikes.
    photos = dict(
        await db.pool.fetch("SELECT id::text, state FROM photos WHERE id = ANY($1::uuid[])", list(queue.of("photo")))
    )
    assert photos == {s: "approved" if keyed[s][0] == "approve" else "rejected" for s in queue.of("photo")}
    requests = dict(
        await db.pool.fetch(
            "SELECT id::text, state FROM moderation_verifications WHERE id = ANY($1::uuid[])",
            list(queue.of("verification")),
        )
    )
    assert requests == {s: "approved" if keyed[s][0] == "approve" else "rejected" for s in queue.of("verification")}
    appeals = dict(
        await db.pool.fetch(
            "SELECT id::text, state FROM moderation_appeals WHERE id = ANY($1::uuid[])", list(queue.of("appeal"))
        )
    )
    assert appeals == {s: "upheld" if keyed[s][0] == "uphold" else "rejected" for s in queue.of("appeal")}
    strikes = await db.pool.fetch(
        "SELECT report_id::text, until FROM moderation_strikes WHERE measure = 'suspend' AND report_id = ANY($1::uuid[])",
        list(queue.of("report")),
    )
    now = dt.datetime.now(dt.UTC)
    assert {round((row["until"] - now) / dt.timedelta(days=1)) for row in strikes} == {3, 7}

    every = [pressed for presses in keys_per_decision.values() for pressed in presses]
    per_kind = "; ".join(
        f"{kind} {len(presses)}: {sorted(set(presses))} keys" for kind, presses in keys_per_decision.items()
    )
    figures = (
        f"{ITEMS} mixed items ({', '.join(f'{n} {kind}' for kind, n in COUNTS.items())}) cleared with"
        f" {len(keyed)} decisions (a report reopened by an upheld appeal comes back) in {seconds:.1f} s"
        f" ({seconds / len(keyed):.2f} s each, keys, screens, reveals and API included); {terminal.keys} keys in all,"
        f" {terminal.keys / len(keyed):.2f} per decision; keys per decision by kind: {per_kind}"
        f" (the one undone took {max(every)}); {sitting['revealed']} reveals;"
        f" {sitting['rateLimitedSeconds']:.0f} s waiting out the API's per-user rate limit"
    )
    (tmp_path / "figures.txt").write_text(figures + "\n")
    print(figures)
