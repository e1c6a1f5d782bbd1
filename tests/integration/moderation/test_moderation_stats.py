"""``harvestctl moderation stats`` and ``moderation appeals`` as a moderator runs them: the real CLI against a real
API worker over https, counting a seeded queue."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.factories import bearer, people_in_postgres
from tests.integration.chat.stored import assert_problem
from tests.integration.moderation.reports import filed
from tests.integration.moderation.staff import staff
from tests.integration.moderation.test_cli_login import harvestctl, signed_in
from tests.integration.safety.test_appeals import APPEALS, struck
from tests.integration.safety.test_reports import claimed, decide, queued


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_the_queues_figures_and_the_open_appeals_from_the_shell(app, client, db, https_api, tmp_path):
    url, ca_file = https_api
    first, late, _ = await filed(app, client, 3)
    await db.pool.execute(
        "UPDATE moderation_queue SET due_at = now() - interval '5 minutes' WHERE subject = $1::uuid", late["id"]
    )
    moderator = await staff(client, db)
    await claimed(client, moderator, str((await queued(app, first["id"]))["id"]))
    dismissed = await decide(client, moderator, first["id"], decision="dismiss", rule="other-rules")
    assert dismissed.status_code == 200, dismissed.text
    [person] = await people_in_postgres(app, {})
    _, _, warned = await struck(app, client, person, "warn")
    appealed = await client.post(
        APPEALS, json={"strikeId": warned["strikeId"], "text": "Not spam."}, headers=bearer(person["accessToken"])
    )
    assert appealed.status_code == 201, appealed.text
    home = tmp_path / "home"
    signed_in(home, url, ca_file, moderator["user"]["email"])

    figures = _json(harvestctl(home, "moderation", "stats", "--days", "3", "--json"))
    queues = {queue["kind"]: queue for queue in figures["queues"]}
    assert {k: (q["open"], q["overdue"], q["decided"]) for k, q in queues.items()} == {
        "reports": (2, 1, 2),
        "photos": (0, 0, 0),
        "verifications": (0, 0, 0),
        "appeals": (1, 0, 0),
    }
    assert queues["reports"]["medianSecondsToDecision"] >= 0 and queues["photos"]["oldestSeconds"] is None
    assert figures["decisions"] == {"report.dismiss": 1, "report.warn": 1}
    assert [(day["filed"], day["decided"]) for day in figures["perDay"]] == [(0, 0), (0, 0), (5, 2)]
    table = harvestctl(home, "moderation", "stats", "--days", "3")
    assert table.returncode == 0, table.stderr
    for shown in ("Review queues", "report.dismiss", "Median to decision", "▁▁█"):
        assert shown in table.stdout, (shown, table.stdout)

    [listed] = _json(harvestctl(home, "moderation", "appeals", "--json"))
    assert listed["id"] == appealed.json()["id"] and listed["appellant"] == "affected"
    assert (listed["decision"]["measure"], listed["decision"]["rule"], listed["decision"]["byYou"]) == (
        "warn",
        "spam",
        False,
    )
    shown = harvestctl(home, "moderation", "appeals")
    assert shown.returncode == 0, shown.stderr
    assert "warn · spam" in shown.stdout and "the person decided about" in shown.stdout and "1 open" in shown.stderr

    assert_problem(await client.get("/api/admin/queue/stats", headers=bearer(person["accessToken"])), 403)
    refused = harvestctl(home, "moderation", "stats", "--days", "91")
    assert refused.returncode != 0
