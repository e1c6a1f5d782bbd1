"""Piccolo app for photos."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from server.photos.tables import Photo

APP_CONFIG = AppConfig(
    app_name="photos",
    migrations_folder_path=Path(__file__).resolve().parents[2] / "migrations" / "photos",
    table_classes=[Photo],
    migration_dependencies=["server.auth.piccolo_app"],
)
