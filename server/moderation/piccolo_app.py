"""Piccolo app for review queues, decisions, strikes, appeals and the audit log."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

APP_CONFIG = AppConfig(
    app_name="moderation",
    migrations_folder_path=Path(__file__).resolve().parents[2] / "migrations" / "moderation",
    # The tables are made by raw SQL (checks, partial indexes, an append-only trigger), not from classes.
    table_classes=[],
    migration_dependencies=["server.safety.piccolo_app", "server.notifications.piccolo_app"],
)
