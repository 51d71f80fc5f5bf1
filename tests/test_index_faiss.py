"""FAISS backend specifics: recipes, training, ANN re-rank, persistence, locking, the chooser."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from indexer import QueryError, open_index
from indexer.faiss_backend import FaissIndex
from indexer.faiss_recipes import has_gpu, min_train_points, validate_recipe
from indexer.synthetic import make_records
from sv6d.errors import ConfigError, NotFoundError

pytestmark = pytest.mark.usefixtures("one_faiss_thread")


D = 16


@pytest.mark.parametrize("recipe", ["Flot", "IVF,PQ", "HNSW32,Flat,Flat", "IDMap2,Flat", ""])
def test_invalid_recipe_is_refused(tmp_path: Path, recipe: str) -> None:
    with pytest.raises(ConfigError, match="recipe"):
        open_index(data_dir=tmp_path, recipe=recipe)
    assert not list((tmp_path / "index").glob("*.faiss"))


def test_recipe_checked_against_vector_size(tmp_path: Path) -> None:
    ix = open_index(data_dir=tmp_path, recipe="PQ7")  # valid syntax; fails only with the real size
    with pytest.raises(ConfigError, match="invalid FAISS recipe 'PQ7' for vectors of size 96"):
        ix.upsert(make_records(5, D))
    assert ix.count() == 0
    ix.close()
    with pytest.raises(ConfigError, match="invalid FAISS recipe 'PQ7'"):
        validate_recipe("PQ7", 96)


def test_min_train_points() -> None:
    assert min_train_points("Flat") == 0
    assert min_train_points("HNSW32") == 0
    assert min_train_points("IVF4096,PQ32x8") == 4096 * 39
    assert min_train_points("IVF4,Flat") == 156
    assert min_train_points("IVF4,PQ8x4") == 16 * 39
    assert min_train_points("OPQ16,IVF8,PQ16") == 256 * 39


def test_ivf_needs_enough_vectors_then_trains(tmp_path: Path) -> None:
    records = make_records(400, D, seed=1, max_segments=0)
    ix = open_index(data_dir=tmp_path, recipe="IVF4,Flat", search_params={"nprobe": 4})
    ix.upsert(records[:100])
    with pytest.raises(QueryError, match=r"not trained: it holds 100 vectors and needs 156"):
        ix.search(records[0].video, k=3)
    ix.upsert(records[100:])
    hits = ix.search(records[0].video, k=3)
    assert hits[0].video_id == records[0].video_id
    ix.delete([records[0].video_id])
    assert ix.search(records[0].video, k=1)[0].video_id != records[0].video_id
    ix.close()


@pytest.mark.parametrize(
    ("recipe", "min_recall"), [("HNSW16", 0.95), ("IVF4,PQ16x4", 0.85), ("IVF4,SQ8", 0.95)]
)
def test_ann_recipes_rerank_to_exact(tmp_path: Path, recipe: str, min_recall: float) -> None:
    records = make_records(700, D, seed=2, max_segments=0)
    exact = open_index(data_dir=tmp_path / "flat")
    ann = open_index(data_dir=tmp_path / "ann", recipe=recipe, search_params={"nprobe": 4, "efSearch": 64})
    for ix in (exact, ann):
        ix.upsert(records[:650])
        ix.upsert(records[650:])
        ix.upsert(records[10:20])  # replacements: HNSW cannot remove ids and rebuilds
    recall = []
    for q in make_records(20, D, seed=9):
        a = exact.search(q.video, {"editing": 2}, k=10)
        b = ann.search(q.video, {"editing": 2}, k=10)
        recall.append(len({h.video_id for h in a} & {h.video_id for h in b}) / 10)
        for h in b:  # re-ranked scores are exact
            ref = exact.search(q.video, {"editing": 2}, k=700)
            assert h.score == pytest.approx(next(x.score for x in ref if x.video_id == h.video_id), abs=1e-5)
            break
    assert np.mean(recall) >= 0.9
    ann.close()
    reopened = FaissIndex(tmp_path / "ann" / "index", recipe, read_only=True)
    assert reopened.count() == 700
    assert reopened.search(records[7].video, k=1)[0].video_id == records[7].video_id
    assert reopened.get(records[7].video_id).video.tolist() == records[7].video.tolist()
    exact.close()


def test_persistence_manifest_and_leftovers(tmp_path: Path) -> None:
    records = make_records(30, D, seed=4)
    ix = open_index(data_dir=tmp_path)
    ix.upsert(records[:10])
    ix.upsert(records[10:])
    ix.delete(["v3"])
    ix.close()
    d = tmp_path / "index"
    (d / ".videos.g00000099.parquet.123.tmp").write_bytes(b"half")
    (d / "video.g00000099.faiss").write_bytes(b"half-written generation")
    ix = open_index(data_dir=tmp_path)
    assert ix.count() == 29
    assert not (d / "video.g00000099.faiss").exists()
    assert not list(d.glob("*.tmp"))
    named = set(ix._snap.manifest.files.values())  # type: ignore[attr-defined]
    on_disk = {p.name for p in d.iterdir()} - {"MANIFEST.json", "WRITER.lock"}
    assert on_disk == named
    with pytest.raises(ConfigError, match="recipe 'Flat', not 'HNSW32'"):
        FaissIndex(d, "HNSW32", read_only=True)
    ix.close()


def test_single_writer_and_readers(tmp_path: Path) -> None:
    records = make_records(20, D, seed=5)
    writer = open_index(data_dir=tmp_path)
    with pytest.raises(ConfigError, match="another process holds the writer lock"):
        open_index(data_dir=tmp_path)
    reader = open_index(data_dir=tmp_path, read_only=True)
    with pytest.raises(ConfigError, match="read-only"):
        reader.upsert(records)
    writer.upsert(records[:10])
    assert reader.count() == 0
    reader.refresh()
    assert reader.count() == 10
    writer.close()
    again = open_index(data_dir=tmp_path)  # the lock is released on close
    again.close()
    reader.close()


def test_chooser_conflicts(tmp_path: Path) -> None:
    cases = [
        ({"location": "qdrant::memory:", "recipe": "HNSW32"}, "recipe 'HNSW32' conflicts with the Qdrant"),
        (
            {"location": "http://localhost:6333", "data_dir": tmp_path},
            "data_dir .* conflicts with the Qdrant",
        ),
        ({"location": f"faiss://{tmp_path}/a", "data_dir": tmp_path / "b"}, "conflicts with data_dir"),
        ({"location": "qdrant::memory:", "search_params": {"nprobe": 2}}, "FAISS option"),
        ({"data_dir": tmp_path, "shard_number": 2}, "Qdrant option"),
        ({"location": "redis://x"}, "unknown index location 'redis://x'"),
        ({"data_dir": tmp_path, "colour": 1}, r"unknown index option\(s\) \['colour'\]"),
        ({"location": "qdrant+path://"}, "names no directory"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ConfigError, match=match):
            open_index(**kwargs)
    from indexer.qdrant_backend import QdrantIndex

    with pytest.raises(ConfigError, match="exactly one of"):
        QdrantIndex(location=":memory:", path=str(tmp_path))
    ix = open_index(f"faiss://{tmp_path / 'f'}")
    assert isinstance(ix, FaissIndex)
    assert ix.directory == tmp_path / "f" / "index"
    ix.close()
    q = open_index(f"qdrant+local://{tmp_path / 'q'}", collection="c", on_disk=True)
    assert isinstance(q, QdrantIndex)
    q.close()


def test_gpu_flag_is_a_capability() -> None:
    assert isinstance(has_gpu(), bool)
    if not has_gpu():
        with pytest.warns(RuntimeWarning, match="no GPU|none is available"):
            FaissIndex(
                Path(os.environ.get("TMPDIR", "/tmp")) / "sv6d-gpu-probe", read_only=True, use_gpu=True
            )


def test_batches_append_parts_and_compact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each batch writes only its own rows (catalog, vectors, removals); compaction folds the parts."""
    import indexer.faiss_store as store

    monkeypatch.setattr(store, "MAX_PARTS", 4)
    records = make_records(60, D, seed=6)
    ix = open_index(data_dir=tmp_path)
    d = tmp_path / "index"
    ix.upsert(records[:20])  # the first commit writes one full part
    ix.upsert(records[20:30])
    ix.delete(["v0", "v21"])
    on_disk = {p.name for p in d.iterdir()}
    assert {"videos.g00000002.parquet", "vectors_video.g00000002.npy", "removed.g00000003.npy"} <= on_disk
    assert not any(n.endswith(".faiss") for n in on_disk)  # Flat keeps no index file: the vectors are it
    assert len(np.load(d / "vectors_video.g00000002.npy")) == 10  # the batch alone, not the whole index
    reader = open_index(data_dir=tmp_path, read_only=True)
    assert reader.count() == 28
    assert not reader.contains("v0")
    assert reader.contains("v29")
    for b in range(30, 60, 5):
        ix.upsert(records[b : b + 5])
    ix.upsert([records[5].model_copy(update={"video": records[6].video})])
    named = set(ix._snap.manifest.files.values())  # type: ignore[attr-defined]
    assert len([n for n in named if n.startswith("videos.")]) <= 4
    ix.close()
    reopened = open_index(data_dir=tmp_path, read_only=True)
    assert reopened.count() == 58
    assert reopened.video_ids() == sorted(r.video_id for r in records if r.video_id not in {"v0", "v21"})
    np.testing.assert_array_equal(reopened.get("v5").video, records[6].video)
    for r in records[40:45]:
        assert reopened.search(r.hook, k=1, level="hook")[0].video_id == r.video_id
        assert reopened.hook_tags_of(r.video_id) == {(t.dimension.value, t.label) for t in r.tags_in(0, 3)}
    reader.refresh()
    assert reader.count() == 58
    reader.close()
    reopened.close()


def test_long_exclusions_fall_back_to_selectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import indexer.faiss_backend as fb

    records = make_records(80, D, seed=8)
    ix = open_index(data_dir=tmp_path)
    ix.upsert(records)
    queries = [r.video for r in records[:4]]
    each = [[r.video_id for r in records[i : i + 10]] for i in range(4)]
    for level in ("video", "segment"):
        fast = ix.search_many(queries, k=5, level=level, exclude_each=each, filters={"creator": "ana"})
        monkeypatch.setattr(fb, "MAX_OVERFETCH", 0)
        slow = ix.search_many(queries, k=5, level=level, exclude_each=each, filters={"creator": "ana"})
        monkeypatch.undo()
        assert [[h.video_id for h in hs] for hs in fast] == [[h.video_id for h in hs] for hs in slow]
        for hs, ex in zip(fast, each, strict=True):
            assert len(hs) == 5
            assert not {h.video_id for h in hs} & set(ex)
    ix.close()


def test_other_heads_are_refused_until_the_index_is_empty(tmp_path: Path) -> None:
    old = make_records(6, seed=1)
    new = [
        r.model_copy(update={"encoder": r.encoder.model_copy(update={"head_version": "trained-2"})})
        for r in old
    ]
    with open_index(f"faiss://{tmp_path}") as index:
        index.upsert(old)
        with pytest.raises(ConfigError, match="different encoders or head versions"):
            index.upsert(new[:1])
        assert index.count() == 6
        index.delete([r.video_id for r in old])
        index.upsert(new)
        assert index.get(new[0].video_id).encoder.head_version == "trained-2"


def test_qdrant_lists_ids_over_several_scroll_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Qdrant's payload-only listing (video_ids, hook_tags_of) beside FAISS's catalog answers."""
    import indexer.qdrant_backend as qb

    monkeypatch.setattr(qb, "SCROLL_PAGE", 7)
    records = make_records(30, D, seed=12)
    with open_index("qdrant::memory:") as q:
        q.upsert(records)
        expected = sorted(r.video_id for r in records)
        assert q.video_ids() == expected
        assert q.video_ids(5, 9) == expected[5:14]
        for r in records[:5]:
            assert q.hook_tags_of(r.video_id) == {
                (t.dimension.value, t.label) for t in r.tags_in(*r.hook_window)
            }
        with pytest.raises(NotFoundError, match="'nope' is not in the index"):
            q.hook_tags_of("nope")


def test_single_dimension_queries_use_an_ivf_slab_on_approximate_recipes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An approximate recipe answers a query that weighs one dimension from an IVF over that dimension's
    columns (the ranker's per-dimension neighbours at scale), re-scored exactly; filtered ones go to the
    whole-level index. Recall against the exact index stays high."""
    import faiss

    import indexer.faiss_store as store
    from indexer import Weights

    monkeypatch.setattr(store, "SLAB_IVF_MIN_ROWS", 1000)
    records = make_records(3000, D, seed=21, max_segments=0)
    exact = open_index(data_dir=tmp_path / "flat")
    ann = open_index(data_dir=tmp_path / "ann", recipe="IVF16,Flat")
    for ix in (exact, ann):
        ix.upsert(records)
    queries = np.stack([r.video for r in make_records(30, D, seed=22)])
    weights = [Weights.only(d) for d in ("editing", "camera", "subject")] * 10
    got = ann.neighbours(queries, weights, 10)
    want = exact.neighbours(queries, weights, 10)
    assert isinstance(ann, FaissIndex)
    slabs = ann._snap.levels["video"].slabs
    assert sorted(slabs) == [0, 2, 3]
    assert all(isinstance(faiss.downcast_index(s), faiss.IndexIVFFlat) for s in slabs.values())
    recall = np.mean([len(set(a) & set(b)) / 10 for (a, _), (b, _) in zip(got, want, strict=True)])
    assert recall >= 0.9
    for (ids, scores), (eids, escores) in zip(got, want, strict=True):
        exact_score = dict(zip(eids, escores, strict=True))
        for v, s in zip(ids, scores, strict=True):  # scores are exact wherever both found the video
            if v in exact_score:
                assert s == pytest.approx(exact_score[v], abs=1e-5)
    # A tag filter goes to the whole-level index, whose answers keep the filter.
    tag = records[0].tags[0]
    flt = {"tags": [{"dimension": tag.dimension.value, "label": tag.label}]}
    hits = ann.search(queries[0], Weights.only("editing"), k=5, filters=flt)
    assert hits
    assert all(any(t.label == tag.label for t in ann.get(h.video_id).tags) for h in hits)
    exact.close()
    ann.close()
