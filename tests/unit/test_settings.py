"""harvest.toml and secrets.toml: every bad value is refused with its key named; defaults stay documented."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import msgspec
import pytest

from server import settings
from server.manage import appliance
from server.settings import ConfigError, parse_config, parse_secrets

DEFAULTS_FILE = Path(__file__).resolve().parents[2] / "configs" / "harvest.toml"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[api]\nthreads = 2\n", "api.threads: unknown key"),
        ("[nonsense]\n", "nonsense: unknown key"),
        ("[server]\nhttps_port = 70000\n", "server.https_port"),
        ("[server]\nhttp_port = 0\n", "server.http_port"),
        ('[server]\nhttp_port = "80"\n', "server.http_port"),
        ('[server]\nhostname = "bad_host!"\n', "server.hostname"),
        ('[server]\nhostname = "-leading.example"\n', "server.hostname"),
        ('[server]\nlisten = "everywhere"\n', "server.listen"),
        ("[server]\nhttp_port = 8443\nhttps_port = 8443\n", "server.http_port"),
        ('[server]\ntls_certificate = "/etc/ssl/x.pem"\n', "server.tls_certificate"),
        ("[api]\nworkers = -1\n", "api.workers"),
        ('[storage]\nendpoint = "ftp://example.com"\n', "storage.endpoint"),
        ('[storage]\nbucket_prefix = "Upper_Case"\n', "storage.bucket_prefix"),
        ("[seaweedfs]\ns3_port = 8333\nmaster_port = 18333\n", "seaweedfs.s3_port"),
        ("[seaweedfs]\nfiler_port = 60000\n", "seaweedfs.filer_port"),
        ('[logging]\nlevel = "loud"\n', "logging.level"),
        ("[server\n", "not valid TOML"),
    ],
)
def test_bad_config_is_refused_with_the_key_named(text: str, key: str):
    with pytest.raises(ConfigError) as refused:
        parse_config(text.encode())
    message = str(refused.value)
    assert message.startswith("harvest.toml: ")
    assert key in message
    assert "\n" not in message


def test_empty_file_means_all_defaults():
    assert parse_config(b"") == settings.Config()


def test_shipped_harvest_toml_documents_every_default_exactly():
    """Each commented `# key = value` line in configs/harvest.toml matches the loader's default, and no key is missing."""
    documented: dict[str, object] = {}
    section = ""
    for line in DEFAULTS_FILE.read_text().splitlines():
        if header := re.match(r"^\[(\w+)\]$", line):
            section = header.group(1)
        elif found := re.match(r"^# (\w+) = (.+)$", line):
            documented[f"{section}.{found.group(1)}"] = tomllib.loads(f"v = {found.group(2)}")["v"]
    defaults = {
        f"{name}.{key}": value
        for name, values in msgspec.to_builtins(settings.Config()).items()
        for key, value in values.items()
    }
    assert documented == defaults
    assert parse_config(DEFAULTS_FILE.read_bytes()) == settings.Config()


def test_generated_secrets_round_trip_and_differ_each_time():
    first, second = settings.new_secrets(), settings.new_secrets()
    assert parse_secrets(settings.render_secrets(first).encode()) == first
    assert first.postgres.password != second.postgres.password
    assert len(first.postgres.password) >= 40 and len(first.jwt.keys[0].secret) >= 60


def test_secrets_with_any_character_survive_a_round_trip():
    # JSON escapes an emoji as a surrogate pair, which TOML refuses: the file must come back readable.
    odd = 'p🎉ss "quoted" \\ back\tslash\u00e9\u202e'
    value = msgspec.structs.replace(settings.new_secrets(), email=settings.Secrets.Email(smtp_password=odd))
    assert parse_secrets(settings.render_secrets(value).encode()).email.smtp_password == odd


def test_secrets_missing_a_value_are_refused():
    with pytest.raises(ConfigError, match=r"secrets\.toml"):
        parse_secrets(b"[postgres]\npassword = 'x'\n")


def test_init_creates_files_once_private_and_never_regenerates_secrets(tmp_path: Path):
    first = appliance.init(str(tmp_path), owner=None)
    secrets_file = tmp_path / "etc/harvest/secrets.toml"
    assert sorted(first["created"]) == sorted([str(tmp_path / "etc/harvest/harvest.toml"), str(secrets_file)])
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    original = secrets_file.read_text()
    assert appliance.init(str(tmp_path), owner=None) == {"created": []}
    assert secrets_file.read_text() == original


def test_describe_carries_no_secret(tmp_path: Path):
    appliance.init(str(tmp_path), owner=None)
    loaded = settings.load(str(tmp_path))
    described = str(appliance.describe(loaded))
    for value in (loaded.secrets.postgres.password, loaded.secrets.valkey.password, loaded.secrets.s3.secret_key):
        assert value not in described


def test_secrets_a_new_release_needs_are_added_without_touching_existing_ones(tmp_path: Path):
    appliance.init(str(tmp_path), owner=None)
    secrets_file = tmp_path / "etc/harvest/secrets.toml"
    before = settings.load(str(tmp_path)).secrets
    older_release = re.sub(r"\[seaweedfs\]\n(.+\n)+", "", secrets_file.read_text())
    assert "seaweedfs" not in older_release and "[[jwt.keys]]" in older_release
    secrets_file.write_text(older_release)
    assert appliance.init(str(tmp_path), owner=None)["created"] == [f"{secrets_file} (new secrets added)"]
    after = settings.load(str(tmp_path)).secrets
    assert (after.postgres, after.valkey, after.s3, after.jwt) == (
        before.postgres,
        before.valkey,
        before.s3,
        before.jwt,
    )
    assert after.seaweedfs.volume_write_key and after.seaweedfs != before.seaweedfs
    assert secrets_file.stat().st_mode & 0o777 == 0o600
