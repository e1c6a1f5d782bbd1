"""The review queue one verb at a time (``moderation queue``, ``next``, ``claim``, ``release``, ``show``,
``decide``), run as a moderator runs them: the real CLI against a real API worker over https."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from typing import Any

from tests.integration.moderation.reports import filed
from tests.integration.moderation.staff import staff
from tests.integration.moderation.test_cli_login import harvestctl, signed_in


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_a_moderator_lists_takes_reads_and_decides_from_the_shell(app, client, db, https_api, tmp_path):
    url, ca_file = https_api
    minor, threat, violence = await filed(app, client, 3)  # reasons in turn: minor-safety, threat, sexual-violence
    await db.pool.execute(
        "UPDATE moderation_queue SET due_at = now() - interval '5 minutes' WHERE subject = $1::uuid", threat["id"]
    )
    one, other = await staff(client, db), await staff(client, db)
    mine, theirs = tmp_path / "one", tmp_path / "other"
    signed_in(mine, url, ca_file, one["user"]["email"])
    signed_in(theirs, url, ca_file, other["user"]["email"])

    listed = _json(harvestctl(mine, "moderation", "queue", "--json"))
    assert [item["subject"] for item in listed] == [minor["id"], threat["id"], violence["id"]]
    assert [item["overdue"] for item in listed] == [False, True, False]
    table = harvestctl(mine, "moderation", "queue", "--limit", "5")
    assert table.returncode == 0, table.stderr
    assert "OVERDUE" in table.stdout and "urgent" in table.stdout and "3 open, 1 past their SLA" in table.stderr

    taken = _json(harvestctl(mine, "moderation", "next", "--kind", "reports", "--json"))
    assert taken["subject"] == minor["id"] and taken["claimedBy"] == one["user"]["id"]

    shown = _json(harvestctl(mine, "moderation", "show", minor["id"], "--json"))
    assert [m["from"] for m in shown["evidence"]["conversation"]["messages"]] == ["reporter", "reported"]
    page = harvestctl(mine, "moderation", "show", minor["id"])
    assert page.returncode == 0, page.stderr
    lines = page.stdout.splitlines()
    assert any("reporter: hey, how was your week?" in line for line in lines), page.stdout
    assert any("reported: pay me or else (0)" in line and "◀ reported" in line for line in lines), page.stdout
    assert "strikes  none before" in page.stdout

    held = harvestctl(theirs, "moderation", "claim", taken["id"], "--json")
    assert held.returncode == 1 and held.stdout == ""
    assert "409" in held.stderr and "another moderator holds it; try `harvestctl moderation next`" in held.stderr

    unheld = harvestctl(mine, "moderation", "decide", threat["id"], "warn", "--rule", "spam")
    assert unheld.returncode == 1 and "409" in unheld.stderr and "harvestctl moderation next" in unheld.stderr
    endless = harvestctl(mine, "moderation", "decide", minor["id"], "suspend", "--rule", "minor-safety")
    assert endless.returncode == 64 and "--until" in endless.stderr

    decided = _json(
        harvestctl(mine, "moderation", "decide", minor["id"], "warn", "--rule", "minor-safety", "--note", "n", "--json")
    )
    assert decided["decision"] == "warn" and decided["strikeId"]
    assert await db.pool.fetchval("SELECT state FROM safety_reports WHERE id = $1::uuid", minor["id"]) == "actioned"

    [threat_item] = [item for item in listed if item["subject"] == threat["id"]]
    claimed = _json(harvestctl(theirs, "moderation", "claim", threat_item["id"], "--json"))
    assert claimed["claimedBy"] == other["user"]["id"]
    assert _json(harvestctl(theirs, "moderation", "release", threat_item["id"], "--json")) == {
        "released": threat_item["id"]
    }
    again = harvestctl(theirs, "moderation", "release", threat_item["id"])
    assert again.returncode == 1 and "nothing to give back" in again.stderr

    for _ in range(2):
        assert isinstance(_json(harvestctl(theirs, "moderation", "next", "--json")), dict)
    assert _json(harvestctl(theirs, "moderation", "next", "--json")) is None
    left = _json(harvestctl(mine, "moderation", "queue", "--json"))
    assert {item["claimedBy"] for item in left} == {other["user"]["id"]}

    ends = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()
    suspend = ["decide", threat["id"], "suspend", "--rule", "threats", "--until", ends, "--json"]
    assert _json(harvestctl(theirs, "moderation", *suspend))["decision"] == "suspend"
    until = await db.pool.fetchval("SELECT until FROM moderation_strikes WHERE report_id = $1::uuid", threat["id"])
    assert until == dt.datetime.fromisoformat(ends).replace(tzinfo=dt.UTC), "a date alone ends at midnight UTC"

    no_terminal = harvestctl(mine, "moderation", "review")
    assert no_terminal.returncode == 64 and "review needs a terminal" in no_terminal.stderr
