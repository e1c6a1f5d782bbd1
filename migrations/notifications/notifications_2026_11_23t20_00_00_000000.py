"""Push and email delivery: devices, preferences, each (event, device) delivery and its attempts; likes notified."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-23T20:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "push devices, preferences and deliveries"


class RawTable(Table):
    pass


# A superlike is told to its target before any match exists: such a notification names the liker instead,
# and goes with either person's erasure through that reference.
#
# A device belongs to the login that registered it: when that login ends (logout, a password reset, a reused
# refresh token, erasure), however it ends, the trigger removes its devices in the same transaction, so no
# phone keeps buzzing for an account signed out of it.
#
# A delivery is one push to one device, or one email, kept from the moment it is owed until it is settled.
# Pending deliveries of one device and topic are one row (a burst of messages adds ids to it), so the
# dispatcher sends one push with a count. A claim records the attempt (state 'sending', a lease) before the
# request goes out; a lease that runs out means its dispatcher died, and another sends the push again, with
# the same ids, so the device replaces the first rather than showing two.
FORWARDS = """
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications DROP CONSTRAINT notifications_check;
ALTER TABLE notifications ALTER COLUMN match_id DROP NOT NULL;
ALTER TABLE notifications ADD COLUMN about_user_id uuid REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN ('match', 'message', 'like'));
ALTER TABLE notifications ADD CONSTRAINT notifications_counts_messages
    CHECK ((kind = 'message') = (cardinality(message_ids) > 0));
ALTER TABLE notifications ADD CONSTRAINT notifications_about
    CHECK ((kind = 'like') = (match_id IS NULL AND about_user_id IS NOT NULL));
CREATE UNIQUE INDEX notifications_one_per_like ON notifications (user_id, about_user_id) WHERE kind = 'like';
CREATE INDEX notifications_about_user ON notifications (about_user_id) WHERE about_user_id IS NOT NULL;
CREATE TABLE notification_devices (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id uuid REFERENCES auth_sessions (id) ON DELETE CASCADE,
    provider varchar(5) NOT NULL CHECK (provider IN ('expo', 'fcm', 'apns', 'bench')),
    platform varchar(7) NOT NULL CHECK (platform IN ('ios', 'android', 'web')),
    token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, token)
);
CREATE INDEX notification_devices_user ON notification_devices (user_id);
CREATE INDEX notification_devices_session ON notification_devices (session_id);
CREATE FUNCTION notification_devices_signed_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM notification_devices WHERE session_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER auth_sessions_devices_signed_out AFTER UPDATE OF revoked_at ON auth_sessions
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION notification_devices_signed_out();
CREATE TABLE notification_preferences (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    kinds jsonb NOT NULL DEFAULT jsonb_build_object(),
    previews boolean NOT NULL DEFAULT false,
    quiet_start time,
    quiet_end time,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);
CREATE TABLE notification_deliveries (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel varchar(5) NOT NULL CHECK (channel IN ('push', 'email')),
    device_id uuid REFERENCES notification_devices (id) ON DELETE SET NULL,
    kind varchar(8) NOT NULL CHECK (kind IN ('match', 'message', 'like', 'digest', 'verify', 'reset')),
    topic text NOT NULL,
    about uuid,
    message_ids uuid[] NOT NULL DEFAULT ARRAY[]::uuid[],
    state varchar(8) NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'dropped')),
    due_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    receipt text,
    receipt_due_at timestamptz,
    detail text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    CHECK ((channel = 'push') = (kind IN ('match', 'message', 'like')))
);
CREATE UNIQUE INDEX notification_deliveries_one_pending_push ON notification_deliveries (device_id, topic)
    WHERE state = 'pending' AND channel = 'push';
CREATE UNIQUE INDEX notification_deliveries_one_pending_email ON notification_deliveries (user_id, topic)
    WHERE state = 'pending' AND channel = 'email';
CREATE INDEX notification_deliveries_due ON notification_deliveries (due_at) WHERE state = 'pending';
CREATE INDEX notification_deliveries_leased ON notification_deliveries (lease_until) WHERE state = 'sending';
CREATE INDEX notification_deliveries_receipts ON notification_deliveries (receipt_due_at)
    WHERE receipt IS NOT NULL;
CREATE INDEX notification_deliveries_user ON notification_deliveries (user_id, created_at);
CREATE INDEX notification_deliveries_device ON notification_deliveries (device_id);
CREATE INDEX notification_deliveries_settled ON notification_deliveries (created_at)
    WHERE state IN ('sent', 'failed', 'dropped')
"""

BACKWARDS = """
DROP TABLE notification_deliveries;
DROP TABLE notification_preferences;
DROP TRIGGER auth_sessions_devices_signed_out ON auth_sessions;
DROP FUNCTION notification_devices_signed_out();
DROP TABLE notification_devices;
DELETE FROM notifications WHERE kind = 'like';
DROP INDEX notifications_one_per_like;
ALTER TABLE notifications DROP CONSTRAINT notifications_about;
ALTER TABLE notifications DROP CONSTRAINT notifications_counts_messages;
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications DROP COLUMN about_user_id;
ALTER TABLE notifications ALTER COLUMN match_id SET NOT NULL;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN ('match', 'message'));
ALTER TABLE notifications ADD CONSTRAINT notifications_check CHECK ((kind = 'message') = (cardinality(message_ids) > 0))
"""


def _statements(script: str) -> list[str]:
    """Statements split on the semicolons that end them; the function body's own stay inside its $$ quotes."""
    parts, statements = script.split("$$"), [""]
    for index, part in enumerate(parts):
        if index % 2:
            statements[-1] += f"$${part}$$"
            continue
        pieces = part.split(";")
        statements[-1] += pieces[0]
        statements.extend(pieces[1:])
    return [statement for statement in statements if statement.strip()]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="notifications", description=DESCRIPTION)

    async def run():
        for statement in _statements(FORWARDS):
            await RawTable.raw(statement)

    async def run_backwards():
        for statement in _statements(BACKWARDS):
            await RawTable.raw(statement)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
