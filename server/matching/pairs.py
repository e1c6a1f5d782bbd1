"""Who stands matched with whom, for other domains to ask without reaching into matching's tables.

Imports nothing of matching beyond this module, so the profile service can import it at module level while
matching's own modules import the profile service.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from server.platform import database

# Each pair is stored once (user_a < user_b), so the viewer may be either side: the unique (user_a, user_b)
# index serves the first branch and matches_user_b the second.
_MATCHED = """
SELECT user_b AS other FROM matches WHERE user_a = $1 AND user_b = ANY($2::uuid[]) AND ended_at IS NULL
UNION ALL
SELECT user_a FROM matches WHERE user_b = $1 AND user_a = ANY($2::uuid[]) AND ended_at IS NULL
"""


async def matched_with(viewer_id: uuid.UUID, user_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``user_ids`` the viewer has an active (not ended) match with; one query, none for no one."""
    if not user_ids:
        return set()
    async with database.connection(database.engine()) as connection:
        rows = await connection.fetch(_MATCHED, viewer_id, list(user_ids))
    return {row["other"] for row in rows}
