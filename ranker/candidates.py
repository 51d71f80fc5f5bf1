"""Candidate generation: several channels, each candidate keeping the channel(s) that produced it.

Channels (names are fixed: the feature schema has one indicator per channel):
- ``nb_<dimension>``: per-dimension neighbours (video level) of the user's recent positives;
- ``hook``: neighbours of the recent positives' hooks (all six dimensions, equal weights);
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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ranker.catalog import ItemCatalog
from ranker.context import NeighbourSource, RankingContext, Request
from sv6d.dimensions import DIMENSIONS
from sv6d.errors import ConfigError

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
# One weights mapping for every query of a batch, or one per query (None: all six dimensions equally).
WeightsArg = Mapping[str, float] | None | Sequence[Mapping[str, float] | None]


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


class CatalogNeighbours:
    """Weighted cosine neighbours over an ``ItemCatalog``'s vectors through FAISS (a ``NeighbourSource``).

    One FAISS index per dimension slab (for the one-dimension ``nb_<dim>`` queries, which then read a sixth
    of the memory) and one over each level's concatenated rows (hook queries and any other weights). Below
    ``ivf_min_items`` the indexes are flat (exact); at or above it they are IVF (``nlist`` ≈ 2·√N cells),
    because an exact scan of 100k x 6 x 64 floats per channel is memory-bound at tens of milliseconds, while
    the IVF reads a few percent of it. ``nprobe`` defaults to ``max(16, nlist // 32)`` (about 3% of the
    cells): recall against the exact scan stayed at 0.99 from 100k items (nprobe 19) to 1M (nprobe 62), where
    a fixed 16 fell to 0.80 (``bench/rank.py`` reports this recall against the
    exact scan). Indexes are built on first use of a (level, dimension), so unused ones cost nothing.
    """

    def __init__(
        self,
        catalog: ItemCatalog,
        ivf_min_items: int = 50_000,
        nprobe: int | None = None,
        search_threads: int = 1,
    ) -> None:
        if catalog.video is None:
            raise ConfigError("CatalogNeighbours needs a catalog with vectors")
        if nprobe is not None and nprobe < 1:
            raise ConfigError(f"nprobe must be >= 1, got {nprobe}")
        self.catalog = catalog
        self.approximate = len(catalog) >= ivf_min_items
        self.nprobe = nprobe
        # One request's batch is a few queries: OpenMP threads waiting for each other on a busy machine cost
        # more than they save (a 200-item flat search took 5 ms median with 2 threads, 8 µs with 1).
        # omp_set_num_threads is per calling thread, so setting it around a search leaves other threads be.
        self.search_threads = search_threads
        self._indexes: dict[tuple[str, int | None], Any] = {}

    def _block(self, level: str) -> np.ndarray:
        block = self.catalog.hook if level == "hook" else self.catalog.video
        if block is None:
            raise ConfigError(f"the catalog has no {level} vectors")
        return block

    def _index(self, level: str, dim: int | None) -> Any:
        key = (level, dim)
        idx = self._indexes.get(key)
        if idx is not None:
            return idx
        import faiss

        block = self._block(level)
        n = len(block)
        data = np.ascontiguousarray(
            block[:, dim] if dim is not None else block.reshape(n, -1), dtype=np.float32
        )
        width = data.shape[1]
        if self.approximate:
            nlist = max(1, int(2 * np.sqrt(n)))
            idx = faiss.IndexIVFFlat(faiss.IndexFlatIP(width), width, nlist, faiss.METRIC_INNER_PRODUCT)
            # k-means needs ~40 points per cell (FAISS warns below 39): train on a fixed sample.
            sample = np.random.default_rng(0).choice(n, size=min(n, 40 * nlist), replace=False)
            idx.train(data[np.sort(sample)])
            idx.add(data)
            idx.nprobe = min(self.nprobe or max(16, nlist // 32), nlist)
        else:
            idx = faiss.IndexFlatIP(width)
            idx.add(data)
        self._indexes[key] = idx
        return idx

    def _search(self, index: Any, batch: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(self.search_threads)
        try:
            scores, ids = index.search(batch, k)
        finally:
            faiss.omp_set_num_threads(before)
        return scores, ids

    def search_positions(
        self,
        queries: np.ndarray,
        weights: WeightsArg,
        k: int,
        level: str,
        catalog: ItemCatalog,
        exclude: np.ndarray | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per (6, d) query: (catalog positions, scores), best first, at most ``k``, none in ``exclude``.

        ``weights``: one mapping for every query or one per query; queries that weigh a single dimension go
        to that dimension's index together, the others to the level's concatenated index.
        """
        if catalog is not self.catalog:
            raise ConfigError("CatalogNeighbours answers only for the catalog it was built on")
        q = np.asarray(queries, dtype=np.float32)
        nq = len(q)
        wl = _per_query(weights, nq)
        excl = np.zeros(0, dtype=np.int64) if exclude is None else np.asarray(exclude, dtype=np.int64)
        kk = min(k + len(excl), len(self.catalog))
        out: list[tuple[np.ndarray, np.ndarray]] = [
            (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        ] * nq
        if nq == 0 or k <= 0:
            return out
        w = np.array([[1.0 if x is None else float(x.get(d.value, 0.0)) for d in DIMENSIONS] for x in wl])
        w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
        single = (w > 0).sum(axis=1) == 1
        groups: dict[int | None, list[int]] = {}
        for i in range(nq):
            groups.setdefault(int(np.argmax(w[i])) if single[i] else None, []).append(i)
        for dim, rows in groups.items():
            if dim is not None:
                batch = np.ascontiguousarray(q[rows, dim])
            else:
                batch = np.ascontiguousarray((q[rows] * w[rows, :, None]).reshape(len(rows), -1))
            scores, ids = self._search(self._index(level, dim), batch.astype(np.float32), kk)
            for r, sc, ii in zip(rows, scores, ids, strict=True):
                keep = ii >= 0
                if len(excl):
                    keep &= ~np.isin(ii, excl)
                out[r] = (ii[keep][:k].astype(np.int64), sc[keep][:k].astype(np.float32))
        return out

    def search(
        self, query: np.ndarray, weights: Mapping[str, float] | None, k: int, level: str
    ) -> list[tuple[str, float]]:
        """The ``NeighbourSource`` single-query form: (video id, score), best first."""
        res = self.search_positions(query[None], weights, k, level, self.catalog)
        if not res:
            return []
        pos, sc = res[0]
        return [(self.catalog.video_ids[int(i)], float(s)) for i, s in zip(pos, sc, strict=True)]


class IndexNeighbours:
    """A NeighbourSource over the indexer's ``VectorIndex`` (``indexer.open_index(...)``).

    Dimensions not named in ``weights`` weigh 0 here (the indexer's default for unnamed ones is 1), and
    ``k`` is capped at the index's ``MAX_K``. A batch of queries goes to the index's ``search_many`` (one
    FAISS call) when the index has it, else one ``search`` per query.
    """

    def __init__(self, index: Any) -> None:
        self.index = index

    @staticmethod
    def _weights(weights: Mapping[str, float] | None) -> dict[str, float]:
        # None here means all six dimensions equally (the ranker's channels), spelt out: the indexer reads
        # no weights at the hook level as its DEFAULT_HOOK_WEIGHTS.
        if weights is None:
            return {d.value: 1.0 for d in DIMENSIONS}
        return {d.value: float(weights.get(d.value, 0.0)) for d in DIMENSIONS}

    def search(
        self, query: np.ndarray, weights: Mapping[str, float] | None, k: int, level: str
    ) -> list[tuple[str, float]]:
        from indexer import MAX_K

        hits = self.index.search(query, weights=self._weights(weights), k=max(1, min(k, MAX_K)), level=level)
        return [(h.video_id, float(h.score)) for h in hits]

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
        from indexer import MAX_K

        kk = max(1, min(k, MAX_K))
        wl = [self._weights(x) for x in _per_query(weights, len(queries))]
        excl = [] if exclude is None else [catalog.video_ids[int(i)] for i in exclude]
        many = getattr(self.index, "search_many", None)
        if many is not None:
            lists = many(np.asarray(queries), wl, kk, level, exclude=excl)
        else:
            lists = [
                self.index.search(q, weights=w, k=kk, level=level, exclude=excl)
                for q, w in zip(queries, wl, strict=True)
            ]
        lookup = catalog.index
        out = []
        for hits in lists:
            pos = np.fromiter((lookup.get(h.video_id, -1) for h in hits), dtype=np.int64, count=len(hits))
            sc = np.fromiter((h.score for h in hits), dtype=np.float32, count=len(hits))
            keep = pos >= 0
            out.append((pos[keep], sc[keep]))
        return out


def _per_query(weights: WeightsArg, nq: int) -> list[Mapping[str, float] | None]:
    if weights is None or isinstance(weights, Mapping):
        return [weights] * nq
    wl = list(weights)
    if len(wl) != nq:
        raise ConfigError(f"{len(wl)} weight mappings for {nq} queries")
    return wl


def _take_unseen(order: np.ndarray, excluded: np.ndarray, k: int) -> np.ndarray:
    if k <= 0 or len(order) == 0:
        return np.zeros(0, dtype=np.int64)
    head = order[: k + len(excluded)]
    return head[~np.isin(head, excluded)][:k]


def _search_positions(
    source: NeighbourSource,
    queries: np.ndarray,
    weights: WeightsArg,
    k: int,
    level: str,
    catalog: ItemCatalog,
    exclude: np.ndarray,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """A source's batch form when it has one, else its one-query ``search`` (ids mapped to positions)."""
    batch = getattr(source, "search_positions", None)
    if batch is not None:
        return list(batch(queries, weights, k, level, catalog, exclude=exclude))
    out = []
    for q, w in zip(queries, _per_query(weights, len(queries)), strict=True):
        pairs = [(catalog.index.get(v, -1), s) for v, s in source.search(q, w, k + len(exclude), level)]
        pos = np.array([p for p, _ in pairs], dtype=np.int64)
        sc = np.array([s for _, s in pairs], dtype=np.float32)
        keep = (pos >= 0) & ~np.isin(pos, exclude)
        out.append((pos[keep][:k], sc[keep][:k]))
    return out


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
            weights = [{dim.value: 1.0} for dim in DIMENSIONS for _ in range(ns)]
            res = _search_positions(ctx.neighbours, queries, weights, quota, "video", cat, excluded)
            for j, name in enumerate(NEIGHBOUR_CHANNELS):
                found[name] = _best_over_seeds(res[j * ns : (j + 1) * ns], excluded, cfg.quota(name))
        if cat.hook is not None and cfg.quota("hook") > 0:
            k = cfg.quota("hook")
            res = _search_positions(ctx.neighbours, cat.hook[seeds], None, k, "hook", cat, excluded)
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
