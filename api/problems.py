"""RFC 9457 problem details (``application/problem+json``) for every error the service returns.

Validation errors name the field and the problem; unexpected errors return a bare 500 problem and log the
traceback server-side, so no response ever carries a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from indexer.query import QueryError
from sv6d.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    SV6DError,
    VideoInputError,
    VocabularyError,
)

log = logging.getLogger("api")
PROBLEM_JSON = "application/problem+json"


class FieldProblem(BaseModel):
    field: str = Field(description="Dotted location of the offending field, e.g. body.k")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldProblem] | None = None


class ApiProblem(Exception):
    """Raise from a route to answer with a problem of this status."""

    def __init__(
        self, status: int, detail: str, title: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.headers = headers


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries: a problem document for each status code."""
    return {
        code: {"model": Problem, "description": _TITLES[code], "content": {PROBLEM_JSON: {}}}
        for code in codes
    }


# Responses every route may give, for the OpenAPI document.
PROBLEM_RESPONSES = problem_responses(400, 401, 404, 413, 422, 431)


def problem_response(
    status: int,
    detail: str | None,
    request: Request | None = None,
    *,
    title: str | None = None,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        title=title or _TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=str(request.url.path) if request is not None else None,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def nested_too_deeply(loc: tuple[str, ...]) -> RequestValidationError:
    """A 422 for JSON nested deeper than the parser or the validator can follow (Python's recursion limit)."""
    return RequestValidationError([{"loc": loc, "msg": "JSON nested too deeply", "type": "json_invalid"}])


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [FieldProblem(field=_loc(e.get("loc", ())), message=str(e.get("msg", ""))) for e in exc.errors()]
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5]) or "invalid request"
    return problem_response(422, detail, request, errors=errors)


def status_of(exc: SV6DError) -> int:
    from api.media import PathRefused

    if isinstance(exc, PathRefused):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, QueryError | VocabularyError | VideoInputError | ConfigError):
        return 422
    return 400


class UnexpectedErrorMiddleware:
    """Answers an exception no handler took with a bare 500 problem (the traceback goes to the log).

    Starlette's outermost error middleware answers too, but then re-raises, and the server closes the
    keep-alive connection, so the client's next request fails as well. Answered here, the error ends with
    its response and the connection stays usable."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started:  # too late for a problem document: let the server close the connection
                raise
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            response = problem_response(500, "an internal error occurred; it has been logged", Request(scope))
            await response(scope, receive, send)


def install_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    @app.exception_handler(RequestValidationError)
    async def _on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, RecursionError):  # FastAPI's JSON parse of a body nested too deeply
            return _validation(request, nested_too_deeply(("body",)))
        return problem_response(
            exc.status_code, str(exc.detail), request, headers=dict(exc.headers) if exc.headers else None
        )

    @app.exception_handler(ApiProblem)
    async def _on_api(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(exc.status, exc.detail, request, title=exc.title, headers=exc.headers)

    @app.exception_handler(SV6DError)
    async def _on_domain(request: Request, exc: SV6DError) -> JSONResponse:
        return problem_response(status_of(exc), str(exc), request)

    @app.exception_handler(Exception)
    async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "an internal error occurred; it has been logged", request)
