"""Search requests and responses."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from api.schemas.common import HitOut, RequestModel, SearchFilters, Weights

STYLE_DOC = (
    "The opening style's share of the ranking (0-1): the top hits by the weighted per-dimension score are "
    "re-ordered by (1 - s) * score / sum of weights + s * style similarity, s = share * the style model's "
    "confidence in the query's profile; omitted: the service's default; 0: the per-dimension score alone. "
    "Text queries have no style profile."
)


class HookSearchRequest(RequestModel):
    """Similar hooks by a stored ``video_id`` or by a ``text`` description of structure (exactly one).

    To search by a clip, send ``multipart/form-data`` with the file in ``clip`` and these fields (without
    ``video_id``/``text``) as JSON in ``params``."""

    video_id: str | None = Field(default=None, min_length=1, max_length=256)
    text: str | None = Field(default=None, min_length=1, max_length=500)
    k: int = Field(default=10, ge=1, le=1000)
    weights: Weights | None = None
    filters: SearchFilters | None = None
    style: float | None = Field(default=None, ge=0, le=1, description=STYLE_DOC)

    @model_validator(mode="after")
    def _one_query(self) -> HookSearchRequest:
        if (self.video_id is None) == (self.text is None):
            raise ValueError("give exactly one of video_id or text (or upload a clip as multipart)")
        return self


class ClipSearchParams(RequestModel):
    """The ``params`` form field of a clip search."""

    k: int = Field(default=10, ge=1, le=1000)
    weights: Weights | None = None
    filters: SearchFilters | None = None
    style: float | None = Field(default=None, ge=0, le=1, description=STYLE_DOC)


class TextReading(BaseModel):
    label: str = Field(description="A vocabulary label, or an opening style of the hook heads' text side")
    dimension: str | None = Field(
        default=None, description="The label's dimension (None for an opening style, which spans them all)"
    )
    similarity: float = Field(description="MiniLM cosine of the text with the label's best sentence")


class HookSearchResponse(BaseModel):
    query: Literal["video_id", "clip", "text"]
    hits: list[HitOut]
    weights: dict[str, float] | None = Field(
        default=None,
        description="The weight of each dimension the search used: the request's (a dimension it leaves out "
        "weighs 1), or the service's default hook weights when it named none",
    )
    read_as: list[TextReading] | None = Field(
        default=None,
        description="Text queries: the labels (vocabulary labels, or the opening styles the hook heads know) "
        "the text was read as, best first",
    )
    method: Literal["text_heads", "label_examples"] | None = Field(
        default=None,
        description="Text queries: text_heads (the heads' text side projects the text) or label_examples "
        "(the mean hook of stored videos carrying the labels read)",
    )
    match_score: float | None = Field(
        default=None,
        description="Text queries: the best similarity in read_as; below match_threshold the text matches "
        "no structure and hits is empty",
    )
    match_threshold: float | None = Field(
        default=None, description="Text queries: the match score a text needs (Settings.text_match_threshold)"
    )
    reason: str | None = Field(
        default=None,
        description="Why hits is empty when it is: the text names no known structure (with its best match "
        "and the threshold), or no stored hook shows the labels it was read as",
    )
    query_video_id: str | None = None


class SimilarRequest(RequestModel):
    video_id: str = Field(min_length=1, max_length=256)
    level: Literal["video", "segment"] = "video"
    k: int = Field(default=10, ge=1, le=1000)
    weights: Weights | None = None
    filters: SearchFilters | None = None


class SimilarResponse(BaseModel):
    level: Literal["video", "segment"]
    hits: list[HitOut]
