"""The embedded object store: its internal gRPC certificates and the buckets."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from server.manage.appliance import private_write
from server.settings import Settings


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

    def issue(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey, ca: bool
    ) -> x509.Certificate:
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
    private_write(folder / "ca.crt", ca_cert.public_bytes(pem).decode(), owner)
    private_write(folder / "grpc.key", key_bytes.decode(), owner)
    private_write(folder / "grpc.crt", leaf.public_bytes(pem).decode(), owner)
    return {"created": [str(folder / name) for name in ("ca.crt", "grpc.key", "grpc.crt")]}


def storage_init(settings: Settings) -> dict[str, Any]:
    from server.platform.storage import Storage

    return {"created": Storage(settings).ensure_buckets()}
