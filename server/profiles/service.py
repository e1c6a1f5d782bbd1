"""Profiles, preferences and locations, and the public view others get of a person."""

from __future__ import annotations

import bisect
import datetime as dt
import logging
import uuid
import zoneinfo
from collections.abc import Collection
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
from piccolo.columns import Column
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table
from valkey.asyncio import Valkey
from valkey.exceptions import ValkeyError

from server.auth import accounts
from server.errors import FieldError, Invalid, NotFound, RateLimited
from server.matching import candidates
from server.matching.pairs import matched_with
from server.moderation import measures
from server.photos.schemas import PhotoView
from server.photos.service import PhotoService, blurred_only, visible_cache_key
from server.platform import database
from server.platform.ratelimit import RateLimiter
from server.profiles import geo
from server.profiles.preferences import preferences_of
from server.profiles.schemas import Orientation, Preferences, PreferencesUpdate, Profile, ProfileUpdate, PublicProfile
from server.profiles.tables import Location
from server.profiles.tables import Preferences as PreferencesRow
from server.profiles.tables import Profile as ProfileRow
from server.safety.blocks import blocked_between
from server.settings import LocationSection

log = logging.getLogger("harvest.profiles")
_CARD = "profile:card:{}"
_CARD_TTL = 600


class Card(msgspec.Struct, kw_only=True):
    """Everything about a person the profile views are built from; what the cache holds. The one list of a
    profile's fields: the views copy the ones they share with it, and Postgres is read for the ones it names.
    Defaults are those of a person who has not edited their profile yet."""

    first_name: str
    gender: str | None
    date_of_birth: dt.date | None
    bio: str = ""
    sexual_orientation: Orientation | None = None
    relationship_goal: str | None = None
    interests: list[str] = []
    job_title: str | None = None
    education: str | None = None
    height_cm: int | None = None
    is_verified: bool = False
    #: the centre of the person's grid cell
    cell: geo.Cell | None = None
    #: shown to no one else (PublicProfile has no such field)
    time_zone: str | None = None


#: the profile columns a card carries as they are
_PROFILE_FIELDS = tuple(
    name for name in Card.__struct_fields__ if name in {c._meta.name for c in ProfileRow._meta.columns}
)
#: the card fields every view of a profile shows as they are
_SHOWN_FIELDS = tuple(name for name in PublicProfile.__struct_fields__ if name in Card.__struct_fields__)


def card_key(user_id: uuid.UUID | str) -> str:
    return _CARD.format(user_id)


@cache
def interests() -> tuple[str, ...]:
    """The curated interests, from the list shipped with the release."""
    lines = (Path(__file__).parent / "interests.txt").read_text().splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def interests_after(after: list[Any] | None, count: int) -> list[str]:
    """``count`` curated interests following the slug a page ended with (the list is in slug order, so a slug
    dropped by a new release still marks a place)."""
    every = interests()
    return list(every[bisect.bisect_right(every, after[0]) if after else 0 :][:count])


@cache
def time_zones() -> frozenset[str]:
    """The IANA zone names this host knows, less the ones that name no place (the host's own, tzdata's
    placeholder)."""
    return frozenset(zoneinfo.available_timezones() - {"localtime", "Factory"})


async def time_zone_of(user_id: uuid.UUID) -> str | None:
    """The IANA name of the person's own time zone, None until they set one."""
    row = await ProfileRow.select(ProfileRow.time_zone).where(ProfileRow.user == user_id).first()
    return row["time_zone"] if row else None


def _age(born: dt.date | None) -> int | None:
    return accounts.age_on(born, dt.date.today()) if born else None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _upsert(table: type[Table], user_id: uuid.UUID, changes: dict[Column, Any]) -> None:
    """Insert the person's row with ``changes`` or apply them to the row they have."""
    changes = changes | {table.updated_at: _now()} if hasattr(table, "updated_at") else changes
    row = table(id=uuid.uuid4(), user=user_id, **{column._meta.name: value for column, value in changes.items()})
    await table.insert(row).on_conflict(
        target=table._meta.get_column_by_name("user"), action="DO UPDATE", values=list(changes)
    )


class ProfileService:
    def __init__(self, db: PostgresEngine, valkey: Valkey, photos: PhotoService, location: LocationSection) -> None:
        self.db = db
        self.valkey = valkey
        self.photos = photos
        self.location = location
        self.limiter = RateLimiter(valkey)

    async def own(self, user_id: uuid.UUID) -> Profile:
        card = (await self._cards_from_db([user_id])).get(user_id)
        if card is None:
            raise NotFound("this account no longer exists")
        return Profile(
            **self._shared(user_id, card),
            sexual_orientation=card.sexual_orientation,
            time_zone=card.time_zone,
            photos=await self.photos.mine(user_id),
        )

    async def update(self, user_id: uuid.UUID, change: ProfileUpdate) -> Profile:
        fields = {name: value for name, value in msgspec.structs.asdict(change).items() if value is not msgspec.UNSET}
        if "interests" in fields:
            fields["interests"] = self._checked_interests(fields["interests"])
        fields = {name: value.strip() if isinstance(value, str) else value for name, value in fields.items()}
        for name in ("job_title", "education"):
            if fields.get(name) == "":
                fields[name] = None
        if fields.get("first_name") == "":
            raise Invalid("invalid value for firstName", errors=[FieldError("firstName", "must not be blank")])
        if fields.get("time_zone") is not None and fields["time_zone"] not in time_zones():
            raise Invalid(
                "invalid value for timeZone",
                errors=[FieldError("timeZone", "not a time zone name of the IANA tz database, like Europe/Berlin")],
            )
        async with self.db.transaction():
            await accounts.update_identity(
                user_id, first_name=fields.pop("first_name", None), gender=fields.pop("gender", None)
            )
            if fields:
                await _upsert(ProfileRow, user_id, {getattr(ProfileRow, name): value for name, value in fields.items()})
            await candidates.refresh(user_id)
        await self._forget(user_id)
        return await self.own(user_id)

    async def preferences(self, user_id: uuid.UUID) -> Preferences:
        return await preferences_of(user_id)

    async def update_preferences(self, user_id: uuid.UUID, change: PreferencesUpdate) -> Preferences:
        current = msgspec.structs.asdict(await self.preferences(user_id))
        given = {name: value for name, value in msgspec.structs.asdict(change).items() if value is not msgspec.UNSET}
        merged = Preferences(**(current | given))
        if merged.min_age > merged.max_age:
            field = "minAge" if "min_age" in given else "maxAge"
            raise Invalid(f"invalid value for {field}", errors=[FieldError(field, "minAge must not be above maxAge")])
        merged.preferred_genders = list(dict.fromkeys(merged.preferred_genders))
        merged.relationship_goals = list(dict.fromkeys(merged.relationship_goals))
        values = msgspec.structs.asdict(merged)
        async with self.db.transaction():
            await _upsert(
                PreferencesRow, user_id, {getattr(PreferencesRow, name): value for name, value in values.items()}
            )
            await candidates.refresh(user_id)
        return merged

    async def move(self, user_id: uuid.UUID, lat: float, lng: float) -> None:
        """Keep only the person's grid cell. Moves to another cell are rate-limited, and impossible speeds refused."""
        cell = geo.snap_to_grid(lat, lng, self.location.grid_km)
        async with self.db.transaction():
            rows = await Location.raw(
                'SELECT cell_lat, cell_lng, moved_at FROM locations WHERE "user" = {} FOR UPDATE', user_id
            )
            if rows and geo.Cell(rows[0]["cell_lat"], rows[0]["cell_lng"]) == cell:
                return  # same cell: nothing changes, and nothing is learnt by asking again
            if rows:
                elapsed = (_now() - rows[0]["moved_at"]).total_seconds()
                old = geo.Cell(rows[0]["cell_lat"], rows[0]["cell_lng"])
                wait = geo.seconds_until_plausible(
                    old, cell, elapsed, self.location.grid_km, self.location.max_speed_kmh
                )
                if wait:
                    raise RateLimited("that move is faster than any plane; try again later", retry_after=wait)
            # Counted only once the move is believable: a refused move changes nothing, so it costs nothing.
            await self.limiter.hit("location", str(user_id), self.location.changes_per_hour, 3600)
            await _upsert(
                Location, user_id, {Location.cell_lat: cell.lat, Location.cell_lng: cell.lng, Location.moved_at: _now()}
            )
            await candidates.refresh(user_id)
        await self._forget(user_id)

    async def public(self, viewer_id: uuid.UUID, user_id: uuid.UUID) -> PublicProfile:
        """Another person's profile as the viewer may see it; 404 when they may not (or it is themselves), and
        when either of the two blocked the other, just as for someone who does not exist."""
        if user_id == viewer_id:
            raise NotFound("that is you: your own profile is at /api/users/profile")
        # Lists of people need no such check: a deck's query leaves blocked people out, and a block ends the
        # match that matches and conversations are lists of (and no new one forms), so their cards stay cached.
        async with database.connection(self.db) as connection:
            if await blocked_between(connection, viewer_id, [user_id]):
                raise NotFound("no such person")
            # A suspension or ban hides the profile from everyone, as its statement of reasons says.
            if await measures.barred(connection, user_id) is not None:
                raise NotFound("no such person")
        found = await self.public_cards(viewer_id, [user_id])
        if not found:
            raise NotFound("no such person")
        return found[0]

    async def public_cards(
        self, viewer_id: uuid.UUID, user_ids: list[uuid.UUID], *, revealed: Collection[uuid.UUID] | None = None
    ) -> list[PublicProfile]:
        """Many people's profiles as the viewer may see them (a deck, a conversation list), in the order asked,
        leaving out the viewer and anyone not shown (gone, staff). Cached cards and photo lists arrive in one
        Valkey round trip; whatever the cache lacks costs four queries in all, however many people are asked.

        With ``photos.blur_until_match`` on, only those the viewer has an active match with show their sharp
        photos; the others show blurred ones. ``revealed`` names the matched ones when the caller knows them
        already (a deck: none; a match list: all), which saves the one query that would look them up.
        """
        wanted = [user_id for user_id in dict.fromkeys(user_ids) if user_id != viewer_id]
        cards, photo_entries = await self._cards([viewer_id, *wanted], also=[visible_cache_key(u) for u in wanted])
        viewer = cards[0]
        shown = {
            user_id: (card, entry)
            for user_id, card, entry in zip(wanted, cards[1:], photo_entries, strict=True)
            if card is not None and card.date_of_birth is not None
        }
        photos = await self.photos.visible_of({user_id: entry for user_id, (_, entry) in shown.items()})
        if self.photos.limits.blur_until_match:
            photos = await self._blurred_until_matched(viewer_id, photos, revealed)
        return [
            PublicProfile(
                **self._shared(user_id, card),
                photos=photos[user_id],
                distance_km=geo.shown_km(card.cell, viewer.cell) if card.cell and viewer and viewer.cell else None,
            )
            for user_id, (card, _) in shown.items()
        ]

    async def warm(self, user_ids: list[uuid.UUID]) -> None:
        """Load the cards and photo lists of people about to be shown (a deck's next pages) into the cache, in
        the few queries one batch costs, so each page is then served from the cache alone."""
        _, photo_entries = await self._cards(user_ids, also=[visible_cache_key(u) for u in user_ids])
        await self.photos.visible_rows(dict(zip(user_ids, photo_entries, strict=True)))

    @staticmethod
    async def _blurred_until_matched(
        viewer_id: uuid.UUID, photos: dict[uuid.UUID, list[PhotoView]], revealed: Collection[uuid.UUID] | None
    ) -> dict[uuid.UUID, list[PhotoView]]:
        pictured = [user_id for user_id, views in photos.items() if views]
        matched = set(revealed) if revealed is not None else await matched_with(viewer_id, pictured)
        return {user_id: views if user_id in matched else blurred_only(views) for user_id, views in photos.items()}

    @staticmethod
    def _shared(user_id: uuid.UUID, card: Card) -> dict[str, Any]:
        shown = {name: getattr(card, name) for name in _SHOWN_FIELDS}
        return shown | {"id": user_id, "age": _age(card.date_of_birth)}

    @staticmethod
    def _checked_interests(given: list[str]) -> list[str]:
        chosen = list(dict.fromkeys(item.strip().lower() for item in given))
        unknown = [item for item in chosen if item not in interests()]
        if unknown:
            raise Invalid(
                "invalid value for interests",
                errors=[
                    FieldError("interests", f"not in the list at GET /api/users/interests: {', '.join(unknown[:3])}")
                ],
            )
        return chosen

    async def _cards(self, user_ids: list[uuid.UUID], also: list[str]) -> tuple[list[Card | None], list[str | None]]:
        """Cards from the cache, filling it from Postgres for the ones it lacks; ``also`` are other cache
        keys read in the same round trip (None each when the cache is unreachable)."""
        keys = [card_key(user_id) for user_id in user_ids]
        try:
            cached = await self.valkey.mget([*keys, *also])
        except (ValkeyError, OSError):
            log.warning("profile cache unreachable; reading Postgres")
            cached = [None] * (len(keys) + len(also))
        cards = [msgspec.json.decode(raw, type=Card) if raw else None for raw in cached[: len(keys)]]
        missing = [user_id for user_id, card in zip(user_ids, cards, strict=True) if card is None]
        if missing:
            loaded = await self._cards_from_db(missing)
            cards = [card or loaded.get(user_id) for user_id, card in zip(user_ids, cards, strict=True)]
            try:
                async with self.valkey.pipeline(transaction=False) as pipe:
                    for user_id, card in loaded.items():
                        pipe.set(card_key(user_id), msgspec.json.encode(card), ex=_CARD_TTL)
                    await pipe.execute()
            except (ValkeyError, OSError):
                log.warning("profile cache unreachable; reading Postgres")
        return cards, cached[len(keys) :]

    async def _cards_from_db(self, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, Card]:
        """Cards of those of ``user_ids`` that have an account: three queries however many there are."""
        people = await accounts.identities(user_ids)
        if not people:
            return {}
        columns = [getattr(ProfileRow, name) for name in _PROFILE_FIELDS]
        profiles = await ProfileRow.select(ProfileRow.user, ProfileRow.verified_at, *columns).where(
            ProfileRow.user.is_in(list(people))
        )
        edited = {row.pop("user"): row for row in profiles}
        places = await Location.select(Location.user, Location.cell_lat, Location.cell_lng).where(
            Location.user.is_in(list(people))
        )
        cells = {row["user"]: geo.Cell(row["cell_lat"], row["cell_lng"]) for row in places}
        cards = {}
        for user_id, person in people.items():
            profile = edited.get(user_id, {})
            cards[user_id] = Card(
                first_name=person.first_name,
                gender=person.gender,
                date_of_birth=person.date_of_birth,
                # an unedited profile has no row: the card's defaults stand for it
                **{name: profile[name] for name in _PROFILE_FIELDS if profile.get(name) is not None},
                is_verified=profile.get("verified_at") is not None,
                cell=cells.get(user_id),
            )
        return cards

    async def _forget(self, user_id: uuid.UUID) -> None:
        try:
            await self.valkey.delete(card_key(user_id))
        except (ValkeyError, OSError):
            log.warning("profile cache unreachable; entry expires on its own")
