"""The account facts other domains show and edit: name, gender and birth date live with the account."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from server.auth.tables import User


@dataclass(frozen=True)
class Identity:
    id: uuid.UUID
    first_name: str
    gender: str | None
    #: None only for staff accounts made on the host; they have no dating profile
    date_of_birth: dt.date | None


def age_on(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


async def identity(user_id: uuid.UUID) -> Identity | None:
    row = await User.select(User.id, User.first_name, User.gender, User.date_of_birth).where(User.id == user_id).first()
    return Identity(**row) if row else None


async def update_identity(user_id: uuid.UUID, *, first_name: str | None = None, gender: str | None = None) -> None:
    changes = {
        column: value for column, value in ((User.first_name, first_name), (User.gender, gender)) if value is not None
    }
    if changes:
        await User.update(changes).where(User.id == user_id)
