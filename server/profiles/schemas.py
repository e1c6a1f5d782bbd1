"""Profile, preference and location bodies. Updates are partial: a field left out stays as it is,
and null clears an optional field."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from server.auth.schemas import FirstName, Gender
from server.photos.schemas import PhotoView
from server.web.schemas import FREE_TEXT, ONE_LINE, Camel

Orientation = Literal["straight", "gay", "lesbian", "bisexual", "pansexual", "asexual", "queer", "questioning"]
Goal = Literal["long-term", "short-term", "friendship", "not-sure"]
Age = Annotated[int, msgspec.Meta(ge=18, le=100)]
Distance = Annotated[int, msgspec.Meta(ge=1, le=500)]
Bio = Annotated[str, FREE_TEXT, msgspec.Meta(max_length=1000)]
Line = Annotated[str, ONE_LINE, msgspec.Meta(max_length=100)]
Height = Annotated[int, msgspec.Meta(ge=100, le=250)]
Interests = Annotated[list[Annotated[str, msgspec.Meta(max_length=40)]], msgspec.Meta(max_length=10)]
TimeZone = Annotated[
    str,
    msgspec.Meta(
        max_length=64,
        examples=["Europe/Berlin"],
        description="an IANA time zone name, spelt as in the tz database",
    ),
]


class _Shared(Camel):
    id: uuid.UUID
    first_name: str
    age: int | None
    gender: Gender | None
    bio: str
    relationship_goal: Goal | None
    interests: list[str]
    job_title: str | None
    education: str | None
    height_cm: int | None
    is_verified: bool
    photos: list[PhotoView]


class Profile(_Shared):
    """The caller's own profile: photos in every state."""

    #: never shown to anyone else
    sexual_orientation: Orientation | None
    #: never shown to anyone else; "the person's day" (daily limits) and quiet hours follow it, estimated while null
    time_zone: TimeZone | None


class PublicProfile(_Shared):
    """Someone else's profile: approved photos only, age not birth date, distance not location."""

    #: whole km between the two people's grid cells, at least 1; null when either has not shared a location
    distance_km: int | None


class ProfileUpdate(Camel, forbid_unknown_fields=True):
    first_name: FirstName | UnsetType = UNSET
    gender: Gender | UnsetType = UNSET
    bio: Bio | UnsetType = UNSET
    sexual_orientation: Orientation | UnsetType | None = UNSET
    relationship_goal: Goal | UnsetType | None = UNSET
    #: slugs from GET /api/users/interests, at most 10
    interests: Interests | UnsetType = UNSET
    job_title: Line | UnsetType | None = UNSET
    education: Line | UnsetType | None = UNSET
    height_cm: Height | UnsetType | None = UNSET
    #: the person's own time zone (private); null clears it
    time_zone: TimeZone | UnsetType | None = UNSET


class Preferences(Camel):
    min_age: Age
    max_age: Age
    max_distance_km: Distance
    preferred_genders: Annotated[list[Gender], msgspec.Meta(min_length=1, max_length=3)]
    #: empty means any goal
    relationship_goals: Annotated[list[Goal], msgspec.Meta(max_length=4)]


class PreferencesUpdate(Camel, forbid_unknown_fields=True):
    min_age: Age | UnsetType = UNSET
    max_age: Age | UnsetType = UNSET
    max_distance_km: Distance | UnsetType = UNSET
    preferred_genders: Annotated[list[Gender], msgspec.Meta(min_length=1, max_length=3)] | UnsetType = UNSET
    relationship_goals: Annotated[list[Goal], msgspec.Meta(max_length=4)] | UnsetType = UNSET


class LocationUpdate(Camel):
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lng: Annotated[float, msgspec.Meta(ge=-180, le=180)]


class InterestList(Camel):
    items: list[str]
    next_cursor: str | None = None
