"""What a person looks for, with the defaults their age gives until they say."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import get_args

from server.auth import accounts
from server.auth.schemas import Gender
from server.profiles.schemas import Preferences
from server.profiles.tables import Preferences as PreferencesRow

ALL_GENDERS = list(get_args(Gender))


def default_preferences(age: int | None) -> Preferences:
    """What a new account starts with: ten years either side of its own age, 50 km, everyone."""
    # Clamped into the range preferences allow (18-100), so an account older than 110 still gets valid ones.
    low, high = (min(max(18, age - 10), 100), min(100, age + 10)) if age else (18, 100)
    return Preferences(
        min_age=low, max_age=high, max_distance_km=50, preferred_genders=list(ALL_GENDERS), relationship_goals=[]
    )


async def preferences_of(user_id: uuid.UUID) -> Preferences:
    """The person's preferences, or the defaults their age gives until they edit them."""
    columns = [getattr(PreferencesRow, name) for name in Preferences.__struct_fields__]
    row = await PreferencesRow.select(*columns).where(PreferencesRow.user == user_id).first()
    if row is not None:
        return Preferences(**row)
    identity = await accounts.identity(user_id)
    return default_preferences(
        accounts.age_on(identity.date_of_birth, dt.date.today()) if identity and identity.date_of_birth else None
    )
