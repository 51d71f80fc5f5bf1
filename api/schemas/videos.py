"""Video and ingest-job schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import RequestModel


class PathIngestRequest(RequestModel):
    """Register a file that lies under one of the configured media roots (relative to a root, or absolute
    inside one)."""

    path: str = Field(min_length=1, max_length=4096)
    video_id: str | None = Field(default=None, min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_.:-]+$")
    title: str | None = Field(default=None, max_length=500)
    replace: bool = Field(
        default=False, description="Replace a video stored under video_id (else a video_id in use is 409)"
    )


class JobAccepted(BaseModel):
    job_id: str
    state: str
    location: str


class JobOut(BaseModel):
    job_id: str
    kind: Literal["upload", "path"]
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    stage: str
    progress: float = Field(ge=0, le=1)
    attempts: int
    error: str | None = None
    video_id: str | None = Field(default=None, description="The stored video once the job succeeded")
    created_at: datetime
    updated_at: datetime


class JobList(BaseModel):
    total: int = Field(description="Jobs in all (in the state asked for)")
    offset: int
    jobs: list[JobOut] = Field(description="Newest first")


class TagOut(BaseModel):
    dimension: str
    label: str
    start_s: float
    end_s: float
    confidence: float
    evidence: dict[str, float | int | str | bool]


class DimensionSummary(BaseModel):
    """What one dimension says about the video: its tags and how alike the hook and the whole video are."""

    dimension: str
    tag_labels: list[str]
    hook_tag_labels: list[str]
    hook_video_cosine: float


class SegmentOut(BaseModel):
    index: int
    start_s: float
    end_s: float


class VideoOut(BaseModel):
    video_id: str
    source: str = Field(
        description="'upload', the path under a media root, a URL, or the file name: never a server path"
    )
    duration_s: float
    fps: float
    width: int
    height: int
    orientation: str
    title: str | None = None
    creator: str | None = None
    created_at: datetime | None = Field(
        default=None,
        description="Its creation time when given at ingest, else when it was ingested (what created_after "
        "compares); absent only for videos stored before ingest times were kept",
    )
    encoder: dict[str, str]
    hook_window: list[float]
    tags: list[TagOut]
    segments: list[SegmentOut]
    dimensions: list[DimensionSummary]
    vectors: dict[str, dict[str, list[float]]] | None = Field(
        default=None, description="Raw vectors per level and dimension (include_vectors=true)"
    )


class VideoList(BaseModel):
    total: int
    offset: int
    video_ids: list[str]


class Deleted(BaseModel):
    video_id: str
    deleted: bool


class MediaLink(BaseModel):
    """A link a ``<video>`` element can play (it sends no API key): signed for one video, until it expires."""

    url: str = Field(description="GET it for the file, with HTTP range requests (206 Partial Content)")
    expires_at: datetime
    hook_window: list[float] = Field(description="[start_s, end_s] of the hook, for a #t=start,end fragment")
