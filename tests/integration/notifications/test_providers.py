"""The push provider clients against the fake providers the fixtures run on loopback: what each sends, how
it authenticates, and how it reads every kind of answer into a verdict."""

from __future__ import annotations

import asyncio
import email.utils
import json
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import jwt
import msgspec
import pytest

from server import settings as settings_module
from server.notifications import providers
from server.notifications.providers.apns import Apns
from server.notifications.providers.base import Outcome, Push, Verdict, retry_after, truncate
from server.notifications.providers.expo import Expo
from server.notifications.providers.fcm import Fcm
from server.settings import Settings
from tests.push_fakes import APNS_TOPIC, PushFakes
from tests.services import Stack


@pytest.fixture
def fakes(stack: Stack) -> Iterator[PushFakes]:
    yield stack.push
    stack.push.reset()


@pytest.fixture
def settings(stack: Stack) -> Settings:
    return settings_module.current()


@pytest.fixture
async def expo(settings: Settings) -> AsyncIterator[Expo]:
    provider = Expo(settings)
    yield provider
    await provider.aclose()


@pytest.fixture
async def fcm(settings: Settings) -> AsyncIterator[Fcm]:
    provider = Fcm(settings)
    yield provider
    await provider.aclose()


@pytest.fixture
async def apns(settings: Settings) -> AsyncIterator[Apns]:
    provider = Apns(settings)
    yield provider
    await provider.aclose()


def push(token: str, *, badge: int | None = 3, collapse_id: str = "message:m1") -> Push:
    return Push(
        id=uuid.uuid4(),
        token=token,
        title="Ada (2)",
        body="2 new messages",
        collapse_id=collapse_id,
        thread_id="message:m1",
        badge=badge,
        data={"kind": "message", "matchId": "m1"},
    )


def expo_token() -> str:
    return f"ExponentPushToken[{secrets.token_urlsafe(16)}]"


def fcm_token() -> str:
    return secrets.token_urlsafe(60)


def apns_token() -> str:
    return secrets.token_hex(32)


def with_push(settings: Settings, **changes: str) -> Settings:
    return msgspec.structs.replace(settings, config=msgspec.structs.replace(
        settings.config, push=msgspec.structs.replace(settings.config.push, **changes)
    ))  # fmt: skip


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_expo_sends_150_pushes_in_two_requests_and_reads_their_receipts(expo: Expo, fakes: PushFakes) -> None:
    pushes = [push(expo_token(), badge=n) for n in range(150)]
    gone_later = pushes[7].token
    fakes.invalid_in_receipts.add(gone_later)

    outcomes = [
        outcome
        for start in range(0, 150, expo.batch)
        for outcome in await expo.send(pushes[start : start + expo.batch])
    ]

    assert [r.status for r in fakes.sent_requests("expo", "/send")] == [200, 200]
    assert {o.verdict for o in outcomes} == {Verdict.SENT} and all(o.receipt for o in outcomes)
    [first] = fakes.pushes_to(pushes[0].token)
    assert (first.title, first.body, first.badge) == ("Ada (2)", "2 new messages", 0)
    assert first.collapse_id == "message:m1" and first.thread_id == "message:m1"
    assert first.raw["tag"] == "message:m1" and first.raw["sound"] == "default"
    assert first.data == {"kind": "message", "matchId": "m1", "pushId": str(pushes[0].id)}
    assert first.headers["authorization"] == f"Bearer {fakes.expo_access_token}"

    receipts = await expo.receipts([o.receipt for o in outcomes if o.receipt] + ["not-ready-yet"])
    assert "not-ready-yet" not in receipts and len(receipts) == 150
    assert receipts[outcomes[7].receipt or ""].verdict is Verdict.INVALID_TOKEN
    assert {o.verdict for ticket, o in receipts.items() if ticket != outcomes[7].receipt} == {Verdict.SENT}


async def test_expo_ticket_for_a_dead_token_is_invalid_token_and_the_others_sent(expo: Expo, fakes: PushFakes) -> None:
    alive, dead = push(expo_token()), push(expo_token())
    fakes.invalid.add(dead.token)

    [sent, gone] = await expo.send([alive, dead])

    assert sent.verdict is Verdict.SENT
    assert gone.verdict is Verdict.INVALID_TOKEN and "DeviceNotRegistered" in gone.detail
    assert dead.token not in gone.detail


async def test_fcm_mints_one_oauth_token_and_reuses_it_until_fcm_refuses_it(fcm: Fcm, fakes: PushFakes) -> None:
    first = [push(fcm_token()) for _ in range(5)]
    assert {o.verdict for o in await fcm.send(first)} == {Verdict.SENT}
    assert {o.verdict for o in await fcm.send([push(fcm_token())])} == {Verdict.SENT}
    assert [r.status for r in fakes.sent_requests("fcm", "/token")] == [200]

    [received] = fakes.pushes_to(first[0].token)
    message = received.raw
    assert message["notification"] == {"title": "Ada (2)", "body": "2 new messages"}
    assert (
        message["android"]["collapse_key"] == "message:m1" and message["android"]["notification"]["tag"] == "message:m1"
    )
    assert message["apns"]["headers"]["apns-collapse-id"] == "message:m1"
    assert message["apns"]["payload"]["aps"]["thread-id"] == "message:m1"
    assert message["webpush"]["notification"]["tag"] == "message:m1"
    assert message["data"] == {"kind": "message", "matchId": "m1", "pushId": str(first[0].id)}
    assert received.headers["authorization"].startswith("Bearer ya29.")

    fakes.revoke_fcm_tokens()  # Google may stop honouring a token early: one 401, a fresh token, one retry
    [again] = await fcm.send([push(fcm_token())])
    assert again.verdict is Verdict.SENT
    assert [r.status for r in fakes.sent_requests("fcm", "/token")] == [200, 200]


async def test_fcm_unregistered_token_is_invalid_token(fcm: Fcm, fakes: PushFakes) -> None:
    dead = push(fcm_token())
    fakes.invalid.add(dead.token)
    [outcome] = await fcm.send([dead])
    assert outcome.verdict is Verdict.INVALID_TOKEN and "UNREGISTERED" in outcome.detail


async def test_apns_is_http2_over_tls_with_a_valid_es256_provider_token(apns: Apns, fakes: PushFakes) -> None:
    sent = push(apns_token(), collapse_id="x" * 100)
    [outcome] = await apns.send([sent])

    assert outcome.verdict is Verdict.SENT
    [received] = fakes.pushes_to(sent.token)
    assert received.http_version == "2" and apns.url.startswith("https://")
    headers = received.headers
    assert headers["apns-id"] == str(sent.id) and headers["apns-topic"] == APNS_TOPIC
    assert headers["apns-push-type"] == "alert" and headers["apns-priority"] == "10"
    assert headers["apns-collapse-id"] == "x" * 64
    assert int(headers["apns-expiration"]) > time.time()
    bearer = headers["authorization"].removeprefix("bearer ")
    assert jwt.get_unverified_header(bearer) == {"alg": "ES256", "kid": fakes.apns_key_id, "typ": "JWT"}
    claims = jwt.decode(bearer, fakes.apns_key.public_key(), algorithms=["ES256"])
    assert claims["iss"] == fakes.apns_team_id
    assert received.raw["aps"] == {
        "alert": {"title": "Ada (2)", "body": "2 new messages"},
        "thread-id": "message:m1",
        "sound": "default",
        "badge": 3,
    }
    assert received.data == {"kind": "message", "matchId": "m1", "pushId": str(sent.id)}

    [again] = await apns.send([push(apns_token())])
    assert again.verdict is Verdict.SENT
    assert fakes.sent_requests("apns")[-1].http_version == "2"
    assert {r.headers["authorization"] for r in fakes.received if r.provider == "apns"} == {f"bearer {bearer}"}


async def test_apns_unregistered_and_malformed_tokens_are_invalid_tokens(apns: Apns, fakes: PushFakes) -> None:
    unregistered, malformed = push(apns_token()), push("not-a-device-token")
    fakes.invalid.add(unregistered.token)

    [gone, bad] = await apns.send([unregistered, malformed])

    assert gone.verdict is Verdict.INVALID_TOKEN and "Unregistered" in gone.detail
    assert bad.verdict is Verdict.INVALID_TOKEN and "BadDeviceToken" in bad.detail


async def test_a_held_request_is_taken_by_the_fake_before_the_sender_hears_back(apns: Apns, fakes: PushFakes) -> None:
    held = push(apns_token())
    fakes.hold(1, "apns")
    sending = asyncio.create_task(apns.send([held]))
    for _ in range(50):
        if fakes.pushes_to(held.token):
            break
        await asyncio.sleep(0.05)
    assert fakes.pushes_to(held.token) and not sending.done()
    fakes.release()
    assert [o.verdict for o in await sending] == [Verdict.SENT]


@pytest.mark.parametrize("name", ["expo", "fcm", "apns"])
async def test_a_provider_answering_503_is_retried_after_what_it_says(
    name: str, settings: Settings, fakes: PushFakes
) -> None:
    provider = providers.providers(settings)[name]
    token = {"expo": expo_token, "fcm": fcm_token, "apns": apns_token}[name]()
    fakes.outage(name, seconds=30)
    try:
        [outcome] = await provider.send([push(token)])
    finally:
        await provider.aclose()
    assert outcome == Outcome(Verdict.RETRY, retry_after=1.0, detail=f"{name}: HTTP 503")
    assert fakes.pushes_to(token) == [] and [r.tokens for r in fakes.refused(name)] == [{token}]


@pytest.mark.parametrize("name", ["expo", "fcm", "apns"])
async def test_a_provider_that_refuses_connections_is_retried(name: str, settings: Settings) -> None:
    nowhere = f"127.0.0.1:{closed_port()}"
    moved = with_push(
        settings,
        expo_url=f"http://{nowhere}/--/api/v2/push",
        fcm_url=f"http://{nowhere}",
        apns_url=f"https://{nowhere}",
    )
    provider = providers.providers(moved)[name]
    try:
        outcomes = await provider.send([push(apns_token()), push(apns_token())])
    finally:
        await provider.aclose()
    assert [o.verdict for o in outcomes] == [Verdict.RETRY, Verdict.RETRY]
    assert outcomes[0].detail == f"{name} unreachable: ConnectError"


async def test_expo_receipts_ask_at_most_1000_ids_at_a_time(expo: Expo, fakes: PushFakes) -> None:
    assert await expo.receipts([str(uuid.uuid4()) for _ in range(2500)]) == {}
    assert len(fakes.sent_requests("expo", "/getReceipts")) == 3


def test_missing_names_each_provider_without_credentials_and_providers_skips_it(settings: Settings) -> None:
    assert providers.missing(settings) == {}
    # The bench's loopback provider needs nothing and is always there.
    assert sorted(providers.providers(settings)) == ["apns", "bench", "expo", "fcm"]

    bare = msgspec.structs.replace(
        settings, secrets=msgspec.structs.replace(settings.secrets, push=type(settings.secrets.push)())
    )
    assert providers.missing(bare) == {
        "expo": "no [push] expo_access_token in secrets.toml",
        "fcm": "no [push] fcm_service_account in secrets.toml",
        "apns": "no [push] apns_key in secrets.toml",
    }
    assert sorted(providers.providers(bare)) == ["bench"]

    no_team = with_push(settings, apns_team_id="", apns_topic="")
    assert providers.missing(no_team) == {"apns": "no [push] apns_team_id in harvest.toml, apns_topic in harvest.toml"}
    assert sorted(providers.providers(no_team)) == ["bench", "expo", "fcm"]


def test_retry_after_reads_seconds_and_http_dates() -> None:
    def answer(value: str) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": value} if value else {})

    assert retry_after(answer("120")) == 120.0
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 58 <= (retry_after(answer(in_a_minute)) or 0) <= 60
    assert retry_after(answer(email.utils.formatdate(time.time() - 60, usegmt=True))) == 0.0
    assert retry_after(answer("")) is None and retry_after(answer("soon")) is None


def test_collapse_ids_are_cut_to_apple_byte_limit_on_a_character_boundary() -> None:
    assert truncate("é" * 40, 64) == "é" * 32
    assert truncate("a" + "é" * 40, 64) == "a" + "é" * 31


def test_fcm_reads_an_invalid_argument_about_the_token_as_a_dead_token() -> None:
    from server.notifications.providers.fcm import outcome

    about_token = {
        "error": {
            "code": 400,
            "status": "INVALID_ARGUMENT",
            "message": "The registration token is not a valid FCM registration token",
        }
    }
    about_message = {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "Invalid JSON payload received."}}
    assert outcome(httpx.Response(400, content=json.dumps(about_token))).verdict is Verdict.INVALID_TOKEN
    assert outcome(httpx.Response(400, content=json.dumps(about_message))).verdict is Verdict.FAILED
    assert outcome(httpx.Response(429, headers={"Retry-After": "7"})) == Outcome(
        Verdict.RETRY, retry_after=7.0, detail="fcm: HTTP 429"
    )
