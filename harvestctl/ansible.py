"""Runs ``playbooks/site.yml`` with ansible-playbook: progress and the result from its JSON events, the
full human-readable output in a log file.

The events come from ``playbooks/callback_plugins/harvest_events.py`` over a pipe of their own, so nothing
here parses text meant for people, and a failure's message reaches the operator exactly as the task wrote it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harvestctl.appliance import RELEASE, Appliance
from harvestctl.errors import CliError, Exit

PLAYBOOKS = RELEASE / "playbooks"
LOG_LIMIT = 5 * 2**20  # one previous log is kept beside the current one
#: how much of a failure's message fits the one error line; the log has all of it
REASON_LIMIT = 300


@dataclass(frozen=True)
class PlayResult:
    ok: int
    changed: int
    failed: int
    skipped: int
    seconds: float
    log: str


@dataclass
class _Outcome:
    """What the events said: the recap, the task that ran last, and the first failure's task and message."""

    stats: dict[str, int] | None = None
    last_task: str = ""
    failed_task: str = ""
    reason: str = ""


def run_site(appliance: Appliance, on_task: Callable[[str], None]) -> PlayResult:
    """Converge the appliance; raise with the failing task's reason when a task fails."""
    layout = appliance.layout
    log_path = Path(layout["logs"]) / "ansible.log"
    with tempfile.TemporaryDirectory(prefix="harvest-") as private:
        os.chmod(private, 0o700)
        vars_file = Path(private) / "vars.json"
        appliance.manage("ansible-vars", str(vars_file))
        extra = [
            # Pinned: discovery can pick a Python shim that is not really installed.
            "-e",
            "ansible_python_interpreter=/usr/bin/python3",
            "-e",
            f"@{vars_file}",
            "-e",
            f"harvest_venv={sys.prefix}",
        ]
        return run_playbook(
            PLAYBOOKS / "site.yml", extra, log_path, on_task, private=Path(private), verbose=appliance.verbose
        )


def run_playbook(
    playbook: Path,
    extra: list[str],
    log_path: Path,
    on_task: Callable[[str], None],
    *,
    private: Path,
    verbose: bool = False,
) -> PlayResult:
    """Run ``playbook`` on this host with Harvest's Ansible settings and event callback; ``private`` is a
    directory only this user can read, for Ansible's temporary files."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if log_path.exists() and log_path.stat().st_size > LOG_LIMIT:
        log_path.replace(log_path.with_suffix(".log.1"))
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local", *extra]
    argv += [str(playbook), *(["-v"] if verbose else [])]
    events_in, events_out = os.pipe()
    env = os.environ | {
        "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg"),
        "ANSIBLE_CALLBACK_PLUGINS": str(PLAYBOOKS / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "harvest_events",
        "HARVEST_EVENTS_FD": str(events_out),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(private / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(private / "remote"),
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
    }
    started = time.monotonic()
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"\n=== {playbook.name} {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} ===\n")
        log.flush()
        try:
            proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=playbook.parent,
                pass_fds=(events_out,),
            )
        finally:
            os.close(events_out)  # the child holds its own copy; EOF arrives when ansible-playbook is done
        assert proc.stdout is not None
        copier = threading.Thread(target=_copy, args=(proc.stdout, log), daemon=True)
        copier.start()
        with os.fdopen(events_in, encoding="utf-8") as events:
            outcome = _follow(events, on_task)
        proc.wait()
        copier.join()
    seconds = time.monotonic() - started
    stats = outcome.stats
    if proc.returncode != 0 or stats is None or stats["failed"] or stats["unreachable"]:
        reason = outcome.reason or f"ansible-playbook exited {proc.returncode}"
        task = outcome.failed_task or outcome.last_task
        where = f" at “{task}”" if task else ""
        raise CliError(
            f"provisioning failed{where}: {_one_line(reason)}",
            f"the full output is in {log_path}; fix the cause and run `harvestctl up` again",
            Exit.PROVISION_FAILED,
        )
    return PlayResult(
        ok=stats["ok"],
        changed=stats["changed"],
        failed=stats["failed"],
        skipped=stats["skipped"],
        seconds=seconds,
        log=str(log_path),
    )


def _copy(source: IO[bytes], log: IO[str]) -> None:
    """Ansible's own output, for people, into the log as it comes."""
    for line in source:
        log.write(line.decode("utf-8", errors="replace"))
        log.flush()


def _follow(events: IO[str], on_task: Callable[[str], None]) -> _Outcome:
    outcome = _Outcome()
    for line in events:
        event: dict[str, Any] = json.loads(line)
        kind = event["event"]
        if kind == "task":
            outcome.last_task = event["name"]
            on_task(event["name"])
        elif kind == "failed" and not outcome.reason:
            outcome.failed_task, outcome.reason = event["task"], event["message"]
        elif kind == "stats":
            outcome.stats = {name: int(event[name]) for name in ("ok", "changed", "failed", "unreachable", "skipped")}
    return outcome


def _one_line(text: str) -> str:
    return " ".join(text.split())[:REASON_LIMIT]
