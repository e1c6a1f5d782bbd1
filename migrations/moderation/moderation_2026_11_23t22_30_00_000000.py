"""Profile verification: a selfie making a requested pose, compared with the profile photos by a moderator."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-23T22:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "verification requests"


class RawTable(Table):
    pass


# A request is made when the person is told their pose ('requested'), waits for a moderator once the selfie is in
# ('open'), and is then approved or rejected. One undecided request per person: the partial unique index makes a
# second a conflict, and keeps the pose the same until the selfie for it is in.
FORWARDS = """
CREATE TABLE moderation_verifications (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    pose varchar(40) NOT NULL,
    state varchar(9) NOT NULL DEFAULT 'requested' CHECK (state IN ('requested', 'open', 'approved', 'rejected')),
    selfie_key text,
    reason varchar(40),
    decided_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    submitted_at timestamptz,
    decided_at timestamptz,
    CHECK ((state = 'requested') = (selfie_key IS NULL)),
    CHECK ((state = 'rejected') = (reason IS NOT NULL))
);
CREATE UNIQUE INDEX moderation_verifications_one_undecided ON moderation_verifications (user_id)
    WHERE state IN ('requested', 'open');
CREATE INDEX moderation_verifications_user ON moderation_verifications (user_id, created_at);
CREATE INDEX moderation_verifications_decided_by ON moderation_verifications (decided_by)
"""

BACKWARDS = """
DROP TABLE moderation_verifications
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="moderation", description=DESCRIPTION)

    async def run():
        for statement in filter(str.strip, FORWARDS.split(";")):
            await RawTable.raw(statement)

    async def run_backwards():
        for statement in filter(str.strip, BACKWARDS.split(";")):
            await RawTable.raw(statement)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
