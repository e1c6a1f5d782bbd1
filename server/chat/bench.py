"""What ``harvestctl bench chat`` needs from inside: matched pairs of synthetic people with logins, the ledger its
client processes kept checked against what Postgres stored, and the people removed again.

A bench chat person is a bare account (``chat-…@seed.bench.invalid``, a password nobody knows) with one login;
pairs of them share a match, which is all chat asks for. Idle people (for sockets held while the pairs talk) have
no match. They have no profile and no row in the discovery index, so no deck ever shows them, and their address
keeps them apart from the discovery bench's people (``seed-…``), whose runs neither count nor purge them.

The ledger is what the clients saw: each acknowledgement (the sender's ``clientId``, the message id and seq the
server answered, when it was first sent) and each message a recipient got, live on a socket or recovered over
REST with ``?after=``. ``reconcile`` does the arithmetic: an acknowledged message is lost if its recipient never
got it, duplicated if one socket got it live twice, if two acknowledgements of one ``clientId`` named different
messages, or if one ``clientId`` was stored twice.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg

from server.auth.roles import Role
from server.auth.service import AuthService
from server.bench import percentile
from server.matching import seed

#: what every bench chat address matches, and no other address does
EMAIL_LIKE = f"chat-%@{seed.DOMAIN}"
#: how the logins are named in a person's list of devices
DEVICE = "harvestctl bench chat"
SESSION_COLUMNS = ("id", "user", "device", "created_at", "last_seen_at")
MATCH_COLUMNS = ("id", "user_a", "user_b", "created_at")
#: what a purge deletes from, then vacuums (the account's cascade reaches the rest)
_PURGED_TABLES = ("users", "auth_sessions", "refresh_tokens", "matches", "chat_conversations", "chat_messages")
#: seeded matches, by the address of their first person (both of a pair are bench people)
_SEEDED_MATCHES = "SELECT x.id, x.user_a, x.user_b FROM matches x JOIN users u ON u.id = x.user_a WHERE u.email LIKE $1"


class Ack(NamedTuple):
    """A sender's acknowledgement: ``message_ack`` for its ``clientId`` named this message."""

    sender: str
    client_id: str
    match_id: str
    message_id: str
    seq: int
    #: when the client first sent this clientId, and when the acknowledgement came (seconds, wall clock)
    sent_at: float
    acked_at: float


class Receipt(NamedTuple):
    """A recipient got a message: live on a socket (``message_received``), or recovered over REST."""

    recipient: str
    message_id: str
    match_id: str
    live: bool
    #: which of the recipient's connections it came on (1 for the first, 2 after one reconnect…)
    socket: int
    received_at: float


class StoredMessage(NamedTuple):
    sender: str
    client_id: str
    message_id: str


async def seed_people(
    connection: asyncpg.Connection, service: AuthService, pairs: int, idle: int, password_hash: str
) -> dict[str, Any]:
    """``pairs`` matched pairs and ``idle`` unmatched people, each with one login and an access token. People of
    an earlier run that did not finish are removed first."""
    started = time.perf_counter()
    leftover = await purge(connection, service)
    now = dt.datetime.now(dt.UTC)
    people = [uuid.uuid4() for _ in range(2 * pairs + idle)]
    sessions = [uuid.uuid4() for _ in people]
    matches = [(uuid.uuid4(), *sorted(people[2 * index : 2 * index + 2]), now) for index in range(pairs)]
    for first in range(0, len(people), seed.BATCH):
        chunk = range(first, min(first + seed.BATCH, len(people)))
        users = [
            (
                people[i],
                f"chat-{people[i].hex}@{seed.DOMAIN}",
                password_hash,
                "Bench",
                dt.date(1990, 1, 1),
                "woman",
                "user",
                now,
                now,
            )
            for i in chunk
        ]
        async with connection.transaction():
            # Made again at will: losing the last commits to a crash costs nothing.
            await connection.execute("SET LOCAL synchronous_commit = off")
            await connection.copy_records_to_table("users", records=users, columns=seed.USER_COLUMNS)
            await connection.copy_records_to_table(
                "auth_sessions",
                records=[(sessions[i], people[i], DEVICE, now, now) for i in chunk],
                columns=SESSION_COLUMNS,
            )
    async with connection.transaction():
        await connection.copy_records_to_table("matches", records=matches, columns=MATCH_COLUMNS)

    def person(index: int) -> dict[str, str]:
        token = service.issuer.access_token(people[index], sessions[index], Role.USER)
        return {"id": str(people[index]), "accessToken": token}

    return {
        "pairs": [
            {"matchId": str(match_id), "people": [person(2 * index), person(2 * index + 1)]}
            for index, (match_id, *_) in enumerate(matches)
        ],
        "idle": [person(index) for index in range(2 * pairs, len(people))],
        "leftoverPurged": leftover["people"],
        "seconds": time.perf_counter() - started,
    }


async def purge(connection: asyncpg.Connection, service: AuthService) -> dict[str, Any]:
    """Delete every bench chat person, with their logins, matches and messages."""
    started = time.perf_counter()
    purged = await seed.delete_people(connection, service, EMAIL_LIKE)
    if purged:
        await seed.vacuum(connection, _PURGED_TABLES)
    return {"people": purged, "seconds": time.perf_counter() - started}


def read_ledger(paths: Iterable[Path]) -> tuple[list[Ack], list[Receipt]]:
    """The client processes' ledger files: JSON lines ``["ack", …Ack]`` and ``["receipt", …Receipt]``."""
    acks, receipts = [], []
    for path in paths:
        with path.open() as lines:
            for line in lines:
                kind, *fields = json.loads(line)
                if kind == "ack":
                    acks.append(Ack(*fields))
                else:
                    receipts.append(Receipt(*fields))
    return acks, receipts


async def figures(connection: asyncpg.Connection, ledger: list[Path]) -> dict[str, Any]:
    """The ledger checked against what Postgres stored for the bench matches."""
    matches = await connection.fetch(_SEEDED_MATCHES, EMAIL_LIKE)
    match_ids = [row["id"] for row in matches]
    stored = [
        StoredMessage(str(row["sender"]), row["client_id"], str(row["id"]))
        for row in await connection.fetch(
            "SELECT sender, client_id, id FROM chat_messages WHERE match_id = ANY($1::uuid[])", match_ids
        )
    ]
    # Every conversation's seqs are 1…n with no gap, and its counter says n.
    broken = await connection.fetchval(
        "SELECT count(*) FROM (SELECT m.match_id FROM chat_messages m"
        " JOIN chat_conversations c ON c.match_id = m.match_id WHERE m.match_id = ANY($1::uuid[])"
        " GROUP BY m.match_id, c.last_seq"
        " HAVING min(m.seq) <> 1 OR max(m.seq) <> count(*) OR c.last_seq <> count(*)) broken",
        match_ids,
    )
    partners = {str(row["id"]): (str(row["user_a"]), str(row["user_b"])) for row in matches}
    acks, receipts = read_ledger(ledger)
    return reconcile(acks, receipts, partners, stored) | {"conversationsWithGaps": int(broken)}


def reconcile(
    acks: list[Ack], receipts: list[Receipt], partners: dict[str, tuple[str, str]], stored: list[StoredMessage]
) -> dict[str, Any]:
    """Each acknowledged message followed to its recipient, and counted once: delivered live (its first copy came
    on a socket), recovered on resync (only over REST), or lost (never). Latency is from the sender's first send
    to the recipient's live copy."""
    acked: dict[tuple[str, str], set[str]] = defaultdict(set)
    first: dict[str, Ack] = {}
    for ack in acks:
        acked[ack.sender, ack.client_id].add(ack.message_id)
        if ack.message_id not in first or ack.sent_at < first[ack.message_id].sent_at:
            first[ack.message_id] = ack
    got: dict[str, Receipt] = {}
    live_copies = Counter((r.recipient, r.socket, r.message_id) for r in receipts if r.live)
    misdelivered = unacknowledged = 0
    for receipt in sorted(receipts, key=lambda r: r.received_at):
        named = first.get(receipt.message_id)
        if named is None:
            unacknowledged += 1
        elif receipt.recipient != _recipient(partners, named):
            misdelivered += 1
        else:
            # The recipient's first copy decides how it got the message.
            got.setdefault(receipt.message_id, receipt)
    live = recovered = lost = 0
    latencies = []
    for message_id, ack in first.items():
        copy = got.get(message_id)
        if copy is None:
            lost += 1
        elif copy.live:
            live += 1
            latencies.append((copy.received_at - ack.sent_at) * 1000)
        else:
            recovered += 1
    stored_ids = {message.message_id for message in stored}
    stored_keys = Counter((message.sender, message.client_id) for message in stored)
    duplicated = {
        "liveTwiceOnOneSocket": sum(count - 1 for count in live_copies.values()),
        "acksNamingTwoMessages": sum(len(ids) - 1 for ids in acked.values()),
        "storedTwice": sum(count - 1 for count in stored_keys.values()),
    }
    ordered = sorted(latencies)
    timing = {
        name: percentile(ordered, fraction) if ordered else 0.0
        for name, fraction in (("p50Ms", 0.5), ("p95Ms", 0.95), ("p99Ms", 0.99), ("maxMs", 1.0))
    }
    span = max((a.acked_at for a in acks), default=0.0) - min((a.sent_at for a in acks), default=0.0)
    return {
        "acknowledged": len(acked),
        "stored": len(stored),
        "acknowledgedNotStored": sum(1 for message_id in first if message_id not in stored_ids),
        "storedNotAcknowledged": sum(1 for key in stored_keys if key not in acked),
        "deliveredLive": live,
        "recoveredOnResync": recovered,
        "lost": lost,
        "duplicated": sum(duplicated.values()),
        "duplicates": duplicated,
        "misdelivered": misdelivered,
        "receivedUnacknowledged": unacknowledged,
        "latency": timing,
        "messagesPerSecond": len(acked) / span if span > 0 else 0.0,
    }


def _recipient(partners: dict[str, tuple[str, str]], ack: Ack) -> str | None:
    pair = partners.get(ack.match_id)
    if pair is None or ack.sender not in pair:
        return None
    return pair[1] if pair[0] == ack.sender else pair[0]
