"""The days each account was active (signed in, or kept its login alive by a refresh): what DAU, WAU and MAU count.

One row per account per UTC day, gone with the account (ON DELETE CASCADE)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-23T23:45:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "days each account was active"


class RawTable(Table):
    pass


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="auth", description=DESCRIPTION)

    async def run():
        await RawTable.raw(
            "CREATE TABLE auth_active_days ("
            " day date NOT NULL,"
            " user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
            " PRIMARY KEY (day, user_id))"
        )
        await RawTable.raw("CREATE INDEX auth_active_days_user ON auth_active_days (user_id)")

    async def run_backwards():
        await RawTable.raw("DROP TABLE auth_active_days")

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
