"""users.role holds only the roles Role names; the values are frozen here, as a migration must be."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-23T12:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "account roles are checked by the database"


class RawTable(Table):
    pass


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="auth", description=DESCRIPTION)

    async def run():
        await RawTable.raw(
            "ALTER TABLE users ADD CONSTRAINT users_role_known CHECK (role IN ('user', 'moderator', 'admin'))"
        )

    async def run_backwards():
        await RawTable.raw("ALTER TABLE users DROP CONSTRAINT users_role_known")

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
