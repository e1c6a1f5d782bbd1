"""Conversation and message bodies, as api.md fixes them (Chat), and the WebSocket's frames."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

from server.photos.schemas import PhotoUrls
from server.profiles.schemas import PublicProfile
from server.web.schemas import FREE_TEXT, Camel

MessageType = Literal["text", "image"]
#: a client's own id for a message it sends: a retry with the same one is the same message
ClientId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern="^[A-Za-z0-9._:-]+$")]
#: text of a message: as free text elsewhere (line breaks and tabs, no other controls, no bidi controls)
Content = Annotated[str, FREE_TEXT, msgspec.Meta(max_length=5000)]


class ChatPhoto(Camel):
    """A photo sent in a conversation: never on a profile, its links valid only while the match stands."""

    id: uuid.UUID
    urls: PhotoUrls
    blurhash: str
    width: int
    height: int


class MessageView(Camel):
    id: uuid.UUID
    match_id: uuid.UUID
    #: the message's place in its conversation: 1, 2, 3… with no gaps, in the order the server stored them
    seq: int
    sender_id: uuid.UUID
    client_id: str
    #: for an image, a caption (may be empty)
    content: str
    type: MessageType
    created_at: dt.datetime
    #: for an image message, the photo (with fresh signed links each time the message is read)
    photo: ChatPhoto | None = None


class MessageList(Camel):
    items: list[MessageView]
    next_cursor: str | None


class Draft(Camel, forbid_unknown_fields=True):
    client_id: ClientId
    #: text: 1 to 5,000 characters; image: a caption of up to 5,000 (may be empty)
    content: Content = ""
    type: MessageType = "text"
    #: for an image: a photo uploaded to this conversation (POST …/photos)
    photo_id: uuid.UUID | None = None


class Conversation(Camel):
    match_id: uuid.UUID
    #: the other person
    user: PublicProfile
    last_message: MessageView | None
    #: the other person's messages the caller has not read yet
    unread_count: int


class ConversationList(Camel):
    items: list[Conversation]
    next_cursor: str | None


class ReadRequest(Camel, forbid_unknown_fields=True):
    up_to_message_id: uuid.UUID


class ReadState(Camel):
    match_id: uuid.UUID
    #: the caller's unread messages left in this conversation
    unread_count: int
    #: the seq of the last message read (reads never go backwards)
    read_seq: int
