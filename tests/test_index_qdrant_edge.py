"""Qdrant Edge specifics: the chooser, persistence, one process per shard, settings, the stored layout.

The search contract itself runs in test_index_contract.py and test_index_congruence.py."""

from __future__ import annotations

import logging
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import indexer.factory as factory
from indexer import open_index
from indexer.qdrant_backend import QdrantIndex
from indexer.qdrant_edge_backend import SHARD_SUBDIR, EdgeIndex
from indexer.qdrant_layout import PAYLOAD_INDEXES, point_id, vector_names
from indexer.synthetic import make_records
from sv6d.errors import ConfigError

D = 8


def test_path_location_picks_the_engine_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="indexer.factory"):
        ix = open_index(f"qdrant+path://{tmp_path / 'new'}")
    assert isinstance(ix, EdgeIndex)
    assert "Qdrant Edge (the embedded engine is the default" in caplog.text
    ix.close()
    # A store of qdrant-client's local mode keeps its engine, and says why.
    local = open_index(f"qdrant+local://{tmp_path / 'old'}")
    assert isinstance(local, QdrantIndex)
    local.upsert(make_records(3, D))
    local.close()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="indexer.factory"):
        again = open_index(f"qdrant+path://{tmp_path / 'old'}")
    assert isinstance(again, QdrantIndex)
    assert again.count() == 3
    assert "qdrant-client local mode (it holds a store of qdrant-client's local mode)" in caplog.text
    again.close()


def test_large_local_mode_store_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = open_index(f"qdrant+local://{tmp_path}")
    local.upsert(make_records(4, D))
    local.close()
    # The real threshold is 20,000 points (qdrant-client's own warning); a small one keeps the test fast.
    monkeypatch.setattr(factory, "LOCAL_MODE_MAX_POINTS", 3)
    with pytest.warns(UserWarning, match=r"scans 4 videos in Python on every query \(made for up to 3\)"):
        ix = open_index(f"qdrant+path://{tmp_path}")
    ix.close()


def test_memory_location_stays_local_mode() -> None:
    ix = open_index("qdrant::memory:")
    assert isinstance(ix, QdrantIndex)
    ix.close()


def test_reopen_keeps_data_and_layout(tmp_path: Path) -> None:
    records = make_records(20, D, seed=1)
    with open_index(f"qdrant+edge://{tmp_path}") as ix:
        ix.upsert(records)
    with open_index(f"qdrant+edge://{tmp_path}") as ix:
        assert isinstance(ix, EdgeIndex)
        assert ix.count() == 20
        assert ix.dim == D
        got = ix.get(records[7].video_id)
        assert got.model_dump_json() == records[7].model_dump_json()
        info = ix._shard.info()
        # The server backend's payload indexes, plus the point kind.
        assert set(info.payload_schema) == {*PAYLOAD_INDEXES, "kind"}
        stored = ix._shard.retrieve([point_id(records[7].video_id)], ["kind"], True)[0]
        assert set(stored.vector) == {*vector_names("video"), *vector_names("hook")}
        assert len(stored.vector["video_all"]) == 6 * D
        assert stored.payload == {"kind": "video"}
        seg = ix._shard.retrieve([point_id(records[7].video_id, 0)], ["kind"], True)[0]
        assert set(seg.vector) == set(vector_names("segment"))


def test_replacing_a_video_removes_its_old_segments_in_the_same_batch(tmp_path: Path) -> None:
    records = make_records(5, D, seed=2)
    many = next(r for r in records if len(r.segments) >= 2)
    with open_index(f"qdrant+edge://{tmp_path}") as ix:
        ix.upsert(records)
        fewer = many.model_copy(update={"segments": many.segments[:1]})
        ix.upsert([fewer])
        assert len(ix.get(many.video_id).segments) == 1
        import qdrant_edge as qe

        left = ix._shard.count(
            qe.CountRequest(
                filter=qe.Filter(must=[qe.FieldCondition("video_id", match=qe.MatchValue(many.video_id))])
            )
        )
        assert left == 2  # the video point and its one segment: no stale point stays behind
        hits = ix.search(many.segments[1].vectors, k=len(records), level="segment")
        assert all(h.segment_index == 0 for h in hits if h.video_id == many.video_id)


def test_second_writer_gets_a_clear_error(tmp_path: Path) -> None:
    ix = open_index(f"qdrant+edge://{tmp_path}")
    ix.upsert(make_records(2, D))
    with pytest.raises(
        ConfigError, match=r"holds the writer lock WRITER\.lock; the embedded Qdrant engine opens"
    ):
        open_index(f"qdrant+edge://{tmp_path}")
    other = subprocess.run(
        [sys.executable, "-c", f"from indexer import open_index; open_index('qdrant+edge://{tmp_path}')"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=120,
    )
    assert other.returncode == 1
    assert "ConfigError" in other.stderr
    assert "holds the writer lock" in other.stderr
    ix.close()
    with open_index(f"qdrant+edge://{tmp_path}") as again:  # released on close
        assert again.count() == 2


def test_engine_lock_is_reported_without_our_lock(tmp_path: Path) -> None:
    """Even a process that skips WRITER.lock cannot open a shard in use: the engine locks its WAL."""
    ix = open_index(f"qdrant+edge://{tmp_path}")
    ix.upsert(make_records(2, D))
    import qdrant_edge as qe

    with pytest.raises(Exception, match="WouldBlock"):
        qe.EdgeShard.load(str(tmp_path / SHARD_SUBDIR))
    ix.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shard_number": 2}, r"\['shard_number'\] only apply to a server or cluster"),
        ({"read_consistency": "majority"}, "read_consistency"),
        ({"collection": "c"}, r"option\(s\) \['collection'\] do not apply to the embedded Qdrant engine"),
        ({"api_key": "k"}, "api_key"),
        ({"recipe": "HNSW32"}, "recipe 'HNSW32' conflicts with the embedded engine"),
        ({"read_only": True}, "read_only applies to FAISS data directories"),
        ({"fusion": "rrf"}, "unknown fusion 'rrf'; valid: concat, formula"),
        ({"hnsw_m": -1}, "hnsw_m"),
    ],
)
def test_settings_refused(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        open_index(f"qdrant+edge://{tmp_path}", **kwargs)
    # Nothing stays locked after a refused open.
    open_index(f"qdrant+edge://{tmp_path}").close()


def test_fusion_option_is_the_engine_s_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\['fusion'\] apply to the embedded engine only"):
        open_index("qdrant::memory:", fusion="formula")


def test_hnsw_after_optimize_with_int8(tmp_path: Path) -> None:
    """HNSW graphs and int8 quantization built by ``optimize``: hits stay exactly scored, recall is high."""
    records = make_records(400, D, seed=4)
    # A segment gets a graph only above the indexing threshold (KB): a tiny one builds it at this size.
    cfg = {"hnsw_m": 8, "hnsw_ef_construct": 32, "hnsw_ef": 64, "quantization": "int8"}
    cfg["indexing_threshold_kb"] = 1
    with (
        open_index(f"qdrant+edge://{tmp_path / 'ann'}", **cfg) as ann,
        open_index(f"qdrant+edge://{tmp_path / 'exact'}", exact_search=True) as exact,
    ):
        for ix in (ann, exact):
            ix.upsert(records)
        assert ann.optimize()
        assert ann._shard.info().indexed_vectors_count > 0
        found = total = 0
        for q in make_records(20, D, seed=9):
            a = ann.search(q.video, k=10)
            b = exact.search(q.video, k=10)
            by_id = {h.video_id: h.score for h in b}
            for h in a:
                if h.video_id in by_id:
                    assert h.score == pytest.approx(by_id[h.video_id], abs=1e-5)
            found += len({h.video_id for h in a} & set(by_id))
            total += len(b)
            np.testing.assert_allclose([h.score for h in a], [sum(h.scores.values()) for h in a], atol=1e-5)
        assert found / total >= 0.9


def test_a_broad_filter_is_post_filtered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's filtered walk loses recall under a filter that passes a large share s of the videos: such
    a query searches without the filter for the nearest 2n / s points (beam ef / sqrt(s)), then those under
    the filter, exactly; a query that finds fewer than n passing among them is searched again with the
    filter (beam ef / s). Narrower filters, no filter and exact search keep the engine's filtered search."""
    import indexer.qdrant_edge_backend as edge
    from indexer.qdrant_edge_backend import POST_FILTER_FROM_SHARE
    from indexer.qdrant_layout import filter_spec
    from indexer.query import Filters

    records = make_records(400, D, seed=4)
    cfg = {"hnsw_m": 8, "hnsw_ef_construct": 32, "hnsw_ef": 64, "quantization": "int8"}
    portrait = Filters(orientation="portrait")
    share = sum(r.orientation == "portrait" for r in records) / len(records)
    assert POST_FILTER_FROM_SHARE < share < 0.9
    queries = make_records(8, D, seed=9)
    with (
        open_index(f"qdrant+edge://{tmp_path / 'ann'}", indexing_threshold_kb=1, **cfg) as ix,
        open_index(f"qdrant+edge://{tmp_path / 'exact'}", exact_search=True) as exact,
    ):
        ix.upsert(records)
        exact.upsert(records)
        ix.optimize()
        assert ix._plan("video", filter_spec(Filters()), 10) == (None, 64, None, None)
        plan = ix._plan("video", filter_spec(portrait), 10)
        assert plan.share == pytest.approx(share, rel=0.2)
        assert plan.depth == math.ceil(2 * 10 / plan.share)
        assert plan.hnsw_ef == max(math.ceil(64 / math.sqrt(plan.share)), plan.depth)
        assert plan.fallback_ef == math.ceil(64 / plan.share)
        assert ix._plan("hook", filter_spec(portrait), 10) == plan
        # a filter on one creator of several: below the share, searched with the filter
        narrow = Filters(creator=records[0].creator, orientation="portrait")
        assert ix._plan("video", filter_spec(narrow), 10).depth is None
        assert ix._plan("video", filter_spec(Filters(creator="nobody")), 10).depth is None

        def same_as_exact() -> None:
            for q in queries:
                got = ix.search(q.video, k=10, filters=portrait, exclude=[records[0].video_id])
                want = exact.search(q.video, k=10, filters=portrait, exclude=[records[0].video_id])
                assert len(got) == 10
                assert all(ix.get(h.video_id).orientation == "portrait" for h in got)
                assert [h.video_id for h in got] == [h.video_id for h in want]
                np.testing.assert_allclose([h.score for h in got], [h.score for h in want], atol=1e-5)

        beams: list[int | None] = []
        searched = ix._query_batch

        def recorded(*args: Any) -> list:
            beams.append(args[-1])  # the beam
            return searched(*args)

        monkeypatch.setattr(ix, "_query_batch", recorded)
        same_as_exact()
        assert beams == []  # 2n / s nearest held n portrait videos for every query: no second search
        # Too shallow a depth to hold n passing points: each query is searched again with the filter.
        monkeypatch.setattr(edge, "POST_FILTER_MARGIN", 0.2)
        same_as_exact()
        assert beams == [plan.fallback_ef] * len(queries)
    with open_index(f"qdrant+edge://{tmp_path / 'ann'}", exact_search=True, hnsw_ef=64) as ix:
        assert ix._plan("video", filter_spec(portrait), 10) == (None, 64, None, None)


def test_long_ingests_flush_so_the_wal_does_not_keep_every_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every FLUSH_EVERY_POINTS points the segments are written and the WAL truncated: a copy of the shard
    without its WAL already holds the flushed videos."""
    import shutil

    import qdrant_edge as qe

    import indexer.qdrant_edge_backend as edge

    monkeypatch.setattr(edge, "FLUSH_EVERY_POINTS", 100)
    records = make_records(150, D, seed=5, max_segments=0)
    with open_index(f"qdrant+edge://{tmp_path / 'store'}") as ix:
        ix.upsert(records[:60])
        assert ix._unflushed == 60
        ix.upsert(records[60:120])  # 120 points: flushed
        assert ix._unflushed == 0
        ix.upsert(records[120:])
        copy = tmp_path / "copy"
        shutil.copytree(tmp_path / "store" / SHARD_SUBDIR, copy, ignore=shutil.ignore_patterns("wal"))
    shard = qe.EdgeShard.load(str(copy))
    try:
        videos = qe.Filter(must=[qe.FieldCondition("kind", match=qe.MatchValue("video"))])
        assert shard.count(qe.CountRequest(exact=True, filter=videos)) == 120
    finally:
        shard.close()


def test_exact_search_reaches_the_engines_search_params(tmp_path: Path) -> None:
    from indexer.qdrant_backend import QdrantConfig, search_params

    # Servers: exact only when asked (the body is otherwise unchanged).
    assert search_params(QdrantConfig(exact_search=True)).exact is True
    assert "exact" not in search_params(QdrantConfig(hnsw_ef=64)).model_dump(exclude_unset=True)
    with open_index(f"qdrant+edge://{tmp_path}", exact_search=True, hnsw_ef=32) as ix:
        params = ix._search_params()
        assert params.exact is True
        assert params.hnsw_ef == 32


def test_api_settings_treat_every_in_process_qdrant_location_as_qdrant(tmp_path: Path) -> None:
    from api.settings import Settings

    for loc in (f"qdrant+edge://{tmp_path}", f"qdrant+local://{tmp_path}", f"qdrant+path://{tmp_path}"):
        assert Settings(index_location=loc, data_dir=tmp_path).index_is_qdrant
    assert not Settings(index_location=str(tmp_path), data_dir=tmp_path).index_is_qdrant


def test_count_follows_every_write_without_recounting(tmp_path: Path) -> None:
    """``count`` (asked before every search) is kept by the writes; it always equals the engine's count."""
    import qdrant_edge as qe

    def engine_count(ix: EdgeIndex) -> int:
        flt = qe.Filter(must=[qe.FieldCondition("kind", match=qe.MatchValue("video"))])
        return int(ix._shard.count(qe.CountRequest(exact=True, filter=flt)))

    records = make_records(30, D, seed=12)
    with open_index(f"qdrant+edge://{tmp_path}") as ix:
        assert isinstance(ix, EdgeIndex)
        assert ix.count() == 0
        ix.upsert(records[:20])
        assert ix.count() == engine_count(ix) == 20
        ix.upsert(records[10:30])  # 10 replaced, 10 new
        assert ix._videos == 30
        assert ix.count() == engine_count(ix) == 30
        assert ix.delete([records[0].video_id, "not-there", records[1].video_id]) == 2
        assert ix._videos == 28
        assert ix.count() == engine_count(ix) == 28
    with open_index(f"qdrant+edge://{tmp_path}") as ix:
        assert isinstance(ix, EdgeIndex)
        assert ix._videos is None  # counted once after opening
        assert ix.count() == engine_count(ix) == 28
