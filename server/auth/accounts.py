"""The account facts other domains show and edit: name, gender and birth date live with the account."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from piccolo.columns import Column

from server.auth.tables import User
from server.errors import FieldError

MIN_AGE = 18
#: older than anyone has been documented to live, bar one; beyond it a birth date is a typo or a probe
MAX_AGE = 120


@dataclass(frozen=True)
class Identity:
    id: uuid.UUID
    first_name: str
    gender: str | None
    #: None only for staff accounts made on the host; they have no dating profile
    date_of_birth: dt.date | None


def age_on(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def birth_date_problems(born: dt.date, field: str = "dateOfBirth") -> list[FieldError]:
    """Every birth date that enters Harvest is checked here: adults only, and an age a person can have."""
    age = age_on(born, dt.date.today())
    if age < MIN_AGE:
        return [FieldError(field, f"you must be at least {MIN_AGE} to join")]
    if age > MAX_AGE:
        return [FieldError(field, f"must be a real birth date (an age of at most {MAX_AGE})")]
    return []


async def identity(user_id: uuid.UUID) -> Identity | None:
    return (await identities([user_id])).get(user_id)


async def identities(user_ids: list[uuid.UUID]) -> dict[uuid.UUID, Identity]:
    """Many accounts' identities in one query, by id; an id with no account is left out."""
    if not user_ids:
        return {}
    columns = (User.id, User.first_name, User.gender, User.date_of_birth)
    rows = await User.select(*columns).where(User.id.is_in(user_ids))
    return {row["id"]: Identity(**row) for row in rows}


async def update_identity(user_id: uuid.UUID, *, first_name: str | None = None, gender: str | None = None) -> None:
    changes: dict[Column | str, Any] = {
        column: value for column, value in ((User.first_name, first_name), (User.gender, gender)) if value is not None
    }
    if changes:
        await User.update(changes).where(User.id == user_id)
