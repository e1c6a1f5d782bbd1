"""Tables the platform itself owns (no user data lives here)."""

from __future__ import annotations

from piccolo.columns import JSONB, BigSerial, Timestamptz, Varchar
from piccolo.table import Table


class JobOutbox(Table, tablename="job_outbox"):
    """Jobs committed with the transaction that caused them, waiting to be relayed onto the job stream.

    A job enqueued here survives a Valkey outage or a crash between commit and publish: the worker
    relays rows to Valkey and deletes them in one Postgres transaction.
    """

    id = BigSerial(primary_key=True)
    kind = Varchar(length=100)
    payload = JSONB()
    created_at = Timestamptz()
