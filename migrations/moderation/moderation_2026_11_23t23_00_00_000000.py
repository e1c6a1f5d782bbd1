"""A dismissal is appealed once per dismissal: a report reopened by an upheld appeal and dismissed again may be
appealed again."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-23T23:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one appeal per dismissal"


class RawTable(Table):
    pass


# An appeal of a dismissal names the dismissal by the moment it was made (the report's resolved_at then); the
# unique key is the report and that moment, where it was the report alone. Appeals already made take their
# report's resolved_at, the only dismissal they can have been of.
FORWARDS = """
ALTER TABLE moderation_appeals ADD COLUMN dismissed_at timestamptz;
UPDATE moderation_appeals a SET dismissed_at = r.resolved_at FROM safety_reports r WHERE a.report_id = r.id;
ALTER TABLE moderation_appeals DROP CONSTRAINT moderation_appeals_report_id_key;
CREATE UNIQUE INDEX moderation_appeals_one_per_dismissal ON moderation_appeals (report_id, dismissed_at)
    WHERE report_id IS NOT NULL;
ALTER TABLE moderation_appeals ADD CONSTRAINT moderation_appeals_dismissal_named
    CHECK ((report_id IS NULL) = (dismissed_at IS NULL))
"""

BACKWARDS = """
ALTER TABLE moderation_appeals DROP CONSTRAINT moderation_appeals_dismissal_named;
DROP INDEX moderation_appeals_one_per_dismissal;
DELETE FROM moderation_appeals a USING moderation_appeals b
    WHERE a.report_id = b.report_id AND a.created_at < b.created_at;
ALTER TABLE moderation_appeals ADD CONSTRAINT moderation_appeals_report_id_key UNIQUE (report_id);
ALTER TABLE moderation_appeals DROP COLUMN dismissed_at
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
