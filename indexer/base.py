"""The index interface shared by every backend, with the query, weight and filter semantics.

Scores: ``score(q, x) = Σ_d w_d · cos(q_d, x_d)`` over the six dimensions. Stored rows and query rows are unit
vectors, so the score is one inner product between ``concat(w_d · q_d)`` and ``concat(x_d)``; backends search
that concatenation and this module recomputes the six per-dimension scores exactly from the stored vectors of
the returned candidates (which also makes ANN candidates exact after a re-rank).

Levels: ``video`` (whole-video vectors), ``hook`` (the hook window's vectors), ``segment`` (one point per
shot).
Segment hits are the best-matching segment per video: a video appears once, with the window of its best shot.

Filters apply inside the backend's search (FAISS id selector from the catalog, Qdrant payload filter), never
by cutting a top-k afterwards. Tag filters are conjunctive and match a tag anywhere in the video.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sv6d.dimensions import DIMENSION_INDEX, DIMENSIONS, Dimension
from sv6d.errors import NotFoundError, SV6DError, VocabularyError
from sv6d.record import SV6DRecord, Tag
from sv6d.vocabulary import default_vocabulary

Level = Literal["video", "hook", "segment"]
LEVELS: tuple[str, ...] = get_args(Level)
Orientation = Literal["portrait", "landscape", "square"]
MAX_K = 1000
# Rocchio weight of the negative examples in recommend_by_example.
DEFAULT_NEGATIVE_WEIGHT = 0.5
# Hook searches that name no weights use these: chosen on the training sources of the real-footage hook
# benchmark (`sv6d eval-hooks --real --tune-weights`: coordinate ascent over 0, 0.5, 1, 2, 4 per dimension,
# with the evidence backbone's shipped hook heads), never on its held-out sources. Subject (who is on screen)
# and narrative (the energy curve) carried content more than opening style there. Any weights given replace
# them whole, and a dimension those leave out weighs 1.
DEFAULT_HOOK_WEIGHTS: dict[str, float] = {
    "subject": 0.0,
    "aesthetics": 0.5,
    "camera": 1.0,
    "editing": 2.0,
    "narrative": 0.0,
    "dissemination": 1.0,
}

Query = np.ndarray | Mapping[str, Any] | str | SV6DRecord
WeightsArg = Mapping[str, float] | None


class QueryError(SV6DError, ValueError):
    """A search request that cannot be answered as given (bad vectors, weights, k, level or filters)."""


class TagFilter(BaseModel):
    """One required tag: the video must carry ``label`` in ``dimension`` (anywhere in its timeline)."""

    model_config = ConfigDict(frozen=True)

    dimension: Dimension
    label: str

    @model_validator(mode="after")
    def _known(self) -> TagFilter:
        default_vocabulary().spec(self.label, self.dimension)
        return self

    @property
    def key(self) -> str:
        return f"{self.dimension.value}:{self.label}"


class Filters(BaseModel):
    """Restrictions applied inside the index search. Every field set must hold (AND)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tags: tuple[TagFilter, ...] = ()
    min_duration_s: float | None = Field(default=None, ge=0)
    max_duration_s: float | None = Field(default=None, ge=0)
    orientation: Orientation | None = None
    created_after: datetime | None = None
    creator: str | None = None

    @field_validator("tags", mode="before")
    @classmethod
    def _parse_tags(cls, value: Any) -> Any:
        """Accept ``"editing:hard_cut"`` strings, (dimension, label) pairs or dicts."""
        out = []
        for t in value or ():
            if isinstance(t, str):
                if ":" not in t:
                    raise ValueError(f"tag filter {t!r} must be 'dimension:label'")
                dim, label = t.split(":", 1)
                out.append({"dimension": dim, "label": label})
            elif isinstance(t, tuple | list):
                out.append({"dimension": t[0], "label": t[1]})
            else:
                out.append(t)
        return tuple(out)

    @field_validator("created_after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _range(self) -> Filters:
        lo, hi = self.min_duration_s, self.max_duration_s
        if lo is not None and hi is not None and hi < lo:
            raise ValueError(f"max_duration_s {hi} is below min_duration_s {lo}")
        return self

    @property
    def is_empty(self) -> bool:
        return self == Filters()


@dataclass(frozen=True)
class SharedTag:
    dimension: str
    label: str


@dataclass
class Hit:
    """One search result.

    ``score`` = Σ w_d · ``scores[d]``; ``scores`` holds cos(q_d, x_d) per dimension name. ``window`` is the
    hit's hook window (hook level) or its best segment (segment level), else None. ``shared_tags`` lists the
    (dimension, label) pairs present in both hook windows (hook level, when the query has tags).
    """

    video_id: str
    score: float
    scores: dict[str, float]
    window: tuple[float, float] | None = None
    shared_tags: list[SharedTag] = field(default_factory=list)
    segment_index: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "video_id": self.video_id,
            "score": self.score,
            "scores": self.scores,
            "window": list(self.window) if self.window is not None else None,
            "shared_tags": [{"dimension": t.dimension, "label": t.label} for t in self.shared_tags],
            "segment_index": self.segment_index,
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


def parse_weights(weights: WeightsArg, level: str | None = None) -> np.ndarray:
    """Weights per dimension name as a (6,) array; unnamed dimensions weigh 1. Errors list valid names.
    No weights at all (None or empty) at the hook level: ``DEFAULT_HOOK_WEIGHTS``."""
    if not weights and level == "hook":
        weights = DEFAULT_HOOK_WEIGHTS
    w = np.ones(len(DIMENSIONS), dtype=np.float32)
    for name, value in (weights or {}).items():
        try:
            dim = Dimension.parse(name)
        except ValueError as exc:
            raise QueryError(f"weights: {exc}") from None
        v = float(value)
        if not math.isfinite(v) or v < 0:
            raise QueryError(f"weight of {dim.value!r} must be a finite number >= 0, got {value!r}")
        w[DIMENSION_INDEX[dim]] = v
    if not (w > 0).any():
        raise QueryError("weights are all zero: at least one dimension must weigh more than 0")
    return w


def parse_level(level: str) -> Level:
    if level not in LEVELS:
        raise QueryError(f"unknown level {level!r}; valid levels: {', '.join(LEVELS)}")
    return level  # type: ignore[return-value]


def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= int(k) <= MAX_K:
        raise QueryError(f"k must be an integer in [1, {MAX_K}], got {k!r}")
    return int(k)


def query_block(query: np.ndarray | Mapping[str, Any], dim: int) -> np.ndarray:
    """Validate six query vectors (a (6, d) block or a dict per dimension) and L2-normalise each row."""
    if isinstance(query, Mapping):
        unknown = [str(k) for k in query if str(k).strip().lower() not in {d.value for d in DIMENSIONS}]
        if unknown:
            valid = ", ".join(d.value for d in DIMENSIONS)
            raise QueryError(f"query names unknown dimension(s) {unknown}; valid dimensions: {valid}")
        norm = {Dimension.parse(k): v for k, v in query.items()}
        missing = [d.value for d in DIMENSIONS if d not in norm]
        if missing:
            raise QueryError(f"query lacks vectors for dimension(s) {missing}")
        try:
            arr = np.stack([np.asarray(norm[d], dtype=np.float32).ravel() for d in DIMENSIONS])
        except ValueError as exc:
            raise QueryError(f"query vectors have different sizes: {exc}") from None
    else:
        arr = np.asarray(query, dtype=np.float32)
        if arr.ndim == 1 and arr.size == len(DIMENSIONS) * dim:
            arr = arr.reshape(len(DIMENSIONS), dim)
    if arr.ndim != 2 or arr.shape != (len(DIMENSIONS), dim):
        raise QueryError(f"query vectors must have shape (6, {dim}) for this index, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise QueryError("query vectors contain NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1)
    zero = [DIMENSIONS[i].value for i in np.flatnonzero(norms == 0)]
    if zero:
        raise QueryError(f"query vector of {', '.join(zero)} is all zeros: it has no direction to compare")
    return np.ascontiguousarray(arr / norms[:, None], dtype=np.float32)


def weighted_query(block: np.ndarray, w: np.ndarray) -> np.ndarray:
    """concat(w_d · q_d): one inner product with concat(x_d) gives the weighted score."""
    return np.ascontiguousarray((block * w[:, None]).ravel(), dtype=np.float32)


def hook_tags(record: SV6DRecord) -> set[tuple[str, str]]:
    h0, h1 = record.hook_window
    return {(t.dimension.value, t.label) for t in record.tags_in(h0, h1)}


def shared_hook_tags(a: Iterable[Tag] | set[tuple[str, str]], b: SV6DRecord) -> list[SharedTag]:
    """(dimension, label) pairs present in both hook windows, in DIMENSIONS then label order."""
    left = a if isinstance(a, set | frozenset) else {(t.dimension.value, t.label) for t in a}
    return _shared(left, hook_tags(b))


_DIM_ORDER = {d.value: i for i, d in enumerate(DIMENSIONS)}
DIMENSION_NAMES: tuple[str, ...] = tuple(d.value for d in DIMENSIONS)


def _shared(a: AbstractSet[tuple[str, str]], b: AbstractSet[tuple[str, str]]) -> list[SharedTag]:
    both = a & b
    return [SharedTag(d, lab) for d, lab in sorted(both, key=lambda p: (_DIM_ORDER[p[0]], p[1]))]


def check_page(offset: int, limit: int | None) -> tuple[int, int | None]:
    if isinstance(offset, bool) or not isinstance(offset, int | np.integer) or offset < 0:
        raise QueryError(f"offset must be an integer >= 0, got {offset!r}")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 0
    ):
        raise QueryError(f"limit must be an integer >= 0 or None, got {limit!r}")
    return int(offset), None if limit is None else int(limit)


class VectorIndex(ABC):
    """An index of SV6D records over three levels with exact weighted multi-dimension scoring.

    Backends implement storage (``upsert``, ``delete``, ``get``, ``count``, ``close``) and ``_candidates``;
    this class validates requests, resolves stored-id queries and scores candidates exactly.
    """

    #: Multiplier of k for the candidate set an approximate index re-ranks exactly.
    rerank_factor: int = 10

    @property
    @abstractmethod
    def dim(self) -> int | None:
        """Vector size d per dimension (None while the index is empty and has no fixed size)."""

    @property
    def exact(self) -> bool:
        """Whether ``_candidates`` returns the exact top by the weighted score (no re-rank needed)."""
        return True

    @abstractmethod
    def upsert(self, records: Sequence[SV6DRecord]) -> int:
        """Insert or replace records by ``video_id``; the batch is applied wholly or not at all."""

    @abstractmethod
    def delete(self, video_ids: Iterable[str]) -> int:
        """Remove videos by id (unknown ids are ignored); returns how many were removed."""

    @abstractmethod
    def get(self, video_id: str) -> SV6DRecord:
        """The stored record; NotFoundError when absent."""

    @abstractmethod
    def count(self) -> int:
        """Number of stored videos."""

    @abstractmethod
    def contains(self, video_id: str) -> bool:
        """Whether a video is stored."""

    @abstractmethod
    def close(self) -> None:
        """Release files, locks and clients."""

    def refresh(self) -> None:  # noqa: B027 - optional hook: backends without generations have nothing to do
        """Load the newest committed state (readers of a data directory another process writes)."""

    @abstractmethod
    def _candidates(
        self, level: Level, qvec: np.ndarray, n: int, filters: Filters, exclude: frozenset[str]
    ) -> list[Candidate]:
        """Up to ``n`` stored points by inner product with ``qvec``, filtered inside the search.

        For ``segment`` a video may appear several times (one candidate per segment)."""

    def _candidate_batches(
        self, level: Level, qvecs: np.ndarray, n: int, filters: Filters, excludes: Sequence[frozenset[str]]
    ) -> list[CandidateBatch]:
        """``_candidates`` for each row of ``qvecs`` (nq, 6d), as arrays. Backends that can search a batch
        of queries in one call override this; the default asks ``_candidates`` once per query."""
        dim = self.dim or 0
        return [
            CandidateBatch.of(self._candidates(level, q, n, filters, ex), dim)
            for q, ex in zip(qvecs, excludes, strict=True)
        ]

    def video_ids(self, offset: int = 0, limit: int | None = None) -> list[str]:
        """Stored video ids in ascending order (stable across calls; inserts and deletes shift pages),
        ``limit`` ids from ``offset`` (all of them when ``limit`` is None).

        The default reads every id through one unfiltered search (O(n) per call): backends with a cheaper
        listing (a catalog, a scroll) override it."""
        offset, limit = check_page(offset, limit)
        n, dim = self.count(), self.dim
        if n == 0 or dim is None:
            return []
        probe = np.full(len(DIMENSIONS) * dim, 1.0 / math.sqrt(len(DIMENSIONS) * dim), dtype=np.float32)
        ids = sorted({c.video_id for c in self._candidates("video", probe, n, Filters(), frozenset())})
        return ids[offset:] if limit is None else ids[offset : offset + limit]

    def hook_tags_of(self, video_id: str) -> frozenset[tuple[str, str]]:
        """(dimension, label) pairs of the tags overlapping the video's hook window; NotFoundError if absent.

        The default reads the whole record; backends with a catalog answer from it."""
        return frozenset(hook_tags(self.get(video_id)))

    def __enter__(self) -> VectorIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ queries

    def _stored_block(self, video_id: str, level: Level) -> np.ndarray:
        """The stored (6, d) vectors of a video at ``level`` (segment level: the video vectors)."""
        record = self.get(video_id)
        return record.hook if level == "hook" else record.video

    def _resolve(self, query: Query, level: Level) -> tuple[np.ndarray, SV6DRecord | None]:
        """A query block, and the query record when the query is an SV6DRecord."""
        if isinstance(query, str):
            return self._stored_block(query, level), None
        if isinstance(query, SV6DRecord):
            return (query.hook if level == "hook" else query.video), query
        dim = self.dim
        if dim is None:
            raise QueryError("the index is empty: nothing to search")
        return query_block(query, dim), None

    def search(
        self,
        query: Query,
        weights: WeightsArg = None,
        k: int = 10,
        level: Level = "video",
        filters: Filters | Mapping[str, Any] | None = None,
        *,
        exclude: Iterable[str] = (),
    ) -> list[Hit]:
        """Top-k by Σ_d w_d cos(q_d, x_d).

        ``query``: a (6, d) block, a dict per dimension, a stored video id (its vectors of that level; segment
        level uses the video vectors) or an SV6DRecord. ``exclude``: video ids never returned.
        """
        k = check_k(k)
        level = parse_level(level)
        w = parse_weights(weights, level)
        flt = _as_filters(filters)
        block, record = self._resolve(query, level)
        dim = self.dim
        if dim is not None and block.shape[1] != dim:
            raise QueryError(f"query vectors have size {block.shape[1]}, this index holds size {dim}")
        qtags = self._query_hook_tags(query, record) if level == "hook" else None
        return self._search_blocks(block[None], w[None], k, level, flt, [frozenset(exclude)], [qtags])[0]

    def search_many(
        self,
        queries: Sequence[Query] | np.ndarray,
        weights: WeightsArg | Sequence[WeightsArg] = None,
        k: int = 10,
        level: Level = "video",
        filters: Filters | Mapping[str, Any] | None = None,
        *,
        exclude: Iterable[str] = (),
        exclude_each: Sequence[Iterable[str]] | None = None,
    ) -> list[list[Hit]]:
        """``search`` for many queries at once: one list of hits per query, in query order.

        ``queries``: a sequence of what ``search`` accepts, or an (nq, 6, d) array. ``weights``: one mapping
        for every query, or one per query. ``exclude``: ids no query returns; ``exclude_each``: per-query
        ids (for example each seed video itself). FAISS answers the batch with one index call per level.
        """
        k = check_k(k)
        level = parse_level(level)
        flt = _as_filters(filters)
        qs = list(queries)
        nq = len(qs)
        if weights is None or isinstance(weights, Mapping):
            w1 = parse_weights(weights, level)
            ws = np.repeat(w1[None], nq, axis=0)
        else:
            wl = list(weights)
            if len(wl) != nq:
                raise QueryError(f"search_many got {len(wl)} weight mappings for {nq} queries")
            ws = np.stack([parse_weights(x, level) for x in wl]) if wl else np.zeros((0, 6), np.float32)
        if exclude_each is not None and len(exclude_each) != nq:
            raise QueryError(f"search_many got {len(exclude_each)} exclude_each entries for {nq} queries")
        if nq == 0:
            return []
        shared = frozenset(exclude)
        excludes = (
            [shared | frozenset(e) for e in exclude_each] if exclude_each is not None else [shared] * nq
        )
        blocks, qtags = [], []
        dim = self.dim
        for q in qs:
            block, record = self._resolve(q, level)
            if dim is not None and block.shape[1] != dim:
                raise QueryError(f"query vectors have size {block.shape[1]}, this index holds size {dim}")
            blocks.append(block)
            qtags.append(self._query_hook_tags(q, record) if level == "hook" else None)
        return self._search_blocks(np.stack(blocks), ws, k, level, flt, excludes, qtags)

    def _query_hook_tags(self, query: Query, record: SV6DRecord | None) -> frozenset[tuple[str, str]] | None:
        if isinstance(query, str):
            return self.hook_tags_of(query)
        return frozenset(hook_tags(record)) if record is not None else None

    def _search_blocks(
        self,
        blocks: np.ndarray,
        ws: np.ndarray,
        k: int,
        level: Level,
        flt: Filters,
        excludes: Sequence[frozenset[str]],
        qtags: Sequence[frozenset[tuple[str, str]] | None],
    ) -> list[list[Hit]]:
        """Exact top-k for each (6, d) block of ``blocks`` with its weights row of ``ws``."""
        if self.count() == 0:
            return [[] for _ in range(len(blocks))]
        qvecs = np.ascontiguousarray((blocks * ws[:, :, None]).reshape(len(blocks), -1), dtype=np.float32)
        n = k if self.exact else k * self.rerank_factor
        if level == "segment":
            n *= 4
        batches = self._candidate_batches(level, qvecs, n, flt, excludes)
        out = []
        for i, cb in enumerate(batches):
            hits = self._score(cb, blocks[i], ws[i], level, k)
            m = n
            # Several segments of one video can fill the candidate set: widen until k videos are found.
            while level == "segment" and len(hits) < k and len(cb) >= m:
                m *= 4
                cb = self._candidate_batches(level, qvecs[i : i + 1], m, flt, [excludes[i]])[0]
                hits = self._score(cb, blocks[i], ws[i], level, k)
            tags = qtags[i]
            if tags is not None:
                for h in hits:
                    h.shared_tags = _shared(tags, self.hook_tags_of(h.video_id))
            out.append(hits)
        return out

    def _score(self, cb: CandidateBatch, block: np.ndarray, w: np.ndarray, level: Level, k: int) -> list[Hit]:
        """Exact per-dimension and total scores of the candidates; the top ``k`` videos as hits."""
        if not len(cb):
            return []
        per_dim = np.einsum("nij,ij->ni", cb.blocks, block)
        total = per_dim @ w
        tot = total.tolist()
        ids = cb.video_ids
        # Ties break by video id so that every backend returns the same order.
        order = sorted(range(len(ids)), key=lambda i: (-tot[i], ids[i]))
        rows = per_dim.tolist()
        windows = cb.windows.tolist() if (cb.windows is not None and level != "video") else None
        segs = cb.segment_index.tolist() if cb.segment_index is not None else None
        hits: list[Hit] = []
        seen: set[str] = set()
        for i in order:
            vid = ids[i]
            if vid in seen:
                continue
            seen.add(vid)
            hits.append(
                Hit(
                    video_id=vid,
                    score=tot[i],
                    scores=dict(zip(DIMENSION_NAMES, rows[i], strict=True)),
                    window=(windows[i][0], windows[i][1]) if windows is not None else None,
                    segment_index=segs[i] if segs is not None else None,
                )
            )
            if len(hits) == k:
                break
        return hits

    def similar_hooks(
        self,
        query: str | SV6DRecord,
        k: int = 10,
        weights: WeightsArg = None,
        filters: Filters | Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """Videos whose hooks are structurally closest to the query's hook (the query video excluded).

        Each hit carries its hook window, the per-dimension scores and the tags both hooks share."""
        if not isinstance(query, str | SV6DRecord):
            raise QueryError(f"similar_hooks takes a video id or an SV6DRecord, got {type(query).__name__}")
        vid = query if isinstance(query, str) else query.video_id
        return self.search(query, weights, k, "hook", filters, exclude=(vid,))

    def recommend_by_example(
        self,
        positive_ids: Sequence[str],
        negative_ids: Sequence[str] = (),
        k: int = 10,
        weights: WeightsArg = None,
        filters: Filters | Mapping[str, Any] | None = None,
        *,
        level: Level = "video",
        negative_weight: float = DEFAULT_NEGATIVE_WEIGHT,
    ) -> list[Hit]:
        """Rocchio per dimension: ``q_d = normalize(mean_pos(x_d) − β · mean_neg(x_d))``, β = negative_weight.

        When the difference vanishes for a dimension, ``q_d`` falls back to ``normalize(mean_pos(x_d))``.
        The examples themselves are excluded from the hits. Segment level uses the examples' video vectors.
        """
        if not positive_ids:
            raise QueryError("recommend_by_example needs at least one positive example id")
        if not math.isfinite(negative_weight) or negative_weight < 0:
            raise QueryError(f"negative_weight must be >= 0, got {negative_weight!r}")
        level = parse_level(level)

        def mean_block(ids: Sequence[str]) -> np.ndarray:
            blocks = [self._resolve(v, level)[0] for v in ids]
            return np.mean(np.stack(blocks), axis=0)

        pos = mean_block(positive_ids)
        q = pos - negative_weight * mean_block(negative_ids) if negative_ids else pos
        norms = np.linalg.norm(q, axis=1)
        fallback = norms < 1e-6
        q[fallback] = pos[fallback]
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        exclude = frozenset(positive_ids) | frozenset(negative_ids)
        return self.search(q.astype(np.float32), weights, k, level, filters, exclude=exclude)


def _as_filters(filters: Filters | Mapping[str, Any] | None) -> Filters:
    if filters is None:
        return Filters()
    if isinstance(filters, Filters):
        return filters
    try:
        return Filters.model_validate(dict(filters))
    except ValidationError as exc:
        err = exc.errors()[0]
        cause = err.get("ctx", {}).get("error")
        where = ".".join(str(p) for p in err.get("loc", ()))
        msg = f"filters.{where}: {cause if cause is not None else err['msg']}"
        if isinstance(cause, VocabularyError):
            raise VocabularyError(msg) from None
        raise QueryError(msg) from None


def check_batch(records: Sequence[SV6DRecord], dim: int | None) -> int:
    """Validate a batch before any write: same d everywhere, matching the index, no duplicate ids."""
    if not records:
        return dim or 0
    seen: set[str] = set()
    for r in records:
        if not isinstance(r, SV6DRecord):
            raise QueryError(f"upsert takes SV6DRecord objects, got {type(r).__name__}")
        if r.video_id in seen:
            raise QueryError(f"batch contains video_id {r.video_id!r} twice")
        seen.add(r.video_id)
    dims = {r.dim for r in records}
    if len(dims) > 1:
        raise QueryError(f"batch mixes vector sizes {sorted(dims)}; one index holds one size")
    d = dims.pop()
    if dim is not None and d != dim:
        raise QueryError(f"records have vectors of size {d}, this index holds size {dim}")
    return d


def not_found(video_id: str) -> NotFoundError:
    return NotFoundError(f"video_id {video_id!r} is not in the index")
