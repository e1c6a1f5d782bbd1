"""Real Postgres, Valkey and SeaweedFS for the tests, started in a temp root on free ports.

The temp root is laid out like an appliance's (etc/harvest, run/harvest, var/lib/harvest), so the
server reads it through the same settings loader it uses in production.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from server import settings as settings_module

PG_BIN = Path("/usr/lib/postgresql/15/bin")


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


def _service_user() -> str:
    """Postgres refuses to run as root; under root the tests run it as Debian's postgres user."""
    return "postgres" if os.geteuid() == 0 else getpass.getuser()


@dataclass
class Stack:
    root: Path
    settings: settings_module.Settings
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


def _config_text(pg_port: int, weed: dict[str, int]) -> str:
    return (
        f"[postgres]\nport = {pg_port}\n\n[valkey]\nmaxmemory_mb = 64\n\n[seaweedfs]\n"
        + "".join(f"{name} = {port}\n" for name, port in weed.items())
    )


def _spawn(stack: Stack, name: str, argv: list[str], user: str | None = None) -> Path:
    log = stack.root / "var/log/harvest" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("ab")
    stack.processes[name] = subprocess.Popen(
        argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, user=user, start_new_session=True
    )
    return log


def _start_postgres(stack: Stack) -> None:
    user = _service_user()
    layout, pg = stack.settings.layout, stack.settings.config.postgres
    data, sockets = Path(layout.data, "postgres"), Path(layout.postgres_socket_dir)
    for folder in (data, sockets):
        folder.mkdir(parents=True, exist_ok=True)
        shutil.chown(folder, user, user)
    subprocess.run(
        [PG_BIN / "initdb", "-D", data, "-U", user, "--auth-local=peer", "--auth-host=reject", "-E", "UTF8"],
        check=True, capture_output=True, user=user,
    )
    (data / "pg_hba.conf").write_text(f"local all {user} peer\nlocal all all scram-sha-256\n")
    log = _spawn(stack, "postgres", [
        str(PG_BIN / "postgres"), "-D", str(data), "-k", str(sockets), "-p", str(pg.port),
        "-c", "listen_addresses=", "-c", "fsync=off", "-c", "full_page_writes=off",
    ], user=user)
    wait_for(lambda: (sockets / f".s.PGSQL.{pg.port}").exists(), "postgres", log=log)
    password = stack.settings.secrets.postgres.password
    sql = (
        f"CREATE ROLE {pg.user} LOGIN PASSWORD '{password}' NOSUPERUSER NOCREATEDB NOCREATEROLE;"
        f"CREATE DATABASE {pg.database} OWNER {pg.user};"
    )
    psql = [PG_BIN.parent / "bin/psql", "-h", sockets, "-p", str(pg.port), "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
    for statement in sql.split(";")[:-1]:
        wait_for(
            lambda s=statement: subprocess.run([*psql, "-c", s], capture_output=True, user=user).returncode == 0,
            f"postgres: {statement.split(' PASSWORD')[0]}", timeout=20, log=log,
        )


def _start_valkey(stack: Stack) -> None:
    layout = stack.settings.layout
    sock = Path(layout.valkey_socket)
    sock.parent.mkdir(parents=True, exist_ok=True)
    data = Path(layout.data, "valkey")
    data.mkdir(parents=True, exist_ok=True)
    log = _spawn(stack, "valkey", [
        shutil.which("valkey-server") or "/usr/bin/valkey-server", "--port", "0", "--unixsocket", str(sock),
        "--unixsocketperm", "700", "--requirepass", stack.settings.secrets.valkey.password, "--dir", str(data),
        "--save", "", "--appendonly", "no",
    ])
    wait_for(sock.exists, "valkey", log=log)


def weed_binary() -> str:
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else (shutil.which("weed") or "weed")


def _start_seaweedfs(stack: Stack) -> None:
    settings = stack.settings
    weed = settings.config.seaweedfs
    data = Path(settings.layout.data, "objects")
    data.mkdir(parents=True, exist_ok=True)
    identities = data.parent / "s3-identities.json"
    identities.write_text(json.dumps({"identities": [{
        "name": "harvest",
        "credentials": [{"accessKey": settings.secrets.s3.access_key, "secretKey": settings.secrets.s3.secret_key}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }]}))
    log = _spawn(stack, "seaweedfs", [
        weed_binary(), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
        f"-master.port={weed.master_port}", f"-volume.port={weed.volume_port}", f"-filer.port={weed.filer_port}",
        "-master.volumeSizeLimitMB=64", "-volume.max=20", "-s3", f"-s3.port={weed.s3_port}", f"-s3.config={identities}",
    ])
    from server.platform.storage import Storage

    storage = Storage(settings)
    wait_for(lambda: storage.ensure_buckets() is not None, "seaweedfs s3", timeout=90, log=log)


@contextlib.contextmanager
def running_stack() -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="hvt-", dir="/tmp"))
    root.chmod(0o755)
    weed = {name: free_port(10000) for name in ("s3_port", "master_port", "volume_port", "filer_port")}
    etc = root / "etc/harvest"
    etc.mkdir(parents=True)
    (etc / "harvest.toml").write_text(_config_text(free_port(), weed))
    (etc / "secrets.toml").write_text(settings_module.render_secrets(settings_module.new_secrets()))
    stack = Stack(root=root, settings=settings_module.load(str(root)))
    try:
        _start_postgres(stack)
        _start_valkey(stack)
        _start_seaweedfs(stack)
        yield stack
    finally:
        stack.stop()
