"""Structured logs never carry tokens, passwords or exact locations."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from server.platform.logs import JsonFormatter, configure, request_id, scrub

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl"


def _format(message: str, **extra: object) -> dict:
    record = logging.makeLogRecord({"name": "t", "levelno": logging.INFO, "levelname": "INFO", "msg": message, **extra})
    return json.loads(JsonFormatter().format(record))


def test_bearer_tokens_jwts_and_secret_query_parameters_are_masked():
    text = scrub(f"Authorization: Bearer {TOKEN} then /reset?token=abc123&x=1 and {TOKEN}")
    assert TOKEN not in text and "abc123" not in text
    assert "x=1" in text


def test_secret_and_location_fields_are_redacted_but_others_kept():
    entry = _format("login", password="hunter22", refresh_token="r", lat=52.37, lng=4.89, user_id="u1", latency_ms=3)
    assert entry["password"] == entry["refresh_token"] == entry["lat"] == entry["lng"] == "[redacted]"
    assert entry["user_id"] == "u1" and entry["latency_ms"] == 3
    assert entry["level"] == "info" and entry["msg"] == "login" and entry["ts"].endswith("Z")


def test_exceptions_are_logged_without_the_tokens_they_mention():
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError as failure:
        entry = _format("failed", exc_info=(type(failure), failure, failure.__traceback__))
    assert TOKEN not in entry["exc"] and "ValueError" in entry["exc"]


def _emit(capsys: pytest.CaptureFixture[str], logger: str, message: str, *args: object, **extra: object) -> str:
    """What one log call writes to stderr through the configured handler."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure("info")
    try:
        logging.getLogger(logger).info(message, *args, extra=extra)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return capsys.readouterr().err


def test_values_msgspec_cannot_encode_are_logged_as_redacted_text(capsys: pytest.CaptureFixture[str]):
    failure = RuntimeError(f"upstream said Bearer {TOKEN}")
    err = _emit(capsys, "t.paths", "stored", where=Path("/var/lib/harvest/objects"), cause=failure, ids={1, 2})
    entry = json.loads(err)
    assert entry["msg"] == "stored" and entry["where"] == "/var/lib/harvest/objects"
    assert TOKEN not in err and "[redacted]" in entry["cause"]
    assert sorted(entry["ids"]) == [1, 2]


def test_nested_values_are_scrubbed_and_secret_keys_inside_them_redacted(capsys: pytest.CaptureFixture[str]):
    err = _emit(capsys, "t.nested", "call", attempts=[f"token={TOKEN}", {"password": "hunter22", "n": 1}])
    entry = json.loads(err)
    assert TOKEN not in err and "hunter22" not in err
    assert entry["attempts"][1] == {"password": "[redacted]", "n": 1}


def test_a_message_whose_arguments_do_not_fit_never_prints_them_raw(capsys: pytest.CaptureFixture[str]):
    err = _emit(capsys, "t.args", "refresh for %d failed", f"Bearer {TOKEN}")
    assert TOKEN not in err
    entry = json.loads(err)
    assert entry["level"] == "info" and "refresh for %d failed" in entry["msg"]


def test_lines_logged_while_handling_a_request_carry_its_id(capsys: pytest.CaptureFixture[str]):
    token = request_id.set("4f1c2a9e8b7d6c5a")
    try:
        inside = json.loads(_emit(capsys, "t.req", "inside"))
    finally:
        request_id.reset(token)
    outside = json.loads(_emit(capsys, "t.req", "outside"))
    assert inside["request_id"] == "4f1c2a9e8b7d6c5a"
    assert "request_id" not in outside


def test_http_clients_do_not_log_the_urls_of_their_requests(capsys: pytest.CaptureFixture[str]) -> None:
    """httpx logs every request URL at INFO; an APNs URL ends in the device token."""
    configure("debug")
    logging.getLogger("httpx").info("HTTP Request: POST https://api.push.apple.com/3/device/%s", "ab" * 32)
    assert "abab" not in capsys.readouterr().err
