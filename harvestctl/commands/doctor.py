"""``doctor``: pre-flight and health checks, each a pass/fail line with a fix."""

from __future__ import annotations

import os
import shutil
import socket
import stat
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import typer
from cryptography import x509

from harvestctl import probe
from harvestctl.appliance import Appliance
from harvestctl.errors import CliError, Exit
from harvestctl.supervisor import Supervisor

SUPPORTED = {"12": "bookworm", "13": "trixie"}
MIN_FREE_GIB = 2
MIN_MEMORY_GIB = 2
CERT_WARN_DAYS = 14


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    hint: str = ""
    #: passes, but something an operator should know (shown as WARN)
    warning: bool = False


def _os() -> Check:
    fields = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    name, version = fields.get("ID", "").strip('"'), fields.get("VERSION_ID", "").strip('"')
    ok = name == "debian" and version in SUPPORTED
    return Check("os", ok, f"{name} {version}", "" if ok else "Harvest supports Debian 12 and 13 only")


def _disk(appliance: Appliance) -> Check:
    folder = Path(appliance.layout["data"])
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free / 2**30
    return Check(
        "disk",
        free >= MIN_FREE_GIB,
        f"{free:.1f} GiB free under {folder}",
        "" if free >= MIN_FREE_GIB else f"free at least {MIN_FREE_GIB} GiB (old backups, logs)",
    )


def _memory(appliance: Appliance) -> Check:
    total = appliance.description["host"]["memoryMb"] / 1024
    return Check(
        "memory",
        total >= MIN_MEMORY_GIB,
        f"{total:.1f} GiB",
        "" if total >= MIN_MEMORY_GIB else f"Harvest needs at least {MIN_MEMORY_GIB} GiB",
    )


def _secrets(appliance: Appliance) -> Check:
    path = Path(appliance.layout["secrets_file"])
    if not path.exists():
        return Check("secrets", False, f"{path} is missing", "run `harvestctl up` to generate it")
    mode = stat.S_IMODE(path.stat().st_mode)
    ok = mode == 0o600
    return Check("secrets", ok, f"{path} mode {mode:04o}", "" if ok else f"chmod 600 {path}")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))  # noqa: S104 - is the port free on every interface nginx will use
        except OSError:
            return False
    return True


def _ports(appliance: Appliance, running: bool) -> Check:
    server = appliance.config["server"]
    ports = [server["http_port"], server["https_port"]]
    if running:
        return Check("ports", True, f"{ports[0]} and {ports[1]} held by Harvest's nginx")
    busy = [p for p in ports if not _port_free(p)]
    return Check(
        "ports",
        not busy,
        f"busy: {busy}" if busy else f"{ports[0]} and {ports[1]} free",
        f"stop whatever listens on {busy} or change server.http_port/https_port" if busy else "",
    )


def _certificate(appliance: Appliance) -> Check:
    server = appliance.config["server"]
    path = Path(server["tls_certificate"] or Path(appliance.layout["etc"]) / "tls" / "selfsigned.crt")
    if not path.exists():
        return Check("certificate", False, f"{path} is missing", "run `harvestctl up` to generate one")
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    days = (cert.not_valid_after_utc - datetime.now(UTC)).days
    ok = days >= CERT_WARN_DAYS
    hint = "" if ok else "renew it (or delete the self-signed one) and run `harvestctl up`"
    return Check("certificate", ok, f"{path.name} expires in {days} days", hint)


def _email(appliance: Appliance) -> Check:
    relay = appliance.config["email"]["smtp_host"]
    if relay:
        return Check("email", True, f"SMTP relay {relay}:{appliance.config['email']['smtp_port']}")
    return Check(
        "email",
        True,
        "no SMTP relay: verification and reset emails are not sent",
        "set [email] smtp_host in harvest.toml",
        warning=True,
    )


def _push(appliance: Appliance) -> list[Check]:
    """A push provider without credentials is skipped: the app's people on it get no pushes, only in-app notes."""
    return [
        Check(f"push {name}", True, f"skipped: {reason}", "add its credentials to secrets.toml [push]", warning=True)
        for name, reason in appliance.description["pushMissing"].items()
    ]


def _services(appliance: Appliance) -> tuple[list[Check], bool]:
    supervisor = Supervisor(appliance.layout["supervisor_socket"])
    if not supervisor.alive():
        return [Check("supervisord", False, "not running", "run `harvestctl start` (or `harvestctl up`)")], False
    checks = [Check("supervisord", True, "running")]
    for process in supervisor.processes():
        ok = process.state == "RUNNING"
        checks.append(
            Check(
                f"process {process.name}",
                ok,
                process.state.lower(),
                "" if ok else f"`harvestctl start {process.service}`; see `harvestctl logs {process.service}`",
            )
        )
    return checks, True


def _dependencies(appliance: Appliance) -> list[Check]:
    status, body = probe.get(appliance, "/ready", timeout=8)
    if status == 0:
        return [
            Check(
                "api", False, "nothing answers through nginx", "see `harvestctl logs nginx` and `harvestctl logs api`"
            )
        ]
    checks = [Check("api", True, f"/ready answered {status}")]
    for name, result in (body or {}).get("checks", {}).items():
        detail = f"{result['latencyMs']} ms" if result["ok"] else result.get("error", "down")
        hint = "" if result["ok"] else f"see `harvestctl logs {'seaweedfs' if name == 'storage' else name}`"
        checks.append(Check(name, result["ok"], detail, hint))
    return checks


def doctor(ctx: typer.Context) -> None:
    """Pre-flight and health: OS, disk, memory, config, secrets, ports, services, dependencies, certificate."""
    appliance: Appliance = ctx.obj
    checks = [
        _os(),
        Check(
            "user",
            os.geteuid() == 0,
            "root" if os.geteuid() == 0 else "not root",
            "" if os.geteuid() == 0 else "run `sudo harvestctl doctor`",
        ),
    ]
    try:
        appliance.manage("validate")
        checks.append(Check("config", True, f"{appliance.layout['config_file']} is valid"))
    except CliError as exc:
        checks.append(Check("config", False, exc.message, exc.hint))
    else:
        checks += [_disk(appliance), _memory(appliance), _secrets(appliance), _email(appliance), *_push(appliance)]
        service_checks, running = _services(appliance)
        checks += [_ports(appliance, running), *service_checks]
        if running:
            checks += _dependencies(appliance)
        checks.append(_certificate(appliance))
    rows = [("FAIL" if not c.ok else "WARN" if c.warning else "PASS", c.name, c.detail, c.hint) for c in checks]
    appliance.out.table("Harvest doctor", ["Result", "Check", "Detail", "Fix"], rows, [asdict(c) for c in checks])
    failed = [c.name for c in checks if not c.ok]
    if failed:
        raise CliError(
            f"{len(failed)} check(s) failed: {', '.join(failed)}",
            "apply the fixes above, then run `harvestctl doctor` again",
            Exit.UNHEALTHY,
        )
