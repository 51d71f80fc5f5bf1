"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from api.deps import MetricsAuthorized, ServicesDep
from api.problems import problem_responses

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    videos: int
    ingest_queue: int
    worker_alive: bool


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Ready,
    summary="The index answers and the ingest worker runs",
    responses={503: {"model": Ready, "description": "Not ready"}},
)
def readyz(services: ServicesDep, response: Response) -> Ready:
    videos = services.index.count()
    alive = services.worker.alive
    if not alive:
        response.status_code = 503
    return Ready(
        status="ok" if alive else "ingest worker stopped",
        videos=videos,
        ingest_queue=services.jobs.queue_length(),
        worker_alive=alive,
    )


@router.get(
    "/metrics",
    dependencies=[MetricsAuthorized],
    response_class=Response,
    summary="Prometheus text format: requests and latencies by route, index size, ingest queue",
    description="Needs an API key or a metrics-only key (SV6D_METRICS_KEYS), e.g. Prometheus' bearer token.",
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus exposition"},
        **problem_responses(401),
    },
)
def metrics(services: ServicesDep) -> Response:
    body, ctype = services.metrics.render()
    return Response(body, media_type=ctype)


@router.get("/v1/ping", include_in_schema=False)
async def ping() -> dict[str, bool]:
    """An empty JSON route: the ceiling the benchmark compares HTTP search against."""
    return {"ok": True}
