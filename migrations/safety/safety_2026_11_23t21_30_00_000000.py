"""Reports, each with the evidence it was filed on, frozen as it was."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-23T21:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "reports and their evidence"


class RawTable(Table):
    pass


# The evidence is a copy (profile, photos' object copies, recent messages between the two), so an unmatch, a
# deleted photo or either account's erasure destroys nothing a moderator needs. It names no one by id: the two
# people are "reporter" and "reported", and their references are cleared when an account is erased.
FORWARDS = """
CREATE TABLE safety_reports (
    id uuid PRIMARY KEY,
    reporter uuid REFERENCES users (id) ON DELETE SET NULL,
    reported uuid REFERENCES users (id) ON DELETE SET NULL,
    reason varchar(16) NOT NULL CHECK (reason IN ('minor-safety', 'threat', 'sexual-violence', 'scam', 'nudity',
        'harassment', 'hate', 'spam', 'fake-profile', 'other')),
    details text NOT NULL DEFAULT '',
    message_id uuid,
    photo_id uuid,
    evidence jsonb NOT NULL,
    state varchar(9) NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'actioned', 'dismissed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz
);
CREATE INDEX safety_reports_reported ON safety_reports (reported, created_at);
CREATE INDEX safety_reports_reporter ON safety_reports (reporter, created_at)
"""

BACKWARDS = """
DROP TABLE safety_reports
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="safety", description=DESCRIPTION)

    async def run():
        for statement in filter(str.strip, FORWARDS.split(";")):
            await RawTable.raw(statement)

    async def run_backwards():
        for statement in filter(str.strip, BACKWARDS.split(";")):
            await RawTable.raw(statement)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
