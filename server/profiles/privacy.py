"""Profiles, preferences and locations in export and erasure."""

from __future__ import annotations

import uuid
from typing import Any

from server.privacy.registry import DomainData
from server.profiles.service import card_key
from server.profiles.tables import Location, Preferences, Profile


async def export(user_id: uuid.UUID) -> dict[str, Any]:
    return {
        "profile": await Profile.select(*Profile.all_columns(exclude=[Profile.id, Profile.user]))
        .where(Profile.user == user_id)
        .first(),
        "preferences": await Preferences.select(*Preferences.all_columns(exclude=[Preferences.id, Preferences.user]))
        .where(Preferences.user == user_id)
        .first(),
        #: the only location ever kept: the centre of the person's grid cell
        "location": await Location.select(Location.cell_lat, Location.cell_lng, Location.moved_at)
        .where(Location.user == user_id)
        .first(),
    }


async def erase(user_id: uuid.UUID) -> None:
    for table in (Profile, Preferences, Location):
        await table.delete().where(table.user == user_id)


PRIVACY = DomainData(
    name="profiles",
    tables=(Profile._meta.tablename, Preferences._meta.tablename, Location._meta.tablename),
    export=export,
    erase=erase,
    cache_keys=lambda user_id: [card_key(user_id)],
)
