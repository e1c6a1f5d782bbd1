"""A rejected photo keeps the preset reason its owner is shown."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-23T23:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "why a photo was rejected"


class RawTable(Table):
    pass


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="photos", description=DESCRIPTION)

    async def run():
        await RawTable.raw("ALTER TABLE photos ADD COLUMN rejection_reason varchar(16)")

    async def run_backwards():
        await RawTable.raw("ALTER TABLE photos DROP COLUMN rejection_reason")

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
