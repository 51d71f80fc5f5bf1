"""What a search answers with: hits (the top-k, exactly scored) and the candidates a backend hands back for
exact scoring, plus the hook tags that explain a hook hit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sv6d.dimensions import DIMENSIONS
from sv6d.record import SV6DRecord


@dataclass(frozen=True)
class SharedTag:
    dimension: str
    label: str


@dataclass
class Hit:
    """One search result.

    ``score`` = Σ w_d · ``scores[d]``; ``scores`` holds cos(q_d, x_d) per dimension name. ``window`` is the
    hit's hook window (hook level) or its best segment (segment level), else None. ``shared_tags`` lists the
    (dimension, label) pairs present in both hook windows (hook level, when the query has tags). ``style`` is
    the similarity of the two hooks' opening-style profiles when the search blended it in (``indexer.base``),
    else None.
    """

    video_id: str
    score: float
    scores: dict[str, float]
    window: tuple[float, float] | None = None
    shared_tags: list[SharedTag] = field(default_factory=list)
    segment_index: int | None = None
    style: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id,
            "score": self.score,
            "scores": self.scores,
            "window": list(self.window) if self.window is not None else None,
            "shared_tags": [{"dimension": t.dimension, "label": t.label} for t in self.shared_tags],
            "segment_index": self.segment_index,
            "style": self.style,
        }


@dataclass
class Candidate:
    """What a backend returns for exact re-scoring: a stored point with its (6, d) block."""

    video_id: str
    block: np.ndarray
    window: tuple[float, float] | None = None
    segment_index: int | None = None


@dataclass
class CandidateBatch:
    """Candidates as arrays, for vectorised exact scoring: ``blocks`` is (m, 6, d) float32 (contiguous);
    ``windows`` (m, 2) and ``segment_index`` (m,) are set for levels that have them."""

    video_ids: list[str]
    blocks: np.ndarray
    windows: np.ndarray | None = None
    segment_index: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.video_ids)

    @classmethod
    def of(cls, cands: Sequence[Candidate], dim: int) -> CandidateBatch:
        if not cands:
            return cls([], np.zeros((0, len(DIMENSIONS), dim), dtype=np.float32))
        blocks = np.ascontiguousarray(np.stack([c.block for c in cands]), dtype=np.float32)
        windows = None
        if cands[0].window is not None:
            windows = np.asarray([c.window for c in cands], dtype=np.float64)
        seg = None
        if cands[0].segment_index is not None:
            seg = np.asarray([c.segment_index for c in cands], dtype=np.int64)
        return cls([c.video_id for c in cands], blocks, windows, seg)

    def candidates(self) -> list[Candidate]:
        """The batch back as one ``Candidate`` per row (``of`` the other way round)."""
        windows = self.windows.tolist() if self.windows is not None else None
        segs = self.segment_index.tolist() if self.segment_index is not None else None
        return [
            Candidate(
                vid,
                self.blocks[i],
                (windows[i][0], windows[i][1]) if windows is not None else None,
                segs[i] if segs is not None else None,
            )
            for i, vid in enumerate(self.video_ids)
        ]


def hook_style_from_json(record_json: str) -> dict[str, float]:
    """The opening-style profile (``SV6DRecord.hook_style``) in a stored record JSON (the FAISS catalog's,
    a Qdrant payload's); empty without one."""
    return dict(json.loads(record_json).get("hook_style") or {})


def hook_tags(record: SV6DRecord) -> set[tuple[str, str]]:
    h0, h1 = record.hook_window
    return {(t.dimension.value, t.label) for t in record.tags_in(h0, h1)}


_DIM_ORDER = {d.value: i for i, d in enumerate(DIMENSIONS)}


def shared_tags(a: AbstractSet[tuple[str, str]], b: AbstractSet[tuple[str, str]]) -> list[SharedTag]:
    """(dimension, label) pairs in both sets, in DIMENSIONS then label order."""
    both = a & b
    return [SharedTag(d, lab) for d, lab in sorted(both, key=lambda p: (_DIM_ORDER[p[0]], p[1]))]
