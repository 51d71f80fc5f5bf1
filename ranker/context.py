"""Everything the ranker knows as of one timestamp, held as arrays so that serving is a few numpy calls.

``build_context(events, catalog, as_of)`` is the single place where events become features: training sets,
offline experiments and serving all go through it, so none of them can see events at or after ``as_of``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import polars as pl
import scipy.sparse as sp

from indexer.query import Weights
from ranker.aggregates import (
    AggregateConfig,
    UserState,
    covisitation,
    creator_aggregates,
    user_aggregates,
    user_state,
    video_aggregates,
)
from ranker.catalog import ItemCatalog
from sv6d.errors import NotFoundError


class NeighbourSource(Protocol):
    """Nearest videos to (6, d) queries under per-dimension ``indexer.Weights`` (one for every query or one
    per query), as catalog positions and scores, best first, none in ``exclude``: the indexer's
    ``VectorIndex`` through ``ranker.candidates.IndexNeighbours``."""

    def search_positions(
        self,
        queries: np.ndarray,
        weights: Weights | Sequence[Weights],
        k: int,
        level: str,
        catalog: ItemCatalog,
        exclude: np.ndarray | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray]]: ...


@dataclass
class Request:
    """One recommendation request: who (or which history), what to exclude, and the user's profile."""

    user_id: str | None
    seen: np.ndarray
    negatives: np.ndarray
    recent_positives: np.ndarray  # catalog positions, most recent first
    seed: int | None = None  # catalog position of the video the user is on (or the latest positive)
    pos_video: np.ndarray | None = None  # (6, d)
    neg_video: np.ndarray | None = None
    pos_hook: np.ndarray | None = None
    tag_pos: np.ndarray | None = None  # (L,)
    user_features: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    # Per-request values that candidate generation and feature assembly both need, computed once.
    _excluded: np.ndarray | None = field(default=None, repr=False)
    _covisit: np.ndarray | None = field(default=None, repr=False)
    _collab: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def excluded(self) -> np.ndarray:
        """Sorted unique positions never to recommend: everything seen, and negatives."""
        if self._excluded is None:
            self._excluded = np.unique(np.concatenate([self.seen, self.negatives])).astype(np.int64)
        return self._excluded


@dataclass(frozen=True)
class CollabConfig:
    """Collaborative models fitted on a context's positives (binary), for the ``itemknn`` and ``als`` channels
    and features: item-item cosine with ``knn_k`` neighbours kept per item (implicit's ``CosineRecommender``),
    and implicit's ``AlternatingLeastSquares`` with confidence ``1 + als_alpha`` on positive cells."""

    knn_k: int = 50
    als_factors: int = 64
    als_regularization: float = 0.05
    als_iterations: int = 15
    als_alpha: float = 10.0
    seed: int = 7


@dataclass
class RankingContext:
    """Catalog, aggregates, user state and channel orders as of ``as_of``."""

    catalog: ItemCatalog
    as_of: datetime
    config: AggregateConfig
    video_agg: np.ndarray  # (N, Fv) float32, NaN = unknown
    video_agg_names: list[str]
    creator_agg: np.ndarray  # (C, Fc)
    creator_agg_names: list[str]
    user_agg: np.ndarray  # (U, Fu)
    user_agg_names: list[str]
    users: UserState
    covisit: sp.csr_matrix
    first_seen_s: np.ndarray  # (N,) epoch seconds, NaN when never seen
    popular_order: np.ndarray  # positions, most popular first (within the popularity window)
    fresh_order: np.ndarray  # positions, newest first (within the freshness window)
    neighbours: NeighbourSource | None = None
    collab: CollabConfig = field(default_factory=CollabConfig)
    # Values derived from this context once and reused by every request (e.g. feature column plans).
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def as_of_s(self) -> float:
        return self.as_of.timestamp()

    def __post_init__(self) -> None:
        up = self.catalog.created_at_s
        assert up is not None
        self._upload_s = np.where(np.isnan(up), self.first_seen_s, up)

    def upload_time_s(self) -> np.ndarray:
        """Upload time when the record has one, else first time seen in events (a documented proxy)."""
        return self._upload_s

    def covisit_scores(self, req: Request) -> np.ndarray:
        """(N,) co-engagement of every item with the request's recent positives (cached on the request).

        The co-visitation matrix is symmetric, so the few rows of the positives give every item's score.
        """
        if req._covisit is None:
            if len(req.recent_positives):
                req._covisit = np.asarray(self.covisit[req.recent_positives].sum(axis=0)).ravel()
            else:
                req._covisit = np.zeros(len(self.catalog), dtype=np.float32)
        return req._covisit

    def _positive_binary(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.users.positive_matrix > 0).astype(np.float32))

    def item_similarity(self) -> sp.csr_matrix:
        """(N, N) item-item cosine over users' positives before ``as_of``, ``collab.knn_k`` neighbours per
        row (row i: the neighbours of item i), diagonal zeroed. Fitted once per context."""
        sim = self.cache.get("item_similarity")
        if sim is None:
            import warnings

            from implicit.nearest_neighbours import CosineRecommender
            from implicit.utils import ParameterWarning

            binary = self._positive_binary()
            n = len(self.catalog)
            if binary.nnz == 0:
                self.cache["item_similarity"] = sim = sp.csr_matrix((n, n), dtype=np.float32)
                return sim
            # K + 1: implicit keeps every item as its own nearest neighbour, dropped below.
            knn = CosineRecommender(K=self.collab.knn_k + 1, num_threads=1)
            with warnings.catch_warnings():
                # implicit converts through COO internally and warns about its own conversion.
                warnings.simplefilter("ignore", category=ParameterWarning)
                knn.fit(binary, show_progress=False)
            sim = knn.similarity.tocsr().astype(np.float32)
            sim.setdiag(0)
            sim.eliminate_zeros()
            self.cache["item_similarity"] = sim
        return sim

    def als_item_vectors(self) -> np.ndarray:
        """(N, f) unit ALS item factors fitted on positives before ``as_of`` (zero rows for items without
        any positive). Fitted once per context."""
        vec = self.cache.get("als_item_vectors")
        if vec is None:
            from implicit.cpu.als import AlternatingLeastSquares
            from threadpoolctl import threadpool_limits

            c = self.collab
            conf = self._positive_binary()
            if conf.nnz == 0:
                vec = np.zeros((len(self.catalog), c.als_factors), dtype=np.float32)
                self.cache["als_item_vectors"] = vec
                return vec
            conf.data = 1.0 + c.als_alpha * conf.data
            model = AlternatingLeastSquares(
                factors=c.als_factors,
                regularization=c.als_regularization,
                iterations=c.als_iterations,
                random_state=c.seed,
                num_threads=1,
            )
            with threadpool_limits(1, "blas"):
                model.fit(conf, show_progress=False)
            vec = np.asarray(model.item_factors, dtype=np.float32)
            liked = np.asarray(conf.sum(axis=0)).ravel() > 0
            vec[~liked] = 0.0
            norms = np.linalg.norm(vec, axis=1, keepdims=True)
            vec = np.divide(vec, norms, out=np.zeros_like(vec), where=norms > 0)
            self.cache["als_item_vectors"] = vec
        return vec

    def _als_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the items with a non-zero ALS factor row, and those rows (contiguous); cached."""
        got = self.cache.get("als_rows")
        if got is None:
            vec = self.als_item_vectors()
            rows = np.flatnonzero(np.any(vec != 0, axis=1))
            got = self.cache["als_rows"] = (rows, np.ascontiguousarray(vec[rows]))
        return got

    def cold_prior(self) -> np.ndarray:
        """(N,) every video's expected like rate from its record alone (``ranker.cold``); NaN: none."""
        out = self.cache.get("cold_prior")
        if out is None:
            from ranker.cold import cold_prior

            out = self.cache["cold_prior"] = cold_prior(self)
        return out

    def cold_order(self) -> np.ndarray:
        """Cold videos (few plays, already uploaded), best prior first (``ranker.cold.cold_order``)."""
        out = self.cache.get("cold_order")
        if out is None:
            from ranker.cold import cold_order

            out = self.cache["cold_order"] = cold_order(self)
        return out

    def collab_scores(self, req: Request, kind: str) -> np.ndarray:
        """(N,) ``itemknn`` (Σ of the recent positives' neighbour rows) or ``als`` (cosine of each item's
        factors to the sum of the recent positives' unit factors) scores; cached on the request."""
        out = req._collab.get(kind)
        if out is None:
            pos = req.recent_positives
            if not len(pos):
                out = np.zeros(len(self.catalog), dtype=np.float32)
            elif kind == "itemknn":
                out = np.asarray(self.item_similarity()[pos].sum(axis=0), dtype=np.float32).ravel()
            elif kind == "als":
                vec = self.als_item_vectors()
                q = vec[pos].sum(axis=0)
                norm = float(np.linalg.norm(q))
                out = np.zeros(len(self.catalog), dtype=np.float32)
                if norm > 0:
                    # Only items with a positive have a factor row (the others score 0): scoring those rows
                    # alone gives the same float32 values as the whole matrix, without reading every row
                    # (1M x 64 floats at a million videos: ~20 ms of memory traffic per request).
                    rows, sub = self._als_rows()
                    out[rows] = sub @ (q / norm)
            else:
                raise ValueError(f"unknown collaborative score {kind!r}; valid: itemknn, als")
            req._collab[kind] = out
        return out

    def request_for_user(self, user_id: str, seed: str | None = None) -> Request:
        """A request for a known user; an unknown user gets an empty (cold-start) history."""
        u = self.users.index.get(str(user_id))
        empty = np.zeros(0, dtype=np.int64)
        if u is None:
            req = Request(user_id=str(user_id), seen=empty, negatives=empty, recent_positives=empty)
            req.user_features = np.full(len(self.user_agg_names), np.nan, dtype=np.float32)
        else:
            st = self.users
            req = Request(
                user_id=str(user_id),
                seen=st.seen[u],
                negatives=st.negatives[u],
                recent_positives=st.recent_positives[u],
                pos_video=None if st.pos_video is None else st.pos_video[u],
                neg_video=None if st.neg_video is None else st.neg_video[u],
                pos_hook=None if st.pos_hook is None else st.pos_hook[u],
                tag_pos=None if st.tag_pos is None else st.tag_pos[u],
                user_features=self.user_agg[u],
            )
        return self._with_seed(req, seed)

    def request_for_history(
        self, positives: Sequence[str], negatives: Sequence[str] = (), seed: str | None = None
    ) -> Request:
        """A request from an explicit history (most recent first), e.g. an anonymous session."""
        cat = self.catalog
        pos = cat.positions(list(positives))
        neg = cat.positions(list(negatives))
        req = Request(
            user_id=None,
            seen=np.unique(np.concatenate([pos, neg])),
            negatives=neg,
            recent_positives=pos,
            user_features=np.full(len(self.user_agg_names), np.nan, dtype=np.float32),
        )
        if cat.video is not None and len(pos):
            # Later items in the history weigh less: the same half-life per position as per day in training.
            w = 0.5 ** (np.arange(len(pos)) / max(self.config.half_life_days, 1e-6))
            req.pos_video = _profile(cat.video[pos], w)
            req.neg_video = _profile(cat.video[neg], np.ones(len(neg))) if len(neg) else None
            if cat.hook is not None:
                req.pos_hook = _profile(cat.hook[pos], w)
        if cat.tags is not None and len(pos):
            req.tag_pos = cat.tags[pos].mean(axis=0).astype(np.float32)
        return self._with_seed(req, seed)

    def _with_seed(self, req: Request, seed: str | None) -> Request:
        if seed is not None:
            if seed not in self.catalog.index:
                raise NotFoundError(f"seed video {seed!r} is not in the catalog")
            req.seed = self.catalog.index[seed]
        elif len(req.recent_positives):
            req.seed = int(req.recent_positives[0])
        return req


def _profile(block: np.ndarray, w: np.ndarray) -> np.ndarray:
    prof = np.einsum("n,nkd->kd", w.astype(np.float32), block)
    norms = np.linalg.norm(prof, axis=1, keepdims=True)
    return np.divide(prof, norms, out=np.zeros_like(prof), where=norms > 0)


def _aligned(
    df: pl.DataFrame, key: str, keys: Sequence[str], drop: Sequence[str]
) -> tuple[np.ndarray, list[str]]:
    """Rows of ``df`` aligned to ``keys`` (missing keys give NaN rows), without the ``drop`` columns."""
    names = [c for c in df.columns if c != key and c not in drop]
    frame = pl.DataFrame({key: list(keys)}, schema={key: pl.String}).join(df, on=key, how="left")
    arr = frame.select(names).cast(pl.Float32).fill_null(np.nan).to_numpy().astype(np.float32)
    return arr.reshape(len(keys), len(names)), names


def build_context(
    events: pl.DataFrame,
    catalog: ItemCatalog,
    as_of: datetime,
    config: AggregateConfig | None = None,
    neighbours: NeighbourSource | None = None,
    fresh_window_days: float = 3.0,
    collab: CollabConfig | None = None,
) -> RankingContext:
    """Compute every aggregate and user state from events strictly before ``as_of``.

    "Popular" ranks items by decayed plays in the first aggregate window (``config.windows[0]``); "fresh"
    keeps items uploaded (or, without an upload time, first seen) within ``fresh_window_days``.
    """
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    cfg = config or AggregateConfig()
    va = video_aggregates(events, as_of, cfg)
    seen_cols = ["v_first_seen_s", "v_last_seen_s"]
    video_agg, video_names = _aligned(va, "video_id", catalog.video_ids, seen_cols)
    first_seen, _ = _aligned(va.select("video_id", "v_first_seen_s"), "video_id", catalog.video_ids, [])
    first = first_seen[:, 0].astype(np.float64)
    if catalog.creator_names:
        vc = pl.DataFrame(
            {"video_id": catalog.video_ids, "creator": catalog.creator or [None] * len(catalog)},
            schema={"video_id": pl.String, "creator": pl.String},
        )
        ca = creator_aggregates(events, vc, as_of, cfg)
        creator_agg, creator_names = _aligned(
            ca, "creator", catalog.creator_names, ["c_first_seen_s", "c_last_seen_s"]
        )
    else:
        creator_agg = np.zeros((0, 0), dtype=np.float32)
        creator_names = []
    users = user_state(events, catalog, as_of, cfg)
    ua = user_aggregates(events, as_of, cfg)
    user_agg, user_names = _aligned(ua, "user_id", users.user_ids, ["u_first_seen_s", "u_last_seen_s"])
    plays_col = [i for i, n in enumerate(video_names) if n.endswith("_plays")]
    window_plays = video_agg[:, plays_col[0]] if plays_col else np.zeros(len(catalog), dtype=np.float32)
    # The popularity window is the first aggregate window; items never played in it are not "popular".
    pop = np.nan_to_num(window_plays, nan=0.0)
    popular_order = np.argsort(-pop, kind="stable")[: int((pop > 0).sum())]
    up = catalog.created_at_s
    assert up is not None
    upload = np.where(np.isnan(up), first, up)
    fresh_mask = (as_of.timestamp() - upload) / 86400.0 <= fresh_window_days
    fresh_idx = np.flatnonzero(fresh_mask)
    fresh_order = fresh_idx[np.argsort(-upload[fresh_idx], kind="stable")]
    return RankingContext(
        catalog=catalog,
        as_of=as_of,
        config=cfg,
        video_agg=video_agg,
        video_agg_names=video_names,
        creator_agg=creator_agg,
        creator_agg_names=creator_names,
        user_agg=user_agg,
        user_agg_names=user_names,
        users=users,
        covisit=covisitation(users),
        first_seen_s=first,
        popular_order=popular_order,
        fresh_order=fresh_order,
        neighbours=neighbours,
        collab=collab or CollabConfig(),
    )
