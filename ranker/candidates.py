"""Candidate generation: several channels, each candidate keeping the channel(s) that produced it.

Channels (names are fixed: the feature schema has one indicator per channel):
- ``nb_<dimension>``: per-dimension neighbours (video level) of the user's recent positives, through the
  indexer (``IndexNeighbours``: ``Weights.only(dimension)``);
- ``hook``: neighbours of the recent positives' hooks (all six dimensions, ``Weights.uniform()``);
- ``popular``: most decayed plays in the popularity window;
- ``fresh``: newest uploads (first seen, without upload times) within the freshness window;
- ``covisit``: videos co-engaged (positively) with the user's recent positives by other users;
- ``itemknn``: cosine item-kNN neighbours of the user's recent positives (``RankingContext.item_similarity``);
- ``als``: nearest items in ALS factor space to the recent positives (``RankingContext.als_item_vectors``);
- ``cold``: videos with few plays, best cold-start prior first (``ranker.cold``: expected engagement from the
  SV6D record alone); empty without video content.

The two collaborative channels and ``cold`` default to a quota of 0 (off; serving turns ``cold`` on, see
``ranker.training.SERVING_CANDIDATES``): they exist wherever there is engagement, with or
without video content.

Already-seen videos and negatives are never candidates.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from indexer.base import VectorIndex
from indexer.query import MAX_K, Weights
from ranker.catalog import ItemCatalog
from ranker.context import RankingContext, Request
from sv6d.dimensions import DIMENSIONS
from sv6d.errors import ConfigError
from sv6d.record import EncoderInfo

NEIGHBOUR_CHANNELS = tuple(f"nb_{d.value}" for d in DIMENSIONS)
COLLAB_CHANNELS = ("itemknn", "als")
COLD_CHANNEL = "cold"
CHANNELS: tuple[str, ...] = (
    *NEIGHBOUR_CHANNELS,
    "hook",
    "popular",
    "fresh",
    "covisit",
    *COLLAB_CHANNELS,
    COLD_CHANNEL,
)
CHANNEL_INDEX = {c: i for i, c in enumerate(CHANNELS)}
# One ``Weights`` for every query of a batch, or one per query.
WeightsArg = Weights | Sequence[Weights]


@dataclass(frozen=True)
class CandidateConfig:
    """Per-channel quotas (``neighbours`` applies to each ``nb_<dimension>`` channel) and seed count."""

    quotas: Mapping[str, int] = field(
        default_factory=lambda: {
            "neighbours": 30,
            "hook": 50,
            "popular": 200,
            "fresh": 100,
            "covisit": 200,
            "itemknn": 0,
            "als": 0,
            COLD_CHANNEL: 0,
        }
    )
    n_seeds: int = 3

    def quota(self, channel: str) -> int:
        key = "neighbours" if channel.startswith("nb_") else channel
        return int(self.quotas.get(key, 0))

    def __post_init__(self) -> None:
        valid = {"neighbours", "hook", "popular", "fresh", "covisit", *COLLAB_CHANNELS, COLD_CHANNEL}
        bad = sorted(set(self.quotas) - valid)
        if bad:
            raise ConfigError(
                f"unknown candidate quota(s) {', '.join(bad)}; valid: {', '.join(sorted(valid))}"
            )
        neg = {k: v for k, v in self.quotas.items() if v < 0}
        if neg:
            raise ConfigError(f"candidate quotas must be >= 0, got {neg}")


@dataclass
class CandidateSet:
    """Candidate catalog positions and, per candidate, a bool row over ``CHANNELS``."""

    positions: np.ndarray  # (n,) int64
    channels: np.ndarray  # (n, len(CHANNELS)) bool

    def __len__(self) -> int:
        return len(self.positions)

    def channel_names(self, i: int) -> list[str]:
        return [CHANNELS[j] for j in np.flatnonzero(self.channels[i])]

    def for_channel(self, name: str) -> np.ndarray:
        return self.positions[self.channels[:, CHANNEL_INDEX[name]]]


class IndexNeighbours:
    """The neighbour channels' source: the indexer's ``VectorIndex`` (FAISS or Qdrant: ``open_index``).

    Scores are the index's: ``Σ_d w_d · cos(q_d, x_d)`` under ``indexer.Weights`` (``Weights.only(dim)`` for
    one dimension's neighbours, ``Weights.uniform()`` for all six). ``k`` is capped at the index's ``MAX_K``.
    A batch of queries goes to the index's ``neighbours`` (``search_many``'s ranking, ids and scores only).

    ``for_catalog`` builds one over a catalog's vectors that have no index yet (offline experiments, tests,
    benchmarks): a FAISS index in a temporary directory, removed by ``close``.
    """

    def __init__(self, index: VectorIndex, *, owned: tempfile.TemporaryDirectory[str] | None = None) -> None:
        self.index = index
        self._owned = owned

    @classmethod
    def for_catalog(cls, catalog: ItemCatalog, recipe: str = "Flat", **options: Any) -> IndexNeighbours:
        """A FAISS index over the catalog's video and hook vectors, bulk-loaded. ``recipe``: ``Flat``
        (exact) or a FAISS factory string; ``options``: the FAISS options of ``open_index``. Metadata the
        neighbour search does not read (durations, sizes) are placeholders."""
        from indexer import open_index
        from indexer.faiss_backend import FaissIndex

        if catalog.video is None or catalog.hook is None:
            raise ConfigError("IndexNeighbours.for_catalog needs a catalog with video and hook vectors")
        tmp = tempfile.TemporaryDirectory(prefix="sv6d-neighbours-")
        try:
            index = open_index(f"faiss://{tmp.name}", recipe=recipe, **options)
            assert isinstance(index, FaissIndex)
            index.upsert_arrays(
                catalog.video_ids,
                catalog.video,
                catalog.hook,
                encoder=EncoderInfo(name="catalog", version="0", head_version="0"),
                duration_s=1.0,
            )
        except BaseException:
            tmp.cleanup()
            raise
        return cls(index, owned=tmp)

    def close(self) -> None:
        """Close an index this source built (``for_catalog``); an index given to it stays open."""
        if self._owned is not None:
            self.index.close()
            self._owned.cleanup()
            self._owned = None

    def search_positions(
        self,
        queries: np.ndarray,
        weights: WeightsArg,
        k: int,
        level: str,
        catalog: ItemCatalog,
        exclude: np.ndarray | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query: (catalog positions, scores), best first; ``exclude`` (positions) is filtered inside the
        index; hits outside ``catalog`` are dropped."""
        kk = max(1, min(k, MAX_K))
        wl = _per_query(weights, len(queries))
        excl = [] if exclude is None else [catalog.video_ids[int(i)] for i in exclude]
        if level not in ("video", "hook"):
            raise ConfigError(f"neighbour channels search the video or hook level, not {level!r}")
        lists = self.index.neighbours(queries, wl, kk, "hook" if level == "hook" else "video", exclude=excl)
        lookup = catalog.index
        out = []
        for ids, sc in lists:
            pos = np.fromiter((lookup.get(v, -1) for v in ids), dtype=np.int64, count=len(ids))
            keep = pos >= 0
            out.append((pos[keep], sc[keep]))
        return out


def _per_query(weights: WeightsArg, nq: int) -> list[Weights]:
    if isinstance(weights, Weights):
        return [weights] * nq
    wl = list(weights)
    if len(wl) != nq:
        raise ConfigError(f"{len(wl)} weights for {nq} queries")
    return wl


def _take_unseen(order: np.ndarray, excluded: np.ndarray, k: int) -> np.ndarray:
    if k <= 0 or len(order) == 0:
        return np.zeros(0, dtype=np.int64)
    head = order[: k + len(excluded)]
    return head[~np.isin(head, excluded)][:k]


def generate_candidates(
    ctx: RankingContext, req: Request, config: CandidateConfig | None = None
) -> CandidateSet:
    """Merge every channel's candidates for ``req`` (seen videos and negatives excluded).

    The six per-dimension channels are one batched neighbour search (every seed × every dimension, per-query
    weights) and the hook channel another; popular and fresh are the context's precomputed orders; covisit
    reads the request's cached co-engagement scores.
    """
    cfg = config or CandidateConfig()
    excluded = req.excluded()
    found: dict[str, np.ndarray] = {}
    seeds = req.recent_positives[: cfg.n_seeds]
    cat = ctx.catalog
    if ctx.neighbours is not None and cat.video is not None and len(seeds):
        quota = max(cfg.quota(c) for c in NEIGHBOUR_CHANNELS)
        if quota > 0:
            ns = len(seeds)
            queries = np.tile(cat.video[seeds], (len(DIMENSIONS), 1, 1))
            weights = [Weights.only(dim) for dim in DIMENSIONS for _ in range(ns)]
            res = ctx.neighbours.search_positions(queries, weights, quota, "video", cat, excluded)
            for j, name in enumerate(NEIGHBOUR_CHANNELS):
                found[name] = _best_over_seeds(res[j * ns : (j + 1) * ns], excluded, cfg.quota(name))
        if cat.hook is not None and cfg.quota("hook") > 0:
            k = cfg.quota("hook")
            uniform = Weights.uniform()
            res = ctx.neighbours.search_positions(cat.hook[seeds], uniform, k, "hook", cat, excluded)
            found["hook"] = _best_over_seeds(res, excluded, k)
    found["popular"] = _take_unseen(ctx.popular_order, excluded, cfg.quota("popular"))
    found["fresh"] = _take_unseen(ctx.fresh_order, excluded, cfg.quota("fresh"))
    if len(req.recent_positives) and cfg.quota("covisit") > 0:
        scores = ctx.covisit_scores(req)
        nz = np.flatnonzero(scores)
        k = cfg.quota("covisit") + len(excluded)
        if len(nz) > k:
            # Keep every item tied with the k-th score, so that the cut does not depend on partition order.
            kth = -np.partition(-scores[nz], k - 1)[k - 1]
            nz = nz[scores[nz] >= kth]
        # Ties break by position so that the order is the same on every run.
        order = nz[np.lexsort((nz, -scores[nz]))]
        found["covisit"] = _take_unseen(order, excluded, cfg.quota("covisit"))
    for name in COLLAB_CHANNELS:
        if len(req.recent_positives) and cfg.quota(name) > 0:
            found[name] = _top_scored(ctx.collab_scores(req, name), excluded, cfg.quota(name))
    if cat.video is not None and cfg.quota(COLD_CHANNEL) > 0:
        found[COLD_CHANNEL] = _take_unseen(ctx.cold_order(), excluded, cfg.quota(COLD_CHANNEL))
    return _merge(found)


def _top_scored(scores: np.ndarray, excluded: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` unseen items of highest positive score, ties by position (the same order on every run)."""
    nz = np.flatnonzero(scores > 0)
    order = nz[np.lexsort((nz, -scores[nz]))]
    return _take_unseen(order, excluded, k)


def _best_over_seeds(res: list[tuple[np.ndarray, np.ndarray]], excluded: np.ndarray, k: int) -> np.ndarray:
    """The top ``k`` unseen items by their best score over the seeds' neighbour lists."""
    if k <= 0 or not res:
        return np.zeros(0, dtype=np.int64)
    pos = np.concatenate([p for p, _ in res])
    sc = np.concatenate([s for _, s in res])
    if not len(pos):
        return np.zeros(0, dtype=np.int64)
    # Best score over the seeds per item: sort by score, keep each item's first occurrence.
    order = np.argsort(-sc, kind="stable")
    pos = pos[order]
    _, first = np.unique(pos, return_index=True)
    return _take_unseen(pos[np.sort(first)], excluded, k)


def _merge(found: Mapping[str, np.ndarray]) -> CandidateSet:
    parts = [(CHANNEL_INDEX[c], p) for c, p in found.items() if len(p)]
    if not parts:
        return CandidateSet(np.zeros(0, dtype=np.int64), np.zeros((0, len(CHANNELS)), dtype=bool))
    allpos = np.concatenate([p for _, p in parts])
    chan = np.concatenate([np.full(len(p), c) for c, p in parts])
    uniq, first, inverse = np.unique(allpos, return_index=True, return_inverse=True)
    # Keep the order in which channels first produced each candidate (stable across runs).
    rank = np.empty(len(uniq), dtype=np.int64)
    by_first = np.argsort(first, kind="stable")
    rank[by_first] = np.arange(len(uniq))
    ch = np.zeros((len(uniq), len(CHANNELS)), dtype=bool)
    ch[rank[inverse], chan] = True
    return CandidateSet(uniq[by_first].astype(np.int64), ch)


def candidate_recall(
    ctx: RankingContext,
    held_out: Mapping[str, Sequence[str]],
    config: CandidateConfig | None = None,
) -> dict[str, float]:
    """Recall of the candidate set against held-out positives, per channel and merged (``all``).

    ``held_out`` maps a user id to the video ids they engaged positively with after ``ctx.as_of``; recall is
    averaged over users with at least one held-out positive in the catalog.
    """
    hits = {c: 0.0 for c in (*CHANNELS, "all")}
    n = 0
    for user, vids in held_out.items():
        truth = ctx.catalog.positions(list(vids))
        if not len(truth):
            continue
        n += 1
        cs = generate_candidates(ctx, ctx.request_for_user(user), config)
        hits["all"] += np.isin(truth, cs.positions).mean()
        for c in CHANNELS:
            hits[c] += np.isin(truth, cs.for_channel(c)).mean()
    return {c: (h / n if n else float("nan")) for c, h in hits.items()}
