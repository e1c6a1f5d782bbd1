"""Piccolo app for swipes, matches and the discovery index."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

APP_CONFIG = AppConfig(
    app_name="matching",
    migrations_folder_path=Path(__file__).resolve().parents[2] / "migrations" / "matching",
    # The tables are made by raw SQL (composite keys, checks, partial covering indexes), not from classes.
    table_classes=[],
    migration_dependencies=["server.profiles.piccolo_app", "server.photos.piccolo_app"],
)
