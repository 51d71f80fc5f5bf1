"""Congruence: the same records and queries through FAISS Flat, Qdrant :memory: (qdrant-client's local
mode) and Qdrant Edge (the embedded engine, exact search; its concatenated query and its per-dimension
formula) give the same answers."""

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


OTHERS = ["qdrant-memory", "qdrant-edge", "qdrant-edge-formula"]


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, VectorIndex]]:
    records = make_records(300, D, seed=3)
    edge_dir = tmp_path_factory.mktemp("edge")
    out = {
        "faiss": open_index(data_dir=tmp_path_factory.mktemp("faiss")),
        "qdrant-memory": open_index("qdrant::memory:"),
        "qdrant-edge": open_index(f"qdrant+edge://{edge_dir / 'concat'}", exact_search=True),
        "qdrant-edge-formula": open_index(
            f"qdrant+edge://{edge_dir / 'formula'}", exact_search=True, fusion="formula"
        ),
    }
    for ix in out.values():
        ix.upsert(records[:200])
        ix.upsert(records[200:])
        ix.delete([records[0].video_id])
    yield out
    for ix in out.values():
        ix.close()


@pytest.fixture(params=OTHERS)
def pair(request: pytest.FixtureRequest, indexes: dict[str, VectorIndex]) -> tuple[VectorIndex, VectorIndex]:
    """FAISS Flat and one Qdrant backend."""
    return indexes["faiss"], indexes[request.param]


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
    assert faiss_ix.video_ids() == qdrant_ix.video_ids()
    for vid in ("v42", "v250"):
        a, b = faiss_ix.get(vid), qdrant_ix.get(vid)
        assert a.model_dump_json() == b.model_dump_json()
