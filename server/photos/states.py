"""The one definition of a photo's states; the database refuses any other (a CHECK on photos.state)."""

from __future__ import annotations

from enum import StrEnum


class PhotoState(StrEnum):
    """processing → pending_review | approved (by the moderation policy) → rejected by a moderator."""

    PROCESSING = "processing"
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"
