"""Qdrant Edge snapshots: a closed shard reloads with identical answers, a store seeded from a snapshot
answers like its source, a newer snapshot brings it up to date, and a shard of another layout is refused.

What could not run here (no Qdrant server): a snapshot downloaded from a server shard
(``GET /collections/<c>/shards/<id>/snapshot``) and a partial one built by a server from
``snapshot_manifest``. The archives here come from ``EdgeIndex.write_snapshot``."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

from indexer.base import Filters, Level
from indexer.qdrant_edge_backend import SHARD_SUBDIR, EdgeIndex, write_shard_snapshot
from indexer.synthetic import make_records
from sv6d.errors import ConfigError
from sv6d.record import SV6DRecord

D = 8
WEIGHTS = ({"editing": 2.0, "subject": 0.5}, {"camera": 1.0}, None)


Answer = list[tuple[str, float, tuple[float, float] | None]]


def _answers(ix: EdgeIndex, records: list[SV6DRecord]) -> list[Answer]:
    """Every level, three weight sets, with and without a tag filter: (id, score, window) per hit."""
    tag = records[0].tags[0]
    filters = (None, Filters.model_validate({"tags": [f"{tag.dimension.value}:{tag.label}"]}))
    out: list[Answer] = []
    levels: tuple[Level, Level] = ("video", "hook")
    for r in records[:6]:
        for level, q in zip(levels, (r.video, r.hook), strict=True):
            for w in WEIGHTS:
                for f in filters:
                    hits = ix.search(q, w, k=8, level=level, filters=f)
                    out.append([(h.video_id, h.score, h.window) for h in hits])
        if r.segments:
            hits = ix.search(r.segments[0].vectors, None, k=8, level="segment")
            out.append([(h.video_id, h.score, h.window) for h in hits])
    return out


def _store(path: Path, records: list[SV6DRecord]) -> EdgeIndex:
    ix = EdgeIndex(path, exact_search=True)
    ix.upsert(records)
    return ix


def test_closed_shard_reloads_with_identical_answers(tmp_path: Path) -> None:
    records = make_records(60, D, seed=3)
    ix = _store(tmp_path, records)
    ix.optimize()
    before = _answers(ix, records)
    assert all(before)  # every query (filtered ones included: records[0] has the tag) found something
    ix.close()
    again = EdgeIndex(tmp_path, exact_search=True)
    assert again.count() == 60
    assert _answers(again, records) == before
    assert again.get(records[5].video_id).model_dump_json() == records[5].model_dump_json()
    again.close()


def test_store_seeded_from_a_snapshot_answers_like_its_source(tmp_path: Path) -> None:
    records = make_records(60, D, seed=4)
    src = _store(tmp_path / "src", records)
    snap = src.write_snapshot(tmp_path / "shard.snapshot")
    with tarfile.open(snap) as tar:
        names = tar.getnames()
    assert "edge_config.json" in names
    assert any(n.startswith("segments/") for n in names)
    assert not any(n.startswith("wal") for n in names)  # flushed first: the seeded shard starts a new WAL
    want = _answers(src, records)
    src.close()

    seeded = EdgeIndex.from_snapshot(snap, tmp_path / "seeded", exact_search=True)
    assert seeded.count() == 60
    assert seeded.dim == D
    assert _answers(seeded, records) == want
    for r in records[:10]:
        assert seeded.get(r.video_id).model_dump_json() == r.model_dump_json()
    # A seeded store is an ordinary store: writable, and it reopens.
    extra = make_records(3, D, seed=5, prefix="x")
    seeded.upsert(extra)
    seeded.close()
    with EdgeIndex(tmp_path / "seeded") as again:
        assert again.count() == 63
        assert again.contains("x2")
    assert not list((tmp_path / "seeded").glob(".seed-*"))  # the staging directory is gone


def test_newer_snapshot_brings_a_seeded_store_up_to_date(tmp_path: Path) -> None:
    records = make_records(40, D, seed=6)
    src = _store(tmp_path / "src", records)
    seeded = EdgeIndex.from_snapshot(
        src.write_snapshot(tmp_path / "a.snapshot"), tmp_path / "dst", exact_search=True
    )
    manifest_before = seeded.snapshot_manifest()
    # A video written locally to the seeded store: the next update does not keep it (see infra/README.md).
    seeded.upsert(make_records(1, D, seed=9, prefix="local"))
    assert seeded.contains("local0")
    # The source changes: new videos, a replaced video with other segments, a deleted one, HNSW built.
    more = make_records(25, D, seed=7, prefix="n")
    changed = records[3].model_copy(update={"segments": records[3].segments[:1], "duration_s": 99.0})
    src.upsert([*more, changed])
    src.delete([records[4].video_id])
    src.optimize()
    now = [*records[:3], changed, *records[5:], *more]
    seeded.update_from_snapshot(src.write_snapshot(tmp_path / "b.snapshot"))
    assert seeded.count() == src.count() == 64
    assert not seeded.contains(records[4].video_id)
    assert not seeded.contains("local0")
    assert seeded.get(changed.video_id).model_dump_json() == changed.model_dump_json()
    assert _answers(seeded, now) == _answers(src, now)
    assert seeded.snapshot_manifest() != manifest_before
    src.close()
    seeded.close()
    with EdgeIndex(tmp_path / "dst") as again:  # and the update survives a reopen
        assert again.count() == 64
        assert again.contains("n24")


def test_shard_of_another_layout_is_refused(tmp_path: Path) -> None:
    import qdrant_edge as qe

    # A shard like one of the server backend's video collection: video and hook vectors, no segment level.
    names = [f"{lv}_{x}" for lv in ("video", "hook") for x in ("subject", "all")]
    cfg = qe.EdgeConfig(
        vectors={
            n: qe.EdgeVectorParams(size=6 * D if n.endswith("_all") else D, distance=qe.Distance.Dot)
            for n in names
        }
    )
    shard = qe.EdgeShard.create(str(tmp_path / "other"), cfg)
    vec = np.ones(6 * D, dtype=np.float32) / np.sqrt(6 * D)
    shard.update(
        qe.UpdateOperation.upsert_points(
            [qe.Point(1, {n: (vec if n.endswith("_all") else vec[:D]).tolist() for n in names}, {})]
        )
    )
    shard.flush()
    shard.close()
    snap = write_shard_snapshot(tmp_path / "other", tmp_path / "other.snapshot")
    with pytest.raises(
        ConfigError, match=r"not in the qdrant\+edge layout \(missing hook_aesthetics.*segment_all"
    ):
        EdgeIndex.from_snapshot(snap, tmp_path / "dst")
    # Nothing was left behind: the directory holds no store and can be seeded from a good snapshot.
    assert not (tmp_path / "dst" / SHARD_SUBDIR).exists()
    assert not list((tmp_path / "dst").glob(".seed-*"))


def test_bad_snapshot_requests_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a file"):
        EdgeIndex.from_snapshot(tmp_path / "nope.snapshot", tmp_path / "a")
    src = _store(tmp_path / "src", make_records(5, D, seed=8))
    snap = src.write_snapshot(tmp_path / "s.snapshot")
    EdgeIndex.from_snapshot(snap, tmp_path / "busy").close()
    with pytest.raises(ConfigError, match="already holds a Qdrant Edge store"):
        EdgeIndex.from_snapshot(snap, tmp_path / "busy")
    src.close()
    empty = EdgeIndex(tmp_path / "empty")
    with pytest.raises(ConfigError, match="holds no shard yet"):
        empty.write_snapshot(tmp_path / "e.snapshot")
    with pytest.raises(ConfigError, match=r"seed it with EdgeIndex\.from_snapshot"):
        empty.update_from_snapshot(snap)
    empty.close()
