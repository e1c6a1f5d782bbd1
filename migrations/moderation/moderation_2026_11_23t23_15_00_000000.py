"""A decided verification request keeps no selfie: the face is deleted once a moderator has compared it."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-23T23:15:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "decided verification requests keep no selfie"


class RawTable(Table):
    pass


# The check tied a selfie to every request past 'requested'; now only an open request has one. The selfies of
# requests decided before this are handed to the worker's purge job (the outbox row it relays) and let go of here,
# so no row points at a face any more.
STATEMENTS = (
    """
    DO $$
    DECLARE name text;
    BEGIN
        SELECT conname INTO name FROM pg_constraint
        WHERE conrelid = 'moderation_verifications'::regclass AND pg_get_constraintdef(oid) LIKE '%selfie_key IS NULL%';
        EXECUTE format('ALTER TABLE moderation_verifications DROP CONSTRAINT %I', name);
    END $$
    """,
    "INSERT INTO job_outbox (kind, payload, created_at)"
    " SELECT 'moderation.purge_selfies', jsonb_build_object('keys', jsonb_agg(selfie_key)), now()"
    " FROM moderation_verifications WHERE state IN ('approved', 'rejected') AND selfie_key IS NOT NULL"
    " HAVING count(*) > 0",
    "UPDATE moderation_verifications SET selfie_key = NULL WHERE state IN ('approved', 'rejected')",
    "ALTER TABLE moderation_verifications ADD CONSTRAINT moderation_verifications_selfie_while_open"
    " CHECK ((state = 'open') = (selfie_key IS NOT NULL))",
)
BACKWARDS = (
    "ALTER TABLE moderation_verifications DROP CONSTRAINT moderation_verifications_selfie_while_open",
    # Decided requests no longer have their selfies: they cannot meet the old check, and go.
    "DELETE FROM moderation_verifications WHERE state IN ('approved', 'rejected')",
    "ALTER TABLE moderation_verifications ADD CHECK ((state = 'requested') = (selfie_key IS NULL))",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="moderation", description=DESCRIPTION)

    async def run():
        for statement in STATEMENTS:
            await RawTable.raw(statement)

    async def run_backwards():
        for statement in BACKWARDS:
            await RawTable.raw(statement)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
