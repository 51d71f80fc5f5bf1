"""Copying between backends: local mode into the embedded engine, the embedded engine to a Qdrant collection.

No Qdrant server runs here: the push goes through qdrant-client's API against its in-process mode, the same
calls a server receives (collections, payload indexes, upserts), not a server itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer import VectorIndex, open_index
from indexer.qdrant_backend import QdrantIndex
from indexer.qdrant_edge_backend import EdgeIndex
from indexer.synthetic import make_records
from indexer.transfer import copy_index, iter_records
from sv6d.errors import SV6DError
from sv6d.record import SV6DRecord

D = 8


def assert_same_index(a: VectorIndex, b: VectorIndex, records: list[SV6DRecord]) -> None:
    assert a.count() == b.count() == len(records)
    assert a.video_ids() == b.video_ids()
    for r in records[::7]:
        assert b.get(r.video_id).model_dump_json() == r.model_dump_json()
    q = make_records(1, D, seed=77)[0]
    for level in ("video", "hook", "segment"):
        x = a.search(q.video, {"camera": 2.0}, k=8, level=level, filters={"orientation": "portrait"})
        y = b.search(q.video, {"camera": 2.0}, k=8, level=level, filters={"orientation": "portrait"})
        assert [h.video_id for h in x] == [h.video_id for h in y]
        assert [h.score for h in x] == pytest.approx([h.score for h in y], abs=1e-5)


def test_local_mode_store_moves_into_the_engine(tmp_path: Path) -> None:
    records = make_records(45, D, seed=5)
    local = open_index(f"qdrant+local://{tmp_path / 'local'}")
    local.upsert(records)
    edge = open_index(f"qdrant+edge://{tmp_path / 'edge'}")
    assert isinstance(edge, EdgeIndex)
    assert copy_index(local, edge, batch_size=10) == 45
    assert_same_index(local, edge, records)
    local.close()
    edge.close()


def test_edge_pushes_to_a_qdrant_collection(tmp_path: Path) -> None:
    records = make_records(30, D, seed=6)
    edge = open_index(f"qdrant+edge://{tmp_path}")
    edge.upsert(records)
    collection = QdrantIndex(location=":memory:", collection="from_edge")
    assert copy_index(edge, collection, batch_size=8) == 30
    assert_same_index(edge, collection, records)
    # A second push after local changes replaces what changed and adds what is new.
    changed = records[0].model_copy(update={"title": "edited on the device"})
    extra = make_records(2, D, seed=8, prefix="new")
    edge.upsert([changed, *extra])
    assert copy_index(edge, collection) == 32
    assert collection.get(records[0].video_id).title == "edited on the device"
    assert collection.count() == 32
    edge.close()
    collection.close()


def test_edge_replaces_a_collection_in_one_switch(tmp_path: Path) -> None:
    records = make_records(12, D, seed=9)
    edge = open_index(f"qdrant+edge://{tmp_path}")
    edge.upsert(records)
    collection = QdrantIndex(location=":memory:")
    collection.upsert(make_records(3, D, seed=1, prefix="old"))
    result = collection.rebuild(r for batch in iter_records(edge, 5) for r in batch)
    assert result.videos == 12
    assert_same_index(edge, collection, records)
    edge.close()
    collection.close()


def test_batch_size_checked(tmp_path: Path) -> None:
    ix = open_index("qdrant::memory:")
    with pytest.raises(SV6DError, match="batch_size must be >= 1, got 0"):
        next(iter_records(ix, 0))
    ix.close()
