"""Piccolo app for the platform's own tables."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from server.platform.tables import JobOutbox

APP_CONFIG = AppConfig(
    app_name="platform",
    migrations_folder_path=Path(__file__).resolve().parents[2] / "migrations" / "platform",
    table_classes=[JobOutbox],
)
