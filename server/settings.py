"""Typed settings: the operator's harvest.toml plus the generated secrets.toml, read by one loader.

Every path the appliance uses hangs off one root (default ``/``, or ``HARVEST_ROOT``), so tests and a
second appliance can live in a temp directory. Embedded services are reached through that root's
sockets; external ones through the endpoints harvest.toml names.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets as _random
import tomllib
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import msgspec

T = TypeVar("T")
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
# SeaweedFS listens on each port and on port + 10000 for gRPC, so its ports stop 10000 short.
SeaweedPort = Annotated[int, msgspec.Meta(ge=1024, le=55535)]
HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


class ConfigError(ValueError):
    """harvest.toml or secrets.toml is missing, unreadable or invalid; the message names the key."""


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class ServerSection(_Section):
    #: the public name clients use; it goes into the TLS certificate and generated links
    hostname: str = "localhost"
    #: address nginx listens on; the only listener that may face the network
    listen: str = "0.0.0.0"
    http_port: Port = 80
    https_port: Port = 443
    #: operator-supplied certificate and key; empty means a generated self-signed pair
    tls_certificate: str = ""
    tls_key: str = ""
    max_body_mb: Annotated[int, msgspec.Meta(ge=1, le=200)] = 12


class ApiSection(_Section):
    #: API worker processes; 0 means one per core
    workers: Annotated[int, msgspec.Meta(ge=0, le=64)] = 0


class PostgresSection(_Section):
    #: names the unix socket (.s.PGSQL.<port>); the embedded cluster listens on no TCP port
    port: Port = 5432
    database: str = "harvest"
    user: str = "harvest"
    max_connections: Annotated[int, msgspec.Meta(ge=20, le=2000)] = 100
    #: 0 sizes shared_buffers and friends from the host's memory
    shared_buffers_mb: Annotated[int, msgspec.Meta(ge=0)] = 0


class ValkeySection(_Section):
    maxmemory_mb: Annotated[int, msgspec.Meta(ge=16)] = 256


class StorageSection(_Section):
    #: empty runs the embedded SeaweedFS; otherwise an S3 URL such as https://s3.eu-west-1.amazonaws.com
    endpoint: str = ""
    region: str = "us-east-1"
    bucket_prefix: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{1,40}$")] = "harvest"


class SeaweedfsSection(_Section):
    s3_port: SeaweedPort = 8333
    master_port: SeaweedPort = 9333
    volume_port: SeaweedPort = 8334
    filer_port: SeaweedPort = 8888


class EmailSection(_Section):
    #: empty sends no email (sign-up still works; `harvestctl doctor` reports it)
    smtp_host: str = ""
    smtp_port: Port = 587
    smtp_username: str = ""
    #: STARTTLS before authenticating; turn off only for a relay on this host
    smtp_starttls: bool = True
    from_address: str = "Harvest <no-reply@localhost>"
    #: where links in emails point: empty means https://<hostname>; an app deep link such as harvest://
    link_base: str = ""


class OauthSection(_Section):
    #: OAuth client ids of the app; sign-in with a provider is off while its list is empty
    google_client_ids: list[str] = []
    apple_client_ids: list[str] = []
    google_jwks_url: str = "https://www.googleapis.com/oauth2/v3/certs"
    apple_jwks_url: str = "https://appleid.apple.com/auth/keys"


class LimitsSection(_Section):
    #: failed logins allowed per account and client address in login_failure_window_minutes
    login_failures_per_account_ip: Annotated[int, msgspec.Meta(ge=1)] = 5
    login_failure_window_minutes: Annotated[int, msgspec.Meta(ge=1)] = 15
    #: failed logins allowed per account in an hour, from anywhere
    login_failures_per_account_per_hour: Annotated[int, msgspec.Meta(ge=1)] = 100
    #: requests to /api/auth per client address per minute
    auth_requests_per_ip_per_minute: Annotated[int, msgspec.Meta(ge=1)] = 60
    registrations_per_ip_per_hour: Annotated[int, msgspec.Meta(ge=1)] = 10
    #: password-reset requests per email address per hour
    reset_requests_per_email_per_hour: Annotated[int, msgspec.Meta(ge=1)] = 5
    #: calls per signed-in user per minute, across every endpoint
    requests_per_user_per_minute: Annotated[int, msgspec.Meta(ge=1)] = 100


class LocationSection(_Section):
    #: positions are stored snapped to square cells this many km wide; nothing finer is ever kept
    grid_km: Annotated[float, msgspec.Meta(ge=0.1, le=20)] = 1.0
    #: moves to another cell allowed per user per hour (repeated moves are how trilateration works)
    changes_per_hour: Annotated[int, msgspec.Meta(ge=1)] = 10
    #: a move implying a faster speed than this is refused as spoofed
    max_speed_kmh: Annotated[int, msgspec.Meta(ge=100)] = 1000


class PhotosSection(_Section):
    max_per_user: Annotated[int, msgspec.Meta(ge=1, le=20)] = 6
    max_upload_mb: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    #: at most 80: past that Pillow itself treats a file as a decompression bomb
    max_megapixels: Annotated[int, msgspec.Meta(ge=1, le=80)] = 40
    #: pre: others see a photo once a moderator approves it; post: as soon as it is processed
    moderation: Literal["pre", "post"] = "post"
    #: how long a signed media URL handed to a client stays valid
    url_minutes: Annotated[int, msgspec.Meta(ge=5, le=1440)] = 60


class WorkerSection(_Section):
    #: a job held this long by a worker that stopped answering is taken over by another
    reclaim_after_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 60


class LoggingSection(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"


class Config(_Section):
    server: ServerSection = ServerSection()
    api: ApiSection = ApiSection()
    postgres: PostgresSection = PostgresSection()
    valkey: ValkeySection = ValkeySection()
    storage: StorageSection = StorageSection()
    seaweedfs: SeaweedfsSection = SeaweedfsSection()
    email: EmailSection = EmailSection()
    oauth: OauthSection = OauthSection()
    limits: LimitsSection = LimitsSection()
    location: LocationSection = LocationSection()
    photos: PhotosSection = PhotosSection()
    worker: WorkerSection = WorkerSection()
    logging: LoggingSection = LoggingSection()


class JwtKey(_Section):
    kid: str
    secret: str


class Secrets(_Section):
    class Postgres(_Section):
        password: str

    class Valkey(_Section):
        password: str

    class S3(_Section):
        access_key: str
        secret_key: str

    class Jwt(_Section):
        #: the first key signs; the others still verify, so keys rotate without logging anyone out
        keys: list[JwtKey]

    class Seaweedfs(_Section):
        #: sign the embedded store's internal HTTP reads and writes, so no local process reaches
        #: the files around the S3 gateway
        volume_write_key: str
        volume_read_key: str
        filer_write_key: str
        filer_read_key: str

    class Email(_Section):
        smtp_password: str = ""

    class Media(_Section):
        #: signs the short-lived /media URLs handed to clients
        url_key: str

    postgres: Postgres
    valkey: Valkey
    s3: S3
    jwt: Jwt
    seaweedfs: Seaweedfs
    media: Media
    #: written by the operator when the SMTP relay needs a password
    email: Email = Email()


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

    def api_workers(self) -> int:
        return self.config.api.workers or (os.cpu_count() or 1)

    def public_url(self) -> str:
        port = self.config.server.https_port
        suffix = "" if port == 443 else f":{port}"
        return f"https://{self.config.server.hostname}{suffix}"


def _check_semantics(config: Config) -> None:
    """What types alone cannot say; each failure names its key."""
    server = config.server
    if not HOSTNAME.match(server.hostname):
        raise ConfigError(f"server.hostname: {server.hostname!r} is not a valid hostname")
    try:
        ipaddress.ip_address(server.listen)
    except ValueError:
        raise ConfigError(f"server.listen: {server.listen!r} is not an IP address") from None
    if server.http_port == server.https_port:
        raise ConfigError("server.http_port: must differ from server.https_port")
    if bool(server.tls_certificate) != bool(server.tls_key):
        raise ConfigError("server.tls_certificate: set it together with server.tls_key, or neither")
    endpoint = config.storage.endpoint
    if endpoint and not re.match(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?/?$", endpoint):
        raise ConfigError(f"storage.endpoint: {endpoint!r} is not an http(s)://host[:port] URL")
    weed = config.seaweedfs
    ports = [weed.s3_port, weed.master_port, weed.volume_port, weed.filer_port]
    taken = set(ports) | {p + 10000 for p in ports}
    if len(taken) != 2 * len(ports):
        raise ConfigError("seaweedfs.s3_port: SeaweedFS ports (and each + 10000) must not overlap")
    if config.photos.max_upload_mb >= server.max_body_mb:
        raise ConfigError("photos.max_upload_mb: must be below server.max_body_mb, which caps the whole request")


def _toml(raw: bytes, name: str) -> dict[str, object]:
    try:
        return tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: not valid TOML ({exc})") from None


def _convert(kind: type[T], data: object, name: str) -> T:
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{name}: {_key_message(str(exc))}") from None


def _key_message(message: str) -> str:
    """Turn msgspec's '… - at `$.api.workers`' into 'api.workers: …'."""
    found = re.search(r"^(.*?)(?: - at `\$\.?(.*)`)?$", message)
    text, path = (found.group(1), found.group(2)) if found else (message, None)
    unknown = re.match(r"Object contains unknown field `(.+)`", text)
    if unknown:
        key = ".".join(filter(None, [path, unknown.group(1)]))
        return f"{key}: unknown key"
    return f"{path}: {text}" if path else text


def parse_config(raw: bytes) -> Config:
    config = _convert(Config, _toml(raw, "harvest.toml"), "harvest.toml")
    try:
        _check_semantics(config)
    except ConfigError as exc:
        raise ConfigError(f"harvest.toml: {exc}") from None
    return config


def parse_secrets(raw: bytes) -> Secrets:
    return _convert(Secrets, _toml(raw, "secrets.toml"), "secrets.toml")


def _read(path: str, hint: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing; {hint}") from None
    except PermissionError:
        raise ConfigError(f"{path} is not readable by this user; run as root or the harvest user") from None


def load(root: str | None = None) -> Settings:
    """Read and validate both files under the root (``HARVEST_ROOT`` or ``/``)."""
    layout = Layout(root=root or os.environ.get("HARVEST_ROOT", "/"))
    config = parse_config(_read(layout.config_file, "run `harvestctl up` to create it"))
    secrets = parse_secrets(_read(layout.secrets_file, "run `harvestctl up` to generate it"))
    return Settings(config=config, secrets=secrets, layout=layout)


@cache
def current() -> Settings:
    """The process's settings, loaded once."""
    return load()


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
    )


def complete_secrets(raw: bytes) -> Secrets | None:
    """A release that needs a new secret adds it to an existing file; nothing present is ever replaced.

    Returns the completed secrets when something was missing, None when the file is already whole.
    """
    present = _toml(raw, "secrets.toml")
    fresh = msgspec.to_builtins(new_secrets())
    merged = {
        section: (present.get(section, values) if not isinstance(values, dict) else values | present.get(section, {}))
        for section, values in fresh.items()
    }
    if merged == present:
        return None
    return _convert(Secrets, merged, "secrets.toml")


def render_secrets(value: Secrets) -> str:
    """secrets.toml text. JSON's string escapes are valid TOML, so any value an operator added survives."""
    quote = json.dumps
    lines = ["# Generated once by harvestctl up. Keep this file 0600; never commit or paste it.", ""]
    for section in ("postgres", "valkey", "s3", "seaweedfs", "email", "media"):
        lines.append(f"[{section}]")
        for key, item in msgspec.structs.asdict(getattr(value, section)).items():
            lines.append(f"{key} = {quote(item)}")
        lines.append("")
    for key in value.jwt.keys:
        lines += ["[[jwt.keys]]", f"kid = {quote(key.kid)}", f"secret = {quote(key.secret)}", ""]
    return "\n".join(lines)
