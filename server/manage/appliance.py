"""Appliance files and facts: harvest.toml and secrets.toml made once, what the playbook is told."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import msgspec

from server import settings as settings_module
from server.notifications import providers as push_providers
from server.settings import Settings

DEFAULTS = Path(__file__).resolve().parents[2] / "configs" / "harvest.toml"


def private_write(path: Path, text: str, owner: str | None = None) -> None:
    """Write a file that is 0600 from its first byte, never briefly world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
    if owner:
        shutil.chown(path, owner, owner)


def init(root: str, owner: str | None) -> dict[str, Any]:
    """Create harvest.toml (commented defaults) and secrets.toml when missing; validate both."""
    layout = settings_module.Layout(root=root)
    config_path, secrets_path = Path(layout.config_file), Path(layout.secrets_file)
    created = []
    if not config_path.exists():
        config_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DEFAULTS, config_path)
        os.chmod(config_path, 0o644)
        created.append(str(config_path))
    settings_module.parse_config(config_path.read_bytes())
    if not secrets_path.exists():
        private_write(secrets_path, settings_module.render_secrets(settings_module.new_secrets()), owner)
        created.append(str(secrets_path))
    elif completed := settings_module.complete_secrets(secrets_path.read_bytes()):
        private_write(secrets_path, settings_module.render_secrets(completed), owner)
        created.append(f"{secrets_path} (new secrets added)")
    settings_module.load(root)
    return {"created": created}


def _host() -> dict[str, Any]:
    """What the playbook sizes things by, read here so Ansible needs no fact gathering."""
    meminfo = Path("/proc/meminfo").read_text()
    kib = int(next(line.split()[1] for line in meminfo.splitlines() if line.startswith("MemTotal:")))
    release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    return {
        "memoryMb": kib // 1024,
        "cpus": os.cpu_count() or 1,
        "debianCodename": release.get("VERSION_CODENAME", "").strip('"'),
    }


def _release() -> str:
    """A digest of the installed code: a new release changes it, and with it the API and worker programs."""
    digest = hashlib.sha256()
    top = Path(__file__).resolve().parents[1]
    for path in sorted(top.rglob("*.py")):
        digest.update(path.relative_to(top).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def describe(settings: Settings) -> dict[str, Any]:
    """Everything a caller needs to know about this appliance, without a single secret."""
    return {
        "host": _host(),
        "release": _release(),
        "config": msgspec.to_builtins(settings.config),
        "layout": settings.layout.as_dict(),
        "apiWorkers": settings.api_workers(),
        "publicUrl": settings.public_url(),
        "embeddedStorage": settings.embedded_storage,
        "buckets": [settings.bucket("originals"), settings.bucket("media")],
        #: push providers skipped for want of credentials, each with what is missing (names, never values)
        "pushMissing": push_providers.missing(settings),
    }


def ansible_vars(settings: Settings, target: Path) -> dict[str, Any]:
    """Write the playbook's variables (config, layout and secrets) to a 0600 file for ``-e @file``."""
    values = describe(settings) | {"secrets": msgspec.to_builtins(settings.secrets)}
    private_write(target, json.dumps({"harvest": values}))
    return {"written": str(target)}
