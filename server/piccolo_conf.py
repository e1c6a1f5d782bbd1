"""Piccolo's engine and app registry. Apps are found, not listed: any ``server/<domain>/piccolo_app.py``."""

from __future__ import annotations

import pkgutil
from pathlib import Path

from piccolo.conf.apps import AppRegistry

from server import settings
from server.platform.database import engine_for

DB = engine_for(settings.current())

_SERVER = Path(__file__).parent
APP_REGISTRY = AppRegistry(
    apps=sorted(
        f"server.{module.name}.piccolo_app"
        for module in pkgutil.iter_modules([str(_SERVER)])
        if module.ispkg and (_SERVER / module.name / "piccolo_app.py").exists()
    )
)
