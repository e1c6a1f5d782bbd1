"""Conversations, their messages and the photos sent in them."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-23T18:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "conversations, messages and chat photos"


class RawTable(Table):
    pass


FORWARDS = """
CREATE TABLE chat_conversations (
    match_id uuid PRIMARY KEY REFERENCES matches (id) ON DELETE CASCADE,
    user_a uuid NOT NULL,
    user_b uuid NOT NULL,
    last_seq bigint NOT NULL DEFAULT 0,
    last_message_id uuid,
    last_message_at timestamptz,
    read_seq_a bigint NOT NULL DEFAULT 0,
    read_seq_b bigint NOT NULL DEFAULT 0,
    unread_a integer NOT NULL DEFAULT 0 CHECK (unread_a >= 0),
    unread_b integer NOT NULL DEFAULT 0 CHECK (unread_b >= 0)
);

CREATE TABLE chat_photos (
    id uuid PRIMARY KEY,
    match_id uuid NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
    owner uuid NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    blurhash varchar(64) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_photos_match ON chat_photos (match_id);

CREATE TABLE chat_messages (
    id uuid PRIMARY KEY,
    match_id uuid NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
    seq bigint NOT NULL,
    sender uuid NOT NULL,
    client_id varchar(64) NOT NULL,
    type varchar(5) NOT NULL CHECK (type IN ('text', 'image')),
    content text NOT NULL,
    photo_id uuid REFERENCES chat_photos (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((type = 'image') = (photo_id IS NOT NULL)),
    UNIQUE (match_id, seq),
    UNIQUE (sender, client_id)
)
"""

BACKWARDS = """
DROP TABLE chat_messages;
DROP TABLE chat_photos;
DROP TABLE chat_conversations
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="chat", description=DESCRIPTION)

    async def run():
        for statement in filter(str.strip, FORWARDS.split(";")):
            await RawTable.raw(statement)

    async def run_backwards():
        for statement in filter(str.strip, BACKWARDS.split(";")):
            await RawTable.raw(statement)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
