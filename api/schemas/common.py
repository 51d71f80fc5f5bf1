"""Pieces shared by several request and response schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from sv6d.dimensions import Dimension
from sv6d.errors import VocabularyError
from sv6d.vocabulary import default_vocabulary


class RequestModel(BaseModel):
    """A request body: unknown fields are refused and nothing is coerced (``"5"`` and ``true`` are not 5).

    Fields whose JSON form is a string of another type (datetimes, enums) opt out with ``strict=False``."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Weights(RequestModel):
    """Per-dimension weights (>= 0, at least one above 0); a dimension left out weighs 1."""

    subject: float | None = Field(default=None, ge=0, le=100)
    aesthetics: float | None = Field(default=None, ge=0, le=100)
    camera: float | None = Field(default=None, ge=0, le=100)
    editing: float | None = Field(default=None, ge=0, le=100)
    narrative: float | None = Field(default=None, ge=0, le=100)
    dissemination: float | None = Field(default=None, ge=0, le=100)

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.model_dump().items() if v is not None}


class TagRef(RequestModel):
    """A label of the controlled vocabulary (``sv6d/vocabulary.toml``) in the dimension it belongs to."""

    dimension: Dimension = Field(strict=False)
    label: str = Field(min_length=1, max_length=64)

    @field_validator("label")
    @classmethod
    def _in_vocabulary(cls, label: str, info: ValidationInfo) -> str:
        try:
            default_vocabulary().spec(label, info.data.get("dimension"))
        except VocabularyError as exc:
            raise ValueError(str(exc)) from None
        return label


class SearchFilters(RequestModel):
    """Restrictions applied inside the index search; every field set must hold."""

    tags: list[TagRef] = Field(default_factory=list, max_length=16, description="Tags the video must carry")
    min_duration_s: float | None = Field(default=None, ge=0, le=86_400)
    max_duration_s: float | None = Field(default=None, ge=0, le=86_400)
    orientation: Literal["portrait", "landscape", "square"] | None = None
    created_after: datetime | None = Field(
        default=None,
        strict=False,
        description="Videos whose created_at is later: their creation time when given at ingest, else when "
        "they were ingested",
    )
    creator: str | None = Field(default=None, max_length=256)

    @field_validator("max_duration_s")
    @classmethod
    def _duration_range(cls, hi: float | None, info: ValidationInfo) -> float | None:
        lo = info.data.get("min_duration_s")
        if lo is not None and hi is not None and hi < lo:
            raise ValueError(f"must not be below min_duration_s ({lo}), got {hi}")
        return hi


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
    style: float | None = Field(
        default=None,
        description="how alike the two hooks' opening-style profiles are (-1 to 1), when blended in",
    )


VideoId = str
