"""The moderation audit log: an append-only, hash-chained record of every staff action."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-23T21:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "moderation audit log"


class RawTable(Table):
    pass


# One statement per string: the trigger function's body has semicolons of its own.
FORWARDS = (
    """
    CREATE TABLE moderation_audit (
        seq bigint PRIMARY KEY CHECK (seq >= 1),
        at timestamptz NOT NULL,
        actor bytea CHECK (octet_length(actor) = 32),
        action text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_.-]*$' AND length(action) <= 64),
        subject bytea CHECK (octet_length(subject) = 32),
        detail jsonb NOT NULL DEFAULT jsonb_build_object() CHECK (jsonb_typeof(detail) = 'object'),
        prev_hash bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
        hash bytea NOT NULL CHECK (octet_length(hash) = 32)
    )
    """,
    "CREATE INDEX moderation_audit_subject ON moderation_audit (subject, seq) WHERE subject IS NOT NULL",
    "CREATE INDEX moderation_audit_actor ON moderation_audit (actor, seq) WHERE actor IS NOT NULL",
    """
    CREATE FUNCTION moderation_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'moderation_audit is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER moderation_audit_append_only BEFORE UPDATE OR DELETE ON moderation_audit
        FOR EACH ROW EXECUTE FUNCTION moderation_audit_append_only()
    """,
)

BACKWARDS = (
    "DROP TABLE moderation_audit",
    "DROP FUNCTION moderation_audit_append_only()",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="moderation", description=DESCRIPTION)

    async def run():
        for statement in FORWARDS:
            await RawTable.raw(statement)

    async def run_backwards():
        for statement in BACKWARDS:
            await RawTable.raw(statement)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
