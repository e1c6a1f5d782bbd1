"""Structured JSON logs on stderr (supervisord files them), scrubbed of anything secret."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
from typing import Any

import msgspec

_SECRET_KEYS = re.compile(
    r"pass|secret|token|authorization|cookie|signature|(^|_)key$|^(lat|lng|latitude|longitude|location)$", re.I
)
_SECRET_TEXT = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"
    r"|(\b(?:password|secret|token|refresh_token|access_token|X-Amz-Signature|X-Amz-Credential)=)[^&\s\"']+"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
#: JSON's own scalars pass through as they are; every other value is logged as scrubbed text
_SCALARS = (bool, int, float, type(None))

#: the id nginx gave the request being handled (server.web.middleware sets it); every line logged meanwhile carries it
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")


def scrub(text: str) -> str:
    """Mask bearer tokens, JWTs and secret query parameters wherever they appear in free text."""

    def mask(found: re.Match[str]) -> str:
        prefix = found.group(1) or found.group(2) or ""
        return f"{prefix}[redacted]"

    return _SECRET_TEXT.sub(mask, text)


def _as_text(value: object) -> str:
    try:
        return scrub(str(value))
    except Exception:  # noqa: BLE001 - a broken __str__ of any kind must not cost the line
        return f"<unprintable {type(value).__name__}>"


def _clean(key: str, value: Any) -> Any:
    """A value msgspec can always encode: secrets redacted by key, text scrubbed, anything else as scrubbed text."""
    if _SECRET_KEYS.search(key):
        return "[redacted]"
    if isinstance(value, _SCALARS) and not (isinstance(value, int) and abs(value) >= 2**63):
        return value
    if isinstance(value, dict):
        return {str(k): _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean("", v) for v in value]
    return _as_text(value)


def _message(record: logging.LogRecord) -> str:
    try:
        return scrub(record.getMessage())
    except Exception:  # noqa: BLE001 - arguments that do not fit: log the format alone, never the raw arguments
        return f"{_as_text(record.msg)} [arguments did not fit the message]"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _message(record),
        }
        current = request_id.get(None)
        if current is not None:
            entry["request_id"] = current
        for key, value in vars(record).items():
            if key not in _STANDARD:
                entry[key] = _clean(key, value)
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return msgspec.json.encode(entry).decode()


def configure(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Access lines carry query strings; nginx keeps the access log, without them.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs each request's URL at INFO, and an APNs URL holds the device token.
    for name in ("httpx", "httpcore", "hpack"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
