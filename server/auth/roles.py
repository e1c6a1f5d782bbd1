"""The one definition of what an account may be; the database refuses any other (a CHECK on users.role)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    USER = "user"
    MODERATOR = "moderator"
    ADMIN = "admin"
