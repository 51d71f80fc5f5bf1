"""Congruence: the same records and queries through FAISS Flat and Qdrant :memory: give the same answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from indexer import Hit, VectorIndex, open_index
from indexer.synthetic import make_records

pytestmark = pytest.mark.usefixtures("one_faiss_thread")


D = 16
WEIGHTS = [None, {"editing": 2.0, "narrative": 0.5}, {"subject": 0.0, "camera": 3.0}, {"aesthetics": 1e-3}]
FILTERS = [
    None,
    {"tags": ["editing:hard_cut"]},
    {"orientation": "portrait", "min_duration_s": 15},
    {"created_after": datetime(2024, 5, 1, tzinfo=UTC), "creator": "cy"},
]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VectorIndex, VectorIndex]]:
    records = make_records(300, D, seed=3)
    faiss_ix = open_index(data_dir=tmp_path_factory.mktemp("faiss"))
    qdrant_ix = open_index("qdrant::memory:")
    for ix in (faiss_ix, qdrant_ix):
        ix.upsert(records[:200])
        ix.upsert(records[200:])
        ix.delete([records[0].video_id])
    yield faiss_ix, qdrant_ix
    faiss_ix.close()
    qdrant_ix.close()


def assert_congruent(a: list[Hit], b: list[Hit]) -> None:
    assert len(a) == len(b)
    np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=1e-4)
    for x, y in zip(a, b, strict=True):
        if x.video_id != y.video_id:  # ties aside
            assert abs(x.score - y.score) < 1e-4
            continue
        assert x.window == pytest.approx(y.window) if x.window else y.window is None
        for dim, s in x.scores.items():
            assert s == pytest.approx(y.scores[dim], abs=1e-4)
        assert x.shared_tags == y.shared_tags
    top_a = {h.video_id for h in a if h.score > a[-1].score + 1e-4}
    top_b = {h.video_id for h in b if h.score > b[-1].score + 1e-4}
    assert top_a == top_b


@pytest.mark.parametrize("level", ["video", "hook", "segment"])
@pytest.mark.parametrize("w", range(len(WEIGHTS)))
@pytest.mark.parametrize("f", range(len(FILTERS)))
def test_search_congruent(pair: tuple[VectorIndex, VectorIndex], level, w: int, f: int) -> None:
    faiss_ix, qdrant_ix = pair
    for seed in (11, 12):
        query = make_records(1, D, seed=seed)[0].hook
        a = faiss_ix.search(query, WEIGHTS[w], k=10, level=level, filters=FILTERS[f])
        b = qdrant_ix.search(query, WEIGHTS[w], k=10, level=level, filters=FILTERS[f])
        assert a, "the query should find something"
        assert_congruent(a, b)


@pytest.mark.parametrize("vid", ["v5", "v77", "v250"])
def test_similar_hooks_and_recommend_congruent(pair: tuple[VectorIndex, VectorIndex], vid: str) -> None:
    faiss_ix, qdrant_ix = pair
    for w in WEIGHTS:
        assert_congruent(faiss_ix.similar_hooks(vid, 15, w), qdrant_ix.similar_hooks(vid, 15, w))
    assert_congruent(
        faiss_ix.recommend_by_example([vid, "v1"], ["v2"], k=10),
        qdrant_ix.recommend_by_example([vid, "v1"], ["v2"], k=10),
    )


def test_counts_and_records_agree(pair: tuple[VectorIndex, VectorIndex], tmp_path: Path) -> None:
    faiss_ix, qdrant_ix = pair
    assert faiss_ix.count() == qdrant_ix.count() == 299
    a, b = faiss_ix.get("v42"), qdrant_ix.get("v42")
    assert a.model_dump_json() == b.model_dump_json()
