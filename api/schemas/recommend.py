"""Recommendation and engagement-event schemas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field, field_validator, model_validator

from api.schemas.common import RequestModel

#: How far ahead of the server's clock an event's time may be (clients' clocks drift).
MAX_CLOCK_SKEW_S = 300


class RecommendRequest(RequestModel):
    """Candidates for a ``user_id`` or an explicit history (``positive`` most recent first, ``negative``)."""

    user_id: str | None = Field(default=None, min_length=1, max_length=256)
    positive: list[str] | None = Field(default=None, max_length=200)
    negative: list[str] = Field(default_factory=list, max_length=200)
    seed: str | None = Field(default=None, max_length=256, description="The video the user is on")
    k: int = Field(default=10, ge=1, le=1000)

    @model_validator(mode="after")
    def _one(self) -> RecommendRequest:
        if (self.user_id is None) == (self.positive is None):
            raise ValueError("give exactly one of user_id or positive (an explicit history)")
        if self.positive is not None and not self.positive:
            raise ValueError("positive must name at least one video")
        if self.user_id is not None and self.negative:
            raise ValueError("negative applies to an explicit history, not to user_id")
        return self


class RecommendationOut(BaseModel):
    video_id: str
    score: float = Field(
        description="What the items are sorted by (never increasing): relevance less a penalty for "
        "similarity to the items above (diversity)"
    )
    relevance: float = Field(description="The ranker's (or fallback blend's) score, before diversity")
    channels: list[str] = Field(description="Candidate channels that produced this video")


class ModelOut(BaseModel):
    """A saved ranker model (a folder under ``<data_dir>/models``)."""

    id: str | None = Field(description="The model folder's name (time saved, schema version, random suffix)")
    feature_schema_version: str
    saved_at: str | None = None
    valid_ndcg_at_10: float | None = Field(default=None, description="On requests held out in training")
    trained_on_events: int | None = None


class ModelStatus(BaseModel):
    """Which model the service scores with, or why it uses the fallback blend."""

    scorer: str = Field(description="lightgbm or fallback_blend")
    model: ModelOut | None = None
    note: str = Field(default="", description="Why there is no model (none saved, or one refused)")


class RecommendResponse(BaseModel):
    items: list[RecommendationOut]
    scorer: str = Field(description="lightgbm when a trained ranker is loaded, else fallback_blend")
    model: ModelOut | None = Field(default=None, description="The model that scored; null for the blend")
    note: str = ""
    n_candidates: int


class EventIn(RequestModel):
    event_id: str = Field(min_length=1, max_length=128)
    user_id: str = Field(min_length=1, max_length=256)
    video_id: str = Field(min_length=1, max_length=256)
    ts: datetime = Field(
        strict=False,
        description="When it happened, with a time zone (RFC 3339), at most minutes ahead of the server",
    )
    play_time_s: float | None = Field(default=None, ge=0, le=86_400)
    video_duration_s: float | None = Field(default=None, gt=0, le=86_400)
    click: bool | None = None
    like: bool | None = None
    share: bool | None = None
    comment: bool | None = None
    follow: bool | None = None
    hate: bool | None = None
    profile_visit: bool | None = None

    @field_validator("ts")
    @classmethod
    def _zoned_and_past(cls, ts: datetime) -> datetime:
        if ts.tzinfo is None or ts.utcoffset() is None:
            raise ValueError("needs a time zone (e.g. 2024-05-01T12:00:00Z or +02:00)")
        latest = datetime.now(UTC) + timedelta(seconds=MAX_CLOCK_SKEW_S)
        if ts > latest:
            raise ValueError(f"is in the future (more than {MAX_CLOCK_SKEW_S} s ahead of the server's clock)")
        return ts.astimezone(UTC)


class EventBatch(RequestModel):
    events: list[EventIn] = Field(min_length=1)


class EventsAccepted(BaseModel):
    received: int
    added: int = Field(description="New events stored; replays of known event ids are not added again")
    duplicates: int
