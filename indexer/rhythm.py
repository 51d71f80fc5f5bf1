"""Edit-rhythm re-ranking of similar hooks: align the two hooks' shot sequences over time.

A hook's shots are the record's segments that overlap its hook window, clipped to it, with times relative
to the window's start. Two hooks are aligned by dynamic time warping over their shot sequences (exact,
deterministic; a hook has a handful of shots, so the table is tiny). The cost of pairing shot i with shot j:

    (1 - timing) · (1 - cos_w(a_i, b_j)) / 2  +  timing · (|start_i - start_j| + |end_i - end_j|) / (2 · H)

where ``cos_w`` is the weighted mean over dimensions of the per-dimension cosines of the two shots' vectors
(the hook weights), H the longer hook window and ``timing`` in [0, 1] the share of the timing term (1: cut
times alone), so the cost lies in [0, 1] (the cut times enter through the shot boundaries). The rhythm
similarity is 1 minus the mean cost along the best warping path.

``rerank_hooks`` re-orders the top hits of a hook search by ``mean hook score + alpha · rhythm similarity``
(the mean hook score is the hit's ``score`` divided by the sum of the weights); hits keep their index scores.
Off by default (no search path calls it; ``sv6d eval-hooks --real --rhythm`` measures it), because it did
not improve held-out P@5. Measured (``--rhythm tune``: ``RHYTHM_GRID`` searched on the training sources,
top 30 hits re-ordered; evidence backbone with the packaged hook heads, DEFAULT_HOOK_WEIGHTS; before the
opening-style blend of ``indexer.base``, which re-orders the same top hits): evidence-1.9,
chosen alpha 0.01, timing 0; training P@5 0.9735 -> 0.9735, held-out 0.7394 -> 0.7394 (same footage@5
0.059 -> 0.064). With the heads trained together on evidence-1.8: alpha 0.02, timing 0.75; training P@5
0.9225 -> 0.9235, held-out 0.6924 -> 0.6909 (same footage@5 0.068 -> 0.077). With the earlier heads: alpha
0.01, timing 0.75; training 0.6324 -> 0.6343, held-out 0.5227 -> 0.5212; larger alphas lowered training P@5
there (alpha 0.05: 0.606-0.625) and raised the same-footage share: the shots' vectors carry their footage's
content, and the opening styles are already what the hook heads separate. A cut-time-only Hungarian
matching (tolerance 0.1-1 s) tried on the training sources did no better (0.6343 at best).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from indexer.hits import Hit
from indexer.query import Weights
from sv6d.record import SV6DRecord


@dataclass(frozen=True)
class HookShots:
    """One hook's shots: starts and ends relative to the window start (s), vectors (m, 6, d), window H."""

    starts: np.ndarray
    ends: np.ndarray
    vectors: np.ndarray
    length: float


def hook_shots(record: SV6DRecord) -> HookShots:
    """The segments overlapping the hook window, clipped to it; one shot over the window with the video's
    vectors (the segments' space) when the record has no segments there."""
    h0, h1 = record.hook_window
    segs = [s for s in record.segments if s.start_s < h1 and s.end_s > h0]
    if not segs:
        return HookShots(np.zeros(1), np.array([h1 - h0]), np.asarray(record.video)[None], h1 - h0)
    starts = np.array([max(s.start_s, h0) - h0 for s in segs])
    ends = np.array([min(s.end_s, h1) - h0 for s in segs])
    return HookShots(starts, ends, np.stack([np.asarray(s.vectors) for s in segs]), h1 - h0)


def _dtw(cost: np.ndarray) -> float:
    """Mean cost along the cheapest monotone warping path from (0, 0) to (n-1, m-1)."""
    n, m = cost.shape
    total = np.full((n + 1, m + 1), np.inf)
    steps = np.zeros((n + 1, m + 1))
    total[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            prev = min(
                (total[i - 1, j - 1], steps[i - 1, j - 1]),
                (total[i - 1, j], steps[i - 1, j]),
                (total[i, j - 1], steps[i, j - 1]),
            )
            total[i, j] = prev[0] + cost[i - 1, j - 1]
            steps[i, j] = prev[1] + 1
    return float(total[n, m] / steps[n, m])


def rhythm_similarity(a: HookShots, b: HookShots, weights: Weights, timing: float) -> float:
    """1 - the mean DTW cost of aligning the two shot sequences (see the module docstring), in [0, 1];
    ``timing`` in [0, 1] is the share of the cut-time term; shots compare by the weighted mean of their
    per-dimension cosines under ``weights``."""
    if not 0.0 <= timing <= 1.0:
        raise ValueError(f"timing must lie in [0, 1], got {timing}")
    w = weights.array.astype(np.float64)
    cos = np.einsum("idk,jdk->ijd", a.vectors, b.vectors) @ (w / w.sum())  # (n, m)
    h = max(a.length, b.length)
    dt = np.abs(a.starts[:, None] - b.starts[None, :]) + np.abs(a.ends[:, None] - b.ends[None, :])
    cost = (1.0 - timing) * (1.0 - cos) / 2.0 + timing * np.minimum(dt / (2.0 * h), 1.0)
    return 1.0 - _dtw(cost)


def rerank_hooks(
    query: SV6DRecord,
    hits: Sequence[Hit],
    get: Callable[[str], SV6DRecord],
    weights: Weights,
    alpha: float,
    timing: float,
) -> list[Hit]:
    """``hits`` (a hook search's top hits) re-ordered by mean hook score + ``alpha`` · rhythm similarity
    (stable: ties keep the index's order). ``get`` fetches a hit's record; ``weights``: the search's."""
    if alpha == 0 or not hits:
        return list(hits)
    q = hook_shots(query)
    total = weights.total
    keyed = [
        (h.score / total + alpha * rhythm_similarity(q, hook_shots(get(h.video_id)), weights, timing), -i)
        for i, h in enumerate(hits)
    ]
    order = sorted(range(len(hits)), key=lambda i: keyed[i], reverse=True)
    return [hits[i] for i in order]
