"""An API worker serving https on loopback with a self-signed certificate, as a moderator's laptop would reach
an appliance that has no public certificate: uvicorn run with the appliance's own command line, but on TCP."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.services import Stack, _spawn, free_port, wait_for


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that signs itself, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "harvest test appliance")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "appliance.crt", folder / "appliance.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _answers(url: str, ca_file: Path) -> bool:
    return httpx.get(f"{url}/health", verify=ssl.create_default_context(cafile=str(ca_file))).status_code == 200


@pytest.fixture(scope="session")
def https_api(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The API's https URL and the certificate that makes it trusted."""
    cert, key = _self_signed(tmp_path_factory.mktemp("tls"))
    port = free_port()
    argv = stack.command("api")
    at = argv.index("--uds")
    argv[at : at + 2] = [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--ssl-certfile",
        str(cert),
        "--ssl-keyfile",
        str(key),
    ]
    url = f"https://127.0.0.1:{port}"
    log = _spawn(stack, "api-https", argv)
    wait_for(lambda: _answers(url, cert), "the https API worker", log=log)
    try:
        yield url, cert
    finally:
        process = stack.processes.pop("api-https")
        process.terminate()
        process.wait(timeout=30)
