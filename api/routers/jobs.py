"""``/v1/jobs``: ingest jobs (newest first), each one's state, progress and failure reason; cancel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.deps import Authorized, ServicesDep
from api.jobs import Job, JobState, discard_upload
from api.problems import PROBLEM_RESPONSES, problem_responses
from api.schemas.videos import JobList, JobOut

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Authorized], responses=PROBLEM_RESPONSES)


def job_out(job: Job) -> JobOut:
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


@router.get("", response_model=JobList, summary="Ingest jobs, newest first, optionally in one state")
def list_jobs(
    services: ServicesDep,
    state: JobState | None = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JobList:
    jobs, total = services.jobs.list_jobs(state, offset, limit)
    return JobList(total=total, offset=offset, jobs=[job_out(j) for j in jobs])


@router.get("/{job_id}", response_model=JobOut, summary="State, progress and failure reason of an ingest job")
def get_job(job_id: str, services: ServicesDep) -> JobOut:
    return job_out(services.jobs.get(job_id))


@router.delete(
    "/{job_id}",
    response_model=JobOut,
    summary="Cancel a job: a queued one at once (200), a running one before it stores anything (202)",
    responses={
        202: {"model": JobOut, "description": "Cancelling: the job stops at its next step"},
        **problem_responses(409),
    },
)
def cancel_job(job_id: str, services: ServicesDep, response: Response) -> JobOut:
    job = services.jobs.cancel(job_id)
    if job.state == "cancelled":
        discard_upload(job)
    else:
        response.status_code = status.HTTP_202_ACCEPTED
    return job_out(job)
