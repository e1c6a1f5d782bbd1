"""Queued jobs can name a person; erasure drops the ones not yet relayed."""

from __future__ import annotations

import uuid
from typing import Any

from server.platform.tables import JobOutbox
from server.privacy.registry import DomainData


async def export(user_id: uuid.UUID) -> dict[str, Any]:
    return {}


async def erase(user_id: uuid.UUID) -> None:
    await JobOutbox.raw("DELETE FROM job_outbox WHERE payload->>'userId' = {}", str(user_id))


PRIVACY = DomainData(name="jobs", tables=(JobOutbox._meta.tablename,), export=export, erase=erase)
