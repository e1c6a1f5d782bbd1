"""Every error leaves the API as one shape: RFC 9457 problem details, never a stack trace."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import ClientException, HTTPException, ValidationException
from litestar.openapi.spec import Components, OpenAPI, OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Reference, Schema
from litestar.types import ExceptionHandlersMap

from server.errors import HarvestError, RateLimited

log = logging.getLogger("harvest.errors")
MEDIA_TYPE = "application/problem+json"


class GuardedRequest(Request[Any, Any, Any]):
    """A request whose JSON body, when it cannot be read, is the client's mistake (400), never a 500.

    msgspec raises RecursionError for a body nested deeper than Python's recursion limit (a few KB of
    ``[[[[``) and UnicodeDecodeError for bytes that are not UTF-8; Litestar passes both on as they are.
    """

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise ClientException("the JSON body is nested too deeply") from None
        except UnicodeDecodeError:
            raise ClientException("the JSON body is not valid UTF-8") from None


def problem(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response[dict[str, Any]]:
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": f"urn:harvest:problem:{slug or phrase.lower().replace(' ', '-')}",
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body.update(extensions)
    return Response(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field_errors(extra: Any) -> list[dict[str, str]]:
    items = extra if isinstance(extra, list) else []
    found = []
    for item in items:
        if isinstance(item, dict):
            message = str(item.get("message", ""))
            # msgspec reports an unexpected or missing key against the whole body; name the key itself.
            unknown = re.search(r"unknown field `([^`]+)`", message)
            missing = re.search(r"missing required field `([^`]+)`", message)
            named = unknown or missing
            field = named.group(1) if named else str(item.get("key") or "body")
            if missing:
                message = "is required"
            elif unknown:
                message = "not a field that can be set here"
            elif "matching regex" in message:
                message = "contains characters or a form that is not allowed here"
            found.append({"field": field, "message": message})
    return found


def from_domain(_: Request[Any, Any, Any], exc: HarvestError) -> Response[dict[str, Any]]:
    return domain_response(exc)


def domain_response(exc: HarvestError) -> Response[dict[str, Any]]:
    """A domain error as its problem response; its ``content`` is the body, also what a WebSocket error frame holds."""
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    errors = [{"field": e.field, "message": e.message} for e in exc.errors]
    return problem(
        exc.status, str(exc), slug=exc.slug, title=exc.title, errors=errors, headers=headers, **exc.extensions
    )


def from_http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    if isinstance(exc, ValidationException):
        errors = _field_errors(exc.extra)
        named = ", ".join(e["field"] for e in errors)
        detail = f"invalid value for {named}" if named else exc.detail
        return problem(422 if errors else 400, detail, slug="invalid", errors=errors, headers=exc.headers)
    return problem(exc.status_code, exc.detail, headers=exc.headers)


def from_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path, "method": request.method})
    return problem(500, "Something went wrong on our side; it has been logged.")


HANDLERS: ExceptionHandlersMap = {HarvestError: from_domain, HTTPException: from_http, Exception: from_unexpected}


def document(openapi: OpenAPI) -> None:
    """Declare the one error shape in the schema: a ``Problem`` component, the ``default`` response of every
    operation, so generated clients know how every error reads."""
    text = Schema(type=OpenAPIType.STRING)
    field_error = Schema(
        type=OpenAPIType.OBJECT, required=["field", "message"], properties={"field": text, "message": text}
    )
    problem_schema = Schema(
        type=OpenAPIType.OBJECT,
        required=["type", "title", "status", "detail"],
        properties={
            "type": text,
            "title": text,
            "status": Schema(type=OpenAPIType.INTEGER),
            "detail": text,
            "errors": Schema(
                type=OpenAPIType.ARRAY, items=field_error, description="for validation errors: the fields at fault"
            ),
        },
        description="RFC 9457 problem details",
    )
    openapi.components = openapi.components or Components()
    openapi.components.schemas = (openapi.components.schemas or {}) | {"Problem": problem_schema}
    response = OpenAPIResponse(
        description="An error, as RFC 9457 problem details",
        content={MEDIA_TYPE: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))},
    )
    for path_item in (openapi.paths or {}).values():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(path_item, method, None)
            if operation is not None:
                # Litestar documents its own 400 body; ours is the problem shape like every other error.
                refused = {"400": response} if "400" in (operation.responses or {}) else {}
                operation.responses = (operation.responses or {}) | refused | {"default": response}
