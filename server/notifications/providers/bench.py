"""The ``bench`` provider: pushes to a receiver that ``harvestctl bench notifications`` runs on this host.

Only the bench makes devices of this provider (the API refuses to register one), for its own people, with a
token ``bench-<port>-<anything>``. The host is not the token's to choose: every request goes to 127.0.0.1, so a
bench device reaches nothing but a port of this machine. Requests are shaped like Expo's, so a bench run costs
the dispatcher what a real provider's round trip does, without a real provider.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

import httpx

from server.notifications.providers.base import (
    TIMEOUT,
    Outcome,
    Push,
    Verdict,
    json_object,
    later,
    transient,
    unreachable,
)

#: a port (1-65535, no leading zero), then anything
_TOKEN = re.compile(r"bench-([1-9][0-9]{0,4})-.*", re.DOTALL)


def endpoint(token: str) -> str | None:
    """Where a bench token's pushes go, always on loopback; None for a token that names no port."""
    found = _TOKEN.fullmatch(token)
    if found is None or int(found.group(1)) > 65535:
        return None
    return f"http://127.0.0.1:{int(found.group(1))}/send"


class BenchProvider:
    name = "bench"
    #: Expo's batch, so a bench request is as big as a real one
    batch = 100

    def __init__(self) -> None:
        # trust_env off: a proxy named in the environment must not stand between the worker and loopback.
        self.client = httpx.AsyncClient(timeout=TIMEOUT, trust_env=False)

    async def send(self, pushes: Sequence[Push]) -> list[Outcome]:
        """One request per receiver port; one outcome per push, in order."""
        outcomes: dict[int, Outcome] = {}
        by_url: dict[str, list[int]] = defaultdict(list)
        for index, push in enumerate(pushes):
            url = endpoint(push.token)
            if url is None:
                outcomes[index] = Outcome(Verdict.INVALID_TOKEN, detail="not a bench token (bench-<port>-…)")
            else:
                by_url[url].append(index)
        for url, indexes in by_url.items():
            answered = await self._post(url, [pushes[index] for index in indexes])
            outcomes.update(zip(indexes, answered, strict=True))
        return [outcomes[index] for index in range(len(pushes))]

    async def _post(self, url: str, pushes: list[Push]) -> list[Outcome]:
        body = [{"to": push.token, "title": push.title, "body": push.body, "data": push.data} for push in pushes]
        try:
            response = await self.client.post(url, json=body)
        except httpx.HTTPError as exc:
            return [unreachable(exc, self.name)] * len(pushes)
        if transient(response):
            return [later(response, self.name)] * len(pushes)
        tickets = json_object(response).get("data")
        if not response.is_success or not isinstance(tickets, list) or len(tickets) != len(pushes):
            return [Outcome(Verdict.FAILED, detail=f"bench receiver: HTTP {response.status_code}")] * len(pushes)
        return [
            Outcome(Verdict.SENT)
            if isinstance(ticket, dict) and ticket.get("status") == "ok"
            else Outcome(Verdict.FAILED, detail="bench receiver refused it")
            for ticket in tickets
        ]

    async def aclose(self) -> None:
        await self.client.aclose()
