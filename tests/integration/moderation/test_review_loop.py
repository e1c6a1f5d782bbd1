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

from server.moderation import audit
from tests.factories import bearer
from tests.integration.moderation.reports import filed
from tests.integration.moderation.staff import staff
from tests.integration.moderation.test_cli_login import HARVESTCTL, signed_in

REPORTS = 50
#: the report on screen: the first line of its evidence
ON_SCREEN = re.compile(r"^report ([0-9a-f-]{36})", re.MULTILINE)
#: the keys each decision takes, in turn: (keys, decision, rule); "\n" is Enter
PLANS = [
    ("d9\n", "dismiss", "other-rules"),
    ("w4\n", "warn", "harassment"),
    ("r7\n", "restrict", "spam"),
    ("s\n6\n", "suspend", "scam"),
    ("b2\n", "ban", "threats"),
    ("w8\n", "warn", "fake-profile"),
    ("s3\n1\n", "suspend", "minor-safety"),
    ("d5\n", "dismiss", "hate"),
    ("r3\n", "restrict", "sexual-content"),
]
#: where, in the order reports come up, the moderator takes a decision back and where they skip one
UNDO_AT, SKIP_AT = 7, 20


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
    return found.group(1) if found else None


def moved_on(from_report: str | None) -> Callable[[str], bool]:
    return lambda shown: (
        on_screen(shown) != from_report and (on_screen(shown) is not None or "nothing is waiting" in shown)
    )


async def test_fifty_reports_cleared_from_the_keyboard_each_as_keyed_and_all_audited(
    app, client, db, https_api, tmp_path
):
    url, ca_file = https_api
    reports = await filed(app, client, REPORTS)
    reasons = {report["id"]: report["reason"] for report in reports}
    moderator = await staff(client, db)
    home = tmp_path / "home"
    signed_in(home, url, ca_file, moderator["user"]["email"])

    env = f"HOME={shlex.quote(str(home))} XDG_CONFIG_HOME={shlex.quote(str(home / '.config'))}"
    result, tally = tmp_path / "exit-code", tmp_path / "tally.json"
    command = f"env -u HARVEST_ROOT -u COLUMNS -u LINES {env} {HARVESTCTL} moderation review --json > {tally}; echo $? > {result}; sleep 600"
    terminal = Terminal(tmp_path, f"sh -c {shlex.quote(command)}")
    keyed: dict[str, tuple[str, str]] = {}
    keys_per_decision: list[int] = []
    try:
        started = time.monotonic()
        current = on_screen(terminal.wait(on_screen, "the first report"))
        skipped: str | None = None
        turn = 0
        while current is not None or skipped is not None:
            if current is None:
                # Only the skipped report is left: any key looks again and brings it back.
                terminal.type("\n")
                current = on_screen(terminal.wait(on_screen, "the skipped report"))
                assert current == skipped
                skipped = None
            if turn == SKIP_AT and skipped is None:
                skipped = current
                terminal.type("n")
                current = on_screen(terminal.wait(moved_on(current), "the report after the one skipped"))
                turn += 1
                continue
            keys, decision, rule = PLANS[turn % len(PLANS)]
            pressed = terminal.type(keys)
            if turn == UNDO_AT:
                # Staged, the next report is up; "u" takes the decision back and returns this report.
                terminal.wait(moved_on(current), "the next report")
                pressed += terminal.type("u")
                assert on_screen(terminal.wait(lambda s, c=current: on_screen(s) == c, "the undone report")) == current
                keys, decision, rule = PLANS[(turn + 1) % len(PLANS)]
                pressed += terminal.type(keys)
            keyed[current] = (decision, rule)
            keys_per_decision.append(pressed)
            current = on_screen(terminal.wait(moved_on(current), "the next report"))
            turn += 1
        assert "nothing is waiting" in terminal.screen()
        terminal.type("q")
        terminal.wait(lambda _: result.exists(), "harvestctl ending")
        seconds = time.monotonic() - started
    finally:
        terminal.close()

    assert result.read_text().strip() == "0", terminal.keys
    sitting = json.loads(tally.read_text())
    assert (sitting["decided"], sitting["skipped"], sitting["undone"]) == (REPORTS, 1, 1)
    assert set(keyed) == set(reasons)

    left = await client.get("/api/admin/queue", headers=bearer(moderator["accessToken"]))
    assert left.json() == {"items": []}
    rows = await db.pool.fetch(
        "SELECT r.id::text, r.state, s.measure, s.rule, s.until FROM safety_reports r"
        " LEFT JOIN moderation_strikes s ON s.report_id = r.id"
    )
    # A dismissal leaves no strike, only the report's state.
    decided = {
        row["id"]: (row["measure"] or ("dismiss" if row["state"] == "dismissed" else row["state"]), row["rule"])
        for row in rows
    }
    for report_id, (decision, rule) in keyed.items():
        assert decided[report_id][0] == decision, report_id
        if decision != "dismiss":
            assert decided[report_id][1] == rule, report_id
    until = {row["id"]: row["until"] for row in rows if row["measure"] == "suspend"}
    now = dt.datetime.now(dt.UTC)
    assert {round((end - now) / dt.timedelta(days=1)) for end in until.values()} == {3, 7}
    async with db.pool.acquire() as connection:
        entries = await audit.newest(connection, 1000)
    logged = {
        entry.detail["report"]: (entry.action.removeprefix("report."), entry.detail["rule"])
        for entry in entries
        if entry.action.startswith("report.")
    }
    assert logged == keyed

    plain = sum(1 for pressed in keys_per_decision if pressed <= 4)
    figures = (
        f"{REPORTS} reports cleared in {seconds:.1f} s ({seconds / REPORTS:.2f} s each, keys, screens and API included);"
        f" {terminal.keys} keys in all, {terminal.keys / REPORTS:.2f} per decision;"
        f" keys per decision: {sorted(set(keys_per_decision))}"
        f" (dismiss/warn/restrict/ban 3, suspend with the default 7 days 4, with typed days 5, the one undone"
        f" {keys_per_decision[UNDO_AT]}; {plain} decisions took 4 keys or fewer);"
        f" {sitting['rateLimitedSeconds']:.0f} s of it waiting out the API's per-user rate limit,"
        f" {seconds - sitting['rateLimitedSeconds']:.1f} s without"
    )
    (tmp_path / "figures.txt").write_text(figures + "\n")
    print(figures)
