"""``indexer.rhythm``: edit-rhythm alignment of two hooks' shot sequences and the re-ranking it drives."""

from __future__ import annotations

import numpy as np
import pytest

from indexer import Weights
from indexer.hits import Hit
from indexer.rhythm import hook_shots, rerank_hooks, rhythm_similarity
from indexer.synthetic import make_records
from sv6d.record import Segment, SV6DRecord

W = Weights.uniform()


def _with_cuts(record: SV6DRecord, cuts: list[float], vectors: list[int] | None = None) -> SV6DRecord:
    """``record`` with shots cut at ``cuts`` (seconds), each shot given the video vectors of
    ``make_records``' record ``vectors[i]`` (default: all the same)."""
    pool = make_records(8, d=16, seed=11)
    bounds = [0.0, *cuts, record.duration_s]
    picks = vectors or [0] * (len(bounds) - 1)
    segments = [
        Segment(start_s=a, end_s=b, vectors=pool[p].video)
        for a, b, p in zip(bounds, bounds[1:], picks, strict=False)
    ]
    return record.model_copy(update={"segments": segments})


@pytest.fixture(scope="module")
def base() -> SV6DRecord:
    return make_records(1, d=16, seed=3)[0].model_copy(update={"duration_s": 10.0, "hook_window": (0.0, 3.0)})


def test_hook_shots_are_the_segments_clipped_to_the_window(base):
    shots = hook_shots(_with_cuts(base, [1.0, 2.5, 6.0]))
    np.testing.assert_allclose(shots.starts, [0.0, 1.0, 2.5])
    np.testing.assert_allclose(shots.ends, [1.0, 2.5, 3.0])
    assert shots.vectors.shape == (3, 6, 16)
    assert shots.length == 3.0


def test_identical_rhythm_scores_one_and_cut_times_matter(base):
    a = hook_shots(_with_cuts(base, [1.0, 2.0]))
    same = hook_shots(_with_cuts(base, [1.0, 2.0]))
    moved = hook_shots(_with_cuts(base, [0.2, 2.8]))
    for timing in (0.0, 0.5, 1.0):
        assert rhythm_similarity(a, same, W, timing) == pytest.approx(1.0)
    assert rhythm_similarity(a, moved, W, 1.0) < rhythm_similarity(a, same, W, 1.0) - 0.1
    # with the shots' vectors alone (timing 0) equal shots align at no cost, wherever the cuts are
    assert rhythm_similarity(a, moved, W, 0.0) == pytest.approx(1.0)
    other = hook_shots(_with_cuts(base, [1.0, 2.0], vectors=[1, 2, 3]))
    assert rhythm_similarity(a, other, W, 0.0) < 1.0
    with pytest.raises(ValueError, match=r"timing must lie in \[0, 1\]"):
        rhythm_similarity(a, same, W, 1.5)


def test_rerank_moves_the_same_rhythm_up_and_is_deterministic(base):
    query = _with_cuts(base, [1.0, 2.0]).model_copy(update={"video_id": "q"})
    far = _with_cuts(base, [0.3]).model_copy(update={"video_id": "far"})
    near = _with_cuts(base, [1.0, 2.0]).model_copy(update={"video_id": "near"})
    tie = _with_cuts(base, [1.0, 2.0]).model_copy(update={"video_id": "tie"})
    records = {r.video_id: r for r in (far, near, tie)}
    hits = [Hit("far", 5.9, {}), Hit("near", 5.8, {}), Hit("tie", 5.8, {})]
    assert rerank_hooks(query, hits, records.__getitem__, W, 0.0, 1.0) == hits
    ranked = rerank_hooks(query, hits, records.__getitem__, W, 0.5, 1.0)
    assert [h.video_id for h in ranked] == ["near", "tie", "far"]  # the tie keeps the index's order
    assert [h.score for h in ranked] == [5.8, 5.8, 5.9]  # hits keep their index scores
    assert rerank_hooks(query, hits, records.__getitem__, W, 0.5, 1.0) == ranked
