"""Structured JSON logs on stderr (supervisord files them), scrubbed of anything secret."""

from __future__ import annotations

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


def scrub(text: str) -> str:
    """Mask bearer tokens, JWTs and secret query parameters wherever they appear in free text."""

    def mask(found: re.Match[str]) -> str:
        prefix = found.group(1) or found.group(2) or ""
        return f"{prefix}[redacted]"

    return _SECRET_TEXT.sub(mask, text)


def _clean(key: str, value: Any) -> Any:
    if _SECRET_KEYS.search(key):
        return "[redacted]"
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _clean(str(k), v) for k, v in value.items()}
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
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
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
