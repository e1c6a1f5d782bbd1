"""What an email says: the account emails (verify an address, reset a password) and the digest of notifications.

The dispatcher calls ``compose`` when an email delivery comes due and sends what it returns, so a letter is
written from what the database holds at that moment: an account erased meanwhile gets nothing, a digest tells
only of what is still unread, and an account email's token is made then (no secret ever waits in a table).

A digest names who and how many, never what anyone wrote: it leaves the appliance for a mailbox provider and
stays there. Likes are counted without names, as their pushes are (the app shows who).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import asyncpg

from server import settings as settings_module
from server.auth.service import issue_email_token
from server.moderation.appeals import appeal_code
from server.notifications.deliveries import KEEP_DAYS
from server.notifications.preferences import settled
from server.notifications.unsubscribe import unsubscribe_url

_ACCOUNT_MESSAGES = {
    "verify": (
        "Confirm your email for Harvest",
        "verify-email",
        "Hi {name},\n\nConfirm this address by opening the link below (valid for 24 hours):\n\n{link}\n",
    ),
    "reset": (
        "Reset your Harvest password",
        "reset-password",
        "Hi {name},\n\nSomeone asked to reset your password. If it was you, open the link below within an hour:\n\n"
        "{link}\n\nIf it wasn't, ignore this email; your password stays as it is.\n",
    ),
}

_PERSON = "SELECT email, first_name FROM users WHERE id = $1"

# Unread notifications of the digest's kinds that no sent digest told of, oldest first, each with the other
# person's first name. A match or message notification of a match that has ended since is left out: there is
# nothing left to open. A message notification moves up (created_at) with each message it counts, so one a
# digest told of comes again when more messages arrive in its conversation. A sent digest's sent_at is when it
# was composed (see _TOLD_AS_OF), and it tells nothing newer than that.
_UNTOLD = """
WITH since AS (
    SELECT coalesce(
        (SELECT max(sent_at) FROM notification_deliveries
         WHERE user_id = $1 AND channel = 'email' AND kind = 'digest' AND state = 'sent'),
        now() - $3 * interval '1 day'
    ) AS at
)
SELECT n.kind, cardinality(n.message_ids) AS counted, u.first_name AS other
FROM notifications n
LEFT JOIN matches m ON m.id = n.match_id
LEFT JOIN users u ON u.id = CASE WHEN m.user_a = n.user_id THEN m.user_b ELSE m.user_a END
WHERE n.user_id = $1 AND n.read_at IS NULL AND n.kind = ANY($2::text[])
  AND n.created_at > (SELECT at FROM since) AND n.created_at <= now()
  AND (n.kind = 'like' OR (m.ended_at IS NULL AND u.id IS NOT NULL))
ORDER BY n.created_at, n.id
"""


# What a digest tells is as of the moment it is composed, not the moment the relay accepts it: what happens while
# it is being sent owes the next digest, which must tell of it. The dispatcher keeps this when the send succeeds.
_TOLD_AS_OF = "UPDATE notification_deliveries SET sent_at = now() WHERE id = $1 AND kind = 'digest'"


@dataclass(frozen=True)
class Letter:
    """One plain-text email, ready for the Mailer."""

    to: str
    subject: str
    text: str
    #: beyond From/To/Subject: a digest's List-Unsubscribe pair (RFC 8058); none for account emails
    headers: dict[str, str] = field(default_factory=dict)


async def compose(
    connection: asyncpg.Connection, delivery_id: uuid.UUID, user_id: uuid.UUID, kind: str
) -> Letter | None:
    """The email an email delivery owes (kind digest, verify or reset); None when there is nothing to send: the
    account was erased, or a digest has nothing left to tell of."""
    person = await connection.fetchrow(_PERSON, user_id)
    if person is None:
        return None
    if kind == "digest":
        async with connection.transaction():  # one now() for what is told and what it is told as of
            letter = await _digest(connection, user_id, person["email"], person["first_name"])
            await connection.execute(_TOLD_AS_OF, delivery_id)
        return letter
    if kind == "decision":
        return await _decisions(connection, delivery_id, user_id, person["email"], person["first_name"])
    return await _account_email(user_id, kind, person["email"], person["first_name"])


#: statements of the person's strikes made since the last decision email was owed (a strike made while one is
#: being sent is told again in the next, rather than not at all)
_UNSENT_STATEMENTS = """
SELECT id, statement FROM moderation_strikes
WHERE user_id = $1
  AND created_at > coalesce((SELECT max(created_at) FROM notification_deliveries
                             WHERE user_id = $1 AND kind = 'decision' AND state = 'sent' AND id <> $2), '-infinity')
ORDER BY created_at
"""

_STATEMENT_LINES = (
    ("decision", "Decision"),
    ("scope", "What it means"),
    ("duration", "How long"),
    ("facts", "The facts"),
    ("ground", "What it came from"),
    ("automated", "Automated"),
    ("rule", "The rule"),
    ("appeal", "How to appeal"),
)


async def _decisions(
    connection: asyncpg.Connection, delivery_id: uuid.UUID, user_id: uuid.UUID, to: str, name: str
) -> Letter | None:
    """The statement of reasons of each decision about the person not emailed before (EU DSA Art. 17)."""
    rows = await connection.fetch(_UNSENT_STATEMENTS, user_id, delivery_id)
    if not rows:
        return None
    parts = []
    for row in rows:
        told = json.loads(row["statement"])
        lines = [f"{label}: {told[key]}" for key, label in _STATEMENT_LINES]
        lines.append(f"Appeal code: {appeal_code(settings_module.current(), row['id'])}")
        parts.append("\n".join(lines))
    text = (
        f"Hi {name},\n\nOur moderators reviewed your account and decided as follows.\n\n"
        + "\n\n".join(parts)
        + "\n\nThe same statement is in the app's safety settings.\n"
    )
    return Letter(to=to, subject="A decision about your Harvest account", text=text)


async def _account_email(user_id: uuid.UUID, purpose: str, to: str, name: str) -> Letter:
    settings = settings_module.current()
    subject, path, body = _ACCOUNT_MESSAGES[purpose]
    token = await issue_email_token(user_id, purpose)
    link = settings.link(f"{path}?token={token}")
    if settings.config.email.link_base:
        # The app's deep link does nothing where the app is not installed (a laptop): the web page does.
        link += f"\n\nNo app on this device? Open this page instead:\n\n{settings.page_link(f'{path}?token={token}')}"
    return Letter(to=to, subject=subject, text=body.format(name=name, link=link))


async def _digest(connection: asyncpg.Connection, user_id: uuid.UUID, to: str, name: str) -> Letter | None:
    preferences = (await settled(connection, [user_id])).get(user_id)
    if preferences is None:
        return None
    kinds = [kind for kind, mode in preferences.kinds.items() if mode == "digest"]
    if not kinds:  # every kind was moved off the digest (or unsubscribed) while this one waited
        return None
    rows = await connection.fetch(_UNTOLD, user_id, kinds, KEEP_DAYS)
    if not rows:
        return None
    settings = settings_module.current()
    unsubscribe = unsubscribe_url(settings, user_id)
    subject, lines = _summary(rows)
    text = (
        f"Hi {name},\n\nWhile you were away, this happened on Harvest:\n\n"
        + "".join(f"- {line}\n" for line in lines)
        + f"\nOpen the app to see it all:\n\n{settings.link('')}\n\n"
        "You get this email because you asked for these notifications as a digest. You can change that in the "
        f"app's notification settings, or stop these emails with this link:\n\n{unsubscribe}\n"
    )
    return Letter(
        to=to,
        subject=subject,
        text=text,
        headers={
            # RFC 8058: the mailbox provider POSTs "List-Unsubscribe=One-Click" to this https URL itself.
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def _summary(rows: list[asyncpg.Record]) -> tuple[str, list[str]]:
    """The subject (counts only) and one line per kind: who and how many, in the order they happened."""
    matches = [row["other"] for row in rows if row["kind"] == "match"]
    # One unread message notification per conversation, so one name per conversation.
    conversations = [(row["other"], row["counted"]) for row in rows if row["kind"] == "message"]
    messages = sum(counted for _, counted in conversations)
    likes = sum(1 for row in rows if row["kind"] == "like")
    counts, lines = [], []
    if matches:
        counts.append(_count(len(matches), "new match", "new matches"))
        lines.append(f"{counts[-1]} with {_names(matches)}")
    if conversations:
        counts.append(_count(messages, "new message", "new messages"))
        lines.append(f"{counts[-1]} from {_names([other for other, _ in conversations])}")
    if likes:
        counts.append(_count(likes, "super like", "super likes"))
        lines.append(f"{_count(likes, 'person', 'people')} super liked you")
    return f"Harvest: {', '.join(counts)}", lines


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _names(names: list[str]) -> str:
    """``Sam``, ``Sam and Robin``, ``Sam, Robin and Kai``; a first name twice (two people called Alex) is kept."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
