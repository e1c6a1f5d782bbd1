"""Appeals: one per decision, decided by another moderator; reports remember who decided them."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-23T22:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "appeals"


class RawTable(Table):
    pass


# An appeal contests a strike (by the person it is against) or a dismissed report (by its reporter), once each:
# the unique keys make a second one a conflict. A different moderator than the one who decided must decide it.
FORWARDS = """
ALTER TABLE safety_reports ADD COLUMN decided_by uuid REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX safety_reports_decided_by ON safety_reports (decided_by);
CREATE TABLE moderation_appeals (
    id uuid PRIMARY KEY,
    appellant uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    strike_id uuid UNIQUE REFERENCES moderation_strikes (id) ON DELETE CASCADE,
    report_id uuid UNIQUE REFERENCES safety_reports (id) ON DELETE CASCADE,
    text text NOT NULL,
    state varchar(8) NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'upheld', 'rejected')),
    decided_by uuid REFERENCES users (id) ON DELETE SET NULL,
    note text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    decided_at timestamptz,
    CHECK ((strike_id IS NULL) <> (report_id IS NULL))
);
CREATE INDEX moderation_appeals_appellant ON moderation_appeals (appellant);
CREATE INDEX moderation_appeals_decided_by ON moderation_appeals (decided_by)
"""

BACKWARDS = """
DROP TABLE moderation_appeals;
ALTER TABLE safety_reports DROP COLUMN decided_by
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
