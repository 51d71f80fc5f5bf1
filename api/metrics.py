"""Prometheus metrics: request counts and latencies by route template, index size, ingest queue length.

Each app has its own registry (tests build many apps in one process). The middleware is plain ASGI: it adds
a few microseconds per request, where Starlette's BaseHTTPMiddleware would add a task switch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Scope = dict[str, Any]
ASGIApp = Callable[..., Any]


class _JobCounts:
    """``sv6d_ingest_jobs{state=...}``: jobs in each state, read from the durable queue at each scrape."""

    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("sv6d_ingest_jobs", "Ingest jobs by state", labels=["state"])
        for state, n in self.counts().items():
            family.add_metric([state], float(n))
        yield family


class Metrics:
    def __init__(
        self,
        index_size: Callable[[], float],
        queue_length: Callable[[], float],
        job_counts: Callable[[], Mapping[str, int]] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sv6d_http_requests",
            "HTTP requests by route",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sv6d_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        Gauge("sv6d_index_videos", "Videos in the index", registry=self.registry).set_function(index_size)
        Gauge(
            "sv6d_ingest_queue_length", "Ingest jobs queued or running", registry=self.registry
        ).set_function(queue_length)
        if job_counts is not None:
            self.registry.register(_JobCounts(job_counts))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts and times every HTTP request under its route template (``/v1/videos/{video_id}``)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            # Unmatched paths share one label so that scanners cannot blow up the label set.
            name = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, name, str(status[0])).inc()
            self.metrics.latency.labels(method, name).observe(time.perf_counter() - start)


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` (413), by Content-Length and while streaming.

    Upload routes (``upload_paths``) get ``upload_max_bytes`` instead."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, upload_max_bytes: int, upload_paths: tuple[str, ...] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes
        self.upload_paths = upload_paths

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_max_bytes if scope.get("path") in self.upload_paths else self.max_bytes
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > limit
            except ValueError:
                too_big = True
            if too_big:
                await _send_413(send, limit)
                return
        seen = 0
        refused = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal seen, refused
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    raise _BodyTooLarge
            return message

        replaced = False

        async def guarded_send(message: dict[str, Any]) -> None:
            # Whatever the app answers after the body ran over (a parse error, a 500), the client gets 413.
            nonlocal replaced
            if refused:
                if not replaced:
                    replaced = True
                    await _send_413(send, limit)
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            if not replaced:
                await _send_413(send, limit)
        except Exception:
            if not refused:
                raise
            if not replaced:
                await _send_413(send, limit)


class _BodyTooLarge(Exception):
    pass


class HeaderLimitMiddleware:
    """Refuses requests whose header lines total more than ``max_bytes`` (431), whatever the server let
    through (h11 only counts a head that arrives in pieces)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            size = sum(len(k) + len(v) + 4 for k, v in scope.get("headers") or ())
            if size > self.max_bytes:
                detail = f"request headers total {size} bytes, over the limit of {self.max_bytes} bytes"
                await _send_problem(send, 431, "Request Header Fields Too Large", detail)
                return
        await self.app(scope, receive, send)


async def _send_413(send: Any, limit: int) -> None:
    await _send_problem(send, 413, "Content Too Large", f"request body exceeds the limit of {limit} bytes")


async def _send_problem(send: Any, status: int, title: str, detail: str) -> None:
    import json

    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
