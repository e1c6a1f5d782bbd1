"""Swipes, matches and the discovery index."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-23T15:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "swipes, matches and the discovery index"


class RawTable(Table):
    pass


FORWARDS = """
CREATE TABLE swipes (
    swiper uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    target uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    action varchar(9) NOT NULL CHECK (action IN ('like', 'pass', 'superlike')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (swiper, target),
    CHECK (swiper <> target)
);
CREATE INDEX swipes_target ON swipes (target);
CREATE INDEX swipes_likes_by_day ON swipes (swiper, created_at) WHERE action <> 'pass';

CREATE TABLE matches (
    id uuid PRIMARY KEY,
    user_a uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_b uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    ended_by uuid,
    CHECK (user_a < user_b),
    UNIQUE (user_a, user_b)
);
CREATE INDEX matches_user_b ON matches (user_b);

CREATE TABLE matching_candidates (
    id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    region integer NOT NULL,
    area integer NOT NULL,
    cell_lat double precision NOT NULL,
    cell_lng double precision NOT NULL,
    gender smallint NOT NULL,
    born date NOT NULL,
    wants_genders smallint NOT NULL,
    min_age smallint NOT NULL,
    max_age smallint NOT NULL,
    max_km smallint NOT NULL,
    goal smallint NOT NULL,
    wants_goals smallint NOT NULL,
    interests varchar(40)[] NOT NULL DEFAULT ARRAY[]::varchar(40)[],
    listed boolean NOT NULL,
    synthetic boolean NOT NULL DEFAULT false,
    joined_at timestamptz NOT NULL,
    last_active_at timestamptz NOT NULL,
    likes_day_start timestamptz,
    likes_day_end timestamptz
);
-- The deck's probes: one (square, gender) at a time, most recently active first, filtered on the
-- included columns without visiting the table (index-only scans).
CREATE INDEX matching_candidates_by_region ON matching_candidates
    (synthetic, region, gender, last_active_at DESC)
    INCLUDE (id, born, wants_genders, min_age, max_age, max_km, goal, wants_goals, cell_lat, cell_lng)
    WHERE listed;
CREATE INDEX matching_candidates_by_area ON matching_candidates
    (synthetic, area, gender, last_active_at DESC)
    INCLUDE (id, born, wants_genders, min_age, max_age, max_km, goal, wants_goals, cell_lat, cell_lng)
    WHERE listed;
-- How often each person was shown and liked: its own table, so counting exposures never rewrites (and
-- takes out of the visibility map) the pages the deck's index-only probes read.
CREATE TABLE matching_exposure (
    id uuid PRIMARY KEY REFERENCES matching_candidates (id) ON DELETE CASCADE,
    shown integer NOT NULL DEFAULT 0,
    liked integer NOT NULL DEFAULT 0
);
-- People who shared a place before this release get their row from the worker (candidates.REFRESH).
INSERT INTO job_outbox (kind, payload, created_at)
    SELECT 'matching.refresh', jsonb_build_object('userId', "user"), now() FROM locations
"""

BACKWARDS = """
DROP TABLE matching_exposure;
DROP TABLE matching_candidates;
DROP TABLE matches;
DROP TABLE swipes;
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="matching", description=DESCRIPTION)

    async def run():
        for statement in filter(str.strip, FORWARDS.split(";")):
            await RawTable.raw(statement)

    async def run_backwards():
        for statement in filter(str.strip, BACKWARDS.split(";")):
            await RawTable.raw(statement)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
