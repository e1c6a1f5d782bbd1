"""A review queue as a moderator meets it on a working day: reports (some about people with photos), photos waiting
under pre-moderation, verification selfies and appeals, each made the way people make them through the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from litestar import Litestar
from valkey.asyncio import Valkey

from tests.factories import bearer, people_in_postgres, run_jobs, uploaded
from tests.integration.chat.talk import pairs
from tests.integration.matching.crowd import headers, ids
from tests.integration.moderation.reports import filed
from tests.integration.moderation.review import pre_moderated
from tests.integration.moderation.test_verification import submitted
from tests.integration.safety.test_appeals import APPEALS, struck
from tests.services import Stack


@dataclass
class Mixed:
    """Each open item's subject by its kind, and the reports whose evidence kept photos."""

    subjects: dict[str, str] = field(default_factory=dict)
    with_photos: set[str] = field(default_factory=set)
    #: the dismissed report a reporter appealed: upholding the appeal puts it back in the queue
    reopens: dict[str, str] = field(default_factory=dict)

    def of(self, kind: str) -> set[str]:
        return {subject for subject, each in self.subjects.items() if each == kind}


async def _with_photo(client: httpx.AsyncClient, valkey: Valkey, app: Litestar, person: dict[str, Any]) -> None:
    """``person`` with one approved photo (pre-moderation off)."""
    await uploaded(client, person["accessToken"])
    await run_jobs(valkey, app.state.db)


async def mixed_queue(
    app: Litestar,
    client: httpx.AsyncClient,
    valkey: Valkey,
    stack: Stack,
    *,
    reports: int,
    photos: int,
    verifications: int,
    appeals: int,
) -> Mixed:
    """``reports`` reports (two of them about people with a photo), ``photos`` photos waiting for review,
    ``verifications`` selfies sent, and ``appeals`` appeals (one a reporter's, of a dismissal), all open."""
    made = Mixed()
    for report in await filed(app, client, reports - 2):
        made.subjects[str(report["id"])] = "report"
    for reporter, reported, _ in await pairs(app, client, 2):
        await _with_photo(client, valkey, app, reported)
        answer = await client.post(
            "/api/safety/reports",
            json={"userId": ids(reported), "reason": "fake-profile", "block": False},
            headers=headers(reporter),
        )
        assert answer.status_code == 201, answer.text
        made.subjects[str(answer.json()["id"])] = "report"
        made.with_photos.add(str(answer.json()["id"]))

    # Written straight into Postgres: sign-ups through the API are limited to a few an hour from one address.
    people = iter(await people_in_postgres(app, *[{}] * (verifications + appeals + photos)))
    for _ in range(verifications):
        person = next(people)
        await _with_photo(client, valkey, app, person)
        made.subjects[await submitted(client, person)] = "verification"
    await run_jobs(valkey, app.state.db)

    for n in range(appeals):
        person = next(people)
        if n == 0:
            _, reporter, decided = await struck(app, client, person, "dismiss")
            body, appellant = {"reportId": decided["reportId"]}, headers(reporter)
        else:
            _, _, decided = await struck(app, client, person, "warn")
            body, appellant = {"strikeId": decided["strikeId"]}, bearer(person["accessToken"])
        appealed = await client.post(APPEALS, json=body | {"text": f"I did nothing wrong ({n})."}, headers=appellant)
        assert appealed.status_code == 201, appealed.text
        made.subjects[str(appealed.json()["id"])] = "appeal"
        if "reportId" in body:
            made.reopens[str(body["reportId"])] = str(appealed.json()["id"])

    with pre_moderated(stack):
        for _ in range(photos):
            owner = next(people)
            made.subjects[str((await uploaded(client, owner["accessToken"]))["id"])] = "photo"
        await run_jobs(valkey, app.state.db)
    return made
