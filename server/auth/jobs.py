"""Account emails go out through the notification deliveries: the listener only records that one is owed.

The dispatcher composes it when it is due (``server/notifications/email.py``), so the link's token is made
then and no secret ever waits in a queue; a relay that is down delays the email, retried with backoff.
"""

from __future__ import annotations

import uuid

import asyncpg

from server.notifications.deliveries import owe_email
from server.platform import database
from server.platform.events import Job


async def send_account_email(job: Job) -> None:
    if job.payload["userId"] is None:  # a reset asked for an address with no account (see forgot_password)
        return
    try:
        async with database.connection(database.engine()) as connection:
            await owe_email(connection, uuid.UUID(job.payload["userId"]), job.payload["purpose"])
    except asyncpg.ForeignKeyViolationError:
        return  # the account was erased before the email was owed
