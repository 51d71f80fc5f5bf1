"""Index contract, written once and run against every backend (FAISS Flat, Qdrant :memory:, Qdrant local mode
on disk, Qdrant Edge: the embedded engine)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from indexer import MAX_K, Filters, QueryError, VectorIndex, open_index
from indexer.synthetic import make_records
from sv6d.dimensions import DIMENSIONS
from sv6d.errors import NotFoundError, VocabularyError
from sv6d.record import SV6DRecord

pytestmark = pytest.mark.usefixtures("one_faiss_thread")


D = 8
N = 60
BACKENDS = ["faiss", "qdrant-memory", "qdrant-local", "qdrant-edge"]


def open_backend(kind: str, tmp_path: Path) -> VectorIndex:
    if kind == "faiss":
        return open_index(data_dir=tmp_path / "data")
    if kind == "qdrant-memory":
        return open_index("qdrant::memory:")
    if kind == "qdrant-edge":
        return open_index(f"qdrant+edge://{tmp_path / 'edge'}")
    return open_index(f"qdrant+local://{tmp_path / 'qdrant'}")


@pytest.fixture(scope="module")
def records() -> list[SV6DRecord]:
    return make_records(N, D, seed=7)


@pytest.fixture(params=BACKENDS)
def index(request: pytest.FixtureRequest, tmp_path: Path, records: list[SV6DRecord]) -> Iterator[VectorIndex]:
    """A fresh index per test, for tests that write."""
    ix = open_backend(request.param, tmp_path)
    ix.upsert(records)
    yield ix
    ix.close()


@pytest.fixture(params=BACKENDS, scope="module")
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, records: list[SV6DRecord]
) -> Iterator[VectorIndex]:
    """One index per backend for the read-only tests (Qdrant's path mode writes slowly)."""
    ix = open_backend(request.param, tmp_path_factory.mktemp(request.param))
    ix.upsert(records)
    yield ix
    ix.close()


def brute_force(
    records: list[SV6DRecord], query: np.ndarray, w: np.ndarray, level: str, keep=lambda r: True
) -> list[tuple[str, float]]:
    """Reference ranking computed directly from the records."""
    scored = []
    for r in records:
        if not keep(r):
            continue
        blocks = (
            [r.video]
            if level == "video"
            else [r.hook]
            if level == "hook"
            else [s.vectors for s in r.segments]
        )
        if not blocks:
            continue
        best = max(float((np.einsum("ij,ij->i", b, query) * w).sum()) for b in blocks)
        scored.append((r.video_id, best))
    return sorted(scored, key=lambda p: (-p[1], p[0]))


def assert_same_ranking(hits, expected, k: int) -> None:
    assert len(hits) == min(k, len(expected))
    np.testing.assert_allclose([h.score for h in hits], [s for _, s in expected[: len(hits)]], atol=1e-4)
    for h, (vid, s) in zip(hits, expected, strict=False):
        if abs(h.score - s) > 1e-4 or vid != h.video_id:
            # Only ties may swap places.
            assert abs(dict(expected)[h.video_id] - h.score) < 1e-4


def test_upsert_get_count(shared: VectorIndex, records: list[SV6DRecord]) -> None:
    assert shared.count() == N
    assert shared.dim == D
    for r in records:  # every record: payload floats may not round-trip exactly in every engine
        got = shared.get(r.video_id)
        np.testing.assert_array_equal(got.video, r.video)
        np.testing.assert_array_equal(got.hook, r.hook)
        assert got.tags == r.tags
        assert got.hook_window == r.hook_window
        assert got.created_at == r.created_at
        assert [(s.start_s, s.end_s) for s in got.segments] == [(s.start_s, s.end_s) for s in r.segments]
        for a, b in zip(got.segments, r.segments, strict=True):
            np.testing.assert_array_equal(a.vectors, b.vectors)
        assert got.model_dump_json() == r.model_dump_json()
    assert shared.contains(records[0].video_id)
    assert not shared.contains("nope")
    with pytest.raises(NotFoundError, match="'nope' is not in the index"):
        shared.get("nope")


def test_upsert_is_idempotent_and_replaces(index: VectorIndex, records: list[SV6DRecord]) -> None:
    index.upsert(records[:10])
    assert index.count() == N
    changed = records[3].model_copy(update={"video": records[4].video, "segments": records[4].segments[:1]})
    index.upsert([changed])
    assert index.count() == N
    got = index.get(records[3].video_id)
    np.testing.assert_array_equal(got.video, records[4].video)
    assert len(got.segments) == len(records[4].segments[:1])
    hits = index.search(records[4].video, k=2)
    assert {h.video_id for h in hits} == {records[3].video_id, records[4].video_id}


def test_delete(index: VectorIndex, records: list[SV6DRecord]) -> None:
    gone = [records[0].video_id, records[1].video_id, "unknown-id"]
    assert index.delete(gone) == 2
    assert index.count() == N - 2
    with pytest.raises(NotFoundError):
        index.get(records[0].video_id)
    for level in ("video", "hook", "segment"):
        ids = {h.video_id for h in index.search(records[0].video, k=MAX_K, level=level)}
        assert not ids & set(gone)
    assert index.delete(["unknown-id"]) == 0


@pytest.mark.parametrize("level", ["video", "hook", "segment"])
@pytest.mark.parametrize(
    "weights", [None, {"editing": 3.0, "subject": 0.0}, {"camera": 1.0, "narrative": 0.25}]
)
def test_search_matches_brute_force(shared: VectorIndex, records: list[SV6DRecord], level, weights) -> None:
    from indexer import Weights

    query = make_records(1, D, seed=99)[0].video
    w = Weights.of(weights, level).array  # no weights at the hook level: DEFAULT_HOOK_WEIGHTS
    hits = shared.search(query, weights, k=10, level=level)
    assert_same_ranking(hits, brute_force(records, query, w, level), 10)
    for h in hits:
        assert h.score == pytest.approx(
            sum(w[i] * h.scores[d.value] for i, d in enumerate(DIMENSIONS)), abs=1e-5
        )
        rec = next(r for r in records if r.video_id == h.video_id)
        if level == "video":
            assert h.window is None
        elif level == "hook":
            assert h.window == pytest.approx(rec.hook_window)
        else:
            seg = rec.segments[h.segment_index]
            assert h.window == pytest.approx((seg.start_s, seg.end_s))
    assert len({h.video_id for h in hits}) == len(hits)


def test_query_by_id_and_dict(shared: VectorIndex, records: list[SV6DRecord]) -> None:
    r = records[5]
    by_id = shared.search(r.video_id, k=3)
    assert by_id[0].video_id == r.video_id
    assert by_id[0].score == pytest.approx(6.0, abs=1e-4)
    as_dict = {d.value: r.video[i] for i, d in enumerate(DIMENSIONS)}
    assert [h.video_id for h in shared.search(as_dict, k=3)] == [h.video_id for h in by_id]
    hook = shared.search(r.video_id, k=1, level="hook")[0]
    assert hook.video_id == r.video_id


FILTER_CASES = {
    "tag": ({"tags": ["editing:hard_cut"]}, lambda r: any(t.label == "hard_cut" for t in r.tags)),
    "two_tags": (
        {"tags": [("editing", "hard_cut"), {"dimension": "camera", "label": "static"}]},
        lambda r: {"hard_cut", "static"} <= {t.label for t in r.tags},
    ),
    "duration": ({"min_duration_s": 20, "max_duration_s": 40}, lambda r: 20 <= r.duration_s <= 40),
    "orientation": ({"orientation": "portrait"}, lambda r: r.orientation == "portrait"),
    "created_after": (
        {"created_after": datetime(2024, 7, 1, tzinfo=UTC)},
        lambda r: r.created_at > datetime(2024, 7, 1, tzinfo=UTC),
    ),
    "creator": ({"creator": "bo"}, lambda r: r.creator == "bo"),
    "combined": (
        {"orientation": "landscape", "creator": "ana", "min_duration_s": 10},
        lambda r: r.orientation == "landscape" and r.creator == "ana" and r.duration_s >= 10,
    ),
}


@pytest.mark.parametrize("case", sorted(FILTER_CASES))
@pytest.mark.parametrize("level", ["video", "hook", "segment"])
def test_filters_apply_inside_search(
    shared: VectorIndex, records: list[SV6DRecord], case: str, level
) -> None:
    flt, keep = FILTER_CASES[case]
    query = make_records(1, D, seed=5)[0].hook
    from indexer import Weights

    expected = brute_force(records, query, Weights.of(None, level).array, level, keep)
    hits = shared.search(query, k=5, level=level, filters=Filters.model_validate(flt))
    # Filtering inside the search returns k hits whenever k videos pass, unlike cutting a top-k afterwards.
    assert_same_ranking(hits, expected, 5)
    assert all(keep(next(r for r in records if r.video_id == h.video_id)) for h in hits)


def test_filter_matching_nothing(shared: VectorIndex, records: list[SV6DRecord]) -> None:
    assert shared.search(records[0].video, k=5, filters={"creator": "nobody"}) == []


def test_similar_hooks_excludes_query_and_explains(shared: VectorIndex, records: list[SV6DRecord]) -> None:
    q = records[2]
    hits = shared.similar_hooks(q.video_id, k=20)
    assert q.video_id not in {h.video_id for h in hits}
    from indexer.query import DEFAULT_HOOK_WEIGHTS

    w = np.array([DEFAULT_HOOK_WEIGHTS[d.value] for d in DIMENSIONS], dtype=np.float32)
    expected = brute_force([r for r in records if r.video_id != q.video_id], q.hook, w, "hook")
    assert_same_ranking(hits, expected, 20)
    q_tags = {(t.dimension.value, t.label) for t in q.tags_in(*q.hook_window)}
    for h in hits:
        other = next(r for r in records if r.video_id == h.video_id)
        o_tags = {(t.dimension.value, t.label) for t in other.tags_in(*other.hook_window)}
        assert {(t.dimension, t.label) for t in h.shared_tags} == q_tags & o_tags
        assert h.window == pytest.approx(other.hook_window)
    # The same through a record that is not stored.
    probe = q.model_copy(update={"video_id": "probe"})
    assert shared.similar_hooks(probe, k=5)[0].video_id == q.video_id


def test_recommend_by_example(shared: VectorIndex, records: list[SV6DRecord]) -> None:
    pos = [records[0].video_id, records[1].video_id]
    neg = [records[2].video_id]
    hits = shared.recommend_by_example(pos, neg, k=5, weights={"camera": 2.0})
    assert not {h.video_id for h in hits} & set(pos + neg)
    q = (records[0].video + records[1].video) / 2 - 0.5 * records[2].video
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    expected = brute_force(
        [r for r in records if r.video_id not in pos + neg],
        q.astype(np.float32),
        np.array([1, 1, 2, 1, 1, 1]),
        "video",
    )
    assert_same_ranking(hits, expected, 5)
    with pytest.raises(QueryError, match="at least one positive"):
        shared.recommend_by_example([], k=3)


def test_bad_inputs_leave_data_intact(shared: VectorIndex, records: list[SV6DRecord]) -> None:
    q = records[0].video
    bad_nan = q.copy()
    bad_nan[1, 0] = np.nan
    bad_zero = q.copy()
    bad_zero[2] = 0
    cases = [
        (lambda: shared.search(np.ones((6, D + 1), np.float32)), QueryError, r"shape \(6, 8\)"),
        (lambda: shared.search(bad_nan), QueryError, "NaN"),
        (lambda: shared.search(bad_zero), QueryError, "camera is all zeros"),
        (lambda: shared.search({"colour": q[0]}), QueryError, "unknown dimension.*valid dimensions: subject"),
        (lambda: shared.search(q, weights={"colour": 1}), QueryError, "unknown dimension 'colour'"),
        (lambda: shared.search(q, weights={"editing": -1}), QueryError, "weight of 'editing'"),
        (
            lambda: shared.search(
                q,
                weights=dict.fromkeys(
                    ("subject", "aesthetics", "camera", "editing", "narrative", "dissemination"), 0
                ),
            ),
            QueryError,
            "all zero",
        ),
        (lambda: shared.search(q, k=0), QueryError, r"k must be an integer in \[1, 1000\]"),
        (lambda: shared.search(q, k=MAX_K + 1), QueryError, "got 1001"),
        (
            lambda: shared.search(q, level="scene"),
            QueryError,
            "unknown level 'scene'; valid levels: video, hook",
        ),
        (
            lambda: shared.search(q, filters={"tags": ["editing:wobble"]}),
            VocabularyError,
            "unknown tag label 'wobble'",
        ),
        (
            lambda: shared.search(q, filters={"tags": ["subject:hard_cut"]}),
            VocabularyError,
            "belongs to dimension",
        ),
        (lambda: shared.search(q, filters={"orientation": "diagonal"}), ValueError, "orientation"),
        (lambda: shared.search("missing-id"), NotFoundError, "missing-id"),
        (lambda: shared.similar_hooks(123), QueryError, "video id or an SV6DRecord"),  # type: ignore[arg-type]
        (
            lambda: shared.upsert(make_records(2, D + 4, prefix="w")),
            QueryError,
            "size 12, this index holds size 8",
        ),
        (lambda: shared.upsert([records[0], records[0]]), QueryError, "twice"),
    ]
    for call, exc, match in cases:
        with pytest.raises(exc, match=match):
            call()
    assert shared.count() == N
    assert shared.search(q, k=1)[0].video_id == records[0].video_id
    with pytest.raises(ValueError, match=r"max_duration_s 1\.0 is below min_duration_s 5\.0"):
        Filters(min_duration_s=5, max_duration_s=1)


def test_empty_index(tmp_path: Path) -> None:
    for kind in BACKENDS:
        ix = open_backend(kind, tmp_path / kind)
        assert ix.count() == 0
        assert ix.dim is None
        with pytest.raises(QueryError, match="empty"):
            ix.search(np.ones((6, D), np.float32))
        ix.close()


@pytest.mark.parametrize("level", ["video", "hook", "segment"])
@pytest.mark.parametrize("filters", [None, {"orientation": "portrait"}])
def test_search_many_matches_search(shared: VectorIndex, records: list[SV6DRecord], level, filters) -> None:
    queries: list = [r.video for r in make_records(3, D, seed=11)] + [records[3].video_id, records[4]]
    each = [[], [records[1].video_id], [], [records[3].video_id], [records[4].video_id, records[5].video_id]]
    many = shared.search_many(
        queries,
        {"editing": 2.0},
        k=7,
        level=level,
        filters=filters,
        exclude=[records[0].video_id],
        exclude_each=each,
    )
    assert len(many) == len(queries)
    for q, ex, hits in zip(queries, each, many, strict=True):
        single = shared.search(
            q, {"editing": 2.0}, k=7, level=level, filters=filters, exclude=[records[0].video_id, *ex]
        )
        assert [h.video_id for h in hits] == [h.video_id for h in single]
        np.testing.assert_allclose([h.score for h in hits], [h.score for h in single], atol=1e-5)
        assert [h.shared_tags for h in hits] == [h.shared_tags for h in single]
        assert not {h.video_id for h in hits} & {records[0].video_id, *ex}
    per_query = shared.search_many(queries[:2], [{"camera": 3.0}, None], k=3, level=level)
    assert [h.video_id for h in per_query[0]] == [
        h.video_id for h in shared.search(queries[0], {"camera": 3.0}, k=3, level=level)
    ]
    assert [h.video_id for h in per_query[1]] == [
        h.video_id for h in shared.search(queries[1], k=3, level=level)
    ]


def test_search_many_refuses_mismatched_lengths(shared: VectorIndex, records: list[SV6DRecord]) -> None:
    qs = [records[0].video, records[1].video]
    with pytest.raises(QueryError, match="1 weight mappings for 2 queries"):
        shared.search_many(qs, [{"editing": 1.0}], k=3)
    with pytest.raises(QueryError, match="3 exclude_each entries for 2 queries"):
        shared.search_many(qs, k=3, exclude_each=[[], [], []])
    with pytest.raises(QueryError, match="k must be"):
        shared.search_many(qs, k=0)
    assert shared.search_many([], k=3) == []


def test_video_ids_pages_in_stable_order(shared: VectorIndex, records: list[SV6DRecord]) -> None:
    everything = sorted(r.video_id for r in records)
    assert shared.video_ids() == everything
    pages = [shared.video_ids(offset, 7) for offset in range(0, N, 7)]
    assert [v for page in pages for v in page] == everything
    assert shared.video_ids(N, 5) == []
    assert shared.video_ids(3, 0) == []
    with pytest.raises(QueryError, match="offset must be an integer >= 0, got -1"):
        shared.video_ids(-1, 5)
    with pytest.raises(QueryError, match="limit must be"):
        shared.video_ids(0, -2)


def test_hook_tags_of(shared: VectorIndex, records: list[SV6DRecord]) -> None:
    for r in records[:8]:
        expected = {(t.dimension.value, t.label) for t in r.tags_in(*r.hook_window)}
        assert shared.hook_tags_of(r.video_id) == expected
    with pytest.raises(NotFoundError, match="'nope' is not in the index"):
        shared.hook_tags_of("nope")


def test_hook_search_without_weights_uses_the_default_hook_weights() -> None:
    from encoder.evidence.default_heads import HOOK_HEADS_DIR
    from indexer import DEFAULT_HOOK_WEIGHTS, Weights

    # the weights the packaged hook heads were trained for (their manifest says), all six at 1 (README)
    trained = json.loads((HOOK_HEADS_DIR / "heads.json").read_text())["joint"]["weights"]
    expected = [trained[d.value] for d in DIMENSIONS]
    assert expected == [1.0] * len(DIMENSIONS)
    np.testing.assert_allclose(DEFAULT_HOOK_WEIGHTS.array, expected)
    np.testing.assert_allclose(Weights.of(None, "hook").array, expected)
    np.testing.assert_allclose(Weights.of({}, "hook").array, expected)
    np.testing.assert_allclose(Weights.of(None, "video").array, np.ones(len(DIMENSIONS)))
    # weights given replace the default whole: a dimension left out weighs 1
    np.testing.assert_allclose(
        Weights.of({"camera": 2.0}, "hook").array, [2.0 if d.value == "camera" else 1.0 for d in DIMENSIONS]
    )


@pytest.mark.parametrize("level", ["video", "hook"])
def test_neighbours_rank_and_score_as_search_many(
    shared: VectorIndex, records: list[SV6DRecord], level
) -> None:
    """The ranker's bulk form: ids and scores only, the same as ``search_many``'s hits, for one-dimension
    weights (FAISS searches that dimension's columns alone) and for several dimensions."""
    from indexer import Weights

    queries = np.stack([r.video for r in make_records(4, D, seed=41)])
    weights = [
        Weights.only("editing"),
        Weights.only("camera"),
        Weights.uniform(),
        Weights.of({"subject": 2.0}),
    ]
    drop = [records[i].video_id for i in range(0, 12, 3)]
    got = shared.neighbours(queries, weights, 7, level, exclude=drop)
    want = shared.search_many(queries, weights, k=7, level=level, exclude=drop)
    for (ids, scores), hits in zip(got, want, strict=True):
        assert ids == [h.video_id for h in hits]
        np.testing.assert_allclose(scores, [h.score for h in hits], rtol=0, atol=1e-6)
        assert not set(ids) & set(drop)
    kept = [r for r in records if r.video_id not in drop]
    for (ids, scores), q, w in zip(got, queries, weights, strict=True):
        ref = brute_force(kept, q / np.linalg.norm(q, axis=1, keepdims=True), w.array, level)[:7]
        assert ids == [v for v, _ in ref]
        np.testing.assert_allclose(scores, [s for _, s in ref], atol=1e-4)
    with pytest.raises(QueryError, match="video or hook level"):
        shared.neighbours(queries, Weights.uniform(), 5, "segment")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="2 weights for 4 queries"):
        shared.neighbours(queries, weights[:2], 5)
    with pytest.raises(QueryError, match="all zeros"):
        shared.neighbours(np.zeros_like(queries), Weights.uniform(), 5)


def test_hook_search_blends_the_opening_style_profiles(index: VectorIndex, records: list[SV6DRecord]) -> None:
    """A hook search from a query with an opening-style profile re-orders the top hits by
    ``(1 - s) · score / Σw + s · style``, ``s = share · the query profile's largest probability``
    (indexer.base); hits keep their scores and carry ``style``; share 0 is the vectors' ranking; records
    without a profile blend in 0; profiles come back from storage."""
    from indexer.base import STYLE_SHARE, STYLE_TOP_N
    from indexer.query import DEFAULT_HOOK_WEIGHTS
    from sv6d.record import style_similarity

    q = records[2]
    plain = index.similar_hooks(q.video_id, k=STYLE_TOP_N, style=0.0)
    assert all(h.style is None for h in plain)
    # The query opens like the vectors' 10th hit, not like the first: give them profiles that say so.
    first, tenth = plain[0].video_id, plain[9].video_id
    styled = {
        q.video_id: {"caption_hook": 0.9, "montage": 0.1},
        tenth: {"caption_hook": 0.95, "montage": 0.05},
        first: {"jump_cuts": 1.0},
    }
    by_id = {r.video_id: r for r in records}
    index.upsert([by_id[v].model_copy(update={"hook_style": p}) for v, p in styled.items()])
    assert index.get(tenth).hook_style == styled[tenth]
    assert index.hook_style_of(first) == styled[first]
    assert index.hook_style_of(records[0].video_id) == {}
    # many at once, in order; an id no longer stored (deleted since a search found it) has no profile
    assert index.hook_styles_of([first, "gone", tenth, records[0].video_id]) == [
        styled[first],
        {},
        styled[tenth],
        {},
    ]

    hits = index.similar_hooks(q.video_id, k=10)
    wsum = float(sum(DEFAULT_HOOK_WEIGHTS.as_dict().values()))
    scores = {h.video_id: h.score for h in plain}
    assert hits[0].video_id == tenth
    for h in hits:
        assert h.score == pytest.approx(scores[h.video_id], abs=1e-5)
        assert h.style == pytest.approx(style_similarity(styled[q.video_id], styled.get(h.video_id, {})))
    s = STYLE_SHARE * 0.9  # the share, scaled by the style model's confidence in the query's profile
    blended = [(1 - s) * h.score / wsum + s * (h.style or 0.0) for h in hits]
    assert blended == sorted(blended, reverse=True)
    assert first not in {h.video_id for h in hits[:3]}  # opens unlike the query: pushed down
    assert [h.video_id for h in index.similar_hooks(q.video_id, k=10, style=0.0)] == [
        h.video_id for h in plain[:10]
    ]
    # a record query carries its own profile; search_many blends as search does
    probe = by_id[q.video_id].model_copy(update={"video_id": "probe", "hook_style": styled[q.video_id]})
    assert index.search(probe, k=1, level="hook", exclude=(q.video_id,))[0].video_id == tenth
    many = index.search_many([q.video_id], k=10, level="hook", exclude=(q.video_id,))[0]
    assert [h.video_id for h in many] == [h.video_id for h in hits]
    for bad in (-0.1, 1.5, float("nan"), "half"):
        with pytest.raises(QueryError, match="style share"):
            index.similar_hooks(q.video_id, k=5, style=bad)  # type: ignore[arg-type]
