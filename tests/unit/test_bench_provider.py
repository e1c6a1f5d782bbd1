"""The bench provider reaches loopback and nothing else: a token names a port, never a host."""

from __future__ import annotations

import socket
import uuid
from urllib.parse import urlsplit

import pytest

from server.notifications.providers.base import Push, Verdict
from server.notifications.providers.bench import BenchProvider, endpoint

NAMING_NO_PORT = [
    "bench",
    "bench-",
    "bench--x",
    "bench-x-1",
    "bench-0-x",
    "bench-070-x",
    "bench-65536-x",
    "bench-8080",
    "bench-8080.example.com-x",
    "bench-8080@example.com-x",
    "bench-example.com:8080-x",
    "bench-[::1]:8080-x",
    "ExponentPushToken[abc]",
    "http://example.com:8080/send",
]


def _push(token: str) -> Push:
    return Push(
        id=uuid.uuid4(), token=token, title="It's a match!", body="You and Bench like each other.",
        collapse_id="match:x", thread_id="match:x", badge=1, data={"kind": "match"},
    )  # fmt: skip


@pytest.mark.parametrize("token", ["bench-1-x", "bench-8080-", "bench-65535-a-b-c", "bench-443-@example.com/x"])
def test_a_bench_token_names_only_a_port_on_loopback(token):
    url = urlsplit(endpoint(token) or "")
    assert (url.scheme, url.hostname, url.path) == ("http", "127.0.0.1", "/send")
    assert url.port == int(token.split("-")[1])


@pytest.mark.parametrize("token", NAMING_NO_PORT)
def test_a_token_that_names_no_port_has_no_endpoint(token):
    assert endpoint(token) is None


async def test_pushes_to_tokens_without_a_port_are_refused_without_a_request():
    provider = BenchProvider()
    try:
        outcomes = await provider.send([_push(token) for token in NAMING_NO_PORT])
    finally:
        await provider.aclose()
    assert [outcome.verdict for outcome in outcomes] == [Verdict.INVALID_TOKEN] * len(NAMING_NO_PORT)


async def test_a_receiver_that_is_not_listening_is_tried_again_later():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = BenchProvider()
    try:
        outcomes = await provider.send([_push(f"bench-{port}-a"), _push("bench-x"), _push(f"bench-{port}-b")])
    finally:
        await provider.aclose()
    assert [outcome.verdict for outcome in outcomes] == [Verdict.RETRY, Verdict.INVALID_TOKEN, Verdict.RETRY]
