"""The server's management entry points, run by harvestctl and Ansible as ``python -m server.manage VERB``.

Each verb prints one JSON document on stdout. A failure prints one line on stderr and exits 2 (bad
configuration), 4 (a bad argument, such as an unknown account) or 1 (anything else), so the caller can
show it as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import ipaddress
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import msgspec

from server import settings as settings_module
from server.settings import ConfigError, Settings

DEFAULTS = Path(__file__).resolve().parent.parent / "configs" / "harvest.toml"


def _private_write(path: Path, text: str, owner: str | None = None) -> None:
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
        _private_write(secrets_path, settings_module.render_secrets(settings_module.new_secrets()), owner)
        created.append(str(secrets_path))
    elif completed := settings_module.complete_secrets(secrets_path.read_bytes()):
        _private_write(secrets_path, settings_module.render_secrets(completed), owner)
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
    top = Path(__file__).resolve().parent
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
    }


def ansible_vars(settings: Settings, target: Path) -> dict[str, Any]:
    """Write the playbook's variables (config, layout and secrets) to a 0600 file for ``-e @file``."""
    values = describe(settings) | {"secrets": msgspec.to_builtins(settings.secrets)}
    _private_write(target, json.dumps({"harvest": values}))
    return {"written": str(target)}


async def _with_engine(work):  # type: ignore[no-untyped-def]
    from piccolo.engine import engine_finder

    engine = engine_finder()
    await engine.start_connection_pool(min_size=1, max_size=2)
    try:
        # Piccolo prints progress; keep stdout for the one JSON answer.
        with contextlib.redirect_stdout(sys.stderr):
            return await work()
    finally:
        await engine.close_connection_pool()


async def migrations_status() -> dict[str, Any]:
    from piccolo.apps.migrations.commands.check import CheckMigrationManager

    statuses = await CheckMigrationManager(app_name="all").get_migration_statuses()
    items = [
        {"app": s.app_name, "id": s.migration_id, "description": s.description, "applied": bool(s.has_ran)}
        for s in statuses
    ]
    return {"migrations": items, "pending": sum(not i["applied"] for i in items)}


async def migrate() -> dict[str, Any]:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    before = await migrations_status()
    result = await run_forwards(app_name="all")
    if not result.success:
        raise RuntimeError(f"migration failed: {result.message}")
    after = await migrations_status()
    return {"applied": before["pending"] - after["pending"], "pending": after["pending"]}


def objectstore_tls(folder: Path, owner: str | None) -> dict[str, Any]:
    """A private CA and one certificate for the embedded store's internal gRPC (mutual TLS), made once."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if (folder / "grpc.crt").exists():
        return {"created": []}
    now = datetime.now(UTC)

    def issue(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False).add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "harvest-objectstore-ca")])
    ca_cert = issue("harvest-objectstore-ca", ca_key, ca_name, ca_key, ca=True)
    leaf = issue("harvest-objectstore", leaf_key, ca_name, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    key_bytes = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    folder.mkdir(parents=True, exist_ok=True)
    # The CA's key is not kept: the certificate is never renewed, only made anew with a new CA.
    _private_write(folder / "ca.crt", ca_cert.public_bytes(pem).decode(), owner)
    _private_write(folder / "grpc.key", key_bytes.decode(), owner)
    _private_write(folder / "grpc.crt", leaf.public_bytes(pem).decode(), owner)
    return {"created": [str(folder / name) for name in ("ca.crt", "grpc.key", "grpc.crt")]}


def storage_init(settings: Settings) -> dict[str, Any]:
    from server.platform.storage import Storage

    return {"created": Storage(settings).ensure_buckets()}


async def accounts(settings: Settings, verb: str, args: argparse.Namespace) -> dict[str, Any]:
    from piccolo.engine import engine_finder

    from server import bench
    from server.auth import admin
    from server.auth.service import AuthService
    from server.auth.tokens import TokenIssuer
    from server.platform import cache

    valkey = cache.client_for(settings)
    try:
        service = AuthService(engine_finder(), valkey, TokenIssuer(settings), settings.config.limits)
        if verb == "create-admin":
            return await admin.create_admin(settings, service, args.email)
        if verb == "bench-people":
            return await bench.create_people(service, args.count)
        if verb == "bench-erase":
            return await bench.erase_people(service)
        return await admin.set_role(service, args.email, args.role)
    finally:
        await valkey.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.manage")
    parser.add_argument("--root", default=os.environ.get("HARVEST_ROOT", "/"))
    verbs = parser.add_subparsers(dest="verb", required=True)
    init_parser = verbs.add_parser("init", help="create missing harvest.toml and secrets.toml, then validate")
    init_parser.add_argument("--owner", help="system user that owns secrets.toml")
    verbs.add_parser("validate", help="validate harvest.toml and secrets.toml")
    verbs.add_parser("describe", help="resolved configuration and paths, without secrets")
    vars_parser = verbs.add_parser("ansible-vars", help="write the playbook variables to a 0600 file")
    vars_parser.add_argument("target", type=Path)
    verbs.add_parser("migrate", help="apply pending database migrations")
    verbs.add_parser("db-status", help="applied and pending migrations")
    verbs.add_parser("storage-init", help="create missing buckets on the object store")
    admin_parser = verbs.add_parser(
        "create-admin", help="make or promote an admin; prints a one-time set-password link"
    )
    admin_parser.add_argument("email")
    role_parser = verbs.add_parser("set-role", help="change an account's role and end its logins")
    role_parser.add_argument("email")
    role_parser.add_argument("role")
    people_parser = verbs.add_parser("bench-people", help="make signed-in bench accounts (for harvestctl bench)")
    people_parser.add_argument("count", type=int)
    verbs.add_parser("bench-erase", help="erase every bench account")
    images_parser = verbs.add_parser("bench-images", help="time the image pipeline on a phone-like photo")
    images_parser.add_argument("count", type=int)
    images_parser.add_argument("--sample", help="also write the sample photo to this path")
    tls_parser = verbs.add_parser("objectstore-tls", help="make the embedded store's gRPC certificates once")
    tls_parser.add_argument("folder", type=Path)
    tls_parser.add_argument("--owner", help="system user that owns the files")
    args = parser.parse_args(argv)
    os.environ["HARVEST_ROOT"] = args.root
    try:
        if args.verb == "init":
            result = init(args.root, args.owner)
        elif args.verb == "objectstore-tls":
            result = objectstore_tls(args.folder, args.owner)
        else:
            settings = settings_module.current()
            if args.verb == "validate":
                result = {"valid": True}
            elif args.verb == "describe":
                result = describe(settings)
            elif args.verb == "ansible-vars":
                result = ansible_vars(settings, args.target)
            elif args.verb == "storage-init":
                result = storage_init(settings)
            elif args.verb == "bench-images":
                from server.bench import images_bench

                result = images_bench(args.count, settings.config.photos.max_megapixels * 1_000_000, args.sample)
            elif args.verb in ("create-admin", "set-role", "bench-people", "bench-erase"):
                result = asyncio.run(_with_engine(lambda: accounts(settings, args.verb, args)))
            else:
                work = migrate if args.verb == "migrate" else migrations_status
                result = asyncio.run(_with_engine(work))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except (LookupError, ValueError) as exc:
        print(str(exc), file=sys.stderr)
        return 4
    except Exception as exc:  # noqa: BLE001 - one line for the operator; the caller adds the hint
        print(f"{type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
