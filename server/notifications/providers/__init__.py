"""The push providers this appliance can reach: those whose credentials are in secrets.toml.

A provider without credentials is not built at all; its devices still get in-app notifications, the
dispatcher logs the skip once, and ``harvestctl doctor`` warns with the reason ``missing`` gives.
"""

from __future__ import annotations

from server.notifications.providers.apns import Apns
from server.notifications.providers.base import Outcome, Provider, Push, Verdict
from server.notifications.providers.bench import BenchProvider
from server.notifications.providers.expo import Expo
from server.notifications.providers.fcm import Fcm
from server.settings import Settings

__all__ = ["Outcome", "Provider", "Push", "Verdict", "missing", "providers"]


def missing(settings: Settings) -> dict[str, str]:
    """Provider name → what it lacks to be used (setting names, never values)."""
    config, secrets = settings.config.push, settings.secrets.push
    lacking: dict[str, str] = {}
    if not secrets.expo_access_token:
        lacking["expo"] = "no [push] expo_access_token in secrets.toml"
    if not secrets.fcm_service_account:
        lacking["fcm"] = "no [push] fcm_service_account in secrets.toml"
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
