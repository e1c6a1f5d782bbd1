"""secrets.toml: made once with fresh random values, completed when a release adds one, written as TOML."""

from __future__ import annotations

import secrets as _random
from datetime import UTC, datetime

import msgspec
import tomli_w

from server.settings.schema import JwtKey, Secrets, convert, read_toml

HEADER = "# Generated once by harvestctl up. Keep this file 0600; never commit or paste it.\n\n"


def new_secrets() -> Secrets:
    """Fresh random credentials; called once per appliance, never on a re-run."""
    token = _random.token_urlsafe
    kid = f"{datetime.now(UTC):%Y%m%d}-{_random.token_hex(4)}"
    return Secrets(
        postgres=Secrets.Postgres(password=token(32)),
        valkey=Secrets.Valkey(password=token(32)),
        s3=Secrets.S3(access_key="HV" + _random.token_hex(9).upper(), secret_key=token(30)),
        jwt=Secrets.Jwt(keys=[JwtKey(kid=kid, secret=token(48))]),
        seaweedfs=Secrets.Seaweedfs(
            volume_write_key=token(32), volume_read_key=token(32), filer_write_key=token(32), filer_read_key=token(32)
        ),
        media=Secrets.Media(url_key=token(32)),
        notifications=Secrets.Notifications(unsubscribe_key=token(32)),
        moderation=Secrets.Moderation(audit_key=token(32)),
    )


def _table(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def complete_secrets(raw: bytes) -> Secrets | None:
    """A release that needs a new secret adds it to an existing file; nothing present is ever replaced.

    Returns the completed secrets when something was missing, None when the file is already whole.
    """
    present = read_toml(raw, "secrets.toml")
    fresh = msgspec.to_builtins(new_secrets())
    merged = {
        section: (values | _table(present.get(section)) if isinstance(values, dict) else present.get(section, values))
        for section, values in fresh.items()
    }
    if merged == present:
        return None
    return convert(Secrets, merged, "secrets.toml")


def render_secrets(value: Secrets) -> str:
    """secrets.toml text, written by a TOML writer so any character an operator put in a value survives."""
    return HEADER + tomli_w.dumps(msgspec.to_builtins(value))
