"""Structured logs never carry tokens, passwords or exact locations."""

from __future__ import annotations

import json
import logging

from server.platform.logs import JsonFormatter, scrub

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
