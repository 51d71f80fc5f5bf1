"""The SV6D record: the central, versioned contract between encoder, indexer, ranker and API.

Vectors are held as one float32 array of shape (6, d): row i belongs to ``DIMENSIONS[i]``, every row is
L2-normalised, and the same d holds for the video, hook and segment levels of a record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator

from sv6d.dimensions import DIMENSION_INDEX, DIMENSIONS, Dimension
from sv6d.vocabulary import default_vocabulary

SCHEMA_VERSION = 1
UNIT_NORM_TOLERANCE = 1e-3


def _as_vector_block(value: Any) -> np.ndarray:
    """Coerce to a (6, d) float32 block of unit rows; reject anything else with a message that says why."""
    if isinstance(value, dict):
        try:
            rows = [value[d] if d in value else value[d.value] for d in DIMENSIONS]
        except KeyError as exc:
            raise ValueError(f"vector block is missing dimension {exc.args[0]!s}") from None
        value = np.stack([np.asarray(r, dtype=np.float32) for r in rows])
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim == 1 and arr.size % len(DIMENSIONS) == 0:
        arr = arr.reshape(len(DIMENSIONS), -1)
    if arr.ndim != 2 or arr.shape[0] != len(DIMENSIONS) or arr.shape[1] == 0:
        raise ValueError(f"vector block must have shape (6, d), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("vector block contains NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1)
    bad = [DIMENSIONS[i].value for i in np.flatnonzero(np.abs(norms - 1.0) > UNIT_NORM_TOLERANCE)]
    if bad:
        shown = norms.round(4).tolist()
        raise ValueError(f"vectors of {', '.join(bad)} are not L2-normalised (norms {shown})")
    return np.ascontiguousarray(arr)


VectorBlock = Annotated[
    np.ndarray,
    BeforeValidator(_as_vector_block),
    PlainSerializer(lambda a: a.tolist(), return_type=list),
]


def normalize_rows(block: np.ndarray) -> np.ndarray:
    """L2-normalise each row; a zero row is an error, since it has no direction to compare."""
    block = np.asarray(block, dtype=np.float32)
    norms = np.linalg.norm(block, axis=-1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("cannot normalise a zero vector")
    return (block / norms).astype(np.float32)


STYLE_FLOOR = 1e-4  # the smallest probability a stored profile keeps (4 decimals): rarer counts as this


def style_similarity(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """How alike two opening-style profiles (``SV6DRecord.hook_style``) are: the cosine of their centred log
    probabilities (each at least ``STYLE_FLOOR``; a style one profile lacks counts as the floor), in [-1, 1];
    0 when either is empty. Log probabilities keep how a hook resembles every known style, not only the
    likeliest one, so hooks of a style the model never saw still compare by that pattern (measured on the
    hook benchmark's training sources: ``indexer.base.STYLE_SHARE``)."""
    if not p or not q:
        return 0.0
    labels = sorted(set(p) | set(q))
    a = np.log(np.maximum([p.get(k, 0.0) for k in labels], STYLE_FLOOR))
    b = np.log(np.maximum([q.get(k, 0.0) for k in labels], STYLE_FLOOR))
    a, b = a - a.mean(), b - b.mean()
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:  # a uniform profile says nothing
        return 0.0
    return float(np.dot(a, b) / (na * nb))


class Tag(BaseModel):
    """A timeline-grounded label from the vocabulary with the measured evidence that justifies it."""

    model_config = ConfigDict(frozen=True)

    dimension: Dimension
    label: str
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    confidence: float = Field(ge=0, le=1)
    evidence: dict[str, float | int | str | bool]

    @model_validator(mode="after")
    def _check(self) -> Tag:
        if self.end_s < self.start_s:
            raise ValueError(f"tag {self.label!r}: end_s {self.end_s} is before start_s {self.start_s}")
        vocab = default_vocabulary()
        vocab.spec(self.label, self.dimension)
        missing = vocab.missing_evidence(self.label, self.evidence)
        if missing:
            raise ValueError(f"tag {self.label!r} lacks required evidence: {', '.join(missing)}")
        return self


def make_tag(
    label: str,
    start_s: float,
    end_s: float,
    confidence: float,
    evidence: dict[str, float | int | str | bool],
) -> Tag | None:
    """Build a tag, or return None when its evidence is incomplete (such a tag is never emitted).

    The dimension comes from the vocabulary; event labels become a window of the vocabulary's half-width.
    """
    vocab = default_vocabulary()
    spec = vocab.spec(label)
    if vocab.missing_evidence(label, evidence):
        return None
    if spec.kind == "event" and math.isclose(start_s, end_s):
        half = vocab.event_halfwidth_s
        start_s, end_s = max(0.0, start_s - half), end_s + half
    clean = {k: (round(float(v), 4) if isinstance(v, float) else v) for k, v in evidence.items()}
    return Tag(
        dimension=spec.dimension,
        label=label,
        start_s=round(max(0.0, start_s), 4),
        end_s=round(max(0.0, end_s), 4),
        confidence=float(min(1.0, max(0.0, confidence))),
        evidence=clean,
    )


class Segment(BaseModel):
    """One shot, ``[start_s, end_s)``, with its six vectors."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    vectors: VectorBlock


class EncoderInfo(BaseModel):
    name: str
    version: str
    head_version: str
    fingerprint: str = ""


class SV6DRecord(BaseModel):
    """One video's structure: identity, six vectors at video/hook/segment level, tags with evidence."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    schema_version: int = SCHEMA_VERSION
    video_id: str = Field(min_length=1, max_length=256)
    source: str
    duration_s: float = Field(gt=0)
    fps: float = Field(gt=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    title: str | None = None
    caption: str | None = None
    hashtags: list[str] = Field(default_factory=list)
    creator: str | None = None
    created_at: datetime | None = None
    encoder: EncoderInfo
    hook_window: tuple[float, float]
    video: VectorBlock
    hook: VectorBlock
    segments: list[Segment] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)
    # Narrative energy curve sampled at ``energy_hz`` from t=0 (for timelines and the narrative features).
    energy: list[float] = Field(default_factory=list)
    energy_hz: float = 0.0
    # The hook's opening-style profile: probability per opening style the encoder's style model knows
    # (``encoder.style``); empty when its heads have none. Added without a schema change: records written
    # before it read back with an empty profile.
    hook_style: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> SV6DRecord:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(f"schema_version {self.schema_version} is not the current {SCHEMA_VERSION}")
        d = self.video.shape[1]
        if self.hook.shape[1] != d:
            raise ValueError(f"hook vectors have size {self.hook.shape[1]}, video vectors {d}")
        for i, seg in enumerate(self.segments):
            if seg.vectors.shape[1] != d:
                raise ValueError(f"segment {i} vectors have size {seg.vectors.shape[1]}, video vectors {d}")
        h0, h1 = self.hook_window
        if not 0 <= h0 < h1:
            raise ValueError(f"hook_window {self.hook_window} must satisfy 0 <= start < end")
        bad = {k: v for k, v in self.hook_style.items() if not 0.0 <= v <= 1.0}  # NaN fails too
        if bad:
            raise ValueError(f"hook_style holds probabilities in [0, 1]; got {bad}")
        return self

    @property
    def dim(self) -> int:
        return int(self.video.shape[1])

    @property
    def orientation(self) -> str:
        if self.height > self.width:
            return "portrait"
        return "landscape" if self.width > self.height else "square"

    def vector(self, dimension: Dimension | str, level: str = "video") -> np.ndarray:
        block = self.hook if level == "hook" else self.video
        return block[DIMENSION_INDEX[Dimension.parse(dimension)]]

    def tags_in(self, start_s: float, end_s: float) -> list[Tag]:
        """Tags overlapping ``[start_s, end_s)``."""
        return [t for t in self.tags if t.start_s < end_s and t.end_s > start_s]


def with_ingest_time(records: list[SV6DRecord], now: datetime | None = None) -> list[SV6DRecord]:
    """``records``, each without ``created_at`` given ``now`` (UTC, default the current time).

    Every stored video thus has a time: when it was created if the caller said so, else when it was
    ingested. That is the time the ``created_after`` search filter compares."""
    from datetime import UTC

    stamp = now or datetime.now(UTC)
    return [r if r.created_at is not None else r.model_copy(update={"created_at": stamp}) for r in records]
