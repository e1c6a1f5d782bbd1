"""``moderation show`` and ``decide`` for photos, verifications and appeals, run as a moderator runs them: the real
CLI against a real API worker over https. A photo is drawn blurred unless revealed, and only a reveal is audited."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import httpx
import pytest
from litestar import Litestar
from valkey.asyncio import Valkey

from tests.factories import bearer, people_in_postgres, run_jobs, uploaded
from tests.integration.moderation.review import audited, pre_moderated, queue_item
from tests.integration.moderation.staff import staff
from tests.integration.moderation.test_cli_login import harvestctl, signed_in
from tests.integration.moderation.test_verification import submitted
from tests.integration.safety.test_appeals import APPEALS, struck
from tests.services import Stack


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
async def waiting(app: Litestar, client: httpx.AsyncClient, valkey: Valkey, stack: Stack) -> dict[str, Any]:
    """A photo waiting under pre-moderation, a selfie sent, and an appeal of a warning: their ids and owners."""
    owner, verifying, appellant = await people_in_postgres(app, {}, {}, {})
    await uploaded(client, verifying["accessToken"])
    await run_jobs(valkey, app.state.db)
    request_id = await submitted(client, verifying)
    with pre_moderated(stack):
        photo_id = (await uploaded(client, owner["accessToken"]))["id"]
        await run_jobs(valkey, app.state.db)
    _, _, warned = await struck(app, client, appellant, "warn")
    appealed = await client.post(
        APPEALS, json={"strikeId": warned["strikeId"], "text": "Not me."}, headers=bearer(appellant["accessToken"])
    )
    assert appealed.status_code == 201, appealed.text
    return {
        "owner": owner,
        "photo": photo_id,
        "request": request_id,
        "appeal": appealed.json()["id"],
        "report": warned["reportId"],
    }


async def test_photos_verifications_and_appeals_are_shown_and_decided_from_the_shell(
    app, client, waiting, https_api, tmp_path
):
    url, ca_file = https_api
    owner, photo_id, request_id, appeal_id = waiting["owner"], waiting["photo"], waiting["request"], waiting["appeal"]
    moderator = await staff(client, app.state.db)
    home = tmp_path / "home"
    signed_in(home, url, ca_file, moderator["user"]["email"])

    blurred = harvestctl(home, "moderation", "show", photo_id, "--kind", "photos")
    assert blurred.returncode == 0, blurred.stderr
    assert "the photo" in blurred.stdout and "▀" in blurred.stdout and "(revealed)" not in blurred.stdout
    assert await audited(app.state.db, owner["user"]["id"]) == []
    sharp = harvestctl(home, "moderation", "show", photo_id, "--kind", "photos", "--reveal")
    assert sharp.returncode == 0, sharp.stderr
    assert "the photo (revealed)" in sharp.stdout
    assert await audited(app.state.db, owner["user"]["id"]) == [("photo.reveal", {"photo": photo_id})]

    unrevealed = harvestctl(home, "moderation", "show", request_id, "--kind", "verifications")
    assert unrevealed.returncode != 0 and "--reveal" in unrevealed.stderr
    shown = _json(harvestctl(home, "--json", "moderation", "show", request_id, "--kind", "verifications", "--reveal"))
    assert shown["revealedPhotos"] == ["selfie", "profile photo 1"] and shown["pose"]

    appeal = _json(harvestctl(home, "--json", "moderation", "show", appeal_id, "--kind", "appeals"))
    assert appeal["decision"]["measure"] == "warn" and appeal["report"]["id"] == waiting["report"]

    for kind, subject, args in (
        ("photos", photo_id, ["reject", "--reason", "nudity"]),
        ("verifications", request_id, ["approve"]),
        ("appeals", appeal_id, ["uphold", "--note", "The links were theirs."]),
    ):
        refused = harvestctl(home, "moderation", "decide", subject, *args, "--kind", kind)
        assert refused.returncode != 0 and "harvestctl moderation next" in refused.stderr, refused.stderr
        claimed = harvestctl(home, "moderation", "claim", str((await queue_item(app.state.db, subject))["id"]))
        assert claimed.returncode == 0, claimed.stderr
        decided = harvestctl(home, "moderation", "decide", subject, *args, "--kind", kind)
        assert decided.returncode == 0, decided.stderr
    wrong = harvestctl(home, "moderation", "decide", photo_id, "warn", "--kind", "photos")
    assert wrong.returncode != 0 and "photos take approve, reject" in wrong.stderr
    states = await app.state.db.pool.fetchrow(
        "SELECT (SELECT state FROM photos WHERE id = $1::uuid) AS photo,"
        " (SELECT state FROM moderation_verifications WHERE id = $2::uuid) AS request,"
        " (SELECT state FROM moderation_appeals WHERE id = $3::uuid) AS appeal",
        photo_id,
        request_id,
        appeal_id,
    )
    assert dict(states) == {"photo": "rejected", "request": "approved", "appeal": "upheld"}
