"""Lifecycle verbs: up (converge), status, start, stop, restart, logs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from harvestctl import ansible, probe
from harvestctl.appliance import Appliance
from harvestctl.errors import CliError, Exit
from harvestctl.supervisor import SERVICES, Supervisor

ServiceArg = Annotated[str | None, typer.Argument(help=f"one of {', '.join(SERVICES)}; all when omitted")]


def _supervisor(appliance: Appliance) -> Supervisor:
    return Supervisor(appliance.layout["supervisor_socket"])


def _uptime(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if days else f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _health(appliance: Appliance) -> dict[str, str]:
    """Per service: ok / down / '-' (no probe), from /ready and /health through nginx."""
    status, body = probe.get(appliance, "/ready", timeout=8)
    checks = (body or {}).get("checks", {})
    reached = status in (200, 503)

    def word(check: str) -> str:
        if check not in checks:
            return "-"
        return "ok" if checks[check]["ok"] else "down"

    return {
        "postgres": word("postgres"),
        "valkey": word("valkey"),
        "seaweedfs": word("storage"),
        "api": "ok" if reached else "down",
        "nginx": "ok" if reached else "down",
        "worker": "-",
    }


def collect_status(appliance: Appliance) -> dict[str, Any]:
    processes = _supervisor(appliance).processes()
    health = _health(appliance)
    services = [
        {
            "service": p.service,
            "process": p.name,
            "state": p.state,
            "pid": p.pid,
            "uptimeSeconds": p.uptime_seconds,
            "health": health.get(p.service, "-") if p.state == "RUNNING" else "down",
        }
        for p in processes
    ]
    if not appliance.description["embeddedStorage"]:
        services.append(
            {
                "service": "storage",
                "process": "external S3",
                "state": "EXTERNAL",
                "pid": None,
                "uptimeSeconds": None,
                "health": health["seaweedfs"],
            }
        )
    return {"url": appliance.description["publicUrl"], "services": services}


def show_status(appliance: Appliance, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    report = collect_status(appliance) | (extra or {})
    rows = [
        (s["service"], s["process"], s["state"], s["pid"] or "-", _uptime(s["uptimeSeconds"]), s["health"])
        for s in report["services"]
    ]
    appliance.out.table("Harvest services", ["Service", "Process", "State", "PID", "Uptime", "Health"], rows, report)
    appliance.out.say(f"API: {report['url']}/api  (docs: {report['url']}/api/docs)")
    return report


def up(ctx: typer.Context) -> None:
    """Converge the appliance: config and secrets, Ansible, migrations, then wait until ready."""
    appliance: Appliance = ctx.obj
    appliance.require_root("up")
    created = appliance.manage("init")["created"]
    for path in created:
        appliance.out.say(f"created {path}")
    with appliance.out.progress("Provisioning") as show:
        result = ansible.run_site(appliance, lambda task: show(f"Provisioning: {task}"))
        show("Applying database migrations")
        migrations = appliance.manage("migrate")
        show("Starting anything stopped")
        supervisor = _supervisor(appliance)
        for service in SERVICES:
            if any(p.service == service for p in supervisor.processes()):
                supervisor.start(service)
        show("Waiting for /ready")
        probe.wait_ready(appliance)
    appliance.out.say(
        f"Ansible: ok={result.ok} changed={result.changed} in {result.seconds:.1f}s "
        f"(log: {result.log}); migrations applied: {migrations['applied']}"
    )
    show_status(
        appliance,
        {
            "changed": result.changed,
            "ansibleSeconds": round(result.seconds, 1),
            "migrationsApplied": migrations["applied"],
            "createdFiles": created,
        },
    )


def status(ctx: typer.Context) -> None:
    """Each service's state, pid, uptime and health."""
    appliance: Appliance = ctx.obj
    appliance.require_root("status")
    show_status(appliance)


def _ensure_supervisord(appliance: Appliance) -> Supervisor:
    supervisor = _supervisor(appliance)
    if supervisor.alive():
        return supervisor
    config = Path(appliance.layout["generated"]) / "supervisord.conf"
    if not config.exists():
        raise CliError("this appliance has not been provisioned yet", "run `harvestctl up`", Exit.NOT_RUNNING)
    subprocess.run([str(Path(sys.executable).parent / "supervisord"), "-c", str(config)], check=True)
    deadline = time.monotonic() + 20
    while not supervisor.alive():
        if time.monotonic() > deadline:
            raise CliError("supervisord did not start", f"read {appliance.layout['logs']}/supervisord.log")
        time.sleep(0.2)
    return supervisor


def _targets(supervisor: Supervisor, service: str | None) -> list[str]:
    if service:
        supervisor.known(service)
        return [service]
    present = {p.service for p in supervisor.processes()}
    return [s for s in SERVICES if s in present]


def start(ctx: typer.Context, service: ServiceArg = None) -> None:
    """Start one service, or every service in dependency order."""
    appliance: Appliance = ctx.obj
    appliance.require_root("start")
    supervisor = _ensure_supervisord(appliance)
    for name in _targets(supervisor, service):
        supervisor.start(name)
    _settle(appliance, service)


def stop(ctx: typer.Context, service: ServiceArg = None) -> None:
    """Stop one service, or every service in reverse dependency order."""
    appliance: Appliance = ctx.obj
    appliance.require_root("stop")
    supervisor = _supervisor(appliance)
    for name in reversed(_targets(supervisor, service)):
        supervisor.stop(name)
    show_status(appliance)


def restart(ctx: typer.Context, service: ServiceArg = None) -> None:
    """Restart one service, or all of them (stop in reverse order, start in order)."""
    appliance: Appliance = ctx.obj
    appliance.require_root("restart")
    supervisor = _ensure_supervisord(appliance)
    names = _targets(supervisor, service)
    for name in reversed(names):
        supervisor.stop(name)
    for name in names:
        supervisor.start(name)
    _settle(appliance, service)


def _settle(appliance: Appliance, service: str | None) -> None:
    """After starting everything (or the API), wait for /ready as `up` does, then show the status."""
    if service in (None, "api", "nginx"):
        with appliance.out.progress("Waiting for /ready"):
            probe.wait_ready(appliance)
    show_status(appliance)


def _log_files(appliance: Appliance, service: str) -> list[Path]:
    folder = Path(appliance.layout["logs"])
    pattern = f"{service}-*.log" if service in ("api", "worker") else f"{service}.log"
    files = sorted(folder.glob(pattern))
    if not files:
        known = sorted({p.stem.split("-0")[0] for p in folder.glob("*.log")} | {"api"})
        raise CliError(f"no log for {service!r} in {folder}", f"choose one of: {', '.join(known)}", Exit.BAD_USAGE)
    return files


def _tail(path: Path, lines: int) -> list[str]:
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 256 * 1024))
        return handle.read().decode(errors="replace").splitlines()[-lines:]


def logs(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help=f"{', '.join(SERVICES)}, nginx-access, ansible or supervisord")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new lines")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, help="lines to show")] = 50,
) -> None:
    """Show a service's log (for api and worker, all their processes' logs merged)."""
    appliance: Appliance = ctx.obj
    appliance.require_root("logs")
    files = _log_files(appliance, service)
    # JSON log lines start with their timestamp, so a sort merges the workers' logs in time order.
    merged = (
        sorted(line for path in files for line in _tail(path, lines))[-lines:]
        if len(files) > 1
        else _tail(files[0], lines)
    )
    if appliance.out.as_json:
        appliance.out.data({"service": service, "files": [str(f) for f in files], "lines": merged})
        return
    for line in merged:
        print(line)
    if follow:
        positions = {path: path.stat().st_size for path in files}
        try:
            while True:
                for path in files:
                    with path.open("rb") as handle:
                        handle.seek(positions[path] if path.stat().st_size >= positions[path] else 0)
                        chunk = handle.read()
                        positions[path] = handle.tell()
                    if chunk:
                        sys.stdout.write(chunk.decode(errors="replace"))
                        sys.stdout.flush()
                time.sleep(0.5)
        except KeyboardInterrupt:
            return
