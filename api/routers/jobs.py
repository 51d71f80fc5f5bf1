"""``/v1/jobs``: ingest job state, progress and failure reason."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from api.deps import Authorized, ServicesDep
from api.problems import PROBLEM_RESPONSES
from api.schemas.videos import JobOut

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Authorized], responses=PROBLEM_RESPONSES)


@router.get("/{job_id}", response_model=JobOut, summary="State, progress and failure reason of an ingest job")
def get_job(job_id: str, services: ServicesDep) -> JobOut:
    job = services.jobs.get(job_id)
    return JobOut(
        job_id=job.id,
        kind=job.kind,
        state=job.state,
        stage=job.stage,
        progress=job.progress,
        attempts=job.attempts,
        error=job.error,
        video_id=job.result_video_id,
        created_at=datetime.fromtimestamp(job.created_at, UTC),
        updated_at=datetime.fromtimestamp(job.updated_at, UTC),
    )
