"""Piccolo app for profiles, preferences and locations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from server.profiles.tables import Location, Preferences, Profile

APP_CONFIG = AppConfig(
    app_name="profiles",
    migrations_folder_path=Path(__file__).resolve().parents[2] / "migrations" / "profiles",
    table_classes=[Profile, Preferences, Location],
    migration_dependencies=["server.auth.piccolo_app"],
)
