"""Matches and each person's entry in the discovery index. The schema (keys, checks, the deck's indexes,
and the swipes table, whose key is the pair) is the migration's; these classes name tables for queries."""

from __future__ import annotations

from piccolo.columns import UUID, Array, Boolean, Date, DoublePrecision, Integer, SmallInt, Timestamptz, Varchar
from piccolo.table import Table


class Match(Table, tablename="matches"):
    """Two people who liked each other; one row per unordered pair (user_a < user_b)."""

    id = UUID(primary_key=True)
    user_a = UUID()
    user_b = UUID()
    created_at = Timestamptz()
    #: set by an unmatch (or an erasure); an ended match is shown to neither person
    ended_at = Timestamptz(null=True, default=None)
    ended_by = UUID(null=True, default=None)


class Candidate(Table, tablename="matching_candidates"):
    """A person as the deck query sees them: everything it filters and ranks on, in one row, rebuilt from
    profiles, preferences, location and photos whenever one of those changes (see candidates.py)."""

    #: the person's account id
    id = UUID(primary_key=True)
    #: the fine and coarse grid squares holding the person's cell (see candidates.region_of)
    region = Integer()
    area = Integer()
    cell_lat = DoublePrecision()
    cell_lng = DoublePrecision()
    #: one bit of GENDER_BITS
    gender = SmallInt()
    born = Date()
    #: what the person looks for: GENDER_BITS, ages, distance, GOAL_BITS (0: any goal)
    wants_genders = SmallInt()
    min_age = SmallInt()
    max_age = SmallInt()
    max_km = SmallInt()
    #: one bit of GOAL_BITS, 0 when unset
    goal = SmallInt()
    wants_goals = SmallInt()
    interests = Array(Varchar(length=40))
    #: false while the person cannot be shown (no approved photo; later: restricted, banned)
    listed = Boolean()
    #: a seeded benchmark person: shown only to other seeded people, removed by `bench discovery --purge`
    synthetic = Boolean()
    joined_at = Timestamptz()
    #: written at most every few minutes per person (see activity.py)
    last_active_at = Timestamptz()
    #: the person's current day for the daily like limits, fixed by its first like (see service.py)
    likes_day_start = Timestamptz(null=True, default=None)
    likes_day_end = Timestamptz(null=True, default=None)


class Exposure(Table, tablename="matching_exposure"):
    """How often a person has been on a served deck page, and liked: what the fairness term reads. Kept apart
    from the candidates, whose pages the deck reads index-only, because it is rewritten all day."""

    #: the person's account id (a row of matching_candidates)
    id = UUID(primary_key=True)
    shown = Integer()
    liked = Integer()
