"""The push providers this appliance can reach: those whose credentials are in secrets.toml.

A provider without credentials is not built at all; its devices still get in-app notifications, the
dispatcher logs the skip once, and ``harvestctl doctor`` warns with the reason ``missing`` gives.
"""

from __future__ import annotations

import json

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from server.notifications.providers.apns import Apns
from server.notifications.providers.base import Outcome, Provider, Push, Verdict
from server.notifications.providers.bench import BenchProvider
from server.notifications.providers.expo import Expo
from server.notifications.providers.fcm import Fcm
from server.settings import Settings

__all__ = ["Outcome", "Provider", "Push", "Verdict", "missing", "providers"]


def _private_key(pem: str, kind: type) -> bool:
    """Whether the text is a PEM private key of this kind."""
    try:
        return isinstance(serialization.load_pem_private_key(pem.encode(), password=None), kind)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False


def _service_account(text: str) -> bool:
    """Whether the text is a service-account key file with what the FCM client reads from it."""
    try:
        account = json.loads(text)
    except ValueError:
        return False
    return (
        isinstance(account, dict)
        and all(isinstance(account.get(name), str) for name in ("project_id", "client_email", "private_key"))
        and _private_key(account["private_key"], rsa.RSAPrivateKey)
    )


def missing(settings: Settings) -> dict[str, str]:
    """Provider name → what it lacks to be used (setting names, never values). A key that cannot be read counts as
    missing: its provider would otherwise fail at every push, or stop the worker."""
    config, secrets = settings.config.push, settings.secrets.push
    lacking: dict[str, str] = {}
    if not secrets.expo_access_token:
        lacking["expo"] = "no [push] expo_access_token in secrets.toml"
    if not secrets.fcm_service_account:
        lacking["fcm"] = "no [push] fcm_service_account in secrets.toml"
    elif not _service_account(secrets.fcm_service_account):
        lacking["fcm"] = "[push] fcm_service_account in secrets.toml is not a service-account key file"
    if secrets.apns_key and not _private_key(secrets.apns_key, ec.EllipticCurvePrivateKey):
        lacking["apns"] = "[push] apns_key in secrets.toml is not an EC private key (.p8)"
        return lacking
    apns = [
        *(["apns_key in secrets.toml"] if not secrets.apns_key else []),
        *(
            f"{name} in harvest.toml"
            for name in ("apns_key_id", "apns_team_id", "apns_topic")
            if not getattr(config, name)
        ),
    ]
    if apns:
        lacking["apns"] = "no [push] " + ", ".join(apns)
    return lacking


def providers(settings: Settings) -> dict[str, Provider]:
    """A client for each provider that has its credentials, by name, and the bench's (loopback only, for the
    devices `harvestctl bench notifications` makes; the API registers no such device)."""
    lacking = missing(settings)
    built: dict[str, Provider] = {"bench": BenchProvider()}
    for name, kind in (("expo", Expo), ("fcm", Fcm), ("apns", Apns)):
        if name not in lacking:
            built[name] = kind(settings)
    return built
