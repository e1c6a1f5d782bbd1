"""The one place that wires the API: settings, lifespans, controllers, errors and OpenAPI."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, Response, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme, Tag
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.routes import HTTPRoute
from litestar.template import TemplateConfig

from server import chat
from server import settings as settings_module
from server.admin.controller import AdminController
from server.auth.controller import AuthController
from server.auth.tokens import TokenIssuer
from server.chat.controller import ChatController
from server.chat.photos import ChatPhotoService
from server.chat.presence import Renewals
from server.chat.service import ChatService
from server.chat.socket import gateway
from server.matching.controller import MatchingController
from server.matching.deck import DeckService
from server.matching.service import MatchService
from server.moderation.accounts import AccountDataController, AccountVerificationController, erase_account
from server.moderation.controller import AuditController
from server.moderation.evidence import EvidenceCopyController, EvidenceRevealController
from server.moderation.photos import PhotoReviewController
from server.moderation.review import ReviewController
from server.moderation.verification_routes import SelfieController, VerificationController, VerificationReviewController
from server.notifications.controller import DeviceController, NotificationController
from server.notifications.service import NotificationService
from server.notifications.unsubscribe import UnsubscribeController
from server.ops.controller import OpsController
from server.pages import controller as pages
from server.photos.controller import MediaController, PhotoController
from server.photos.media import MediaSigner
from server.photos.service import PhotoService
from server.platform import cache, database, logs
from server.platform.pubsub import PubSub
from server.platform.storage import Storage
from server.privacy.controller import PrivacyController
from server.profiles.controller import ProfileController
from server.profiles.service import ProfileService
from server.safety.controller import BlockController, DecisionController, ReportController
from server.web import docs, problems
from server.web.auth import DEPENDENCIES
from server.web.middleware import request_ids
from server.web.problems import HANDLERS, problem


@asynccontextmanager
async def dependencies(app: Litestar) -> AsyncIterator[None]:
    """Open Postgres, Valkey and S3 once per process; a missing one stops start-up with its reason."""
    settings = app.state.settings
    engine = database.engine()
    # Half the server's connections are shared by the API workers; the rest serve the worker and operators.
    pool_size = max(4, settings.config.postgres.max_connections // (2 * settings.api_workers()))
    await database.open_pool(engine, max_size=pool_size)
    valkey = cache.client_for(settings)
    storage = Storage(settings)
    try:
        await cache.ping(valkey)
        await storage.ping()
        signer = MediaSigner.from_settings(settings)
        # The process's one pub/sub connection, shared by all its sockets (opened when the first subscribes), and
        # the presence of its sockets, renewed together.
        pubsub = PubSub(valkey, queue_size=settings.config.chat.send_buffer_frames)
        renewals = Renewals(valkey, settings.config.chat.presence_seconds)
        renewing = asyncio.create_task(renewals.run(), name="presence renewals")
        app.state.update(
            db=engine,
            valkey=valkey,
            storage=storage,
            token_issuer=TokenIssuer(settings),
            media_signer=signer,
            pubsub=pubsub,
            renewals=renewals,
        )
        yield
        renewing.cancel()
        await pubsub.close()
    finally:
        await valkey.aclose()
        await database.close_pool(engine)


def photo_service(state: State) -> PhotoService:
    return PhotoService(state.db, state.valkey, state.storage, state.media_signer, state.settings.config.photos)


def profile_service(state: State) -> ProfileService:
    return ProfileService(state.db, state.valkey, photo_service(state), state.settings.config.location)


def deck_service(state: State) -> DeckService:
    return DeckService(state.db, state.valkey, profile_service(state), state.settings.config.matching)


def match_service(state: State) -> MatchService:
    return MatchService(state.db, profile_service(state), state.settings.config.matching)


def chat_service(state: State) -> ChatService:
    return ChatService(state.db, state.valkey, profile_service(state), state.media_signer, state.settings.config.chat)


def notification_service(state: State) -> NotificationService:
    return NotificationService(state.db)


def chat_photo_service(state: State) -> ChatPhotoService:
    config = state.settings.config
    return ChatPhotoService(
        state.db, state.valkey, state.storage, state.media_signer, limits=config.photos, settings=config.chat
    )


def _problem_404(response: Response[Any]) -> Response[Any]:
    """The schema router answers unknown /api/<name> paths itself, in HTML; keep the one error shape."""
    return problem(404, "Not Found") if response.status_code == 404 else response


def create_app() -> Litestar:
    settings = settings_module.current()
    logs.configure(settings.config.logging.level)
    app = Litestar(
        route_handlers=[
            OpsController,
            AuthController,
            ProfileController,
            MatchingController,
            ChatController,
            gateway,
            NotificationController,
            DeviceController,
            UnsubscribeController,
            PhotoController,
            MediaController,
            PrivacyController,
            BlockController,
            ReportController,
            DecisionController,
            ReviewController,
            AccountDataController,
            AccountVerificationController,
            erase_account,
            PhotoReviewController,
            VerificationController,
            VerificationReviewController,
            SelfieController,
            EvidenceRevealController,
            EvidenceCopyController,
            AdminController,
            AuditController,
            docs.assets_router(),
            *pages.routers(settings),
        ],
        dependencies=DEPENDENCIES
        | {
            "photos": Provide(photo_service, sync_to_thread=False),
            "profiles": Provide(profile_service, sync_to_thread=False),
            "decks": Provide(deck_service, sync_to_thread=False),
            "matches": Provide(match_service, sync_to_thread=False),
            "chats": Provide(chat_service, sync_to_thread=False),
            "chat_photos": Provide(chat_photo_service, sync_to_thread=False),
            "notifications": Provide(notification_service, sync_to_thread=False),
        },
        lifespan=[dependencies],
        middleware=[request_ids],
        exception_handlers=HANDLERS,
        request_class=problems.GuardedRequest,
        template_config=TemplateConfig(directory=pages.TEMPLATES, engine=JinjaTemplateEngine),
        state=State({"settings": settings}),
        openapi_config=OpenAPIConfig(
            title="Harvest API",
            version="1",
            path="/api",
            render_plugins=[docs.render_plugin()],
            # The WebSocket has no place in OpenAPI's paths; its protocol is told where the chat endpoints are.
            tags=[Tag(name="chat", description=(Path(chat.__file__).parent / "protocol.md").read_text())],
            openapi_router=Router("/api", route_handlers=[], include_in_schema=False, after_request=_problem_404),
        ),
        request_max_body_size=settings.config.server.max_body_mb * 1024 * 1024,
        debug=False,
        # Logging is configured once, as JSON, by platform.logs; Litestar's own setup would replace it.
        logging_config=None,
    )
    problems.document(app.openapi_schema)
    _document_security(app)
    return app


def _document_security(app: Litestar) -> None:
    """Declare bearer auth, and require it on exactly the operations whose handler verifies the caller's
    token, so generated clients send it where it is needed and nowhere else."""
    schema = app.openapi_schema
    schema.components = schema.components or Components()
    schema.components.security_schemes = dict(schema.components.security_schemes or {}) | {
        "bearer": SecurityScheme(
            type="http",
            scheme="bearer",
            bearer_format="JWT",
            description="the `accessToken` from registration, login or refresh",
        )
    }
    paths = schema.paths or {}
    for route in app.routes:
        path_item = paths.get(route.path_format)
        if not isinstance(route, HTTPRoute) or path_item is None:
            continue
        for handler in route.route_handlers:
            if _needs_token(handler):
                for method in handler.http_methods:
                    operation = getattr(path_item, method.lower(), None)
                    if operation is not None:
                        operation.security = [{"bearer": []}]


def _needs_token(handler: HTTPRouteHandler) -> bool:
    """A handler verifies the token when it has a role guard or asks for the caller's claims, itself or
    through a dependency it asks for."""
    if handler.resolve_guards():
        return True
    providers = handler.resolve_dependencies()
    wanted = set(handler.parsed_fn_signature.parameters)
    seen: set[str] = set()
    while wanted - seen:
        name = (wanted - seen).pop()
        seen.add(name)
        if name == "claims":
            return True
        if name in providers:
            wanted |= set(inspect.signature(providers[name].dependency).parameters)
    return False
