"""What is sent live to people's sockets, and how it gets there: one Valkey publish per person, read by whichever
API processes hold that person's sockets (``server/platform/pubsub.py``).

Live delivery is at most once. Everything a frame carries about messages is in Postgres first, so a socket
that misses a frame (a reconnect, a restart, a slow reader dropped) catches up over REST with ``?after=``.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from typing import Any

import msgspec
from valkey.asyncio import Valkey
from valkey.exceptions import ValkeyError

from server.platform.pubsub import person_channel

log = logging.getLogger("harvest.chat.fanout")

#: the field of a published frame naming the socket that caused it, which must not be sent it back
ORIGIN = "origin"


def frame(kind: str, data: Any) -> dict[str, Any]:
    """A server frame: its type, a unique id, the server's time, and the data (api.md, WebSocket)."""
    return {
        "type": kind,
        "id": str(uuid.uuid4()),
        "time": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "data": msgspec.to_builtins(data),
    }


async def deliver(valkey: Valkey, people: Iterable[uuid.UUID], sent: dict[str, Any], origin: str | None = None) -> None:
    """Publish a frame to each person's sockets in one round trip. Valkey being away loses only the live copy:
    what the frame says is stored, and the app finds it over REST."""
    body = msgspec.json.encode(sent | {ORIGIN: origin} if origin else sent)
    try:
        async with valkey.pipeline(transaction=False) as pipe:
            for person in people:
                pipe.publish(person_channel(person), body)
            await pipe.execute()
    except (ValkeyError, OSError) as exc:
        log.warning("live delivery skipped: pub/sub unreachable", extra={"frame": sent["type"], "error": str(exc)})
