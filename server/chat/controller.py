"""``/api/chat``: the caller's conversations, their messages, sending and reading, and photos to send."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, get, post, put
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from server.chat.photos import ChatPhotoService
from server.chat.schemas import ChatPhoto, ConversationList, Draft, MessageList, MessageView, ReadRequest, ReadState
from server.chat.service import ChatService
from server.photos.schemas import PhotoUpload
from server.web.auth import Caller
from server.web.pagination import Paging, paging

Chats = NamedDependency[ChatService]
ChatPhotos = NamedDependency[ChatPhotoService]


class ChatController(Controller):
    path = "/api/chat/conversations"
    tags = ["chat"]

    @get("/", dependencies=paging())
    async def conversations(self, chats: Chats, claims: Caller, page: Paging) -> ConversationList:
        """One per standing match, the most recently active first: the other person, the last message, and how
        many of theirs the caller has not read."""
        return await chats.conversations(claims.user_id, page)

    @get("/{match_id:uuid}/messages", dependencies=paging())
    async def messages(
        self,
        match_id: FromPath[uuid.UUID],
        *,
        chats: Chats,
        claims: Caller,
        page: Paging,
        before: FromQuery[uuid.UUID | None] = None,
        after: FromQuery[uuid.UUID | None] = None,
    ) -> MessageList:
        """Newest first; `?before=<messageId>` pages further back. With `?after=<messageId>` the page holds the
        messages after that one oldest first, and `nextCursor` goes on forward: how an app that was offline
        fetches everything it missed, exactly once. 404 unless the caller is one of the two people of a match
        that stands."""
        return await chats.messages(claims.user_id, match_id, page, before, after)

    @post(
        "/{match_id:uuid}/messages",
        status_code=HTTP_201_CREATED,
        responses={200: ResponseSpec(data_container=MessageView, description="A retry: the message first stored")},
    )
    async def send(
        self, match_id: FromPath[uuid.UUID], data: JSONBody[Draft], chats: Chats, claims: Caller
    ) -> Response[MessageView]:
        """Send a message: 201 with the stored message. Sending again with the same `clientId` stores nothing
        and answers the first message with 200, so an app may retry until it has an answer. The other person's
        sockets get `message_received` once it is stored. Past the per-person send limit, 429."""
        message, created = await chats.send(claims.user_id, match_id, data)
        return Response(message, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @post("/{match_id:uuid}/photos", status_code=HTTP_201_CREATED)
    async def upload_photo(
        self,
        match_id: FromPath[uuid.UUID],
        data: Annotated[PhotoUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
        chat_photos: ChatPhotos,
        claims: Caller,
    ) -> ChatPhoto:
        """Upload a photo to send in this conversation (multipart field `file`); then send it as a message with
        `type: image` and its `photoId`. It is processed while the request waits, its metadata (EXIF, GPS)
        removed, and it never appears on the caller's profile. Its links are served only while the match stands.
        404 unless the caller is one of the two people of a standing match; past the per-person limit, 429."""
        return await chat_photos.upload(claims.user_id, match_id, await data.file.read())

    @put("/{match_id:uuid}/read")
    async def read(
        self, match_id: FromPath[uuid.UUID], data: JSONBody[ReadRequest], chats: Chats, claims: Caller
    ) -> ReadState:
        """Mark the conversation read up to a message; a mark never moves backwards. The other person's sockets
        get `message_read`."""
        return await chats.read(claims.user_id, match_id, data.up_to_message_id)
