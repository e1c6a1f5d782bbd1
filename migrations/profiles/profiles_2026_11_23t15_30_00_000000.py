"""profiles.time_zone: the person's own IANA time zone, private, for "the person's day" and quiet hours."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-23T15:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "a profile may name the person's time zone"


class RawTable(Table):
    pass


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="profiles", description=DESCRIPTION)

    async def run():
        await RawTable.raw("ALTER TABLE profiles ADD COLUMN time_zone varchar(64)")

    async def run_backwards():
        await RawTable.raw("ALTER TABLE profiles DROP COLUMN time_zone")

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
