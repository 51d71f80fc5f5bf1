"""Pieces shared by several request and response schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sv6d.dimensions import Dimension


class Weights(BaseModel):
    """Per-dimension weights (>= 0, at least one above 0); a dimension left out weighs 1."""

    model_config = ConfigDict(extra="forbid")

    subject: float | None = Field(default=None, ge=0, le=100)
    aesthetics: float | None = Field(default=None, ge=0, le=100)
    camera: float | None = Field(default=None, ge=0, le=100)
    editing: float | None = Field(default=None, ge=0, le=100)
    narrative: float | None = Field(default=None, ge=0, le=100)
    dissemination: float | None = Field(default=None, ge=0, le=100)

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.model_dump().items() if v is not None}


class TagRef(BaseModel):
    dimension: Dimension
    label: str = Field(min_length=1, max_length=64)


class SearchFilters(BaseModel):
    """Restrictions applied inside the index search; every field set must hold."""

    model_config = ConfigDict(extra="forbid")

    tags: list[TagRef] = Field(default_factory=list, max_length=16, description="Tags the video must carry")
    min_duration_s: float | None = Field(default=None, ge=0)
    max_duration_s: float | None = Field(default=None, ge=0)
    orientation: Literal["portrait", "landscape", "square"] | None = None
    created_after: datetime | None = None
    creator: str | None = Field(default=None, max_length=256)


class SharedTagOut(BaseModel):
    dimension: str
    label: str


class HitOut(BaseModel):
    """One result: the video, its window, Σ w_d·cos and the per-dimension cosines, the shared hook tags."""

    video_id: str
    score: float
    scores: dict[str, float]
    window: list[float] | None = Field(default=None, description="[start_s, end_s] of the hook or segment")
    shared_tags: list[SharedTagOut] = Field(default_factory=list)
    segment_index: int | None = None


VideoId = str
