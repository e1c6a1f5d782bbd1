"""Piccolo app for in-app notifications."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

APP_CONFIG = AppConfig(
    app_name="notifications",
    migrations_folder_path=Path(__file__).resolve().parents[2] / "migrations" / "notifications",
    # The table is made by raw SQL (checks and partial unique indexes), not from a class.
    table_classes=[],
    migration_dependencies=["server.matching.piccolo_app", "server.chat.piccolo_app"],
)
