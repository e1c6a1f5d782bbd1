"""Asks the running API, through nginx on this host, whether it is healthy and ready."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from typing import Any

from harvestctl.appliance import Appliance
from harvestctl.errors import CliError, Exit

# harvestctl talks to its own nginx on loopback; the certificate may be the generated self-signed one.
_LOOPBACK_TLS = ssl.create_default_context()
_LOOPBACK_TLS.check_hostname = False
_LOOPBACK_TLS.verify_mode = ssl.CERT_NONE


def get(appliance: Appliance, path: str, timeout: float = 5.0) -> tuple[int, dict[str, Any] | None]:
    """(status, JSON body) of GET path; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(  # noqa: S310 - an https URL this module builds
            appliance.https_url(path), timeout=timeout, context=_LOOPBACK_TLS
        ) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as failure:
        try:
            return failure.code, json.loads(failure.read() or b"null")
        except ValueError:
            return failure.code, None
    except (OSError, ValueError):
        return 0, None


def wait_ready(appliance: Appliance, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status, body = 0, None
    while time.monotonic() < deadline:
        status, body = get(appliance, "/ready")
        if status == 200 and body:
            return body
        time.sleep(0.5)
    detail = (body or {}).get("detail") or ("nothing answers on the HTTPS port" if status == 0 else f"HTTP {status}")
    raise CliError(
        f"the API is not ready after {timeout:.0f}s: {detail}",
        "run `harvestctl status` and `harvestctl logs api` to see which part is down",
        Exit.NOT_READY,
    )
