"""Runs ``playbooks/site.yml`` with ansible-playbook: a live task line for people, the full log in a file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harvestctl.appliance import RELEASE, Appliance
from harvestctl.errors import CliError, Exit

PLAYBOOKS = RELEASE / "playbooks"
LOG_LIMIT = 5 * 2**20  # one previous log is kept beside the current one
_TASK = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?:[^:\]]+ : )?(.+?)\] \**$")
_RECAP = re.compile(r"\bok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)")
_FAILED = re.compile(r"^fatal: .*?=> (.*)$|^failed: .*?=> (.*)$")


@dataclass(frozen=True)
class PlayResult:
    ok: int
    changed: int
    failed: int
    skipped: int
    seconds: float
    log: str


def run_site(appliance: Appliance, on_task: Callable[[str], None]) -> PlayResult:
    """Converge the appliance; raise with the failing task's reason when a task fails."""
    layout = appliance.layout
    log_path = Path(layout["logs"]) / "ansible.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if log_path.exists() and log_path.stat().st_size > LOG_LIMIT:
        log_path.replace(log_path.with_suffix(".log.1"))
    with tempfile.TemporaryDirectory(prefix="harvest-") as private:
        os.chmod(private, 0o700)
        vars_file = Path(private) / "vars.json"
        appliance.manage("ansible-vars", str(vars_file))
        argv = [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            # Pinned: discovery can pick a Python shim that is not really installed.
            "-e",
            "ansible_python_interpreter=/usr/bin/python3",
            "-e",
            f"@{vars_file}",
            "-e",
            f"harvest_venv={sys.prefix}",
            str(PLAYBOOKS / "site.yml"),
        ]
        if appliance.verbose:
            argv.append("-v")
        env = os.environ | {
            "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg"),
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCAL_TEMP": str(Path(private) / "tmp"),
            "ANSIBLE_REMOTE_TEMP": str(Path(private) / "remote"),
            "PYTHONUNBUFFERED": "1",
        }
        started = time.monotonic()
        recap, failure, last_task = None, None, ""
        with (
            log_path.open("a") as log,
            subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=PLAYBOOKS
            ) as proc,
        ):
            log.write(f"\n=== harvestctl up {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} ===\n")
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                text = line.rstrip()
                if task := _TASK.match(text):
                    last_task = task.group(1)
                    on_task(last_task)
                elif found := _FAILED.match(text):
                    failure = failure or (found.group(1) or found.group(2))
                elif found := _RECAP.search(text):
                    recap = [int(n) for n in found.groups()]
        seconds = time.monotonic() - started
    if proc.returncode != 0 or recap is None or recap[3]:
        reason = _reason(failure) if failure else f"ansible-playbook exited {proc.returncode}"
        raise CliError(
            f"provisioning failed at “{last_task}”: {reason}",
            f"the full output is in {log_path}; fix the cause and run `harvestctl up` again",
            Exit.PROVISION_FAILED,
        )
    ok, changed, _, failed, skipped = recap
    return PlayResult(ok=ok, changed=changed, failed=failed, skipped=skipped, seconds=seconds, log=str(log_path))


def _reason(raw: str) -> str:
    """Ansible's failure is a JSON blob; keep its message, on one line."""
    found = re.search(r'"(?:msg|stderr)": "((?:[^"\\]|\\.)*)"', raw)
    text = found.group(1) if found and found.group(1) else raw
    return " ".join(text.encode().decode("unicode_escape", errors="replace").split())[:300]
