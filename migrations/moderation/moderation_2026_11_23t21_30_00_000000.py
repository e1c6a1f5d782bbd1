"""Review queue with leases, and strikes: what moderators decided, why, and the statement of reasons sent."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-23T21:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "review queue and strikes"


class RawTable(Table):
    pass


# An item is claimed by one moderator at a time: the claim is a lease (claimed_by, lease_until) taken with
# SKIP LOCKED, renewed by its holder and free again once it runs out. Severity 0 is worked first (minor safety,
# threats), then by age; due_at is the item's SLA.
#
# A strike is a measure on an account (warn, restrict, suspend, ban) with the rule broken, the moderator's words
# and the statement of reasons the person was sent; an upheld appeal marks it overturned rather than deleting it.
# A ban holds as a suspension until a second moderator confirms it. The person is told by an in-app notification
# (a new kind) and an email (a new delivery kind) carrying the statement of reasons.
FORWARDS = """
CREATE TABLE moderation_queue (
    id uuid PRIMARY KEY,
    kind varchar(12) NOT NULL CHECK (kind IN ('report', 'photo', 'verification', 'appeal')),
    subject uuid NOT NULL,
    severity smallint NOT NULL CHECK (severity BETWEEN 0 AND 2),
    created_at timestamptz NOT NULL DEFAULT now(),
    due_at timestamptz NOT NULL,
    state varchar(7) NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'decided')),
    claimed_by uuid REFERENCES users (id) ON DELETE SET NULL,
    lease_until timestamptz,
    decided_at timestamptz,
    UNIQUE (kind, subject)
);
CREATE INDEX moderation_queue_next ON moderation_queue (severity, created_at) WHERE state = 'open';
CREATE INDEX moderation_queue_claimed ON moderation_queue (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE TABLE moderation_strikes (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    moderator uuid REFERENCES users (id) ON DELETE SET NULL,
    measure varchar(8) NOT NULL CHECK (measure IN ('warn', 'restrict', 'suspend', 'ban')),
    rule varchar(24) NOT NULL,
    note text NOT NULL DEFAULT '',
    report_id uuid REFERENCES safety_reports (id) ON DELETE SET NULL,
    until timestamptz,
    statement jsonb NOT NULL,
    confirmed_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    overturned_at timestamptz
);
CREATE INDEX moderation_strikes_user ON moderation_strikes (user_id, created_at);
CREATE INDEX moderation_strikes_moderator ON moderation_strikes (moderator);
CREATE INDEX moderation_strikes_confirmed ON moderation_strikes (confirmed_by);
CREATE INDEX moderation_strikes_report ON moderation_strikes (report_id);
ALTER TABLE notifications ALTER COLUMN kind TYPE varchar(10);
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
    CHECK (kind IN ('match', 'message', 'like', 'moderation'));
ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_kind_check;
ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_kind_check
    CHECK (kind IN ('match', 'message', 'like', 'digest', 'verify', 'reset', 'decision'))
"""

BACKWARDS = """
DELETE FROM notification_deliveries WHERE kind = 'decision';
ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_kind_check;
ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_kind_check
    CHECK (kind IN ('match', 'message', 'like', 'digest', 'verify', 'reset'));
DELETE FROM notifications WHERE kind = 'moderation';
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN ('match', 'message', 'like'));
ALTER TABLE notifications ALTER COLUMN kind TYPE varchar(7);
DROP TABLE moderation_strikes;
DROP TABLE moderation_queue
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
