"""Expo, FCM and APNs as real HTTP servers on loopback, speaking enough of each protocol to be told apart.

They check what the real services check (Expo's access token, FCM's OAuth token minted from a signed JWT,
APNs's ES256 provider token, HTTP/2 and TLS for APNs) and keep what they are sent, so tests can assert what
reached a device. Controls let a test declare tokens dead, take a provider down, or hold requests in
flight. The servers run under hypercorn in one background thread with its own event loop, because the test
stack is started from synchronous code; every control is guarded by one lock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import secrets
import shutil
import socket
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypercorn.asyncio import serve
from hypercorn.config import Config

from server.settings import Secrets

PROVIDERS = ("expo", "fcm", "apns")
FCM_PROJECT = "harvest-test"
APNS_TOPIC = "app.harvest.test"
#: how long an FCM access token the fake issues is good for
FCM_TOKEN_SECONDS = 3600

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Received:
    """One push as a provider got it, read back into the fields every provider carries."""

    provider: str
    token: str
    title: str
    body: str
    collapse_id: str
    thread_id: str
    badge: int | None
    data: dict[str, str]
    #: the message as sent (Expo's message, FCM's message, APNs's payload)
    raw: dict[str, Any]
    headers: dict[str, str]
    http_version: str
    #: whether the provider took it (False: it answered that the token is dead)
    accepted: bool
    #: wall-clock and monotonic time of arrival
    at: float
    monotonic: float


@dataclass(frozen=True)
class Request:
    """One HTTP request to a provider, whatever became of it."""

    provider: str
    path: str
    status: int
    tokens: frozenset[str]
    http_version: str
    at: float
    monotonic: float


@dataclass
class _Answer:
    status: int
    body: Any
    headers: dict[str, str]


class PushFakes:
    """The three providers, their per-run credentials, and the controls tests use."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="hvt-push-"))
        self.dir.chmod(0o755)  # the CA is read by services that may run as another user
        self.expo_access_token = secrets.token_urlsafe(24)
        self.fcm_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.fcm_email = f"harvest@{FCM_PROJECT}.iam.gserviceaccount.com"
        self.apns_key = ec.generate_private_key(ec.SECP256R1())
        self.apns_key_id = secrets.token_hex(5).upper()
        self.apns_team_id = secrets.token_hex(5).upper()
        self.ca_file = _make_tls(self.dir)
        self._sockets = {name: _listening_socket() for name in PROVIDERS}
        self.ports = {name: sock.getsockname()[1] for name, sock in self._sockets.items()}
        self._lock = threading.Lock()
        self.received: list[Received] = []
        self.requests: list[Request] = []
        #: tokens every provider answers as dead (Expo in the ticket, FCM 404 UNREGISTERED, APNs 410)
        self.invalid: set[str] = set()
        #: Expo tokens whose ticket is ok but whose receipt says DeviceNotRegistered
        self.invalid_in_receipts: set[str] = set()
        self._outage_until: dict[str, float] = {}
        self._hold: dict[str | None, int] = {}
        self._released = threading.Event()
        self._receipts: dict[str, dict[str, Any]] = {}
        self._fcm_tokens: dict[str, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    # -- what the server is configured with -------------------------------------------------------------

    @property
    def expo_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['expo']}/--/api/v2/push"

    @property
    def fcm_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['fcm']}"

    @property
    def apns_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['apns']}"

    @property
    def fcm_service_account(self) -> str:
        """The key file's text as Google hands it out, with token_uri pointing at this fake."""
        pem = self.fcm_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return json.dumps(
            {
                "type": "service_account",
                "project_id": FCM_PROJECT,
                "private_key_id": secrets.token_hex(20),
                "private_key": pem,
                "client_email": self.fcm_email,
                "client_id": "1" + "".join(secrets.choice("0123456789") for _ in range(20)),
                "token_uri": f"{self.fcm_url}/token",
            }
        )

    def config_toml(self) -> str:
        """harvest.toml's [push] section for these fakes (short collapse window, receipts asked at once)."""
        return (
            f'[push]\nexpo_url = "{self.expo_url}"\nfcm_url = "{self.fcm_url}"\napns_url = "{self.apns_url}"\n'
            f'apns_topic = "{APNS_TOPIC}"\napns_key_id = "{self.apns_key_id}"\napns_team_id = "{self.apns_team_id}"\n'
            f'ca_file = "{self.ca_file}"\ncollapse_seconds = 2\nreceipts_minutes = 0\n'
        )

    def secrets(self) -> Secrets.Push:
        apns_pem = self.apns_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return Secrets.Push(
            expo_access_token=self.expo_access_token,
            fcm_service_account=self.fcm_service_account,
            apns_key=apns_pem,
        )

    # -- controls ---------------------------------------------------------------------------------------

    def pushes_to(self, token: str) -> list[Received]:
        """What the providers took for this device token, oldest first."""
        with self._lock:
            return [push for push in self.received if push.token == token and push.accepted]

    def outage(self, provider: str, seconds: float) -> float:
        """Answer 503 with Retry-After: 1 for ``seconds``; returns the wall-clock time it ends."""
        with self._lock:
            self._outage_until[provider] = time.monotonic() + seconds
        return time.time() + seconds

    def refused(self, provider: str) -> list[Request]:
        """The requests the provider turned away with 503 during an outage."""
        with self._lock:
            return [r for r in self.requests if r.provider == provider and r.status == 503]

    def sent_requests(self, provider: str, path_suffix: str = "") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.provider == provider and r.path.endswith(path_suffix)]

    def hold(self, count: int, provider: str | None = None) -> None:
        """The next ``count`` send requests (to ``provider``, or any) are taken and recorded, then left unanswered
        until ``release``: the provider accepted them, but the sender never hears so."""
        with self._lock:
            self._hold[provider] = self._hold.get(provider, 0) + count
            self._released.clear()

    def release(self) -> None:
        with self._lock:
            self._hold.clear()
            self._released.set()

    def revoke_fcm_tokens(self) -> None:
        """Forget every FCM access token issued, as Google may before they expire (the sender gets a 401)."""
        with self._lock:
            self._fcm_tokens.clear()

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.requests.clear()
            self.invalid.clear()
            self.invalid_in_receipts.clear()
            self._outage_until.clear()
            self._receipts.clear()
            self._hold.clear()
            self._released.set()

    # -- running ----------------------------------------------------------------------------------------

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="push-fakes", daemon=True)
        self._thread.start()
        if not ready.wait(15):
            raise RuntimeError("the fake push providers did not start")

    def stop(self) -> None:
        self.release()
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            # A TLS connection whose client went quiet waits out asyncio's 30 s close handshake; the thread is a
            # daemon and holds nothing the next run needs, so it is left to finish that on its own.
            self._thread.join(2)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._stop = asyncio.Event()
        apps = {"expo": self._expo, "fcm": self._fcm, "apns": self._apns}
        servers = []
        for name, sock in self._sockets.items():
            config = Config()
            config.bind = [f"fd://{sock.detach()}"]
            config.accesslog = None
            config.graceful_timeout = 1
            if name == "apns":
                config.certfile, config.keyfile = str(self.dir / "server.pem"), str(self.dir / "server.key")
                config.alpn_protocols = ["h2"]
            servers.append(serve(self._app(name, apps[name]), config, shutdown_trigger=self._stop.wait))
        loop.call_soon(ready.set)
        try:
            loop.run_until_complete(asyncio.gather(*servers))
        finally:
            loop.close()

    # -- the protocols ----------------------------------------------------------------------------------

    def _expo(self, scope: Scope, body: bytes, headers: dict[str, str]) -> tuple[_Answer, list[Received]]:
        if headers.get("authorization") != f"Bearer {self.expo_access_token}":
            return _Answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad access token"}]}, {}), []
        answer = json.loads(body or b"null")
        if scope["path"].endswith("/getReceipts"):
            with self._lock:
                found = {ticket: self._receipts[ticket] for ticket in answer["ids"] if ticket in self._receipts}
            return _Answer(200, {"data": found}, {}), []
        if not scope["path"].endswith("/send"):
            return _Answer(404, {"errors": [{"code": "NOT_FOUND"}]}, {}), []
        messages = answer if isinstance(answer, list) else [answer]
        if len(messages) > 100:
            return _Answer(400, {"errors": [{"code": "PUSH_TOO_MANY_NOTIFICATIONS"}]}, {}), []
        tickets, records = [], []
        for item in messages:
            token = item["to"]
            with self._lock:
                dead = token in self.invalid
            if dead:
                tickets.append(
                    {
                        "status": "error",
                        "message": "not a registered push token",
                        "details": {"error": "DeviceNotRegistered"},
                    }
                )
            else:
                ticket = str(uuid.uuid4())
                tickets.append({"status": "ok", "id": ticket})
                with self._lock:
                    gone = token in self.invalid_in_receipts
                    self._receipts[ticket] = (
                        {"status": "error", "message": "gone", "details": {"error": "DeviceNotRegistered"}}
                        if gone
                        else {"status": "ok"}
                    )
            records.append(
                _received(
                    "expo", scope, headers, item, token=token, title=item.get("title", ""), body=item.get("body", ""),
                    collapse_id=item.get("collapseId", ""), thread_id=item.get("threadId", ""),
                    badge=item.get("badge"), data=item.get("data") or {}, accepted=not dead,
                )
            )  # fmt: skip
        return _Answer(200, {"data": tickets}, {}), records

    def _fcm(self, scope: Scope, body: bytes, headers: dict[str, str]) -> tuple[_Answer, list[Received]]:
        if scope["path"] == "/token":
            return self._fcm_token(body), []
        if scope["path"] != f"/v1/projects/{FCM_PROJECT}/messages:send":
            return _fcm_error(404, "NOT_FOUND", "no such project"), []
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            valid = self._fcm_tokens.get(bearer, 0.0) > time.monotonic()
        if not valid:
            return _fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."), []
        message = json.loads(body)["message"]
        token = message["token"]
        with self._lock:
            dead = token in self.invalid
        android = message.get("android", {})
        record = _received(
            "fcm", scope, headers, message, token=token, title=message.get("notification", {}).get("title", ""),
            body=message.get("notification", {}).get("body", ""), collapse_id=android.get("collapse_key", ""),
            thread_id=message.get("apns", {}).get("payload", {}).get("aps", {}).get("thread-id", ""),
            badge=android.get("notification", {}).get("notification_count"), data=message.get("data") or {},
            accepted=not dead,
        )  # fmt: skip
        if dead:
            return _fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"), [record]
        return _Answer(200, {"name": f"projects/{FCM_PROJECT}/messages/{uuid.uuid4().hex}"}, {}), [record]

    def _fcm_token(self, body: bytes) -> _Answer:
        form = dict(urllib.parse.parse_qsl(body.decode()))
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return _Answer(400, {"error": "unsupported_grant_type"}, {})
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                self.fcm_key.public_key(),
                algorithms=["RS256"],
                audience=f"{self.fcm_url}/token",
                issuer=self.fcm_email,
                options={"require": ["iat", "exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            return _Answer(400, {"error": "invalid_grant", "error_description": str(exc)}, {})
        if claims.get("scope") != "https://www.googleapis.com/auth/firebase.messaging":
            return _Answer(400, {"error": "invalid_scope"}, {})
        token = "ya29." + secrets.token_urlsafe(32)
        with self._lock:
            self._fcm_tokens[token] = time.monotonic() + FCM_TOKEN_SECONDS
        return _Answer(200, {"access_token": token, "expires_in": FCM_TOKEN_SECONDS, "token_type": "Bearer"}, {})

    def _apns(self, scope: Scope, body: bytes, headers: dict[str, str]) -> tuple[_Answer, list[Received]]:
        refusal = self._apns_refusal(scope, headers)
        if refusal is not None:
            return refusal, []
        token = scope["path"].removeprefix("/3/device/")
        payload = json.loads(body)
        aps = payload.get("aps", {})
        alert = aps.get("alert", {})
        with self._lock:
            dead = token in self.invalid
        record = _received(
            "apns", scope, headers, payload, token=token, title=alert.get("title", ""), body=alert.get("body", ""),
            collapse_id=headers.get("apns-collapse-id", ""), thread_id=aps.get("thread-id", ""),
            badge=aps.get("badge"), data={k: v for k, v in payload.items() if k != "aps"},
            accepted=not dead and _hex(token),
        )  # fmt: skip
        apns_id = headers.get("apns-id") or str(uuid.uuid4()).upper()
        if dead:
            gone = {"reason": "Unregistered", "timestamp": int(time.time() * 1000)}
            return _Answer(410, gone, {"apns-id": apns_id}), [record]
        if not _hex(token):
            return _Answer(400, {"reason": "BadDeviceToken"}, {"apns-id": apns_id}), [record]
        return _Answer(200, None, {"apns-id": apns_id}), [record]

    def _apns_refusal(self, scope: Scope, headers: dict[str, str]) -> _Answer | None:
        """What APNs answers before it looks at the notification: HTTP/2 only, a valid provider token, the topic."""
        if scope["http_version"] != "2":
            return _Answer(400, {"reason": "BadRequest"}, {})
        if not scope["path"].startswith("/3/device/"):
            return _Answer(404, {"reason": "BadPath"}, {})
        bearer = headers.get("authorization", "").removeprefix("bearer ")
        try:
            kid = jwt.get_unverified_header(bearer).get("kid")
            claims = jwt.decode(
                bearer, self.apns_key.public_key(), algorithms=["ES256"], issuer=self.apns_team_id,
                options={"require": ["iat", "iss"]},
            )  # fmt: skip
        except jwt.PyJWTError:
            kid, claims = None, {}
        if kid != self.apns_key_id:
            return _Answer(403, {"reason": "InvalidProviderToken"}, {})
        if claims["iat"] < time.time() - 3600:
            return _Answer(403, {"reason": "ExpiredProviderToken"}, {})
        if headers.get("apns-topic") != APNS_TOPIC:
            return _Answer(400, {"reason": "TopicDisallowed"}, {})
        return None

    # -- shared plumbing ----------------------------------------------------------------------------------

    def _down(self, provider: str) -> bool:
        with self._lock:
            return self._outage_until.get(provider, 0.0) > time.monotonic()

    def _take_hold(self, provider: str) -> bool:
        with self._lock:
            for key in (provider, None):
                if self._hold.get(key, 0) > 0:
                    self._hold[key] -= 1
                    return True
        return False

    def _log(self, provider: str, scope: Scope, status: int, tokens: frozenset[str]) -> None:
        with self._lock:
            self.requests.append(
                Request(provider, scope["path"], status, tokens, scope["http_version"], time.time(), time.monotonic())
            )

    async def _handle(
        self, provider: str, handler: Callable[..., tuple[_Answer, list[Received]]], scope: Scope, body: bytes
    ) -> _Answer:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        sending = not scope["path"].endswith(("/token", "/getReceipts"))
        if sending and self._down(provider):
            self._log(provider, scope, 503, _tokens(provider, scope, body))
            return _Answer(503, {"reason": "ServiceUnavailable"}, {"retry-after": "1"})
        try:
            answer, records = handler(scope, body, headers)
        except (ValueError, KeyError, TypeError) as exc:
            answer, records = _Answer(400, {"error": f"malformed request: {exc}"}, {}), []
        with self._lock:
            self.received.extend(records)
        self._log(provider, scope, answer.status, frozenset(r.token for r in records))
        if sending and self._take_hold(provider):
            # The event is set from the test's thread; waiting in a worker thread keeps this loop serving others.
            await asyncio.to_thread(self._released.wait)
        return answer

    def _app(
        self, provider: str, handler: Callable[..., tuple[_Answer, list[Received]]]
    ) -> Callable[..., Awaitable[None]]:
        """A raw ASGI app around one provider's handler."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
                return
            body = b""
            while True:
                event = await receive()
                body += event.get("body", b"")
                if not event.get("more_body"):
                    break
            answer = await self._handle(provider, handler, scope, body)
            content = b"" if answer.body is None else json.dumps(answer.body).encode()
            headers = [
                (b"content-type", b"application/json"),
                *((k.encode(), v.encode()) for k, v in answer.headers.items()),
            ]
            await send({"type": "http.response.start", "status": answer.status, "headers": headers})
            await send({"type": "http.response.body", "body": content})

        return app


def _received(provider: str, scope: Scope, headers: dict[str, str], raw: dict[str, Any], **fields: Any) -> Received:
    return Received(
        provider=provider, raw=raw, headers=headers, http_version=scope["http_version"],
        at=time.time(), monotonic=time.monotonic(), **fields,
    )  # fmt: skip


def _tokens(provider: str, scope: Scope, body: bytes) -> frozenset[str]:
    """The device tokens a request is for, read without judging it (for requests refused wholesale)."""
    try:
        if provider == "apns":
            return frozenset({scope["path"].removeprefix("/3/device/")})
        answer = json.loads(body)
        if provider == "fcm":
            return frozenset({answer["message"]["token"]})
        return frozenset(item["to"] for item in (answer if isinstance(answer, list) else [answer]))
    except (ValueError, KeyError, TypeError):
        return frozenset()


def _fcm_error(status: int, code: str, message: str, fcm_code: str = "") -> _Answer:
    error: dict[str, Any] = {"code": status, "message": message, "status": code}
    if fcm_code:
        error["details"] = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}]
    return _Answer(status, {"error": error}, {})


def _hex(token: str) -> bool:
    try:
        bytes.fromhex(token)
    except ValueError:
        return False
    return bool(token)


def _listening_socket() -> socket.socket:
    """Bound and listening before the server runs, so the port is known and connections queue meanwhile."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def _make_tls(folder: Path) -> Path:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it; returns the CA's path."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Harvest test push CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder / "ca.pem"
