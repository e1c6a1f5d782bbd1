"""``/api/docs``: the interactive API docs, with Swagger UI's assets served by the appliance itself.

An appliance may have no internet, and a script from a CDN is someone else's code in our origin, so the
page loads nothing from outside: the assets come from the ``swagger-ui-py`` package in the venv.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

ASSETS_PATH = "/api/docs/assets"
_ASSETS = Path(swagger_ui.__file__).parent / "static"


def render_plugin() -> SwaggerRenderPlugin:
    return SwaggerRenderPlugin(
        path="/docs",
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )


def assets_router() -> Router:
    return create_static_files_router(path=ASSETS_PATH, directories=[_ASSETS], include_in_schema=False)
