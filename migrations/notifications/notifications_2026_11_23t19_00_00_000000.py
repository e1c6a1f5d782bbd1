"""In-app notifications: one per match per side, and one unread per conversation that waiting messages add to."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-23T19:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "in-app notifications"


class RawTable(Table):
    pass


# match_id references the match so that a match erased with either person takes the other side's notifications
# of it along: nothing left behind would still name the erased person (notifications_match serves that cascade).
# message_ids are the waiting messages a message notification counts, so a job run twice counts its message once.
FORWARDS = """
CREATE TABLE notifications (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind varchar(7) NOT NULL CHECK (kind IN ('match', 'message')),
    match_id uuid NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
    data jsonb NOT NULL,
    message_ids uuid[] NOT NULL DEFAULT ARRAY[]::uuid[],
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at timestamptz,
    CHECK ((kind = 'message') = (cardinality(message_ids) > 0))
);
CREATE INDEX notifications_list ON notifications (user_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX notifications_one_per_match ON notifications (user_id, match_id) WHERE kind = 'match';
CREATE UNIQUE INDEX notifications_one_unread_per_conversation ON notifications (user_id, match_id)
    WHERE kind = 'message' AND read_at IS NULL;
CREATE INDEX notifications_match ON notifications (match_id)
"""

BACKWARDS = """
DROP TABLE notifications
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="notifications", description=DESCRIPTION)

    async def run():
        for statement in filter(str.strip, FORWARDS.split(";")):
            await RawTable.raw(statement)

    async def run_backwards():
        for statement in filter(str.strip, BACKWARDS.split(";")):
            await RawTable.raw(statement)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
