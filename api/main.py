"""The app factory: ``create_app(settings)`` wires settings, services, routers, errors, metrics and the page.

``uvicorn api.main:app`` serves the app built from the environment (``SV6D_*``); ``sv6d serve`` does the
same with command-line overrides.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api.jobs import EncoderLike
from api.metrics import BodyLimitMiddleware, HeaderLimitMiddleware, MetricsMiddleware
from api.problems import UnexpectedErrorMiddleware, install_handlers
from api.routers import admin, events, health, jobs, recommend, search, videos
from api.schemas.search import ClipSearchParams, HookSearchRequest
from api.schemas.videos import PathIngestRequest
from api.services import Services
from api.settings import Limits, Settings, check_bind
from indexer.base import VectorIndex

STATIC_DIR = Path(__file__).with_name("static")
API_VERSION = "1.0.0"
log = logging.getLogger("api")

# The page runs only its own script and style; media comes from this origin (or a local clip's blob: URL).
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

# Bodies parsed by hand (JSON or multipart on one route) still get their schemas in the document.
_MANUAL_BODY_MODELS = (HookSearchRequest, PathIngestRequest, ClipSearchParams)


def create_app(
    settings: Settings | None = None,
    *,
    index: VectorIndex | None = None,
    encoder_factory: Callable[[], EncoderLike] | None = None,
    host: str | None = None,
) -> FastAPI:
    """Build the service. ``index``/``encoder_factory`` replace the configured ones (tests, benchmarks).

    Refuses (ConfigError) to build an app meant for a non-loopback ``host`` (default ``settings.host``)
    without API keys."""
    settings = settings or Settings()
    check_bind(settings, host if host is not None else settings.host)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = Services(settings, index=index, encoder_factory=encoder_factory)
        metrics_holder["metrics"] = app.state.services.metrics
        hup = _reload_on_sighup(app.state.services)
        try:
            yield
        finally:
            hup()
            app.state.services.close()

    app = FastAPI(
        title="SV6D",
        version=API_VERSION,
        summary="Structural similar-hook search, recommendations and ingest over SV6D embeddings",
        lifespan=lifespan,
    )
    for r in (
        videos.router,
        videos.media_router,
        jobs.router,
        search.router,
        recommend.router,
        events.router,
        admin.router,
        health.router,
    ):
        app.include_router(r)
    install_handlers(app)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=PAGE_HEADERS)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        # Browsers ask the site root for it whatever the page links (a picture opened directly, bookmarks).
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    app.add_middleware(UnexpectedErrorMiddleware)  # innermost: the ones below see its 500
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type"],
        )
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.limits.max_body_bytes,
        upload_max_bytes=settings.limits.max_upload_bytes + 64 * 1024,
        upload_paths=("/v1/videos", "/v1/search/hooks"),
    )
    app.add_middleware(HeaderLimitMiddleware, max_bytes=settings.limits.max_header_bytes)
    metrics_holder: dict[str, Any] = {}
    app.add_middleware(_LazyMetrics, holder=metrics_holder)
    _install_openapi(app, settings.limits)
    return app


def _reload_on_sighup(services: Services) -> Callable[[], None]:
    """Make SIGHUP reload the ranker model (as ``POST /v1/admin/reload-model`` does); returns the undo.

    Signal handlers belong to the main thread: under uvicorn the lifespan runs there; elsewhere (an app
    driven from another thread, as TestClient does) SIGHUP is left alone and the admin route remains."""
    if not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()

    def on_hup() -> None:
        log.info("SIGHUP: reloading the ranker model")
        loop.run_in_executor(None, services.reload_model)

    loop.add_signal_handler(signal.SIGHUP, on_hup)

    def undo() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    return undo


class _LazyMetrics:
    """The metrics middleware, bound to the services' registry once the lifespan has built them."""

    def __init__(self, app: Any, holder: dict[str, Any]) -> None:
        self.app = app
        self.holder = holder
        self._inner: MetricsMiddleware | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        metrics = self.holder.get("metrics")
        if metrics is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._inner is None or self._inner.metrics is not metrics:
            self._inner = MetricsMiddleware(self.app, metrics)
        await self._inner(scope, receive, send)


def _state_limits(doc: dict[str, Any], limits: Limits) -> None:
    """The schemas' static bounds, replaced by this service's own limits (the ones it enforces)."""
    for schema in doc["components"]["schemas"].values():
        k = schema.get("properties", {}).get("k")
        if k is not None and k.get("type") == "integer":
            k["maximum"] = limits.max_k
    events = doc["components"]["schemas"].get("EventBatch", {}).get("properties", {}).get("events")
    if events is not None:
        events["maxItems"] = limits.max_batch
    thumbs = doc["paths"].get("/v1/videos/{video_id}/thumbs", {}).get("get", {})
    for param in thumbs.get("parameters", []):
        if param["name"] == "n":
            param["schema"]["maximum"] = limits.max_thumbs


# OpenAPI links: what a client (or a stateful test) does next with an answer. (source path, method, status)
# -> [(link name, target path, method, {parameter: runtime expression})].
_LINKS: dict[tuple[str, str, str], list[tuple[str, str, str, dict[str, str]]]] = {
    ("/v1/videos", "post", "202"): [
        ("GetJob", "/v1/jobs/{job_id}", "get", {"job_id": "$response.body#/job_id"}),
        ("CancelJob", "/v1/jobs/{job_id}", "delete", {"job_id": "$response.body#/job_id"}),
    ],
    ("/v1/jobs", "get", "200"): [
        ("GetJob", "/v1/jobs/{job_id}", "get", {"job_id": "$response.body#/jobs/0/job_id"}),
    ],
    ("/v1/videos", "get", "200"): [
        ("GetVideo", "/v1/videos/{video_id}", "get", {"video_id": "$response.body#/video_ids/0"}),
        ("GetThumbs", "/v1/videos/{video_id}/thumbs", "get", {"video_id": "$response.body#/video_ids/0"}),
        (
            "GetMediaLink",
            "/v1/videos/{video_id}/media-link",
            "get",
            {"video_id": "$response.body#/video_ids/0"},
        ),
        ("DeleteVideo", "/v1/videos/{video_id}", "delete", {"video_id": "$response.body#/video_ids/0"}),
    ],
    ("/v1/search/hooks", "post", "200"): [
        ("GetHit", "/v1/videos/{video_id}", "get", {"video_id": "$response.body#/hits/0/video_id"}),
    ],
    ("/v1/search/similar", "post", "200"): [
        ("GetHit", "/v1/videos/{video_id}", "get", {"video_id": "$response.body#/hits/0/video_id"}),
    ],
}


def _add_links(doc: dict[str, Any]) -> None:
    paths = doc.get("paths", {})
    for (path, method, status), links in _LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        out = response.setdefault("links", {})
        for name, target, target_method, params in links:
            op = paths.get(target, {}).get(target_method)
            if op is not None and "operationId" in op:
                out[name] = {"operationId": op["operationId"], "parameters": params}


def _install_openapi(app: FastAPI, limits: Limits) -> None:
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            comps = doc.setdefault("components", {}).setdefault("schemas", {})
            for model in _MANUAL_BODY_MODELS:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, sub in schema.pop("$defs", {}).items():
                    comps.setdefault(name, sub)
                comps[model.__name__] = schema
            _state_limits(doc, limits)
            _add_links(doc)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _app_from_env() -> FastAPI:
    return create_app(Settings())


def __getattr__(name: str) -> Any:
    # ``uvicorn api.main:app``: build the app on first access, not at import (tests import this module).
    if name == "app":
        return _app_from_env()
    raise AttributeError(name)
