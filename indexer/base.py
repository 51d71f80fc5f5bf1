"""The index interface every backend implements: requests read through ``indexer.query``, answers built
from ``indexer.hits``.

Scores: ``score(q, x) = Σ_d w_d · cos(q_d, x_d)`` over the six dimensions, ``w`` a ``Weights`` (its docstring
holds the one meaning of weights). Stored rows and query rows are unit
vectors, so the score is one inner product between ``concat(w_d · q_d)`` and ``concat(x_d)``; backends search
that concatenation and this module recomputes the six per-dimension scores exactly from the stored vectors of
the returned candidates (which also makes ANN candidates exact after a re-rank).

Levels: ``video`` (whole-video vectors), ``hook`` (the hook window's vectors), ``segment`` (one point per
shot).
Segment hits are the best-matching segment per video: a video appears once, with the window of its best shot.

Filters apply inside the backend's search (FAISS id selector from the catalog, Qdrant payload filter), never
by cutting a top-k afterwards. Tag filters are conjunctive and match a tag anywhere in the video.

Opening style: a hook search whose query has an opening-style profile (``SV6DRecord.hook_style``: a stored
video or a record; free text has none) takes the top ``STYLE_TOP_N`` hits by the score above and orders them
by ``(1 - s) · score / Σ_d w_d + s · style``, ``style`` the two profiles' similarity
(``sv6d.record.style_similarity``, on each hit as ``Hit.style``) and ``s = share · max(query profile)``:
``share`` is ``STYLE_SHARE`` unless the caller gives another (0: the score alone), scaled by how sure the
style model is of the query's reading, so a hook it reads as none of its styles leans on the six dimensions.
Hits keep their scores. Why: the profile comes from a model that reads all six dimensions together
(``encoder.style``), and an opening style is often a conjunction across dimensions that a sum of
per-dimension similarities cannot express.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from indexer.hits import Candidate, CandidateBatch, Hit, hook_tags, shared_tags
from indexer.query import (
    DIMENSION_NAMES,
    Filters,
    Level,
    Query,
    QueryError,
    Weights,
    WeightsArg,
    as_filters,
    check_k,
    check_page,
    parse_level,
    query_block,
)
from sv6d.dimensions import DIMENSIONS
from sv6d.errors import NotFoundError
from sv6d.record import SV6DRecord, style_similarity

# The opening-style blend of hook searches (module docstring). Chosen on the hook benchmark's training
# sources only. Source-grouped 3-fold cross-validation (hook heads and style model trained on two thirds of
# the footage; P@5 within the held-apart third on the twelve listed styles / on five styles nothing is
# trained on): the heads alone 0.546 / 0.402; blended at 0.3, 0.5, 0.7: 0.673 / 0.416, 0.687 / 0.391,
# 0.692 / 0.391; the profile alone 0.699 / 0.391. Comparing profiles by the Bhattacharyya coefficient
# instead gave 0.710 / 0.360 at 0.5: more on the listed styles, less on unseen ones; on the training sources'
# own renders of the unseen styles (the models trained on that footage, never on those styles) P@5 went
# 0.638 (heads alone) -> 0.598 with it and -> 0.666 with the log-probability cosine at 0.5.
STYLE_SHARE = 0.5
STYLE_TOP_N = 30  # hits of the per-dimension score that the style blend re-orders


def check_style_share(style: float | None) -> float:
    """The style share a hook search uses: ``STYLE_SHARE`` for None, else ``style`` (in [0, 1])."""
    if style is None:
        return STYLE_SHARE
    if not isinstance(style, int | float) or not 0.0 <= float(style) <= 1.0:
        raise QueryError(f"style share must be a number in [0, 1], got {style!r}")
    return float(style)


# Rocchio weight of the negative examples in recommend_by_example.
DEFAULT_NEGATIVE_WEIGHT = 0.5


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

    def hook_style_of(self, video_id: str) -> dict[str, float]:
        """The video's opening-style profile (``SV6DRecord.hook_style``; empty when it has none);
        NotFoundError if absent. The default reads the whole record; backends that keep the record JSON
        answer from it."""
        return dict(self.get(video_id).hook_style)

    def hook_styles_of(self, video_ids: Sequence[str]) -> list[dict[str, float]]:
        """``hook_style_of`` for each of ``video_ids``, in order; empty for an id no longer stored (deleted
        by another writer since a search found it). Backends behind a network hop answer in one request."""
        out = []
        for vid in video_ids:
            try:
                out.append(self.hook_style_of(vid))
            except NotFoundError:
                out.append({})
        return out

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
        style: float | None = None,
    ) -> list[Hit]:
        """Top-k by Σ_d w_d cos(q_d, x_d); at hook level blended with the opening style (module docstring).

        ``query``: a (6, d) block, a dict per dimension, a stored video id (its vectors of that level; segment
        level uses the video vectors) or an SV6DRecord. ``weights``: a ``Weights`` or a mapping it reads (a
        dimension left out weighs 1). ``exclude``: video ids never returned. ``style``: the opening style's
        share of a hook search (None: ``STYLE_SHARE``; 0: the score alone).
        """
        k = check_k(k)
        level = parse_level(level)
        w = Weights.of(weights, level).array
        flt = as_filters(filters)
        share = check_style_share(style)
        block, record = self._resolve(query, level)
        dim = self.dim
        if dim is not None and block.shape[1] != dim:
            raise QueryError(f"query vectors have size {block.shape[1]}, this index holds size {dim}")
        qtags = self._query_hook_tags(query, record) if level == "hook" else None
        qstyle = self._query_hook_style(query, record) if level == "hook" and share > 0 else {}
        return self._search_blocks(
            block[None], w[None], k, level, flt, [frozenset(exclude)], [qtags], [qstyle], share
        )[0]

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
        style: float | None = None,
    ) -> list[list[Hit]]:
        """``search`` for many queries at once: one list of hits per query, in query order.

        ``queries``: a sequence of what ``search`` accepts, or an (nq, 6, d) array. ``weights``: one mapping
        for every query, or one per query. ``exclude``: ids no query returns; ``exclude_each``: per-query
        ids (for example each seed video itself). ``style``: as ``search``'s. FAISS answers the batch with one
        index call per level.
        """
        k = check_k(k)
        level = parse_level(level)
        flt = as_filters(filters)
        share = check_style_share(style)
        qs = list(queries)
        nq = len(qs)
        if weights is None or isinstance(weights, Mapping):
            ws = np.repeat(Weights.of(weights, level).array[None], nq, axis=0)
        else:
            wl = list(weights)
            if len(wl) != nq:
                raise QueryError(f"search_many got {len(wl)} weight mappings for {nq} queries")
            ws = np.stack([Weights.of(x, level).array for x in wl]) if wl else np.zeros((0, 6), np.float32)
        if exclude_each is not None and len(exclude_each) != nq:
            raise QueryError(f"search_many got {len(exclude_each)} exclude_each entries for {nq} queries")
        if nq == 0:
            return []
        shared = frozenset(exclude)
        excludes = (
            [shared | frozenset(e) for e in exclude_each] if exclude_each is not None else [shared] * nq
        )
        blocks, qtags, qstyles = [], [], []
        dim = self.dim
        for q in qs:
            block, record = self._resolve(q, level)
            if dim is not None and block.shape[1] != dim:
                raise QueryError(f"query vectors have size {block.shape[1]}, this index holds size {dim}")
            blocks.append(block)
            qtags.append(self._query_hook_tags(q, record) if level == "hook" else None)
            qstyles.append(self._query_hook_style(q, record) if level == "hook" and share > 0 else {})
        return self._search_blocks(np.stack(blocks), ws, k, level, flt, excludes, qtags, qstyles, share)

    def neighbours(
        self,
        queries: np.ndarray,
        weights: Weights | Sequence[Weights],
        k: int,
        level: Literal["video", "hook"] = "video",
        *,
        exclude: Iterable[str] = (),
    ) -> list[tuple[list[str], np.ndarray]]:
        """``search_many``'s ranking for callers that need only ids and scores (the ranker's neighbour
        channels): per (6, d) query of ``queries`` (nq, 6, d), the top-k video ids and their scores
        ``Σ_d w_d cos(q_d, x_d)`` (float32 array), best first, as ``search_many`` ranks and scores them
        (vectors carry no opening-style profile: no style blend).
        ``weights``: one for every query or one per query; ``exclude``: ids no query returns."""
        k = check_k(k)
        if level not in ("video", "hook"):
            raise QueryError(f"neighbours searches the video or hook level, not {level!r}")
        q = np.asarray(queries, dtype=np.float32)
        nq = len(q)
        dim = self.dim
        if nq == 0 or dim is None or self.count() == 0:
            return [([], np.zeros(0, dtype=np.float32)) for _ in range(nq)]
        if q.ndim != 3 or q.shape[1:] != (len(DIMENSIONS), dim):
            raise QueryError(f"neighbours takes queries of shape (nq, 6, {dim}), got {q.shape}")
        wl = [weights] * nq if isinstance(weights, Weights) else list(weights)
        if len(wl) != nq:
            raise QueryError(f"neighbours got {len(wl)} weights for {nq} queries")
        ws = np.stack([Weights.of(w).array for w in wl])
        norms = np.linalg.norm(q, axis=2)
        if not (np.isfinite(norms).all() and (norms > 0).all()):
            for block in q:
                query_block(block, dim)  # raises the error that names the problem
        # query_block's normalisation, for every query at once
        blocks = np.ascontiguousarray(q / norms[:, :, None], dtype=np.float32)
        qvecs = np.ascontiguousarray((blocks * ws[:, :, None]).reshape(nq, -1), dtype=np.float32)
        n = k if self.exact else k * self.rerank_factor
        batches = self._candidate_batches(level, qvecs, n, as_filters(None), [frozenset(exclude)] * nq)
        out: list[tuple[list[str], np.ndarray]] = []
        for i, cb in enumerate(batches):
            if not len(cb):
                out.append(([], np.zeros(0, dtype=np.float32)))
                continue
            order, _, total = self._ranked(cb, blocks[i], ws[i])
            top = order[:k]
            out.append(([cb.video_ids[j] for j in top], total[top].astype(np.float32)))
        return out

    def _query_hook_tags(self, query: Query, record: SV6DRecord | None) -> frozenset[tuple[str, str]] | None:
        if isinstance(query, str):
            return self.hook_tags_of(query)
        return frozenset(hook_tags(record)) if record is not None else None

    def _query_hook_style(self, query: Query, record: SV6DRecord | None) -> dict[str, float]:
        if isinstance(query, str):
            return self.hook_style_of(query)
        return dict(record.hook_style) if record is not None else {}

    def _search_blocks(
        self,
        blocks: np.ndarray,
        ws: np.ndarray,
        k: int,
        level: Level,
        flt: Filters,
        excludes: Sequence[frozenset[str]],
        qtags: Sequence[frozenset[tuple[str, str]] | None],
        qstyles: Sequence[Mapping[str, float]] = (),
        share: float = 0.0,
    ) -> list[list[Hit]]:
        """Exact top-k for each (6, d) block of ``blocks`` with its weights row of ``ws``; a query with an
        opening-style profile in ``qstyles`` has its top ``STYLE_TOP_N`` re-ordered by style (``share``)."""
        if self.count() == 0:
            return [[] for _ in range(len(blocks))]
        styled = share > 0 and any(qstyles)
        top = max(k, STYLE_TOP_N) if styled else k
        qvecs = np.ascontiguousarray((blocks * ws[:, :, None]).reshape(len(blocks), -1), dtype=np.float32)
        n = top if self.exact else top * self.rerank_factor
        if level == "segment":
            n *= 4
        batches = self._candidate_batches(level, qvecs, n, flt, excludes)
        out = []
        for i, cb in enumerate(batches):
            hits = self._score(cb, blocks[i], ws[i], level, top)
            m = n
            # Several segments of one video can fill the candidate set: widen until k videos are found.
            while level == "segment" and len(hits) < k and len(cb) >= m:
                m *= 4
                cb = self._candidate_batches(level, qvecs[i : i + 1], m, flt, [excludes[i]])[0]
                hits = self._score(cb, blocks[i], ws[i], level, k)
            qstyle = qstyles[i] if styled else None
            hits = self._restyled(hits, qstyle, ws[i], share)[:k] if qstyle else hits[:k]
            tags = qtags[i]
            if tags is not None:
                for h in hits:
                    h.shared_tags = shared_tags(tags, self.hook_tags_of(h.video_id))
            out.append(hits)
        return out

    def _restyled(
        self, hits: list[Hit], qstyle: Mapping[str, float], w: np.ndarray, share: float
    ) -> list[Hit]:
        """``hits`` ordered by ``(1 - s) · score / Σ w + s · style``, ``s = share · max(qstyle)`` (ties by
        video id), each with its ``style`` similarity to the query's profile ``qstyle``."""
        wsum = float(np.sum(w)) or 1.0
        s = share * max(qstyle.values())
        # one lookup for all hits; a hit deleted by another writer since the vector search has no profile
        for h, profile in zip(hits, self.hook_styles_of([h.video_id for h in hits]), strict=True):
            h.style = style_similarity(qstyle, profile)
        return sorted(hits, key=lambda h: (-((1.0 - s) * h.score / wsum + s * (h.style or 0.0)), h.video_id))

    @staticmethod
    def _ranked(
        cb: CandidateBatch, block: np.ndarray, w: np.ndarray
    ) -> tuple[list[int], np.ndarray, np.ndarray]:
        """Exact per-dimension (m, 6) and total (m,) scores of the candidates, and their order: best first,
        ties by video id so that every backend returns the same order."""
        per_dim = np.einsum("nij,ij->ni", cb.blocks, block)
        total = per_dim @ w
        order = np.argsort(-total, kind="stable")
        ranked = total[order]
        if not (ranked[1:] == ranked[:-1]).any():  # no tie: the scores alone give the order
            return order.tolist(), per_dim, total
        tot = total.tolist()
        ids = cb.video_ids
        return sorted(range(len(ids)), key=lambda i: (-tot[i], ids[i])), per_dim, total

    def _score(self, cb: CandidateBatch, block: np.ndarray, w: np.ndarray, level: Level, k: int) -> list[Hit]:
        """Exact per-dimension and total scores of the candidates; the top ``k`` videos as hits."""
        if not len(cb):
            return []
        order, per_dim, total = self._ranked(cb, block, w)
        tot = total.tolist()
        ids = cb.video_ids
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
        *,
        style: float | None = None,
    ) -> list[Hit]:
        """Videos whose hooks are structurally closest to the query's hook (the query video excluded),
        blended with the opening style (``style``: its share, see ``search``).

        Each hit carries its hook window, the per-dimension scores, the style similarity and the tags both
        hooks share."""
        if not isinstance(query, str | SV6DRecord):
            raise QueryError(f"similar_hooks takes a video id or an SV6DRecord, got {type(query).__name__}")
        vid = query if isinstance(query, str) else query.video_id
        return self.search(query, weights, k, "hook", filters, exclude=(vid,), style=style)

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
