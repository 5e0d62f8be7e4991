"""RFC 9457 problem details: every error the API returns is ``application/problem+json``.

Each problem has a stable ``type`` URI (clients branch on it, never on ``detail``), a ``title`` that is
constant per type, the HTTP ``status``, a human ``detail``, the request path as ``instance``, and
extension members with the figures that matter (e.g. ``available`` and ``requested`` for
insufficient funds; money as decimal strings).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from brokerage.logs import get_logger

PROBLEM_BASE = "https://brokerage.example/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = get_logger("gateway.api")


class ProblemDetails(BaseModel):
    """The problem document, for the OpenAPI description (responses are built by ``Problem.document``)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})

    type: str = Field(examples=[PROBLEM_BASE + "insufficient-funds"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


def problem_responses(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries whose body is a ProblemDetails in application/problem+json."""
    content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
    return {code: {"description": text, "content": content} for code, text in described.items()}


def problem_type(slug: str) -> str:
    return PROBLEM_BASE + slug


class Problem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions

    def document(self, instance: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": problem_type(self.slug), "title": self.title, "status": self.status}
        if self.detail is not None:
            body["detail"] = self.detail
        if instance is not None:
            body["instance"] = instance
        for name, value in self.extensions.items():
            body[name] = _jsonable(value)
        return body


def _jsonable(value: Any) -> Any:
    """Decimals as strings (money never becomes a float); containers recursively; anything odd as text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def problem_response(problem: Problem, instance: str | None) -> JSONResponse:
    return JSONResponse(
        problem.document(instance), status_code=problem.status, headers=problem.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


# Problems raised in more than one place -------------------------------------------------------------

def unauthorized(detail: str, *, invalid_token: bool = False) -> Problem:
    # RFC 6750 §3: a presented but unusable token is error="invalid_token"; a missing one carries no error
    challenge = 'Bearer realm="brokerage"' + (', error="invalid_token"' if invalid_token else "")
    return Problem(401, "unauthorized", "Authentication required", detail, headers={"WWW-Authenticate": challenge})


def forbidden(detail: str) -> Problem:
    return Problem(403, "forbidden", "Not allowed for this token", detail)


def account_not_found(account_id: str) -> Problem:
    # Also the answer for an account the token may not see: existence is not revealed.
    return Problem(404, "account-not-found", "Account not found", f"No account {account_id!r}.",
                   account_id=account_id)


# Handlers -------------------------------------------------------------------------------------------

# Slugs for errors Starlette/FastAPI raise themselves (unknown route, wrong method, ...).
_HTTP_SLUGS = {
    400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
    406: "not-acceptable", 409: "conflict", 413: "payload-too-large", 415: "unsupported-media-type",
    422: "unprocessable-content", 429: "too-many-requests", 503: "unavailable",
}


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc, request.url.path)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase if exc.status_code in HTTPStatus._value2member_map_ else "Error"
    slug = _HTTP_SLUGS.get(exc.status_code, f"http-{exc.status_code}")
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    problem = Problem(exc.status_code, slug, phrase, detail, headers=dict(exc.headers or {}))
    return problem_response(problem, request.url.path)


def _validation_error_entry(error: Any) -> dict[str, Any]:
    # The offending input is not echoed back: it may be large or sensitive.
    entry = {"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", "")),
             "type": str(error.get("type", ""))}
    return entry


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_validation_error_entry(e) for e in exc.errors()]
    fields = ", ".join(".".join(e["loc"][1:] or e["loc"]) for e in errors) or "request"
    problem = Problem(422, "validation-error", "Request validation failed", f"Invalid {fields}.", errors=errors)
    return problem_response(problem, request.url.path)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    error_id = uuid.uuid4().hex
    log.error("unhandled_error", error_id=error_id, path=request.url.path, method=request.method,
              exc_info=exc)
    problem = Problem(500, "internal-error", "Internal server error",
                      "An unexpected error occurred; quote error_id when reporting it.", error_id=error_id)
    return problem_response(problem, request.url.path)


# A dependency that does not answer is the server's temporary state, not a bug: 503 with Retry-After, so
# clients and load balancers back off instead of reporting an internal error.
_UNAVAILABLE: tuple[tuple[type[Exception], str, str], ...] = (
    (asyncpg.PostgresConnectionError, "database-unavailable", "PostgreSQL"),
    (asyncpg.exceptions.TooManyConnectionsError, "database-unavailable", "PostgreSQL"),
    (RedisConnectionError, "redis-unavailable", "Redis"),
    (RedisTimeoutError, "redis-unavailable", "Redis"),
    (ConnectionError, "dependency-unavailable", "A dependency"),
    (TimeoutError, "dependency-unavailable", "A dependency"),
)


def _unavailable_handler(slug: str, what: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        log.warning("dependency_unavailable", dependency=what, error=type(exc).__name__, path=request.url.path)
        problem = Problem(503, slug, "Service unavailable", f"{what} did not answer; retry shortly.",
                          headers={"Retry-After": "5"})
        return problem_response(problem, request.url.path)

    return handler


async def _on_data_error(request: Request, exc: Exception) -> JSONResponse:
    # Backstop behind the edge validation: PostgreSQL refused a value as data (bad encoding, out of range).
    log.warning("data_error", error=type(exc).__name__, path=request.url.path)
    problem = Problem(422, "invalid-request", "Invalid request", "A value in the request cannot be stored or "
                      "compared (bad characters or out of range).")
    return problem_response(problem, request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    for exc_type, slug, what in _UNAVAILABLE:
        app.add_exception_handler(exc_type, _unavailable_handler(slug, what))
    app.add_exception_handler(asyncpg.DataError, _on_data_error)
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
