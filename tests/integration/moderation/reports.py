"""Reports filed the way people file them, to fill the review queue: one matched pair per report, so no decision
on one report closes another (a restriction or more closes the person's other open reports)."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from tests.integration.chat.talk import pairs, send
from tests.integration.matching.crowd import headers, ids

#: every reason a report can give, most urgent first
REASONS = (
    "minor-safety",
    "threat",
    "sexual-violence",
    "scam",
    "nudity",
    "harassment",
    "hate",
    "spam",
    "fake-profile",
    "other",
)


async def filed(app: Litestar, client: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    """``count`` reports, reasons taken in turn; every third one after a short conversation, naming the reported
    person's message. Each is the filing's answer plus ``reported`` (the person's id)."""
    made = []
    for n, (reporter, reported, match_id) in enumerate(await pairs(app, client, count)):
        body: dict[str, Any] = {"userId": ids(reported), "reason": REASONS[n % len(REASONS)], "block": False}
        if n % 3 == 0:
            await send(client, reporter, match_id, f"hi-{n}", content="hey, how was your week?")
            said = await send(client, reported, match_id, f"bad-{n}", content=f"pay me or else ({n})")
            body |= {"messageId": said.json()["id"], "details": "it started friendly"}
        answer = await client.post("/api/safety/reports", json=body, headers=headers(reporter))
        assert answer.status_code == 201, answer.text
        made.append(answer.json() | {"reported": ids(reported)})
    return made
