"""Real Postgres, Valkey and SeaweedFS for the tests, started in a temp root on free ports.

The temp root is laid out like an appliance's (etc/harvest, run/harvest, var/lib/harvest), so the
server reads it through the same settings loader it uses in production.
"""

from __future__ import annotations

import configparser
import contextlib
import email
import email.message
import email.policy
import http.server
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import jinja2
import jwt as pyjwt
import msgspec
import yaml
from aiosmtpd.controller import Controller as SMTPController
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from server import settings as settings_module
from tests.push_fakes import PushFakes

PG_BIN = Path("/usr/lib/postgresql/15/bin")
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
#: the service users and groups the templates name, as the playbook defines them
BASE_DEFAULTS = Path(__file__).resolve().parents[1] / "playbooks/roles/base/defaults/main.yml"


def free_port(span: int = 0) -> int:
    """A free TCP port on loopback; with span, one whose port + span is free too (SeaweedFS's gRPC)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if span and port > 55535:
            continue
        if not span:
            return port
        with socket.socket() as other:
            try:
                other.bind(("127.0.0.1", port + span))
            except OSError:
                continue
            return port


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.1)
    tail = log.read_text()[-2000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not come up within {timeout:.0f}s\n{tail}")


SERVICE_USER = "postgres"  # Postgres refuses to run as root; Debian's package brings this user.


@dataclass
class Stack:
    root: Path
    settings: settings_module.Settings
    mailbox: Mailbox
    identity: IdentityProvider
    #: Expo, FCM and APNs as servers on loopback, with the credentials secrets.toml names
    push: PushFakes
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes.values():
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    @cached_property
    def variables(self) -> dict[str, object]:
        """What the playbook's templates see, so the services run with the appliance's own configuration."""
        from server.manage import appliance

        harvest = appliance.describe(self.settings) | {"secrets": msgspec.to_builtins(self.settings.secrets)}
        # The tests share the machine with whatever else runs: keep Postgres's memory modest.
        harvest["host"] = harvest["host"] | {"memoryMb": 2048}
        base = yaml.safe_load(BASE_DEFAULTS.read_text())
        return base | {"harvest": harvest, "harvest_venv": sys.prefix, "postgres_version": 15}

    def render(self, template: str, target: Path | None = None) -> str:
        text = _TEMPLATES.get_template(template).render(self.variables)
        if target:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        return text

    def command(self, program: str) -> list[str]:
        """The command line supervisord would run for a program."""
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(self.render(f"supervisor/{program}.conf.j2"))
        return shlex.split(parser[f"program:{program}"]["command"])


_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(CONFIGS), undefined=jinja2.StrictUndefined, keep_trailing_newline=True
)


def _config_text(pg_port: int, weed: dict[str, int], smtp_port: int, jwks_port: int) -> str:
    return (
        f"[postgres]\nport = {pg_port}\n\n[valkey]\nmaxmemory_mb = 64\n\n[worker]\nreclaim_after_seconds = 2\n\n"
        # Chat tests send thousands of messages from a few people, and wait out auth and typing timeouts.
        "[chat]\nsends_per_minute = 100000\nauth_seconds = 2\ntyping_seconds = 2\n\n"
        f'[oauth]\ngoogle_client_ids = ["test-google-client"]\napple_client_ids = ["test-apple-client"]\n'
        f'google_jwks_url = "http://127.0.0.1:{jwks_port}/google"\napple_jwks_url = "http://127.0.0.1:{jwks_port}/apple"\n\n'
        f'[email]\nsmtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\nsmtp_starttls = false\n'
        'link_base = "harvest://app"\n\n[seaweedfs]\n' + "".join(f"{name} = {port}\n" for name, port in weed.items())
    )


class IdentityProvider:
    """Stands in for Google's and Apple's key endpoints: a real HTTP server on loopback publishing a JWKS
    for a key the tests hold, so they can mint ID tokens the server must verify."""

    KID = "test-key-1"

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key())) | {"kid": self.KID, "alg": "RS256", "use": "sig"}
        body = json.dumps({"keys": [jwk]}).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def id_token(self, **claims: object) -> str:
        return pyjwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.KID})

    def stop(self) -> None:
        self.server.shutdown()


class Mailbox:
    """A real SMTP server on loopback that keeps what it receives (aiosmtpd handler)."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


def _spawn(stack: Stack, name: str, argv: list[str], user: str | None = None, cwd: Path | None = None) -> Path:
    log = stack.root / "var/log/harvest" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("ab")
    stack.processes[name] = subprocess.Popen(
        argv,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        user=user,
        cwd=cwd,
        start_new_session=True,
    )
    return log


def _start_postgres(stack: Stack) -> None:
    layout, pg = stack.settings.layout, stack.settings.config.postgres
    data, sockets, generated = Path(layout.data, "postgres"), Path(layout.postgres_socket_dir), Path(layout.generated)
    for folder in (data, sockets):
        folder.mkdir(parents=True, exist_ok=True)
        shutil.chown(folder, SERVICE_USER, SERVICE_USER)
    subprocess.run(
        [PG_BIN / "initdb", "-D", data, "-U", "postgres", "--auth-local=peer", "--auth-host=reject", "-E", "UTF8"],
        check=True,
        capture_output=True,
        user=SERVICE_USER,
    )
    for name in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"):
        stack.render(f"{name}.j2", generated / name)
    # Durability is not what these tests check; skipping fsync keeps them fast.
    argv = [*stack.command("postgres"), "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"]
    log = _spawn(stack, "postgres", argv, user=SERVICE_USER)
    wait_for((sockets / f".s.PGSQL.{pg.port}").exists, "postgres", log=log)
    password = stack.settings.secrets.postgres.password
    psql = [
        PG_BIN / "psql",
        "-h",
        sockets,
        "-p",
        str(pg.port),
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
    ]
    for statement in (
        f"CREATE ROLE {pg.user} LOGIN PASSWORD '{password}' NOSUPERUSER NOCREATEDB NOCREATEROLE",
        f"CREATE DATABASE {pg.database} OWNER {pg.user}",
    ):
        wait_for(
            lambda s=statement: subprocess.run([*psql, "-c", s], capture_output=True).returncode == 0,
            f"postgres: {statement.split(' PASSWORD')[0]}",
            timeout=20,
            log=log,
        )


def _start_valkey(stack: Stack) -> None:
    layout = stack.settings.layout
    for folder in (Path(layout.valkey_socket).parent, Path(layout.data, "valkey")):
        folder.mkdir(parents=True, exist_ok=True)
    stack.render("valkey.conf.j2", Path(layout.generated) / "valkey.conf")
    log = _spawn(stack, "valkey", stack.command("valkey"))
    wait_for(Path(layout.valkey_socket).exists, "valkey", log=log)


def _start_seaweedfs(stack: Stack) -> None:
    settings = stack.settings
    Path(settings.layout.data, "objects").mkdir(parents=True, exist_ok=True)
    Path(settings.layout.run, "seaweedfs").mkdir(parents=True, exist_ok=True)
    generated = Path(settings.layout.generated)
    stack.render("seaweedfs-s3.json.j2", generated / "seaweedfs-s3.json")
    stack.render("seaweedfs-security.toml.j2", generated / "seaweedfs/security.toml")
    from server.manage.objectstore import objectstore_tls

    objectstore_tls(generated / "seaweedfs", owner=None)
    log = _spawn(stack, "seaweedfs", stack.command("seaweedfs"), cwd=generated / "seaweedfs")
    from server.platform.storage import Storage

    storage = Storage(settings)
    wait_for(lambda: storage.ensure_buckets() is not None, "seaweedfs s3", timeout=90, log=log)


@contextlib.contextmanager
def running_stack() -> Iterator[Stack]:
    if os.geteuid() != 0:
        raise RuntimeError("the test stack runs Postgres as the postgres user and needs root: sudo tests/run.sh")
    root = Path(tempfile.mkdtemp(prefix="hvt-", dir="/tmp"))
    root.chmod(0o755)
    weed = {name: free_port(10000) for name in ("s3_port", "master_port", "volume_port", "filer_port")}
    etc = root / "etc/harvest"
    etc.mkdir(parents=True)
    mailbox = Mailbox()
    smtp = SMTPController(mailbox, hostname="127.0.0.1", port=free_port(), ready_timeout=15)
    smtp.start()
    identity = IdentityProvider()
    push = PushFakes()
    push.start()
    config = _config_text(free_port(), weed, smtp.port, identity.port) + "\n" + push.config_toml()
    (etc / "harvest.toml").write_text(config)
    secrets = msgspec.structs.replace(settings_module.new_secrets(), push=push.secrets())
    (etc / "secrets.toml").write_text(settings_module.render_secrets(secrets))
    stack = Stack(root=root, settings=settings_module.load(str(root)), mailbox=mailbox, identity=identity, push=push)
    try:
        _start_postgres(stack)
        _start_valkey(stack)
        _start_seaweedfs(stack)
        yield stack
    finally:
        smtp.stop()
        identity.stop()
        push.stop()
        stack.stop()
