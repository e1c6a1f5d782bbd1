"""Typed settings: the operator's harvest.toml plus the generated secrets.toml, read by one loader.

Every path the appliance uses hangs off one root (default ``/``, or ``HARVEST_ROOT``), so tests and a
second appliance can live in a temp directory. Embedded services are reached through that root's
sockets; external ones through the endpoints harvest.toml names.

secrets.toml is root's alone. A service the appliance runs under its own user (``HARVEST_SERVICE``, set
by its supervisord program) reads its share instead: the sections it uses, rendered by the playbook.
Root (harvestctl, Ansible, the management verbs) and the tests read secrets.toml itself.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import msgspec

from server.settings.layout import Layout, Settings
from server.settings.schema import (
    ApiSection,
    ChatSection,
    Config,
    ConfigError,
    EmailSection,
    JwtKey,
    LimitsSection,
    LocationSection,
    LoggingSection,
    MatchingSection,
    ModerationSection,
    OauthSection,
    PagesSection,
    PhotosSection,
    PostgresSection,
    SeaweedfsSection,
    Secrets,
    ServerSection,
    StorageSection,
    ValkeySection,
    WorkerSection,
    convert,
    parse_config,
    parse_secrets,
)
from server.settings.secrets_file import complete_secrets, new_secrets, render_secrets

__all__ = [
    "ApiSection",
    "ChatSection",
    "Config",
    "ConfigError",
    "EmailSection",
    "JwtKey",
    "Layout",
    "LimitsSection",
    "LocationSection",
    "LoggingSection",
    "MatchingSection",
    "ModerationSection",
    "OauthSection",
    "PagesSection",
    "PhotosSection",
    "PostgresSection",
    "SeaweedfsSection",
    "Secrets",
    "ServerSection",
    "Settings",
    "StorageSection",
    "ValkeySection",
    "WorkerSection",
    "complete_secrets",
    "current",
    "load",
    "new_secrets",
    "parse_config",
    "parse_secrets",
    "render_secrets",
]


def _read(path: str, hint: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing; {hint}") from None
    except PermissionError:
        raise ConfigError(f"{path} is not readable by this user; run as root") from None


def _service_secrets(layout: Layout, service: str) -> Secrets:
    path = f"{layout.service_secrets}/{service}.json"
    raw = _read(path, "run `harvestctl up` to render it")
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    return convert(Secrets, data, path)


def load(root: str | None = None) -> Settings:
    """Read and validate harvest.toml and this process's secrets under the root (``HARVEST_ROOT`` or ``/``)."""
    layout = Layout(root=root or os.environ.get("HARVEST_ROOT", "/"))
    config = parse_config(_read(layout.config_file, "run `harvestctl up` to create it"))
    service = os.environ.get("HARVEST_SERVICE")
    secrets = (
        _service_secrets(layout, service)
        if service
        else parse_secrets(_read(layout.secrets_file, "run `harvestctl up` to generate it"))
    )
    return Settings(config=config, secrets=secrets, layout=layout)


@cache
def current() -> Settings:
    """The process's settings, loaded once."""
    return load()
