"""photos.state holds only the states PhotoState names; the values are frozen here, as a migration must be."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-23T12:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "photo states are checked by the database"


class RawTable(Table):
    pass


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="photos", description=DESCRIPTION)

    async def run():
        await RawTable.raw(
            "ALTER TABLE photos ADD CONSTRAINT photos_state_known "
            "CHECK (state IN ('processing', 'pending_review', 'approved', 'rejected'))"
        )

    async def run_backwards():
        await RawTable.raw("ALTER TABLE photos DROP CONSTRAINT photos_state_known")

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
