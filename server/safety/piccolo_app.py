"""Piccolo app for blocks and reports."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

APP_CONFIG = AppConfig(
    app_name="safety",
    migrations_folder_path=Path(__file__).resolve().parents[2] / "migrations" / "safety",
    # The tables are made by raw SQL (composite keys and checks), not from classes.
    table_classes=[],
    migration_dependencies=["server.chat.piccolo_app"],
)
