"""Where the appliance keeps things, all under one root, and how the server reaches its services."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import msgspec

from server.settings.schema import Config, Secrets


class Layout(msgspec.Struct, frozen=True):
    """Where the appliance keeps things, all under one root."""

    root: str

    def _under(self, *parts: str) -> str:
        return str(Path(self.root, *parts))

    @property
    def etc(self) -> str:
        return self._under("etc/harvest")

    @property
    def config_file(self) -> str:
        return self._under("etc/harvest/harvest.toml")

    @property
    def secrets_file(self) -> str:
        return self._under("etc/harvest/secrets.toml")

    @property
    def generated(self) -> str:
        return self._under("etc/harvest/generated")

    @property
    def service_secrets(self) -> str:
        """Each service's share of secrets.toml, ``<service>.json``, readable by that service's group alone."""
        return self._under("etc/harvest/generated/secrets")

    @property
    def data(self) -> str:
        return self._under("var/lib/harvest")

    @property
    def logs(self) -> str:
        return self._under("var/log/harvest")

    @property
    def run(self) -> str:
        return self._under("run/harvest")

    @property
    def opt(self) -> str:
        return self._under("opt/harvest")

    @property
    def postgres_socket_dir(self) -> str:
        return self._under("run/harvest/postgres")

    @property
    def valkey_socket(self) -> str:
        return self._under("run/harvest/valkey/valkey.sock")

    @property
    def supervisor_socket(self) -> str:
        return self._under("run/harvest/supervisor.sock")

    def as_dict(self) -> dict[str, str]:
        names = [n for n, v in vars(type(self)).items() if isinstance(v, property)]
        return {"root": self.root} | {n: getattr(self, n) for n in names}


class Settings(msgspec.Struct, frozen=True):
    config: Config
    secrets: Secrets
    layout: Layout

    @property
    def embedded_storage(self) -> bool:
        return not self.config.storage.endpoint

    def postgres_connection(self) -> dict[str, object]:
        pg = self.config.postgres
        return {
            "host": self.layout.postgres_socket_dir,
            "port": pg.port,
            "user": pg.user,
            "password": self.secrets.postgres.password,
            "database": pg.database,
        }

    def valkey_url(self) -> str:
        return f"unix://{self.layout.valkey_socket}?db=0"

    def s3_endpoint(self) -> tuple[str, bool]:
        """(host:port, secure) for the minio SDK."""
        if self.embedded_storage:
            return f"127.0.0.1:{self.config.seaweedfs.s3_port}", False
        url = self.config.storage.endpoint
        secure = url.startswith("https://")
        return url.split("://", 1)[-1].rstrip("/"), secure

    def bucket(self, purpose: Literal["originals", "media"]) -> str:
        return f"{self.config.storage.bucket_prefix}-{purpose}"

    def link(self, path: str) -> str:
        """A link for an email: the app's deep link base when configured, else the public URL."""
        base = self.config.email.link_base or self.public_url()
        return f"{base.rstrip('/')}/{path.lstrip('/')}"

    def page_link(self, path: str) -> str:
        """A link to one of the server's own web pages, which a browser opens whatever app is installed."""
        return f"{self.public_url()}/{path.lstrip('/')}"

    def api_workers(self) -> int:
        return self.config.api.workers or (os.cpu_count() or 1)

    def public_url(self) -> str:
        port = self.config.server.https_port
        suffix = "" if port == 443 else f":{port}"
        return f"https://{self.config.server.hostname}{suffix}"
