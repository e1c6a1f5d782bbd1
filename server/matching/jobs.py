"""What matching does when other domains change: keep each person's discovery row in step with them."""

from __future__ import annotations

import uuid

from server.matching import candidates
from server.platform.events import Job


async def refresh_candidate(job: Job) -> None:
    """Rebuild the person's row from its sources; running it twice, or late, gives the same row."""
    await candidates.refresh(uuid.UUID(job.payload["userId"]))
