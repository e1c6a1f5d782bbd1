"""A service run under its own user reads only its share of the secrets; root reads secrets.toml itself."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
import yaml

from server import settings
from server.auth.tokens import TokenIssuer
from server.manage import appliance

BASE_DEFAULTS = Path(__file__).resolve().parents[2] / "playbooks/roles/base/defaults/main.yml"


def _shares(root: Path) -> dict[str, list[str]]:
    """Render each service's share as the base role does: the listed sections of secrets.toml, as JSON."""
    wanted: dict[str, list[str]] = yaml.safe_load(BASE_DEFAULTS.read_text())["base_service_secrets"]
    whole = msgspec.to_builtins(settings.load(str(root)).secrets)
    folder = Path(settings.Layout(root=str(root)).service_secrets)
    folder.mkdir(parents=True)
    for service, sections in wanted.items():
        share = {name: value for name, value in whole.items() if name in sections}
        (folder / f"{service}.json").write_text(json.dumps(share))
    return wanted


def test_each_service_reads_its_share_and_nothing_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    appliance.init(str(tmp_path), owner=None)
    whole = settings.load(str(tmp_path)).secrets
    _shares(tmp_path)
    # Secrets the services read would be unreadable to them: prove the share is what gets read.
    Path(tmp_path, "etc/harvest/secrets.toml").unlink()

    monkeypatch.setenv("HARVEST_SERVICE", "api")
    api = settings.load(str(tmp_path))
    assert (api.secrets.postgres, api.secrets.valkey, api.secrets.s3) == (whole.postgres, whole.valkey, whole.s3)
    assert api.secrets.jwt == whole.jwt and api.secrets.media == whole.media
    assert api.secrets.seaweedfs is None and api.secrets.email.smtp_password == ""
    assert TokenIssuer(api).signing_kid == whole.jwt.keys[0].kid

    monkeypatch.setenv("HARVEST_SERVICE", "worker")
    worker = settings.load(str(tmp_path))
    assert worker.secrets.jwt is None and worker.secrets.seaweedfs is None
    assert worker.secrets.postgres == whole.postgres and worker.secrets.media == whole.media
    with pytest.raises(settings.ConfigError, match="jwt"):
        TokenIssuer(worker)


def test_a_missing_share_names_its_file_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    appliance.init(str(tmp_path), owner=None)
    monkeypatch.setenv("HARVEST_SERVICE", "api")
    with pytest.raises(settings.ConfigError, match=r"generated/secrets/api\.json is missing; run `harvestctl up`"):
        settings.load(str(tmp_path))


def test_secrets_toml_itself_must_hold_every_section(tmp_path: Path):
    appliance.init(str(tmp_path), owner=None)
    secrets_file = tmp_path / "etc/harvest/secrets.toml"
    text = secrets_file.read_text()
    without_jwt = "\n".join(line for line in text.splitlines() if "jwt" not in line and "kid" not in line)
    without_jwt = "\n".join(line for line in without_jwt.splitlines() if not line.startswith("secret = "))
    with pytest.raises(settings.ConfigError, match=r"secrets\.toml: jwt: missing"):
        settings.parse_secrets(without_jwt.encode())
