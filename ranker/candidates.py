"""Candidate generation: several channels, each candidate keeping the channel(s) that produced it.

Channels (names are fixed: the feature schema has one indicator per channel):
- ``nb_<dimension>``: per-dimension neighbours (video level) of the user's recent positives;
- ``hook``: neighbours of the recent positives' hooks (all six dimensions, equal weights);
- ``popular``: most decayed plays in the popularity window;
- ``fresh``: newest uploads (first seen, without upload times) within the freshness window;
- ``covisit``: videos co-engaged (positively) with the user's recent positives by other users.

Already-seen videos and negatives are never candidates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ranker.catalog import ItemCatalog
from ranker.context import RankingContext, Request
from sv6d.dimensions import DIMENSIONS
from sv6d.errors import ConfigError

NEIGHBOUR_CHANNELS = tuple(f"nb_{d.value}" for d in DIMENSIONS)
CHANNELS: tuple[str, ...] = (*NEIGHBOUR_CHANNELS, "hook", "popular", "fresh", "covisit")
CHANNEL_INDEX = {c: i for i, c in enumerate(CHANNELS)}


@dataclass(frozen=True)
class CandidateConfig:
    """Per-channel quotas (``neighbours`` applies to each ``nb_<dimension>`` channel) and seed count."""

    quotas: Mapping[str, int] = field(
        default_factory=lambda: {"neighbours": 30, "hook": 50, "popular": 200, "fresh": 100, "covisit": 200}
    )
    n_seeds: int = 3

    def quota(self, channel: str) -> int:
        key = "neighbours" if channel.startswith("nb_") else channel
        return int(self.quotas.get(key, 0))

    def __post_init__(self) -> None:
        valid = {"neighbours", "hook", "popular", "fresh", "covisit"}
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


class CatalogNeighbours:
    """Exact weighted cosine over an ``ItemCatalog``'s vectors (a NeighbourSource for small catalogs).

    A matrix product, not an index: at scale, ``IndexNeighbours`` over the indexer replaces it.
    """

    def __init__(self, catalog: ItemCatalog) -> None:
        if catalog.video is None:
            raise ConfigError("CatalogNeighbours needs a catalog with vectors")
        self.catalog = catalog
        # Per-dimension contiguous copies, (6, N, d): a one-dimension query reads one dense slab.
        self._by_dim = {
            "video": np.ascontiguousarray(catalog.video.transpose(1, 0, 2)),
            "hook": None if catalog.hook is None else np.ascontiguousarray(catalog.hook.transpose(1, 0, 2)),
        }

    def search(
        self, query: np.ndarray, weights: Mapping[str, float] | None, k: int, level: str
    ) -> list[tuple[str, float]]:
        block = self.catalog.hook if level == "hook" else self.catalog.video
        assert block is not None
        w = np.array([1.0 if weights is None else float(weights.get(d.value, 0.0)) for d in DIMENSIONS])
        w = w / max(w.sum(), 1e-12)
        nz = np.flatnonzero(w)
        if len(nz) == len(w):
            scores = block.reshape(len(block), -1) @ (query * w[:, None]).reshape(-1).astype(np.float32)
        else:
            # A one-dimension query reads only that dimension's slab: a sixth of the memory traffic.
            slabs = self._by_dim["hook" if level == "hook" else "video"]
            assert slabs is not None
            scores = np.zeros(len(block), dtype=np.float32)
            for j in nz:
                scores += slabs[j] @ (w[j] * query[j]).astype(np.float32)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.catalog.video_ids[i], float(scores[i])) for i in top]


class IndexNeighbours:
    """A NeighbourSource over the indexer's ``VectorIndex`` (``indexer.open_index(...)``).

    Dimensions not named in ``weights`` weigh 0 here (the indexer's default for unnamed ones is 1), and
    ``k`` is capped at the index's ``MAX_K``.
    """

    def __init__(self, index: Any) -> None:
        self.index = index

    def search(
        self, query: np.ndarray, weights: Mapping[str, float] | None, k: int, level: str
    ) -> list[tuple[str, float]]:
        from indexer import MAX_K

        full = None if weights is None else {d.value: float(weights.get(d.value, 0.0)) for d in DIMENSIONS}
        hits = self.index.search(query, weights=full, k=max(1, min(k, MAX_K)), level=level)
        return [(h.video_id, float(h.score)) for h in hits]


def _take_unseen(order: np.ndarray, excluded: np.ndarray, k: int) -> np.ndarray:
    if k <= 0 or len(order) == 0:
        return np.zeros(0, dtype=np.int64)
    head = order[: k + len(excluded)]
    return head[~np.isin(head, excluded)][:k]


def generate_candidates(
    ctx: RankingContext, req: Request, config: CandidateConfig | None = None
) -> CandidateSet:
    """Merge every channel's candidates for ``req`` (seen videos and negatives excluded)."""
    cfg = config or CandidateConfig()
    excluded = np.unique(np.concatenate([req.seen, req.negatives])).astype(np.int64)
    found: dict[str, np.ndarray] = {}
    seeds = req.recent_positives[: cfg.n_seeds]
    cat = ctx.catalog
    if ctx.neighbours is not None and cat.video is not None and len(seeds):
        for j, dim in enumerate(DIMENSIONS):
            name = NEIGHBOUR_CHANNELS[j]
            found[name] = _neighbour_channel(
                ctx, cat.video, seeds, {dim.value: 1.0}, "video", cfg.quota(name), excluded
            )
        if cat.hook is not None:
            found["hook"] = _neighbour_channel(
                ctx, cat.hook, seeds, None, "hook", cfg.quota("hook"), excluded
            )
    found["popular"] = _take_unseen(ctx.popular_order, excluded, cfg.quota("popular"))
    found["fresh"] = _take_unseen(ctx.fresh_order, excluded, cfg.quota("fresh"))
    if len(req.recent_positives) and cfg.quota("covisit") > 0:
        scores = np.asarray(ctx.covisit[req.recent_positives].sum(axis=0)).ravel()
        nz = np.flatnonzero(scores)
        order = nz[np.argsort(-scores[nz], kind="stable")]
        found["covisit"] = _take_unseen(order, excluded, cfg.quota("covisit"))
    return _merge(found)


def _neighbour_channel(
    ctx: RankingContext,
    block: np.ndarray,
    seeds: np.ndarray,
    weights: Mapping[str, float] | None,
    level: str,
    k: int,
    excluded: np.ndarray,
) -> np.ndarray:
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    assert ctx.neighbours is not None
    best: dict[int, float] = {}
    index = ctx.catalog.index
    per_seed = k + len(excluded) + len(seeds)
    for s in seeds:
        for vid, score in ctx.neighbours.search(block[s], weights, per_seed, level):
            i = index.get(vid)
            if i is not None and score > best.get(i, -np.inf):
                best[i] = score
    if not best:
        return np.zeros(0, dtype=np.int64)
    pos = np.fromiter(best.keys(), dtype=np.int64)
    sc = np.fromiter(best.values(), dtype=np.float64)
    order = pos[np.argsort(-sc, kind="stable")]
    return _take_unseen(order, excluded, k)


def _merge(found: Mapping[str, np.ndarray]) -> CandidateSet:
    parts = [(CHANNEL_INDEX[c], p) for c, p in found.items() if len(p)]
    if not parts:
        return CandidateSet(np.zeros(0, dtype=np.int64), np.zeros((0, len(CHANNELS)), dtype=bool))
    allpos = np.concatenate([p for _, p in parts])
    uniq, first = np.unique(allpos, return_index=True)
    # Keep the order in which channels first produced each candidate (stable across runs).
    uniq = uniq[np.argsort(first, kind="stable")]
    where = {int(v): i for i, v in enumerate(uniq)}
    ch = np.zeros((len(uniq), len(CHANNELS)), dtype=bool)
    for c, p in parts:
        ch[[where[int(v)] for v in p], c] = True
    return CandidateSet(uniq.astype(np.int64), ch)


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
