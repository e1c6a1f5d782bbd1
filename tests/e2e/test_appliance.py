"""A whole appliance installed by install.sh under a temp root, on free ports, checked as an operator would."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from minio import Minio
from minio.error import S3Error

from tests.services import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
_TLS = ssl.create_default_context()
_TLS.check_hostname = False
_TLS.verify_mode = ssl.CERT_NONE


@dataclass
class Installed:
    root: Path
    https_port: int
    http_port: int
    pg_port: int
    weed: dict[str, int]

    def ctl(self, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = [str(self.root / "usr/local/bin/harvestctl"), *args]
        if user:
            argv = ["runuser", "-u", user, "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=600)

    def status(self) -> dict:
        done = self.ctl("status", "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def pids(self) -> dict[str, int]:
        return {s["process"]: s["pid"] for s in self.status()["services"]}

    def get(self, path: str) -> tuple[int, dict]:
        url = f"https://127.0.0.1:{self.https_port}{path}"
        try:
            with urllib.request.urlopen(url, context=_TLS, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as failure:
            return failure.code, json.loads(failure.read())

    def secrets(self) -> str:
        return (self.root / "etc/harvest/secrets.toml").read_text()


@pytest.fixture(scope="module")
def appliance() -> Iterator[Installed]:
    root = Path(tempfile.mkdtemp(prefix="hve-", dir="/tmp"))
    root.chmod(0o755)
    weed = {name: free_port(10000) for name in ("s3_port", "master_port", "volume_port", "filer_port")}
    installed = Installed(root, https_port=free_port(), http_port=free_port(), pg_port=free_port(), weed=weed)
    config = root / "etc/harvest/harvest.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f"[server]\nhttp_port = {installed.http_port}\nhttps_port = {installed.https_port}\n\n"
        f"[api]\nworkers = 2\n\n[postgres]\nport = {installed.pg_port}\n\n"
        # The fuzzing test sends thousands of requests as one user; limits have their own integration tests.
        "[limits]\nrequests_per_user_per_minute = 1000000\nauth_requests_per_ip_per_minute = 1000000\n"
        "registrations_per_ip_per_hour = 1000000\n\n[seaweedfs]\n"
        + "".join(f"{name} = {port}\n" for name, port in weed.items())
    )
    started = time.monotonic()
    done = subprocess.run([str(REPO / "install.sh"), "--root", str(root)], capture_output=True, text=True, timeout=1500)
    print(f"install.sh took {time.monotonic() - started:.0f}s")
    assert done.returncode == 0, f"install.sh failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    try:
        yield installed
    finally:
        supervisorctl = root / "opt/harvest/venv/bin/supervisorctl"
        subprocess.run(
            [str(supervisorctl), "-c", str(root / "etc/harvest/generated/supervisord.conf"), "shutdown"],
            capture_output=True,
            timeout=60,
        )
        pidfile = root / "run/harvest/supervisord.pid"
        wait_for(lambda: not pidfile.exists(), "supervisord shutdown", timeout=120)
        subprocess.run(["rm", "-rf", str(root)], check=False)


def test_install_brings_every_service_up_and_ready_through_nginx(appliance: Installed):
    services = appliance.status()["services"]
    assert {s["service"] for s in services} == {"postgres", "valkey", "seaweedfs", "api", "worker", "nginx"}
    assert [s["process"] for s in services if s["service"] == "api"] == ["api-00", "api-01"]
    assert all(s["state"] == "RUNNING" and s["pid"] for s in services), services
    status, body = appliance.get("/ready")
    assert status == 200
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "postgres": True,
        "valkey": True,
        "storage": True,
    }
    assert appliance.get("/health") == (200, {"status": "ok"})
    status, problem = appliance.get("/api/nothing/here")
    assert status == 404 and problem["status"] == 404


def test_http_redirects_to_https(appliance: Installed):
    request = urllib.request.Request(f"http://127.0.0.1:{appliance.http_port}/api/docs")
    opener = urllib.request.build_opener(
        type("NoRedirect", (urllib.request.HTTPRedirectHandler,), {"redirect_request": lambda *a: None})
    )
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(request, timeout=5)
    assert redirect.value.code == 301
    assert redirect.value.headers["Location"].startswith("https://")


def test_second_up_changes_nothing_and_restarts_nothing(appliance: Installed):
    before = appliance.pids()
    started = time.monotonic()
    done = appliance.ctl("up", "--json")
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["changed"] == 0
    assert appliance.pids() == before
    print(f"re-run took {elapsed:.1f}s (ansible {report['ansibleSeconds']}s)")


def test_stopped_valkey_is_named_by_ready_and_starting_it_recovers_without_restarting_api(appliance: Installed):
    api_before = {k: v for k, v in appliance.pids().items() if k.startswith("api")}
    stopped = appliance.ctl("stop", "valkey", "--json")
    assert stopped.returncode == 0, stopped.stderr
    valkey = next(s for s in json.loads(stopped.stdout)["services"] if s["service"] == "valkey")
    assert valkey["state"] == "STOPPED"
    status, body = appliance.get("/ready")
    assert status == 503 and "valkey" in body["detail"] and body["checks"]["valkey"]["ok"] is False

    assert appliance.ctl("start", "valkey").returncode == 0
    wait_for(lambda: appliance.get("/ready")[0] == 200, "ready after valkey start", timeout=30)
    assert {k: v for k, v in appliance.pids().items() if k.startswith("api")} == api_before


def test_killed_api_worker_is_restarted_by_supervisord(appliance: Installed):
    old = appliance.pids()["api-00"]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: appliance.pids()["api-00"] not in (None, old), "api-00 restart", timeout=30)
    wait_for(lambda: appliance.get("/ready")[0] == 200, "ready after api restart", timeout=30)


def test_only_nginx_listens_beyond_loopback(appliance: Installed):
    ours = set(appliance.pids().values())
    listeners = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout.splitlines()
    exposed = []
    for line in listeners:
        address = line.split()[3]
        pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        loopback = address.startswith(("127.", "[::1]", "localhost"))
        if pids & ours and not loopback:
            exposed.append((address, re.findall(r'\("([^"]+)"', line)))
    assert exposed, "nginx should listen on the public ports"
    assert all(set(names) == {"nginx"} for _, names in exposed), exposed
    assert {int(address.rsplit(":", 1)[1]) for address, _ in exposed} == {appliance.http_port, appliance.https_port}


def test_secrets_are_private_and_no_component_takes_a_default_or_empty_password(appliance: Installed):
    secrets_file = appliance.root / "etc/harvest/secrets.toml"
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    assert (appliance.root / "etc/harvest/tls/selfsigned.key").stat().st_mode & 0o777 == 0o600
    sockets = appliance.root / "run/harvest"
    psql = [
        "/usr/lib/postgresql/15/bin/psql",
        "-h",
        str(sockets / "postgres"),
        "-p",
        str(appliance.pg_port),
        "-w",
        "-tA",
    ]
    superuser = subprocess.run(
        [
            *psql,
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = 'harvest'",
        ],
        capture_output=True,
        text=True,
    )
    assert superuser.stdout.strip() == "f|f|f", superuser.stderr
    for password in ("", "harvest", "postgres"):
        login = subprocess.run(
            [*psql, "-U", "harvest", "-d", "harvest", "-c", "SELECT 1"],
            capture_output=True,
            text=True,
            env={"PGPASSWORD": password},
        )
        assert login.returncode != 0
    as_nobody = subprocess.run(
        ["runuser", "-u", "nobody", "--", *psql, "-U", "postgres", "-d", "postgres", "-c", "SELECT 1"],
        capture_output=True,
        text=True,
    )
    assert as_nobody.returncode != 0
    valkey = subprocess.run(
        ["valkey-cli", "-s", str(sockets / "valkey/valkey.sock"), "ping"], capture_output=True, text=True
    )
    assert "NOAUTH" in valkey.stdout + valkey.stderr
    access_key = re.search(r'access_key = "([^"]+)"', appliance.secrets()).group(1)
    stranger = Minio(
        f"127.0.0.1:{appliance.weed['s3_port']}", access_key=access_key, secret_key="wrong-secret-key", secure=False
    )
    with pytest.raises(S3Error):
        stranger.list_buckets()
    anonymous = urllib.request.Request(f"http://127.0.0.1:{appliance.weed['s3_port']}/harvest-media")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(anonymous, timeout=5)
    assert refused.value.code == 403


def test_each_service_runs_as_its_own_user_and_reads_only_its_own_secrets(appliance: Installed):
    users = {
        "postgres": "harvest-postgres",
        "valkey": "harvest-valkey",
        "seaweedfs": "harvest-objects",
        "api": "harvest-api",
        "worker": "harvest-worker",
    }
    for service in appliance.status()["services"]:
        if service["service"] in users:
            ps = subprocess.run(["ps", "-o", "user:32=", "-p", str(service["pid"])], capture_output=True, text=True)
            assert ps.stdout.strip() == users[service["service"]], service
    etc = appliance.root / "etc/harvest"
    others = {
        "harvest-api": [
            etc / "secrets.toml",
            etc / "generated/secrets/worker.json",
            etc / "generated/seaweedfs/grpc.key",
            etc / "generated/seaweedfs/security.toml",
            etc / "generated/seaweedfs-s3.json",
            etc / "generated/valkey.conf",
        ],
        "harvest-worker": [etc / "secrets.toml", etc / "generated/secrets/api.json"],
        "harvest-postgres": [etc / "secrets.toml", etc / "generated/secrets/api.json", etc / "generated/valkey.conf"],
    }
    for user, paths in others.items():
        for path in paths:
            assert path.exists(), path
            read = subprocess.run(["runuser", "-u", user, "--", "cat", str(path)], capture_output=True, text=True)
            assert read.returncode != 0 and "Permission denied" in read.stderr, (user, path)
    for user, share in (("harvest-api", "api"), ("harvest-worker", "worker")):
        own = subprocess.run(
            ["runuser", "-u", user, "--", "cat", str(etc / f"generated/secrets/{share}.json")], capture_output=True
        )
        assert own.returncode == 0, user


def test_bad_config_is_refused_naming_the_key_and_nothing_changes(appliance: Installed):
    config = appliance.root / "etc/harvest/harvest.toml"
    good = config.read_text()
    generated = {p: p.stat().st_mtime_ns for p in (appliance.root / "etc/harvest/generated").rglob("*") if p.is_file()}
    before = appliance.pids()
    try:
        for bad, key in (
            ("[api]\nthreads = 4\n", "api.threads"),
            ("[server]\nhttps_port = 99999\n", "server.https_port"),
            ('[server]\nhostname = "not a host!"\n', "server.hostname"),
        ):
            config.write_text(bad)
            done = appliance.ctl("up")
            assert done.returncode == 2, done.stderr
            first_line = done.stderr.strip().splitlines()[0]
            assert key in first_line, first_line
    finally:
        config.write_text(good)
    assert {p: p.stat().st_mtime_ns for p in generated} == generated
    assert appliance.pids() == before


def test_non_root_gets_a_clear_refusal(appliance: Installed):
    done = appliance.ctl("status", user="nobody")
    assert done.returncode == 3
    assert "must run as root" in done.stderr and "sudo" in done.stderr


def test_doctor_passes_on_a_healthy_appliance(appliance: Installed):
    done = appliance.ctl("doctor", "--json")
    checks = json.loads(done.stdout)
    assert done.returncode == 0, [c for c in checks if not c["ok"]]
    assert {"os", "config", "secrets", "postgres", "valkey", "storage", "certificate"} <= {c["name"] for c in checks}
    # A new appliance has no push credentials: each provider is named in a warning, which does not fail it.
    warned = {c["name"]: c for c in checks if c["warning"]}
    assert {"push expo", "push fcm", "push apns"} <= set(warned), checks
    assert "apns_key" in warned["push apns"]["detail"] and warned["push apns"]["ok"]


def test_logs_show_the_api_workers_output(appliance: Installed):
    done = appliance.ctl("logs", "api", "-n", "5", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert len(report["files"]) == 2 and report["lines"]
    assert all(isinstance(json.loads(line), dict) for line in report["lines"]), "API logs are structured JSON"
    unknown = appliance.ctl("logs", "nosuchservice")
    assert unknown.returncode != 0 and "choose one of" in unknown.stderr


def test_nginx_gives_each_request_an_id_the_api_echoes_and_the_access_log_keeps(appliance: Installed):
    request = urllib.request.Request(
        f"https://127.0.0.1:{appliance.https_port}/health", headers={"X-Request-ID": "chosen-by-the-client"}
    )
    with urllib.request.urlopen(request, context=_TLS, timeout=10) as response:
        given = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", given), "nginx's own id, never the client's"
    access_log = appliance.root / "var/log/harvest/nginx-access.log"
    # nginx flushes its access log buffer every 5 s
    wait_for(lambda: given in access_log.read_text(), "the request id in nginx's access log", timeout=15)


def test_migrations_are_applied_by_install(appliance: Installed):
    done = appliance.ctl("db", "status", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["pending"] == 0
    assert {m["app"] for m in report["migrations"]} >= {"platform"}
    assert all(m["applied"] for m in report["migrations"])


def test_embedded_store_refuses_anyone_going_around_the_s3_gateway(appliance: Installed):
    filer, volume = appliance.weed["filer_port"], appliance.weed["volume_port"]
    probes = [
        urllib.request.Request(f"http://127.0.0.1:{filer}/buckets/"),
        urllib.request.Request(f"http://127.0.0.1:{filer}/buckets/harvest-media/x.txt", data=b"x", method="PUT"),
        urllib.request.Request(f"http://127.0.0.1:{volume}/1,01637037d6"),
    ]
    for request in probes:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        # The filer answers no HTTP at all (404); the volume server wants a signed token (401).
        assert refused.value.code in (401, 404), request.full_url

    for grpc_port in (appliance.weed["volume_port"] + 10000, appliance.weed["filer_port"] + 10000):
        assert _grpc_reply_without_certificate(grpc_port) is None, "the store took gRPC without a client certificate"


def _grpc_reply_without_certificate(port: int) -> bytes | None:
    """What the store sends a gRPC client that has no certificate; None when the TLS layer refuses it."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, _TLS.wrap_socket(raw) as tls:
            tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            return tls.recv(1)
    except (ssl.SSLError, ConnectionError):
        return None


def test_object_store_master_hands_no_volume_or_token_to_a_local_process(appliance: Installed):
    master, volume = appliance.weed["master_port"], appliance.weed["volume_port"]
    for path in ("/vol/status", "/dir/status", "/dir/lookup?volumeId=1", "/dir/assign"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{master}{path}", timeout=5)
        assert refused.value.code == 404, path
    for data in (None, b"overwritten"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(
                urllib.request.Request(f"http://127.0.0.1:{volume}/1,01637037d6", data=data), timeout=5
            )
        assert refused.value.code == 401


def test_objects_round_trip_through_the_s3_gateway(appliance: Installed):
    secrets = appliance.secrets()
    access_key = re.search(r'access_key = "([^"]+)"', secrets).group(1)
    secret_key = re.search(r'secret_key = "([^"]+)"', secrets).group(1)
    client = Minio(f"127.0.0.1:{appliance.weed['s3_port']}", access_key=access_key, secret_key=secret_key, secure=False)
    client.put_object("harvest-originals", "e2e/probe.bin", io.BytesIO(b"\x00harvest"), 8)
    assert client.get_object("harvest-originals", "e2e/probe.bin").read() == b"\x00harvest"
    client.remove_object("harvest-originals", "e2e/probe.bin")


def test_operator_bootstraps_an_admin_with_a_one_time_link(appliance: Installed):
    done = appliance.ctl("users", "create-admin", "ops@example.com", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["link"].startswith(f"https://localhost:{appliance.https_port}/reset-password?token=")
    # The link opens the set-password page through nginx, with the page's headers and nginx's own.
    with _media_client(appliance) as client:
        page = client.get(result["link"].split(str(appliance.https_port), 1)[1])
        assert page.status_code == 200 and 'name="password"' in page.text, page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store" and "max-age" in page.headers["strict-transport-security"]
        assert client.get("/pages/static/site.css").headers["content-type"].startswith("text/css")
        assert "<h1>Harvest</h1>" in client.get("/").text
    access_log = appliance.root / "var/log/harvest/nginx-access.log"
    wait_for(lambda: "/reset-password " in access_log.read_text(), "the page request in nginx's access log", timeout=15)
    assert result["token"] not in access_log.read_text()
    refused = appliance.ctl("users", "set-role", "nobody@example.com", "admin")
    assert refused.returncode == 64 and "no account" in refused.stderr


def test_a_photo_goes_through_nginx_the_worker_and_the_media_cache_without_its_metadata(appliance: Installed):
    import httpx
    from PIL import Image

    from tests.integration.photos import samples

    base = f"https://127.0.0.1:{appliance.https_port}"
    with httpx.Client(base_url=base, verify=False, timeout=30) as client:
        person = {
            "email": "e2e-photo@example.com",
            "password": "correct horse battery staple",
            "firstName": "Eve",
            "dateOfBirth": "1994-03-03",
            "gender": "woman",
        }
        token = client.post("/api/auth/register", json=person).json()["accessToken"]
        auth = {"Authorization": f"Bearer {token}"}
        sent = client.post(
            "/api/users/photos", files={"file": ("IMG_0001.JPG", samples.iphone_jpeg(), "image/jpeg")}, headers=auth
        )
        assert sent.status_code == 202, sent.text
        deadline = time.monotonic() + 60
        while (photos := client.get("/api/users/profile", headers=auth).json()["photos"])[0]["state"] == "processing":
            assert time.monotonic() < deadline, "the worker did not process the photo"
            time.sleep(0.3)
        urls = photos[0]["urls"]
        assert all(url.startswith(f"https://localhost:{appliance.https_port}/media/") for url in urls.values())
        for url in urls.values():
            path = url.split(str(appliance.https_port), 1)[1]
            first, second = client.get(path), client.get(path)
            assert first.status_code == second.status_code == 200 and first.content == second.content
            image = Image.open(io.BytesIO(first.content))
            assert image.format == "WEBP" and not image.getexif() and b"GPS" not in first.content
        tampered = client.get(urls["large"].split(str(appliance.https_port), 1)[1].replace("sig=", "sig=x"))
        assert tampered.status_code == 403
        too_big = client.post(
            "/api/users/photos", files={"file": ("big.jpg", bytes(50 * 1024 * 1024), "image/jpeg")}, headers=auth
        )
        assert too_big.status_code == 413 and too_big.headers["content-type"] == "application/problem+json"
        assert too_big.json()["status"] == 413
    cached = list((appliance.root / "var/lib/harvest/nginx/media-cache").rglob("*"))
    assert any(path.is_file() for path in cached), "nginx cached no media"


def _discoverable(client, name: str, gender: str, wants: str, place: tuple[float, float]) -> tuple[str, dict]:
    """Someone signed up through nginx with a place, preferences and a photo: their id and auth header."""
    from tests.integration.photos import samples

    body = {
        "email": f"e2e-{name.lower()}@example.com",
        "password": "correct horse battery staple",
        "firstName": name,
        "dateOfBirth": "1992-06-01",
        "gender": gender,
    }
    auth = {"Authorization": f"Bearer {client.post('/api/auth/register', json=body).json()['accessToken']}"}
    lat, lng = place
    assert client.put("/api/users/location", json={"lat": lat, "lng": lng}, headers=auth).status_code == 204
    assert client.put("/api/users/preferences", json={"preferredGenders": [wants]}, headers=auth).is_success
    photo = client.post("/api/users/photos", files={"file": ("a.png", samples.png(), "image/png")}, headers=auth)
    assert photo.status_code == 202, photo.text
    return client.get("/api/users/profile", headers=auth).json()["id"], auth


def _wait_for_card(client, auth: dict, person: str) -> None:
    """Until the worker has processed the photos and ``person`` is the whole of the deck."""
    deadline = time.monotonic() + 60
    while [card["id"] for card in client.get("/api/matches/potential", headers=auth).json()["items"]] != [person]:
        assert time.monotonic() < deadline, "the other person never reached the deck"
        time.sleep(0.5)


def test_two_people_find_each_other_in_their_decks_and_match_through_nginx(appliance: Installed):
    """The worker keeps the discovery index in step (a processed photo lists a person) and the match is
    made once, whichever side likes second."""
    import httpx

    base = f"https://127.0.0.1:{appliance.https_port}"
    with httpx.Client(base_url=base, verify=False, timeout=30) as client:
        ada, ada_auth = _discoverable(client, "Ada", "woman", "man", (48.8566, 2.3522))
        ben, ben_auth = _discoverable(client, "Ben", "man", "woman", (48.8666, 2.3522))
        _wait_for_card(client, ada_auth, ben)
        deck = client.get("/api/matches/potential", headers=ben_auth).json()["items"]
        assert [card["id"] for card in deck] == [ada] and deck[0]["distanceKm"] == 1
        first = client.post("/api/matches/swipe", json={"userId": ben, "action": "like"}, headers=ada_auth).json()
        second = client.post("/api/matches/swipe", json={"userId": ada, "action": "like"}, headers=ben_auth).json()
        assert first == {"matched": False, "match": None} and second["matched"] and second["match"]["user"]["id"] == ada
        mine = client.get("/api/matches/my-matches", headers=ada_auth).json()["items"]
        assert [match["id"] for match in mine] == [second["match"]["id"]]
        assert client.get("/api/matches/potential", headers=ada_auth).json()["items"] == []


def test_a_match_and_a_message_arrive_live_over_the_socket_through_nginx(appliance: Installed):
    """wss through nginx's upgrade: the worker announces the match to an open socket, a message sent on one
    socket is acknowledged once stored and reaches the other person's socket, and REST agrees."""
    import httpx
    from websockets.sync.client import connect

    base = f"https://127.0.0.1:{appliance.https_port}"
    with httpx.Client(base_url=base, verify=False, timeout=30) as client, contextlib.ExitStack() as opened:
        cleo, cleo_auth = _discoverable(client, "Cleo", "woman", "man", (40.4168, -3.7038))
        dan, dan_auth = _discoverable(client, "Dan", "man", "woman", (40.4268, -3.7038))
        _wait_for_card(client, cleo_auth, dan)
        sockets = {}
        for name, auth in (("cleo", cleo_auth), ("dan", dan_auth)):
            live = opened.enter_context(
                connect(f"wss://127.0.0.1:{appliance.https_port}/api/ws", ssl=_TLS, open_timeout=10)
            )
            token = auth["Authorization"].removeprefix("Bearer ")
            live.send(json.dumps({"type": "auth", "data": {"token": token}}))
            assert json.loads(live.recv(timeout=10))["type"] == "ready"
            sockets[name] = live

        def next_of(name: str, kind: str) -> dict:
            while True:
                frame = json.loads(sockets[name].recv(timeout=30))
                if frame["type"] == kind:
                    return frame["data"]

        client.post("/api/matches/swipe", json={"userId": dan, "action": "like"}, headers=cleo_auth)
        made = client.post("/api/matches/swipe", json={"userId": cleo, "action": "like"}, headers=dan_auth).json()
        match_id = made["match"]["id"]
        assert next_of("cleo", "match_created")["match"]["id"] == match_id
        said = {"matchId": match_id, "clientId": "e2e-1", "content": "¡Hola, Dan!", "type": "text"}
        sockets["cleo"].send(json.dumps({"type": "send_message", "data": said}))
        acked = next_of("cleo", "message_ack")
        assert acked["clientId"] == "e2e-1"
        assert next_of("dan", "message_received")["message"] == acked["message"]
        listed = client.get(f"/api/chat/conversations/{match_id}/messages", headers=dan_auth).json()["items"]
        assert [message["id"] for message in listed] == [acked["message"]["id"]]


def test_bench_verbs_report_figures_and_leave_no_bench_account_behind(appliance: Installed):
    done = appliance.ctl("bench", "profiles", "--seconds", "3", "--viewers", "20", "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["health"]["rps"] > 0 and figures["endpoint"]["rps"] > 0 and figures["ratio"] > 0
    done = appliance.ctl("bench", "photos", "--count", "3", "--concurrency", "2", "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["uploads"] == 3 and figures["uploadP95Ms"] >= figures["uploadP50Ms"] > 0
    assert figures["perSecondOneCore"] > 0 and figures["endToEndPerSecond"] > 0
    done = appliance.ctl("bench", "jobs", "--pings", "20", "--photos", "4", "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    for run in ("idle", "burst"):
        assert figures[run]["maxMs"] >= figures[run]["p99Ms"] >= figures[run]["p50Ms"] > 0, figures
    psql = [
        "/usr/lib/postgresql/15/bin/psql",
        "-h",
        str(appliance.root / "run/harvest/postgres"),
        "-p",
        str(appliance.pg_port),
        "-U",
        "postgres",
        "-d",
        "harvest",
        "-w",
        "-tAc",
        "SELECT count(*) FROM users WHERE email LIKE '%@bench.invalid'",
    ]
    assert subprocess.run(psql, capture_output=True, text=True, check=True).stdout.strip() == "0"


def test_no_generated_request_makes_the_api_fail(appliance: Installed):
    """Schemathesis derives requests from the OpenAPI schema (edge values, wrong types, NULs, random
    multipart bodies) and sends them through nginx: none may get a 5xx."""
    import httpx

    base = f"https://127.0.0.1:{appliance.https_port}"
    person = {
        "email": "fuzz@example.com",
        "password": "correct horse battery staple",
        "firstName": "Fuzz",
        "dateOfBirth": "1990-05-05",
        "gender": "man",
    }
    token = httpx.post(f"{base}/api/auth/register", json=person, verify=False).json()["accessToken"]
    st = Path(sys.executable).parent / "st"
    done = subprocess.run(
        [
            str(st),
            "run",
            f"{base}/api/openapi.json",
            "--tls-verify",
            "false",
            "-H",
            f"Authorization: Bearer {token}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "30",
            "--generation-deterministic",
            # Ending the login or the account would turn the rest of the run into 401s.
            "--exclude-operation-id",
            "ApiAuthLogoutLogout",
            "--exclude-operation-id",
            "ApiUsersProfileErase",
            "--exclude-operation-id",
            "ApiAuthSessionsSessionIdEndSession",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tempfile.mkdtemp(prefix="hvfuzz-"),
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert "passed" in done.stdout


def _media_client(appliance: Installed):
    import httpx

    return httpx.Client(base_url=f"https://127.0.0.1:{appliance.https_port}", verify=False, timeout=30)


def test_a_deleted_photo_stops_being_served_through_nginx_within_a_minute(appliance: Installed):
    from tests.integration.photos import samples

    with _media_client(appliance) as client:
        person = {
            "email": "e2e-withdrawn@example.com",
            "password": "correct horse battery staple",
            "firstName": "Wren",
            "dateOfBirth": "1991-05-05",
            "gender": "woman",
        }
        auth = {"Authorization": f"Bearer {client.post('/api/auth/register', json=person).json()['accessToken']}"}
        assert client.post("/api/users/photos", files={"file": ("a.png", samples.png(), "image/png")}, headers=auth)
        deadline = time.monotonic() + 60
        while (photos := client.get("/api/users/profile", headers=auth).json()["photos"])[0]["state"] == "processing":
            assert time.monotonic() < deadline, "the worker did not process the photo"
            time.sleep(0.3)
        path = photos[0]["urls"]["thumb"].split(str(appliance.https_port), 1)[1]
        served = client.get(path)
        assert served.status_code == 200 and served.headers["cache-control"] == "public, max-age=30"
        cache = appliance.root / "var/lib/harvest/nginx/media-cache"
        entries = {p for p in cache.rglob("*") if p.is_file()}
        # Parameters outside the signed two neither bypass the cache nor make entries of their own.
        for extra in ("&x=1", "&sig=forged", "&exp=1&v=2"):
            assert client.get(path + extra).status_code == 200, extra
        assert {p for p in cache.rglob("*") if p.is_file()} == entries
        # A cached answer carries the id of the request it answers, not of the one that filled the cache.
        ids = {client.get(path).headers["x-request-id"] for _ in range(3)}
        assert len(ids) == 3, ids

        assert client.delete(f"/api/users/photos/{photos[0]['id']}", headers=auth).status_code == 204
        deleted = time.monotonic()
        while (answer := client.get(path)).status_code == 200:
            assert time.monotonic() - deleted < 60, "a deleted photo was still served after a minute"
            time.sleep(1)
        assert answer.status_code == 404 and answer.headers["content-type"] == "application/problem+json"
        print(f"a deleted photo stopped being served after {time.monotonic() - deleted:.0f}s")


def test_media_takes_one_spelling_and_a_client_address_has_a_rate_limit(appliance: Installed):
    photo_id = "0123abcd-0000-4000-8000-00000000abcd"
    query = "exp=9999999999&sig=AAAAAAAAAAAAAAAAAAAAAAAA"
    with _media_client(appliance) as client:
        for respelled in (
            f"/media/{photo_id.upper()}/large.webp?{query}",
            f"/media/{photo_id.replace('-', '')}/large.webp?{query}",
            f"/media/{{{photo_id}}}/large.webp?{query}",
            f"/media/{photo_id}/large?{query}",
            f"/media/{photo_id}/large.webp?{query.replace('exp=9999999999', 'exp=9999999999.0')}",
            f"/media/{photo_id}/large.webp?{query.replace('sig=AAAA', 'sig=%C3%A9AA')}",
        ):
            refused = client.get(respelled)
            assert refused.status_code in (403, 404), respelled
            assert refused.headers["content-type"] == "application/problem+json", respelled
        answers = [client.get(f"/media/{photo_id}/large.webp?{query}") for _ in range(400)]
    codes = [answer.status_code for answer in answers]
    assert set(codes) == {403, 429}, set(codes)  # a forged link reaches the API until the address is limited
    limited = answers[codes.index(429)]
    assert limited.headers["content-type"] == "application/problem+json" and limited.headers["retry-after"] == "1"
    assert limited.json()["status"] == 429
    assert "max-age" in limited.headers["strict-transport-security"] and limited.headers["x-content-type-options"]


def test_nginx_answers_its_own_refusals_in_the_problem_shape(appliance: Installed):
    with _media_client(appliance) as client:
        trace = client.request("TRACE", "/api/auth/login")
        assert trace.status_code == 405 and trace.headers["content-type"] == "application/problem+json"
        assert "GET" in trace.headers["allow"]
        # A location that adds a header of its own inherits none from the server: the security headers stay.
        assert "max-age" in trace.headers["strict-transport-security"], trace.headers
        assert trace.headers["x-content-type-options"] == "nosniff"
        bad = client.get("/api/auth/login", headers={"Host": "bad host"})
        assert bad.status_code == 400 and bad.json()["status"] == 400


def test_tls_offers_only_forward_secret_aead_suites(appliance: Installed):
    def handshake(cipher: str) -> str | None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(cipher)
        try:
            with socket.create_connection(("127.0.0.1", appliance.https_port), timeout=5) as raw:
                with context.wrap_socket(raw) as tls:
                    return tls.cipher()[0]
        except ssl.SSLError:
            return None

    for weak in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256", "AES128-GCM-SHA256"):
        assert handshake(weak) is None, weak
    assert handshake("ECDHE-ECDSA-AES128-GCM-SHA256") == "ECDHE-ECDSA-AES128-GCM-SHA256"
