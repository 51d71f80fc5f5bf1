"""``indexer.Weights``: the one weights type (a dimension left out weighs 1), read alike by every caller."""

from __future__ import annotations

import math

import numpy as np
import pytest

from indexer import DEFAULT_HOOK_WEIGHTS, QueryError, Weights, open_index
from indexer.synthetic import make_records
from sv6d.dimensions import DIMENSIONS

NAMES = [d.value for d in DIMENSIONS]


def test_a_dimension_left_out_weighs_one() -> None:
    w = Weights.of({"editing": 3.0, "subject": 0.0})
    assert w.as_dict() == {
        "subject": 0.0,
        "aesthetics": 1.0,
        "camera": 1.0,
        "editing": 3.0,
        "narrative": 1.0,
        "dissemination": 1.0,
    }
    assert w.total == 7.0
    np.testing.assert_array_equal(w.array, [0, 1, 1, 3, 1, 1])
    # a full mapping over the six names: it reads the same under any convention, and parses to itself
    assert list(w) == NAMES
    assert len(w) == 6
    assert w["EDITING"] == 3.0
    assert Weights.of(w) is w
    assert Weights.of(dict(w)) == w
    assert w == dict(w)


def test_no_weights_mean_all_ones_except_for_hooks() -> None:
    assert Weights.of(None) == Weights.uniform() == dict.fromkeys(NAMES, 1.0)
    assert Weights.of({}, "video") == Weights.uniform()
    assert Weights.of(None, "hook") is DEFAULT_HOOK_WEIGHTS
    assert Weights.of({}, "hook") is DEFAULT_HOOK_WEIGHTS
    # weights given replace the hook default whole
    assert Weights.of({"camera": 2.0}, "hook") == {**dict.fromkeys(NAMES, 1.0), "camera": 2.0}


def test_only_weighs_one_dimension() -> None:
    w = Weights.only("camera")
    assert w.as_dict() == {**dict.fromkeys(NAMES, 0.0), "camera": 1.0}
    assert w.total == 1.0
    with pytest.raises(QueryError, match="unknown dimension 'colour'; valid dimensions: subject"):
        Weights.only("colour")


@pytest.mark.parametrize(
    ("given", "match"),
    [
        ({"colour": 1.0}, "unknown dimension 'colour'; valid dimensions: subject, aesthetics"),
        ({"editing": -1.0}, "weight of 'editing' must be a finite number >= 0"),
        ({"editing": math.nan}, "weight of 'editing' must be a finite number >= 0"),
        ({"editing": "lots"}, "weight of 'editing' must be a number, got 'lots'"),
        (dict.fromkeys(NAMES, 0.0), "weights are all zero"),
        ([1.0, 2.0], "weights must be a mapping of dimension name to number"),
    ],
)
def test_bad_weights_name_the_problem(given, match) -> None:
    with pytest.raises(QueryError, match=match):
        Weights.of(given)


def test_the_array_cannot_be_changed_in_place() -> None:
    w = Weights.uniform()
    with pytest.raises(ValueError, match="read-only"):
        w.array[0] = 5.0
    assert Weights.uniform().total == 6.0


@pytest.mark.parametrize("location", ["faiss", "qdrant::memory:"])
def test_an_index_reads_a_weights_and_its_mapping_alike(tmp_path, location) -> None:
    records = make_records(40, 8, seed=4)
    index = open_index(data_dir=tmp_path) if location == "faiss" else open_index(location)
    with index:
        index.upsert(records)
        query = make_records(1, 8, seed=9)[0].video
        # one dimension: the score is that dimension's cosine, and the order follows it
        hits = index.search(query, Weights.only("editing"), k=10)
        for h in hits:
            assert h.score == pytest.approx(h.scores["editing"], abs=1e-6)
        cos = {r.video_id: float(r.video[3] @ query[3]) for r in records}
        assert [h.video_id for h in hits] == sorted(cos, key=lambda v: -cos[v])[:10]
        # a Weights and the mapping it was read from give the same hits, scores included
        w = {"editing": 3.0, "subject": 0.0}
        a = index.search(query, Weights.of(w), k=10, level="hook")
        b = index.search(query, w, k=10, level="hook")
        assert [(h.video_id, h.score) for h in a] == [(h.video_id, h.score) for h in b]
        many = index.search_many([query, query], [Weights.only("camera"), w], k=5)
        assert [h.video_id for h in many[1]] == [h.video_id for h in index.search(query, w, k=5)]


@pytest.mark.parametrize("location", ["faiss", "qdrant::memory:"])
def test_tied_scores_come_in_video_id_order(tmp_path, location) -> None:
    base = make_records(6, 8, seed=12)
    # three copies of one video under other ids: equal scores for any query and any weights
    twins = [base[0].model_copy(update={"video_id": vid}) for vid in ("t-c", "t-a", "t-b")]
    index = open_index(data_dir=tmp_path) if location == "faiss" else open_index(location)
    with index:
        index.upsert([*base[1:], *twins])
        for w in (Weights.uniform(), Weights.only("camera")):
            hits = index.search(base[0].video, w, k=3)
            assert [h.video_id for h in hits] == ["t-a", "t-b", "t-c"]
            ((ids, _),) = index.neighbours(base[0].video[None], w, 3)
            assert ids == ["t-a", "t-b", "t-c"]
