"""The shape of harvest.toml and secrets.toml: typed sections, their limits, and the checks types can't say."""

from __future__ import annotations

import ipaddress
import re
import tomllib
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


class ServerSection(_Section, frozen=True):
    #: the public name clients use; it goes into the TLS certificate and generated links
    hostname: str = "localhost"
    #: address nginx listens on; the only listener that may face the network
    listen: str = "0.0.0.0"  # noqa: S104 - nginx is the one listener meant to face the network
    http_port: Port = 80
    https_port: Port = 443
    #: operator-supplied certificate and key; empty means a generated self-signed pair
    tls_certificate: str = ""
    tls_key: str = ""
    max_body_mb: Annotated[int, msgspec.Meta(ge=1, le=200)] = 12


class ApiSection(_Section, frozen=True):
    #: API worker processes; 0 means one per core
    workers: Annotated[int, msgspec.Meta(ge=0, le=64)] = 0


class PostgresSection(_Section, frozen=True):
    #: names the unix socket (.s.PGSQL.<port>); the embedded cluster listens on no TCP port
    port: Port = 5432
    database: str = "harvest"
    user: str = "harvest"
    max_connections: Annotated[int, msgspec.Meta(ge=20, le=2000)] = 100
    #: 0 sizes shared_buffers and friends from the host's memory
    shared_buffers_mb: Annotated[int, msgspec.Meta(ge=0)] = 0


class ValkeySection(_Section, frozen=True):
    maxmemory_mb: Annotated[int, msgspec.Meta(ge=16)] = 256


class StorageSection(_Section, frozen=True):
    #: empty runs the embedded SeaweedFS; otherwise an S3 URL such as https://s3.eu-west-1.amazonaws.com
    endpoint: str = ""
    region: str = "us-east-1"
    bucket_prefix: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{1,40}$")] = "harvest"


class SeaweedfsSection(_Section, frozen=True):
    s3_port: SeaweedPort = 8333
    master_port: SeaweedPort = 9333
    volume_port: SeaweedPort = 8334
    filer_port: SeaweedPort = 8888


class EmailSection(_Section, frozen=True):
    #: empty sends no email (sign-up still works; `harvestctl doctor` reports it)
    smtp_host: str = ""
    smtp_port: Port = 587
    smtp_username: str = ""
    #: STARTTLS before authenticating; turn off only for a relay on this host
    smtp_starttls: bool = True
    from_address: str = "Harvest <no-reply@localhost>"
    #: where links in emails point: empty means https://<hostname>; an app deep link such as harvest://
    link_base: str = ""


class PagesSection(_Section, frozen=True):
    #: the name the web pages (landing, password reset, email verification) show
    service_name: str = "Harvest"
    #: the operator's privacy policy and terms, linked from the landing page; empty leaves the link out
    privacy_policy_url: str = ""
    terms_url: str = ""


class OauthSection(_Section, frozen=True):
    #: OAuth client ids of the app; sign-in with a provider is off while its list is empty
    google_client_ids: list[str] = []
    apple_client_ids: list[str] = []
    google_jwks_url: str = "https://www.googleapis.com/oauth2/v3/certs"
    apple_jwks_url: str = "https://appleid.apple.com/auth/keys"


class LimitsSection(_Section, frozen=True):
    #: failed logins allowed per account and client (a known device, else the address) in the window below
    login_failures_per_account_ip: Annotated[int, msgspec.Meta(ge=1)] = 5
    login_failure_window_minutes: Annotated[int, msgspec.Meta(ge=1)] = 15
    #: login attempts per account per hour from clients that never signed in to it, before each further
    #: one waits (1 s, doubling up to login_delay_max_seconds); see server/auth/throttle.py
    login_attempts_before_delay: Annotated[int, msgspec.Meta(ge=1)] = 10
    login_delay_max_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 60
    #: requests to /api/auth per client address per minute
    auth_requests_per_ip_per_minute: Annotated[int, msgspec.Meta(ge=1)] = 60
    registrations_per_ip_per_hour: Annotated[int, msgspec.Meta(ge=1)] = 10
    #: password-reset requests per email address per hour
    reset_requests_per_email_per_hour: Annotated[int, msgspec.Meta(ge=1)] = 5
    #: calls per signed-in user per minute, across every endpoint
    requests_per_user_per_minute: Annotated[int, msgspec.Meta(ge=1)] = 100
    #: the same for moderators and admins, whose review loop makes three calls a decision
    requests_per_staff_per_minute: Annotated[int, msgspec.Meta(ge=1)] = 600


class LocationSection(_Section, frozen=True):
    #: positions are stored snapped to square cells this many km wide; nothing finer is ever kept
    grid_km: Annotated[float, msgspec.Meta(ge=0.1, le=20)] = 1.0
    #: moves to another cell allowed per user per hour (repeated moves are how trilateration works)
    changes_per_hour: Annotated[int, msgspec.Meta(ge=1)] = 10
    #: a move implying a faster speed than this is refused as spoofed
    max_speed_kmh: Annotated[int, msgspec.Meta(ge=100)] = 1000


class PhotosSection(_Section, frozen=True):
    max_per_user: Annotated[int, msgspec.Meta(ge=1, le=20)] = 6
    max_upload_mb: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    #: at most 80: past that Pillow itself treats a file as a decompression bomb
    max_megapixels: Annotated[int, msgspec.Meta(ge=1, le=80)] = 40
    #: pre: others see a photo once a moderator approves it; post: as soon as it is processed
    moderation: Literal["pre", "post"] = "post"
    #: how long a signed media URL handed to a client stays valid
    url_minutes: Annotated[int, msgspec.Meta(ge=5, le=1440)] = 60
    #: people who have not matched see only each other's blurred photos; a match reveals the rest
    blur_until_match: bool = False


class MatchingSection(_Section, frozen=True):
    #: likes (superlikes included) and superlikes a person may send in their own day (midnight to midnight)
    likes_per_day: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 100
    superlikes_per_day: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 1
    #: how long a computed deck is kept for paging before it is worked out afresh
    deck_minutes: Annotated[int, msgspec.Meta(ge=1, le=1440)] = 15


class ChatSection(_Section, frozen=True):
    #: messages one person may send per minute, over REST and the WebSocket together; past it, 429
    sends_per_minute: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 60
    #: seconds a new WebSocket has to send its `auth` frame before it is closed with 4401
    auth_seconds: Annotated[int, msgspec.Meta(ge=1, le=60)] = 5
    #: seconds between the server's protocol pings; a socket that answers none for as long again is closed
    heartbeat_seconds: Annotated[int, msgspec.Meta(ge=5, le=300)] = 20
    #: frames one socket may send per second (on average; bursts of twice this pass); past it, an error frame,
    #: and a socket that keeps on is closed
    frames_per_second: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20
    #: the largest frame a client may send, in KiB (uvicorn closes the socket with 1009 past it)
    max_frame_kb: Annotated[int, msgspec.Meta(ge=16, le=1024)] = 64
    #: frames waiting for one slow reader; when they overflow, the socket is closed (1013) and the client
    #: catches up over REST with ?after= on reconnecting
    send_buffer_frames: Annotated[int, msgspec.Meta(ge=16, le=100_000)] = 256
    #: a typing indicator ends by itself this many seconds after the last typing_start
    typing_seconds: Annotated[int, msgspec.Meta(ge=1, le=60)] = 6
    #: a person shows as online while one of their sockets renewed its presence within this many seconds
    presence_seconds: Annotated[int, msgspec.Meta(ge=10, le=600)] = 60
    #: photos one person may upload to their conversations per hour (each is decoded while they wait); past it, 429
    photos_per_hour: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 30


class PushSection(_Section, frozen=True):
    """Push providers' endpoints; their credentials are in secrets.toml [push]. A provider without credentials
    is skipped (its devices get in-app notifications only) and `harvestctl doctor` warns about it."""

    #: Expo's push API: messages go to <expo_url>/send, receipts are asked of <expo_url>/getReceipts
    expo_url: str = "https://exp.host/--/api/v2/push"
    #: FCM HTTP v1; the OAuth token endpoint and the project come from the service-account key
    fcm_url: str = "https://fcm.googleapis.com"
    #: APNs over HTTP/2 (api.sandbox.push.apple.com for development builds)
    apns_url: str = "https://api.push.apple.com"
    #: the app's bundle id (apns-topic), and the token-signing key's ids from the Apple developer account
    apns_topic: str = ""
    apns_key_id: str = ""
    apns_team_id: str = ""
    #: a PEM bundle trusted besides the system's for the providers' TLS (an outbound proxy's CA)
    ca_file: str = ""
    #: messages of one conversation within this many seconds become one push with a count
    collapse_seconds: Annotated[int, msgspec.Meta(ge=0, le=300)] = 5
    #: a push that cannot be delivered for this long (provider down, quiet hours aside) is given up
    give_up_hours: Annotated[int, msgspec.Meta(ge=1, le=168)] = 24
    #: Expo's receipts are asked for this many minutes after sending (its devices gone are pruned then)
    receipts_minutes: Annotated[int, msgspec.Meta(ge=0, le=1440)] = 15


class NotificationsSection(_Section, frozen=True):
    #: unread notifications of kinds set to `digest` are emailed together this many minutes after the first
    digest_minutes: Annotated[int, msgspec.Meta(ge=1, le=10_080)] = 60


class ModerationSection(_Section, frozen=True):
    #: how soon a report must be worked, by severity: minor safety and threats, then sexual violence, then the rest
    urgent_sla_minutes: Annotated[int, msgspec.Meta(ge=5, le=10_080)] = 60
    high_sla_hours: Annotated[int, msgspec.Meta(ge=1, le=720)] = 24
    normal_sla_hours: Annotated[int, msgspec.Meta(ge=1, le=720)] = 72
    #: how long a moderator's claim on an item holds without a renewal
    lease_minutes: Annotated[int, msgspec.Meta(ge=1, le=240)] = 10
    #: reports a person may file per hour
    reports_per_hour: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20
    #: a confirmed ban keeps the account's data and the reports' evidence this long, then erases them
    ban_evidence_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 180


class WorkerSection(_Section, frozen=True):
    #: worker processes supervisord runs; each runs every lane and relays committed events
    processes: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    #: a job held this long by a worker that stopped answering is taken over by another
    reclaim_after_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 60
    #: fast lane (emails, notifications, fan-out): jobs each process runs at once, and each job's time limit
    fast_in_flight: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 32
    fast_time_limit_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 30
    #: heavy lane (images): jobs each process runs at once (0 means one per core), and each job's time limit
    heavy_in_flight: Annotated[int, msgspec.Meta(ge=0, le=64)] = 0
    heavy_time_limit_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 120
    #: failed jobs kept for `harvestctl` to list and replay; the oldest are dropped beyond this
    dead_letters_kept: Annotated[int, msgspec.Meta(ge=100, le=1_000_000)] = 10_000


class LoggingSection(_Section, frozen=True):
    level: Literal["debug", "info", "warning", "error"] = "info"


class Config(_Section, frozen=True):
    server: ServerSection = ServerSection()
    api: ApiSection = ApiSection()
    postgres: PostgresSection = PostgresSection()
    valkey: ValkeySection = ValkeySection()
    storage: StorageSection = StorageSection()
    seaweedfs: SeaweedfsSection = SeaweedfsSection()
    email: EmailSection = EmailSection()
    pages: PagesSection = PagesSection()
    oauth: OauthSection = OauthSection()
    limits: LimitsSection = LimitsSection()
    location: LocationSection = LocationSection()
    photos: PhotosSection = PhotosSection()
    matching: MatchingSection = MatchingSection()
    chat: ChatSection = ChatSection()
    push: PushSection = PushSection()
    notifications: NotificationsSection = NotificationsSection()
    moderation: ModerationSection = ModerationSection()
    worker: WorkerSection = WorkerSection()
    logging: LoggingSection = LoggingSection()


class JwtKey(_Section, frozen=True):
    kid: str
    secret: str


class Secrets(_Section, frozen=True):
    class Postgres(_Section, frozen=True):
        password: str

    class Valkey(_Section, frozen=True):
        password: str

    class S3(_Section, frozen=True):
        access_key: str
        secret_key: str

    class Jwt(_Section, frozen=True):
        #: the first key signs; the others still verify, so keys rotate without logging anyone out
        keys: list[JwtKey]

    class Seaweedfs(_Section, frozen=True):
        #: sign the embedded store's internal HTTP reads and writes, so no local process reaches
        #: the files around the S3 gateway
        volume_write_key: str
        volume_read_key: str
        filer_write_key: str
        filer_read_key: str

    class Email(_Section, frozen=True):
        smtp_password: str = ""

    class Push(_Section, frozen=True):
        #: Expo's access token (the project's enhanced push security)
        expo_access_token: str = ""
        #: the Firebase service-account key, the JSON file's text as Google hands it out
        fcm_service_account: str = ""
        #: the APNs token-signing key (.p8, PEM)
        apns_key: str = ""

    class Notifications(_Section, frozen=True):
        #: signs the one-click unsubscribe links of notification emails
        unsubscribe_key: Annotated[str, msgspec.Meta(min_length=32)]

    class Media(_Section, frozen=True):
        #: signs the short-lived /media URLs handed to clients
        url_key: str

    class Moderation(_Section, frozen=True):
        #: keys the pseudonyms that stand for people in the audit log (server/moderation/audit.py); never
        #: rotated, since a new key would cut the log's past off from searches by person
        audit_key: Annotated[str, msgspec.Meta(min_length=32)]

    postgres: Postgres
    valkey: Valkey
    s3: S3
    media: Media
    notifications: Notifications
    moderation: Moderation
    #: always in secrets.toml; absent from the share of a service that does not use it (the worker)
    jwt: Jwt | None = None
    #: always in secrets.toml; only SeaweedFS's own files carry it, no service's share does
    seaweedfs: Seaweedfs | None = None
    #: written by the operator when the SMTP relay needs a password
    email: Email = Email()
    #: written by the operator for each push provider the app uses
    push: Push = Push()


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


def read_toml(raw: bytes, name: str) -> dict[str, object]:
    try:
        return tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: not valid TOML ({exc})") from None


def convert(kind: type[T], data: object, name: str) -> T:
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
    config = convert(Config, read_toml(raw, "harvest.toml"), "harvest.toml")
    try:
        _check_semantics(config)
    except ConfigError as exc:
        raise ConfigError(f"harvest.toml: {exc}") from None
    return config


def parse_secrets(raw: bytes) -> Secrets:
    secrets = convert(Secrets, read_toml(raw, "secrets.toml"), "secrets.toml")
    # Only a service's share may leave sections out; the file every share is cut from holds them all.
    for section in ("jwt", "seaweedfs"):
        if getattr(secrets, section) is None:
            raise ConfigError(f"secrets.toml: {section}: missing; `harvestctl up` adds it")
    return secrets
