"""One request id per request: in every log line written while handling it, and back on the response."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from server.platform.logs import JsonFormatter
from server.web.middleware import request_ids


@get("/work", sync_to_thread=False)
def work() -> str:
    logging.getLogger("t.handler").info("handled")
    return "ok"


class Lines(logging.Handler):
    """Keeps each formatted line, as the configured stderr handler would write it."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def handled(self) -> list[dict]:
        return [entry for entry in self.lines if entry["msg"] == "handled"]


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("t.handler")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def client() -> Iterator[TestClient[Litestar]]:
    with TestClient(Litestar([work], middleware=[request_ids])) as test_client:
        yield test_client


def test_the_id_nginx_gave_is_logged_with_every_line_and_echoed(client, lines):
    response = client.get("/work", headers={"X-Request-ID": "0123456789abcdef0123456789abcdef"})
    assert response.headers["x-request-id"] == "0123456789abcdef0123456789abcdef"
    assert [entry["request_id"] for entry in lines.handled()] == ["0123456789abcdef0123456789abcdef"]


def test_a_missing_or_malformed_id_is_replaced_by_a_fresh_one(client, lines):
    forged = client.get("/work", headers={"X-Request-ID": 'x" level=error msg=forged'})
    bare = client.get("/work")
    ids = {forged.headers["x-request-id"], bare.headers["x-request-id"]}
    assert len(ids) == 2 and all(len(value) == 32 for value in ids)
    assert {entry["request_id"] for entry in lines.handled()} == ids
