"""Piccolo app for accounts and sessions."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from server.auth.tables import EmailToken, RefreshToken, Session, User

APP_CONFIG = AppConfig(
    app_name="auth",
    migrations_folder_path=Path(__file__).resolve().parents[2] / "migrations" / "auth",
    table_classes=[User, Session, RefreshToken, EmailToken],
)
