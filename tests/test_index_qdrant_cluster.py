"""Qdrant cluster features through qdrant-client local mode: aliases and rebuilds, quantization options,
read consistency, payload filters (checked against a brute-force filter over the records)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from indexer.qdrant_backend import QdrantConfig, QdrantIndex
from indexer.query import Filters
from indexer.synthetic import make_records
from sv6d.errors import ConfigError
from sv6d.record import SV6DRecord

D = 8
CLUSTER = {
    "shard_number": 6,
    "replication_factor": 2,
    "write_consistency_factor": 1,
    "read_consistency": "majority",
    "on_disk": True,
    "quantization": "int8",
    "oversampling": 3.0,
    "rescore": True,
    "hnsw_ef": 64,
}


def collections(ix: QdrantIndex) -> set[str]:
    return {c.name for c in ix.client.get_collections().collections}


def aliases(ix: QdrantIndex) -> dict[str, str]:
    return {a.alias_name: a.collection_name for a in ix.client.get_aliases().aliases}


@pytest.fixture
def live() -> Iterator[QdrantIndex]:
    ix = QdrantIndex(location=":memory:")
    ix.upsert(make_records(30, D, seed=1))
    yield ix
    ix.close()


def test_first_write_creates_a_versioned_collection_behind_both_aliases(live: QdrantIndex) -> None:
    assert collections(live) == {"sv6d__v1", "sv6d__v1_segments"}
    assert aliases(live) == {"sv6d": "sv6d__v1", "sv6d_segments": "sv6d__v1_segments"}
    assert live.live_collection == "sv6d__v1"
    assert live.count() == 30


def test_rebuild_serves_the_old_version_until_one_atomic_switch(live: QdrantIndex) -> None:
    old = make_records(30, D, seed=1)
    new = make_records(25, 2 * D, seed=2, prefix="w")  # new heads: a new vector size and new videos
    probe = old[3].video
    before = [h.video_id for h in live.search(probe, k=5)]
    seen_during: list[list[str]] = []

    def stream() -> Iterator[SV6DRecord]:
        for i, r in enumerate(new):
            if i % 10 == 0:  # queries while the new version fills: still the old one, untouched
                seen_during.append([h.video_id for h in live.search(probe, k=5)])
                assert live.count() == 30
            yield r

    result = live.rebuild(stream(), batch_size=7)

    assert len(seen_during) == 3
    assert all(ids == before for ids in seen_during)
    assert (result.previous, result.current, result.videos) == ("sv6d__v1", "sv6d__v2", 25)
    assert result.dropped == ("sv6d__v1", "sv6d__v1_segments")
    assert collections(live) == {"sv6d__v2", "sv6d__v2_segments"}
    assert aliases(live) == {"sv6d": "sv6d__v2", "sv6d_segments": "sv6d__v2_segments"}
    assert live.dim == 2 * D
    assert live.count() == 25
    assert not live.contains(old[0].video_id)
    hits = live.search(new[4].video, k=3)
    assert hits[0].video_id == new[4].video_id
    assert hits[0].score == pytest.approx(6.0, abs=1e-4)
    got = live.get(new[7].video_id)
    np.testing.assert_allclose(got.video, new[7].video, atol=1e-6)
    assert len(got.segments) == len(new[7].segments)


def test_a_failed_rebuild_leaves_the_live_version_and_no_debris(live: QdrantIndex) -> None:
    new = make_records(20, D, seed=5, prefix="w")

    def broken() -> Iterator[SV6DRecord]:
        yield from new[:12]
        raise RuntimeError("encoder crashed mid-stream")

    with pytest.raises(RuntimeError, match="encoder crashed"):
        live.rebuild(broken(), batch_size=5)
    assert collections(live) == {"sv6d__v1", "sv6d__v1_segments"}
    assert aliases(live)["sv6d"] == "sv6d__v1"
    assert live.count() == 30
    with pytest.raises(ValueError, match="rebuild got no records"):
        live.rebuild(iter(()))
    assert collections(live) == {"sv6d__v1", "sv6d__v1_segments"}


def test_rebuild_can_keep_the_old_version_and_change_settings(live: QdrantIndex) -> None:
    result = live.rebuild(make_records(10, D, seed=9), config={"quantization": "int8"}, drop_old=False)
    assert result.dropped == ()
    assert collections(live) == {"sv6d__v1", "sv6d__v1_segments", "sv6d__v2", "sv6d__v2_segments"}
    assert live.config.quantization == "int8"
    assert live.client.get_collection("sv6d__v1").points_count == 30
    assert live.count() == 10
    # the next version number skips every existing one
    assert live.rebuild(make_records(4, D, seed=10)).current == "sv6d__v3"


def test_aliases_and_versions_survive_reopening_a_path(tmp_path: Path) -> None:
    path = str(tmp_path / "q")
    with QdrantIndex(path=path, collection="catalogue") as ix:
        ix.upsert(make_records(12, D, seed=1))
        ix.rebuild(make_records(9, D, seed=2))
    with QdrantIndex(path=path, collection="catalogue") as ix:
        assert ix.live_collection == "catalogue__v2"
        assert (ix.count(), ix.dim) == (9, D)


def test_a_pre_alias_store_is_read_then_replaced_by_its_first_rebuild(tmp_path: Path) -> None:
    from qdrant_client import QdrantClient

    from indexer.qdrant_backend import collection_specs

    path = str(tmp_path / "legacy")
    client = QdrantClient(path=path)
    for spec in collection_specs("sv6d", D, QdrantConfig()):
        client.create_collection(spec.name, **spec.create_kwargs())
    client.close()
    with QdrantIndex(path=path) as ix:
        assert (ix.live_collection, ix.dim, ix.count()) == ("sv6d", D, 0)
        ix.upsert(make_records(5, D, seed=1))
        assert ix.count() == 5
        ix.rebuild(make_records(7, D, seed=2))
        assert aliases(ix) == {"sv6d": "sv6d__v1", "sv6d_segments": "sv6d__v1_segments"}
        assert collections(ix) == {"sv6d__v1", "sv6d__v1_segments"}
        assert ix.count() == 7


# ------------------------------------------------------------------------------- settings and filters


def brute_force(records: list[SV6DRecord], q: np.ndarray, flt: Filters, k: int) -> list[str]:
    def keep(r: SV6DRecord) -> bool:
        keys = {f"{t.dimension.value}:{t.label}" for t in r.tags}
        created = r.created_at
        return (
            all(t.key in keys for t in flt.tags)
            and (flt.min_duration_s is None or r.duration_s >= flt.min_duration_s)
            and (flt.max_duration_s is None or r.duration_s <= flt.max_duration_s)
            and (flt.orientation is None or r.orientation == flt.orientation)
            and (flt.creator is None or r.creator == flt.creator)
            and (flt.created_after is None or (created is not None and created > flt.created_after))
        )

    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    scored = [(-float(np.einsum("ij,ij->", r.video, qn)), r.video_id) for r in records if keep(r)]
    return [vid for _, vid in sorted(scored)[:k]]


def test_cluster_settings_are_accepted_in_local_mode_and_filters_stay_exact() -> None:
    records = make_records(120, D, seed=4)
    tag = next(f"{t.dimension.value}:{t.label}" for t in records[0].tags)
    cases = [
        Filters(),
        Filters(tags=(tag,)),
        Filters(min_duration_s=10, max_duration_s=40),
        Filters(orientation="portrait"),
        Filters(created_after=datetime(2024, 3, 1, tzinfo=UTC)),
        Filters(creator="cy", orientation="landscape"),
    ]
    with QdrantIndex(location=":memory:", **CLUSTER) as ix:
        assert ix.config == QdrantConfig(**CLUSTER)
        assert ix.exact  # rescoring with the original vectors keeps the scores exact
        ix.upsert(records)
        q = records[11].video
        for flt in cases:
            expected = brute_force(records, q, flt, 10)
            assert expected, f"filter {flt} selects nothing: the case tests nothing"
            assert [h.video_id for h in ix.search(q, k=10, filters=flt)] == expected, flt
        assert ix.contains(records[5].video_id)
        np.testing.assert_allclose(ix.get(records[5].video_id).hook, records[5].hook, atol=1e-6)


def test_quantization_without_rescoring_widens_the_candidates() -> None:
    with QdrantIndex(location=":memory:", quantization="int8", rescore=False) as ix:
        assert not ix.exact
        records = make_records(40, D, seed=6)
        ix.upsert(records)
        assert ix.search(records[2].video, k=1)[0].video_id == records[2].video_id


def test_config_object_and_keywords_merge_and_bad_settings_name_the_field() -> None:
    base = QdrantConfig(shard_number=4, replication_factor=3)
    with QdrantIndex(location=":memory:", config=base, replication_factor=2) as ix:
        assert (ix.config.shard_number, ix.config.replication_factor) == (4, 2)
    cases = [
        ({"quantization": "int4"}, "quantization"),
        ({"replication_factor": 2, "write_consistency_factor": 3}, "exceeds replication_factor 2"),
        ({"read_consistency": "most"}, "read_consistency"),
        ({"oversampling": 0.5}, "oversampling"),
        ({"shards": 3}, r"shards.*valid settings: .*shard_number"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ConfigError, match=match):
            QdrantIndex(location=":memory:", **kwargs)
    with pytest.raises(ConfigError, match="collection name 'a b'"):
        QdrantIndex(location=":memory:", collection="a b")
