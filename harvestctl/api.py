"""The Harvest HTTP API as harvestctl reaches it from any machine: a saved sign-in, tokens refreshed silently, and
problem responses turned into the CLI's one-line errors.

A sign-in is kept in ``$XDG_CONFIG_HOME/harvest/session.json`` (``~/.config/harvest/`` without it): the API's
URL and the refresh token, never the password nor an access token. The folder is 0700 and the file 0600, and
the file is only ever replaced whole (written beside it, then renamed), so a crash never leaves half a token.
Refresh tokens rotate on every use and presenting a used one ends the whole login, so a refresh happens under
a lock on the folder: two commands run at once take turns, and the second uses the token the first stored.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from harvestctl.errors import CliError, Exit

LOGIN_HINT = "sign in with `harvestctl login --url https://<appliance>`"
TIMEOUT_SECONDS = 15.0
#: how the appliance lists these logins among the account's devices
HEADERS = {"user-agent": "harvestctl"}


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "harvest"


def session_file() -> Path:
    return config_dir() / "session.json"


@dataclass(frozen=True)
class Saved:
    """What a sign-in leaves on disk."""

    url: str
    refresh_token: str
    email: str
    #: what the server answered at sign-in, sent with the next one so strangers' failures never lock it out
    device_token: str | None = None
    #: the certificate (or CA) a self-signed appliance is trusted by
    ca_file: str | None = None


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.title() for word in rest)


#: the file's camelCase keys, as the API spells them, to the fields
_FIELDS = {_camel(name): name for name in Saved.__dataclass_fields__}


def check_url(url: str) -> str:
    """``url`` without a trailing slash; plain http only to this machine, where no password crosses a network."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise CliError(f"{url!r} is not an http(s) URL", "give the appliance's address, e.g. https://harvest.example")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise CliError(
            f"{url} is plain http: the password would cross the network in the clear",
            "use the https:// address (with --ca-file for a self-signed certificate)",
            Exit.BAD_USAGE,
        )
    return url.rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load() -> Saved:
    path = session_file()
    try:
        raw = json.loads(path.read_text())
        return Saved(**{_FIELDS[key]: value for key, value in raw.items() if key in _FIELDS})
    except FileNotFoundError:
        raise CliError("not signed in", LOGIN_HINT) from None
    except (ValueError, TypeError):
        raise CliError(f"{path} is not a sign-in harvestctl wrote", f"remove it and {LOGIN_HINT}") from None


def save(saved: Saved) -> None:
    """Replace the sign-in whole: written to a 0600 file beside it, flushed, then renamed over it."""
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    # mkstemp makes the file 0600 from the start: there is no moment when others could read the token.
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".session-", suffix=".json")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump({_camel(key): value for key, value in asdict(saved).items()}, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, session_file())
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def forget() -> bool:
    """Remove the sign-in; whether there was one."""
    try:
        session_file().unlink()
    except FileNotFoundError:
        return False
    return True


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One harvestctl at a time between reading the refresh token and storing the one it is swapped for."""
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    with open(folder / "session.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _verify(ca_file: str | None) -> ssl.SSLContext | bool:
    """Certificates are always checked: by the system's CAs, or by ``ca_file`` for a self-signed appliance."""
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as failure:
        raise CliError(
            f"cannot use {ca_file} as a CA file: {failure}", "give the appliance's certificate, PEM"
        ) from None


def _transport_error(url: str, failure: httpx.TransportError) -> CliError:
    if isinstance(failure, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in str(failure):
        return CliError(
            f"{url} presented a certificate this machine does not trust",
            "for an appliance's self-signed certificate, pass --ca-file with a copy of it to `harvestctl login`",
        )
    return CliError(
        f"cannot reach {url}: {failure or type(failure).__name__}", "check the URL and that the appliance is up"
    )


class SignInEnded(CliError):
    """The saved refresh token no longer works: signed out elsewhere, expired, or its login revoked."""

    def __init__(self) -> None:
        super().__init__("the sign-in has ended (signed out, expired or revoked)", LOGIN_HINT)


def problem(response: httpx.Response) -> CliError:
    """A problem-details answer as one line and a hint."""
    try:
        body = response.json()
    except ValueError:
        body = None
    said = body if isinstance(body, dict) else {}
    message = str(said.get("detail") or said.get("title") or response.reason_phrase or "no reason given")
    status = response.status_code
    if status == 401:
        hint = LOGIN_HINT
    elif status == 403:
        hint = "this needs a moderator or admin account"
    elif status == 429:
        hint = f"try again in {response.headers.get('retry-after', 'a few')} seconds"
    elif status >= 500:
        hint = "the appliance failed to answer; `harvestctl doctor` on it tells which part is down"
    else:
        hint = ""
    return CliError(f"{message} (HTTP {status})", hint)


def sign_in(url: str, email: str, password: str, ca_file: str | None) -> dict[str, Any]:
    """``POST /api/auth/login`` and keep the sign-in; the server's answer (user and tokens)."""
    url = check_url(url)
    previous = _previous_device_token(url, email)
    body = {"email": email, "password": password} | ({"deviceToken": previous} if previous else {})
    try:
        with httpx.Client(base_url=url, verify=_verify(ca_file), timeout=TIMEOUT_SECONDS, headers=HEADERS) as http:
            response = http.post("/api/auth/login", json=body)
    except httpx.TransportError as failure:
        raise _transport_error(url, failure) from None
    if response.status_code != 200:
        raise problem(response)
    answer: dict[str, Any] = response.json()
    _end_previous()
    with _locked():
        save(Saved(url, answer["refreshToken"], answer["user"]["email"], answer.get("deviceToken"), ca_file))
    return answer


def _end_previous() -> None:
    """A new sign-in replaces the saved one: end that on its appliance, so it does not stay live unseen (best
    effort: one already over, or an appliance out of reach, leaves nothing more to do here)."""
    with contextlib.suppress(CliError), Session() as previous:
        previous.call("POST", "/api/auth/logout")


def _previous_device_token(url: str, email: str) -> str | None:
    with contextlib.suppress(CliError):
        saved = load()
        if saved.url == url and saved.email.lower() == email.strip().lower():
            return saved.device_token
    return None


class Session:
    """Requests as the signed-in account; the access token is fetched once, by refresh, and again when it expires."""

    def __init__(self, saved: Saved | None = None) -> None:
        self.saved = saved or load()
        self._access: str | None = None
        self._http = httpx.Client(
            base_url=self.saved.url, verify=_verify(self.saved.ca_file), timeout=TIMEOUT_SECONDS, headers=HEADERS
        )

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def call(self, method: str, path: str, **options: Any) -> Any:
        """The JSON answer (None when there is no body); a problem becomes a CliError."""
        for attempt in (1, 2):
            if self._access is None:
                self._refresh()
            response = self._send(method, path, headers={"authorization": f"Bearer {self._access}"}, **options)
            if response.status_code == 401 and attempt == 1:
                # Expired while we held it: refresh once and try again.
                self._access = None
                continue
            break
        if response.status_code >= 400:
            raise problem(response)
        return response.json() if response.content else None

    def download(self, link: str) -> bytes:
        """The bytes behind a signed link the API handed out. Its signature is the permission, so no token is sent;
        it is asked of the appliance this sign-in reaches, whatever host the link names (the appliance's public
        name may not resolve from the moderator's machine)."""
        parts = urlsplit(link)
        response = self._send("GET", f"{parts.path}?{parts.query}" if parts.query else parts.path)
        if response.status_code >= 400:
            raise problem(response)
        return response.content

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **options)
        except httpx.TransportError as failure:
            raise _transport_error(self.saved.url, failure) from None

    def _refresh(self) -> None:
        with _locked():
            # Read again under the lock: another harvestctl may have rotated the token meanwhile.
            current = load()
            response = self._send("POST", "/api/auth/refresh", json={"refreshToken": current.refresh_token})
            if response.status_code == 401:
                raise SignInEnded
            if response.status_code != 200:
                raise problem(response)
            pair = response.json()
            # Stored before it is used: the old token is spent now, and only the new one keeps the sign-in.
            self.saved = Saved(**(asdict(current) | {"refresh_token": pair["refreshToken"]}))
            save(self.saved)
        self._access = pair["accessToken"]
