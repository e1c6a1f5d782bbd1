"""Piccolo app for conversations, messages and chat photos."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

APP_CONFIG = AppConfig(
    app_name="chat",
    migrations_folder_path=Path(__file__).resolve().parents[2] / "migrations" / "chat",
    # The tables are made by raw SQL (composite keys and checks), not from classes.
    table_classes=[],
    migration_dependencies=["server.matching.piccolo_app"],
)
