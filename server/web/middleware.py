"""Request ids: the one nginx gave a request follows it into every API log line and back out on the response."""

from __future__ import annotations

import re
import uuid

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from server.platform.logs import request_id

HEADER = "x-request-id"
# nginx always sends its own $request_id (32 hex digits); anything else is replaced rather than logged as given.
_WELL_FORMED = re.compile(r"[0-9A-Za-z-]{8,64}")


def _given_or_new(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == HEADER.encode():
            text = value.decode("latin-1")
            if _WELL_FORMED.fullmatch(text):
                return text
    return uuid.uuid4().hex


def request_ids(app: ASGIApp) -> ASGIApp:
    """Wrap ``app`` so each HTTP request and socket runs with its id set for logging, echoed as ``X-Request-ID``."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        current = _given_or_new(scope)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER.encode()]
                message["headers"] = [*headers, (HEADER.encode(), current.encode())]
            await send(message)

        token = request_id.set(current)
        try:
            await app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)

    return middleware
