"""FAISS bulk load (``upsert_arrays``): same stored data and hits as ``upsert`` of the equivalent records,
the hook level stored once when hooks equal the video vectors, and typed errors for bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer import QueryError
from indexer.faiss_backend import FaissIndex
from indexer.faiss_recipes import train_sample
from indexer.synthetic import ENCODER, structured_vectors
from sv6d.errors import ConfigError
from sv6d.record import EncoderInfo, SV6DRecord

pytestmark = pytest.mark.usefixtures("one_faiss_thread")

D = 16
N = 300


def columns(n: int = N, seed: int = 0, prefix: str = "b") -> dict[str, Any]:
    """Arrays for ``upsert_arrays`` with metadata that varies per video."""
    rng = np.random.default_rng(seed)
    both = structured_vectors(2 * n, D, rng=rng)
    duration = rng.uniform(5, 60, n)
    sizes = np.array([(1080, 1920), (1920, 1080), (1080, 1080)])[rng.integers(0, 3, n)]
    return {
        "video_ids": [f"{prefix}{i}" for i in range(n)],
        "video": np.ascontiguousarray(both[:n]),
        "hook": np.ascontiguousarray(both[n:]),
        "encoder": ENCODER,
        "duration_s": duration,
        "hook_window": np.stack([np.zeros(n), np.minimum(3.0, duration)], axis=1),
        "width": sizes[:, 0],
        "height": sizes[:, 1],
        "fps": 30.0,
        "source": [f"file://{prefix}{i}.mp4" for i in range(n)],
        "creator": [None if i % 5 == 0 else ("ana", "bo", "cy")[i % 3] for i in range(n)],
        "created_ts": np.where(
            np.arange(n) % 7 == 0, np.nan, 1_704_067_200.0 + 86_400.0 * rng.integers(0, 365, n)
        ),
    }


def as_records(c: dict[str, Any]) -> list[SV6DRecord]:
    """The records ``upsert_arrays(**c)`` stands for."""
    out = []
    for i, vid in enumerate(c["video_ids"]):
        ts = c["created_ts"][i]
        out.append(
            SV6DRecord(
                video_id=vid,
                source=c["source"][i],
                duration_s=float(c["duration_s"][i]),
                fps=float(c["fps"]),
                width=int(c["width"][i]),
                height=int(c["height"][i]),
                creator=c["creator"][i],
                created_at=None if np.isnan(ts) else datetime.fromtimestamp(float(ts), tz=UTC),
                encoder=c["encoder"],
                hook_window=(float(c["hook_window"][i][0]), float(c["hook_window"][i][1])),
                video=c["video"][i],
                hook=c["video"][i] if c["hook"] is None else c["hook"][i],
            )
        )
    return out


def hits_json(ix: FaissIndex, queries: np.ndarray) -> list[Any]:
    out = []
    cases: list[tuple[dict[str, float] | None, str, dict[str, Any] | None]] = [
        (None, "video", None),
        ({"editing": 2.0, "subject": 0.5}, "video", None),
        ({"camera": 3.0}, "hook", None),
        (None, "video", {"creator": "ana", "orientation": "portrait"}),
        (None, "hook", {"min_duration_s": 20.0, "created_after": datetime(2024, 6, 1, tzinfo=UTC)}),
    ]
    for weights, level, filters in cases:
        for q in queries:
            hits = ix.search(q, weights, k=10, level=level, filters=filters)  # type: ignore[arg-type]
            out.append([h.to_json() for h in hits])
    out.append([h.to_json() for h in ix.similar_hooks("b3", k=5)])
    return out


@pytest.mark.parametrize("recipe", ["Flat", "HNSW16", "IVF4,Flat"])
@pytest.mark.parametrize("separate_hooks", [True, False])
def test_bulk_load_equals_upsert_of_the_records(tmp_path: Path, recipe: str, separate_hooks: bool) -> None:
    c = columns()
    if not separate_hooks:
        c["hook"] = None
    queries = structured_vectors(6, D, seed=11)
    with FaissIndex(tmp_path / "rec", recipe) as a, FaissIndex(tmp_path / "bulk", recipe) as b:
        assert a.upsert(as_records(c)) == N
        assert b.upsert_arrays(**c) == N
        assert b.count() == N
        assert b.video_ids() == a.video_ids()
        expected = hits_json(a, queries)
        assert hits_json(b, queries) == expected
        for vid in ("b0", "b1", "b7", "b299"):
            assert b.get(vid).model_dump_json() == a.get(vid).model_dump_json()
        assert b.search("b3", k=1)[0].video_id == "b3"
    with FaissIndex(tmp_path / "bulk", recipe, read_only=True) as reopened:
        assert hits_json(reopened, queries) == expected


def test_hooks_equal_to_videos_are_stored_once(tmp_path: Path) -> None:
    c = columns(120)
    c["hook"] = None
    ix = FaissIndex(tmp_path, "Flat")
    ix.upsert_arrays(**c)
    snap = ix._snap  # type: ignore[attr-defined]
    assert snap.manifest.hook_is_video
    assert snap.levels["hook"] is snap.levels["video"]
    assert not list(tmp_path.glob("vectors_hook.*"))
    ix.delete(["b0", "b1"])  # removals keep the alias
    assert ix._snap.manifest.hook_is_video  # type: ignore[attr-defined]
    # Records with hooks of their own: the hook level is materialised (old rows keep their video vectors).
    more = columns(30, seed=3, prefix="m")
    ix.upsert(as_records(more))
    assert not ix._snap.manifest.hook_is_video  # type: ignore[attr-defined]
    assert len(np.load(next(tmp_path.glob("vectors_hook.*")))) == 148
    ix.close()
    with FaissIndex(tmp_path, read_only=True) as reopened:
        assert reopened.count() == 148
        assert reopened.search(c["video"][5], k=1, level="hook")[0].video_id == "b5"
        assert reopened.search(more["hook"][4], k=1, level="hook")[0].video_id == "m4"
        assert reopened.search(more["video"][4], k=1)[0].video_id == "m4"
        np.testing.assert_array_equal(reopened.get("b9").hook, c["video"][9])


def test_bulk_replaces_existing_ids(tmp_path: Path) -> None:
    c = columns(100)
    with FaissIndex(tmp_path, "Flat") as ix:
        ix.upsert_arrays(**c)
        again = columns(10, seed=5)
        ix.upsert_arrays(**again)
        assert ix.count() == 100
        np.testing.assert_array_equal(ix.get("b4").video, again["video"][4])
        assert ix.search(again["video"][4], k=1)[0].video_id == "b4"


def bad(c: dict[str, Any], **change: Any) -> dict[str, Any]:
    return {**c, **change}


def nan_row(c: dict[str, Any]) -> np.ndarray:
    v = c["video"].copy()
    v[7, 2, 0] = np.nan
    return v


def zero_row(c: dict[str, Any]) -> np.ndarray:
    v = c["video"].copy()
    v[8, 4] = 0.0
    return v


CASES: list[tuple[str, Any, str]] = [
    ("shape", lambda c: bad(c, video=c["video"][:, :5]), r"video must be an array of shape \(40, 6, d\)"),
    ("rows", lambda c: bad(c, video=c["video"][:39]), r"shape \(40, 6, d\), got \(39, 6, 16\)"),
    ("dtype", lambda c: bad(c, video=c["video"].astype(np.float64)), "video must be float32, got float64"),
    (
        "nan",
        lambda c: bad(c, video=nan_row(c)),
        r"video\[7\] \(video_id 'b7'\): the camera vector contains NaN",
    ),
    ("zero", lambda c: bad(c, video=zero_row(c)), r"video\[8\] .*the narrative vector is all zeros"),
    ("norm", lambda c: bad(c, hook=c["hook"] * 2), r"hook\[0\] .*subject vector is not L2-normalised"),
    ("dup", lambda c: bad(c, video_ids=["x"] * 40), "video_ids contains 'x' twice"),
    ("empty id", lambda c: bad(c, video_ids=["", *c["video_ids"][1:]]), r"video_ids\[0\] is ''"),
    ("window", lambda c: bad(c, hook_window=(3.0, 1.0)), r"hook_window\[0\] .*0 <= start < end"),
    ("duration", lambda c: bad(c, duration_s=-1.0), r"duration_s\[0\] .*must be a number > 0"),
    ("width", lambda c: bad(c, width=1080.5), r"width\[0\] .*must be an integer > 0"),
    ("length", lambda c: bad(c, fps=np.ones(3)), "fps must be one value or 40 values"),
    ("creator", lambda c: bad(c, creator=[1] * 40), r"creator\[0\] is 1, not a string"),
]


@pytest.mark.parametrize(("name", "change", "match"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_nothing_is_written(
    tmp_path: Path, name: str, change: Any, match: str
) -> None:
    with FaissIndex(tmp_path, "Flat") as ix:
        ix.upsert_arrays(**columns(20, seed=1, prefix="s"))
        gen = ix.generation
        with pytest.raises(QueryError, match=match):
            ix.upsert_arrays(**change(columns(40)))
        assert (ix.count(), ix.generation) == (20, gen)
    with FaissIndex(tmp_path, read_only=True) as reopened:
        assert reopened.count() == 20


def test_size_and_encoder_must_match_the_index(tmp_path: Path) -> None:
    with FaissIndex(tmp_path, "Flat") as ix:
        ix.upsert_arrays(**columns(20))
        wide = columns(5, prefix="w")
        wide["video"] = structured_vectors(5, 8, seed=2)
        wide["hook"] = None
        with pytest.raises(QueryError, match="vectors of size 8, this index holds size 16"):
            ix.upsert_arrays(**wide)
        other = EncoderInfo(name="synthetic", version="0", head_version="trained-9")
        with pytest.raises(ConfigError, match="different encoders or head versions"):
            ix.upsert_arrays(**bad(columns(5, prefix="o"), encoder=other))
        assert ix.count() == 20
    with pytest.raises(ConfigError, match="read-only"):
        FaissIndex(tmp_path, read_only=True).upsert_arrays(**columns(3))


def test_train_sample_caps_ivf_training() -> None:
    m = np.arange(200_000, dtype=np.float32).reshape(-1, 1) * np.ones((1, 4), dtype=np.float32)
    small = train_sample(m[:1000], "IVF16,PQ2x8")
    assert small is not None
    assert small.shape == (1000, 4)
    s = train_sample(m, "IVF2048,Flat")
    assert s.shape == (64 * 2048, 4)
    assert np.all(np.diff(s[:, 0]) > 0)  # rows kept in order, no repeats
    np.testing.assert_array_equal(s, train_sample(m, "IVF2048,Flat"))  # seeded
    assert train_sample(m, "HNSW32").shape == (65_536, 4)


def test_tune_changes_search_settings_at_query_time(tmp_path: Path) -> None:
    with FaissIndex(tmp_path, "IVF4,Flat") as ix:
        assert ix.search_params == {}
        assert ix.rerank_factor == 20
        ix.tune({"nprobe": 4}, rerank_factor=3)
        assert (ix.search_params, ix.rerank_factor) == ({"nprobe": 4}, 3)
        with pytest.raises(ConfigError, match=r"unknown FAISS search_params \['ef'\]"):
            ix.tune({"ef": 3})
        with pytest.raises(ConfigError, match="integers >= 1"):
            ix.tune({"nprobe": 0})
        with pytest.raises(ConfigError, match="rerank_factor must be an integer >= 1"):
            ix.tune(rerank_factor=0)


def test_structured_vectors_do_not_depend_on_the_chunk_size() -> None:
    whole = structured_vectors(500, D, seed=4, chunk=10_000)
    np.testing.assert_array_equal(structured_vectors(500, D, seed=4, chunk=7), whole)
    np.testing.assert_allclose(np.linalg.norm(whole, axis=2), 1.0, atol=1e-5)


def test_effective_search_params_follow_the_index_size(tmp_path: Path) -> None:
    from indexer.faiss_recipes import LARGE_INDEX, QUANTIZER_EF_SEARCH, default_ef_search, validate_recipe

    assert default_ef_search(1000) == 128
    assert default_ef_search(LARGE_INDEX + 1) == 256
    with FaissIndex(tmp_path / "h", "HNSW16") as ix:
        ix.upsert_arrays(**columns(50))
        assert ix.effective_search_params() == {"rerank_factor": 10, "efSearch": 128}
        ix.tune({"efSearch": 40})
        assert ix.effective_search_params()["efSearch"] == 40
    with FaissIndex(tmp_path / "i", "IVF8_HNSW16,Flat") as ix:
        ix.upsert_arrays(**columns(400))
        assert ix.effective_search_params() == {"rerank_factor": 20, "nprobe": 1}
        assert ix.search("b5", k=1)[0].video_id == "b5"
    import faiss

    index = validate_recipe("IVF8_HNSW16,Flat", 96)  # the owner: downcasts are views of it
    quantizer = faiss.downcast_index(faiss.downcast_index(index).quantizer)
    assert quantizer.hnsw.efSearch == QUANTIZER_EF_SEARCH
