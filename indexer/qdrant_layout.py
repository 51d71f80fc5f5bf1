"""The Qdrant point layout shared by the qdrant-client backend (local mode, server) and Qdrant Edge.

Client-neutral: ids, named vectors and payloads are plain Python values and filters a small neutral form, so
that each backend wraps them in its own classes (``qdrant_client.models`` or ``qdrant_edge``) and the two
cannot drift apart.

Named vectors per level: ``<level>_<dimension>`` for the six dimensions and ``<level>_all`` (their
concatenation, searched with the weighted query). Video points carry the ``video`` and ``hook`` levels,
segment points the ``segment`` level. Every field in :data:`PAYLOAD_INDEXES` gets a payload index.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from indexer.hits import Candidate
from indexer.query import Filters, Level
from sv6d.dimensions import DIMENSIONS
from sv6d.record import SV6DRecord

_NAMESPACE = uuid.UUID("6f1c1e5e-8d6b-4a51-9d43-5e0c3a1f2b77")
#: Payload fields that filters (and segment clean-up) use, with the index type each gets.
PAYLOAD_INDEXES: dict[str, str] = {
    "video_id": "keyword",
    "tags": "keyword",
    "orientation": "keyword",
    "creator": "keyword",
    "duration_s": "float",
    "created_at": "datetime",
}
# Points per scroll request when listing ids.
SCROLL_PAGE = 1024
#: The point levels each point kind carries.
VIDEO_LEVELS = ("video", "hook")
SEGMENT_LEVELS = ("segment",)


def point_id(video_id: str, segment: int | None = None) -> str:
    """Deterministic point id: uuid5 of the video id (and the segment index for segment points)."""
    key = video_id if segment is None else f"{video_id}#{segment}"
    return str(uuid.uuid5(_NAMESPACE, key))


def vector_names(level: str) -> list[str]:
    """``<level>_<dimension>`` for the six dimensions, then ``<level>_all``."""
    return [f"{level}_{d.value}" for d in DIMENSIONS] + [f"{level}_all"]


def named_vectors(level: str, block: np.ndarray) -> dict[str, list[float]]:
    """The seven named vectors of one (6, d) block."""
    out: dict[str, list[float]] = {f"{level}_{d.value}": block[i].tolist() for i, d in enumerate(DIMENSIONS)}
    out[f"{level}_all"] = block.ravel().tolist()
    return out


def filter_payload(r: SV6DRecord) -> dict[str, Any]:
    """The fields filters read, on video and segment points alike (created_at as RFC 3339 in UTC)."""
    created = r.created_at
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return {
        "video_id": r.video_id,
        "tags": sorted({f"{t.dimension.value}:{t.label}" for t in r.tags}),
        "duration_s": r.duration_s,
        "orientation": r.orientation,
        "created_at": created.isoformat() if created is not None else None,
        "creator": r.creator,
    }


@dataclass(frozen=True)
class PointParts:
    """One point before a client wraps it: id, named vectors, payload."""

    id: str
    vectors: dict[str, Any]  # name -> list of floats
    payload: dict[str, Any]


def record_points(r: SV6DRecord) -> tuple[PointParts, list[PointParts]]:
    """The video point (record JSON without vectors in its payload) and one point per segment."""
    payload = filter_payload(r)
    payload.update(
        {
            "hook_start_s": r.hook_window[0],
            "hook_end_s": r.hook_window[1],
            # The segment windows travel in the JSON too: Qdrant Edge returns about one payload float in
            # twelve one ulp off (its JSON parsing), and a record must come back exactly as stored.
            "record": r.model_dump_json(
                exclude={"video": True, "hook": True, "segments": {"__all__": {"vectors"}}}
            ),
        }
    )
    vectors = {**named_vectors("video", r.video), **named_vectors("hook", r.hook)}
    video = PointParts(point_id(r.video_id), vectors, payload)
    segments = []
    for j, s in enumerate(r.segments):
        sp = filter_payload(r)
        sp.update({"seg_index": j, "start_s": s.start_s, "end_s": s.end_s})
        segments.append(PointParts(point_id(r.video_id, j), named_vectors("segment", s.vectors), sp))
    return video, segments


# ---------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Condition:
    """One payload condition in neutral form: exactly one of ``value`` (match), ``any`` (match any),
    ``gte``/``lte`` (float range) or ``after`` (datetime strictly after) is set."""

    key: str
    value: str | None = None
    any: tuple[str, ...] | None = None
    gte: float | None = None
    lte: float | None = None
    after: datetime | None = None


@dataclass(frozen=True)
class FilterSpec:
    must: tuple[Condition, ...] = ()
    must_not: tuple[Condition, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.must or self.must_not)


def filter_spec(filters: Filters, exclude: frozenset[str] = frozenset()) -> FilterSpec:
    """The payload conditions of ``filters`` (AND) and of the excluded video ids (NOT)."""
    must = [Condition("tags", value=t.key) for t in filters.tags]
    if filters.min_duration_s is not None or filters.max_duration_s is not None:
        must.append(Condition("duration_s", gte=filters.min_duration_s, lte=filters.max_duration_s))
    if filters.orientation is not None:
        must.append(Condition("orientation", value=filters.orientation))
    if filters.created_after is not None:
        must.append(Condition("created_at", after=filters.created_after))
    if filters.creator is not None:
        must.append(Condition("creator", value=filters.creator))
    must_not = [Condition("video_id", any=tuple(sorted(exclude)))] if exclude else []
    return FilterSpec(tuple(must), tuple(must_not))


# ---------------------------------------------------------------------- reads


def candidate_fields(level: Level) -> list[str]:
    """Payload fields a candidate of ``level`` needs."""
    if level == "segment":
        return ["video_id", "seg_index", "start_s", "end_s"]
    if level == "hook":
        return ["video_id", "hook_start_s", "hook_end_s"]
    return ["video_id"]


def candidate_of(level: Level, payload: Mapping[str, Any], vector: Any, d: int) -> Candidate:
    """A candidate from a point's payload (:func:`candidate_fields`) and its ``<level>_all`` vector."""
    block = np.asarray(vector, dtype=np.float32).reshape(len(DIMENSIONS), d)
    if level == "segment":
        window = (payload["start_s"], payload["end_s"])
        return Candidate(payload["video_id"], block, window, int(payload["seg_index"]))
    if level == "hook":
        return Candidate(payload["video_id"], block, (payload["hook_start_s"], payload["hook_end_s"]))
    return Candidate(payload["video_id"], block)


def record_of(
    record_json: str,
    video_all: Any,
    hook_all: Any,
    segments: Sequence[tuple[Mapping[str, Any], Any]],
    d: int,
) -> SV6DRecord:
    """Rebuild a record from the video point (record JSON, concatenated vectors) and its segment points
    (payload with ``seg_index``, ``start_s``, ``end_s``; ``segment_all`` vector), in any order.

    Segment windows come from the record JSON when it has them (exact), else from the segment payloads
    (stores written before the JSON carried them)."""
    data = json.loads(record_json)
    shape = (len(DIMENSIONS), d)
    data["video"] = np.asarray(video_all, dtype=np.float32).reshape(shape)
    data["hook"] = np.asarray(hook_all, dtype=np.float32).reshape(shape)
    rows = sorted(segments, key=lambda s: s[0]["seg_index"])
    windows = data.get("segments") or [{"start_s": p["start_s"], "end_s": p["end_s"]} for p, _ in rows]
    if len(windows) != len(rows):
        raise ValueError(
            f"video {data.get('video_id')!r}: {len(windows)} segment windows, {len(rows)} points"
        )
    data["segments"] = [
        {**w, "vectors": np.asarray(v, np.float32).reshape(shape)}
        for w, (_, v) in zip(windows, rows, strict=True)
    ]
    return SV6DRecord.model_validate(data)


def hook_tags_from_json(record_json: str) -> frozenset[tuple[str, str]]:
    """(dimension, label) of the tags overlapping the hook window, from the stored record JSON alone."""
    data = json.loads(record_json)
    h0, h1 = data["hook_window"]
    return frozenset(
        (t["dimension"], t["label"]) for t in data.get("tags", ()) if t["start_s"] < h1 and t["end_s"] > h0
    )
