"""What a person tells others about themselves, what they look for, and roughly where they are."""

from __future__ import annotations

from piccolo.columns import UUID, Array, DoublePrecision, ForeignKey, OnDelete, SmallInt, Text, Timestamptz, Varchar
from piccolo.table import Table

from server.auth.tables import User


class Profile(Table, tablename="profiles"):
    """Made on the first edit; until then a profile is the account's name, gender and age alone."""

    id = UUID(primary_key=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade, unique=True)
    bio = Text(default="")
    #: shown to no one else; kept for matching
    sexual_orientation = Varchar(length=16, null=True, default=None)
    relationship_goal = Varchar(length=16, null=True, default=None)
    #: slugs from the curated list in interests.txt
    interests = Array(Varchar(length=40), default=list)
    job_title = Varchar(length=100, null=True, default=None)
    education = Varchar(length=100, null=True, default=None)
    height_cm = SmallInt(null=True, default=None)
    #: an IANA name (Europe/Berlin), shown to no one else: where "the person's day" and quiet hours fall
    time_zone = Varchar(length=64, null=True, default=None)
    #: set by a moderator's verification; the app shows a badge
    verified_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()


class Preferences(Table, tablename="preferences"):
    """Made on the first edit; until then the defaults worked out from the person's age apply."""

    id = UUID(primary_key=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade, unique=True)
    min_age = SmallInt()
    max_age = SmallInt()
    max_distance_km = SmallInt()
    preferred_genders = Array(Varchar(length=16))
    #: empty means any goal
    relationship_goals = Array(Varchar(length=16), default=list)
    updated_at = Timestamptz()


class Location(Table, tablename="locations"):
    """Where a person is, to the grid cell: the centre of their cell, never the position they sent."""

    id = UUID(primary_key=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade, unique=True)
    cell_lat = DoublePrecision()
    cell_lng = DoublePrecision()
    #: when the person last moved to another cell (the speed check measures from here)
    moved_at = Timestamptz()
