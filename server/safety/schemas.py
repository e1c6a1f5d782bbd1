"""Block bodies (api.md, Safety)."""

from __future__ import annotations

import datetime as dt
import uuid

from server.web.schemas import Camel


class BlockRequest(Camel, forbid_unknown_fields=True):
    user_id: uuid.UUID


class Block(Camel):
    """Someone the caller blocked. Only their first name, which the caller needs to know whom they are unblocking:
    a profile card (photos, bio, distance) would show the blocker the person the block hides from them."""

    user_id: uuid.UUID
    first_name: str
    created_at: dt.datetime


class BlockList(Camel):
    items: list[Block]
    next_cursor: str | None
