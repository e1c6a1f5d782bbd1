"""Blocks: who keeps whom away from them."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-23T21:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "blocks"


class RawTable(Table):
    pass


# The primary key answers "whom did this person block" (their list, and one direction of every check); the index
# on blocked answers "who blocked this person", the other direction, so a check either way is an index probe.
FORWARDS = """
CREATE TABLE safety_blocks (
    blocker uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker, blocked),
    CHECK (blocker <> blocked)
);
CREATE INDEX safety_blocks_blocked ON safety_blocks (blocked, blocker)
"""

BACKWARDS = """
DROP TABLE safety_blocks
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="safety", description=DESCRIPTION)

    async def run():
        for statement in filter(str.strip, FORWARDS.split(";")):
            await RawTable.raw(statement)

    async def run_backwards():
        for statement in filter(str.strip, BACKWARDS.split(";")):
            await RawTable.raw(statement)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
