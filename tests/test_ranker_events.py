"""Events schema, idempotent storage, KuaiRand loader, and as-of aggregates without leakage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from ranker.aggregates import AggregateConfig, user_state, video_aggregates
from ranker.catalog import ItemCatalog
from ranker.context import build_context
from ranker.events import EventDataError, EventStore, conform_events, load_kuairand

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _events(rows: list[tuple]) -> pl.DataFrame:
    return conform_events(
        pl.DataFrame(
            rows,
            schema=[
                "event_id",
                "user_id",
                "video_id",
                "ts",
                "play_time_s",
                "video_duration_s",
                "like",
                "hate",
            ],
            orient="row",
        )
    )


def _timeline() -> pl.DataFrame:
    return _events(
        [
            ("e1", "u1", "a", T0, 10.0, 10.0, True, False),
            ("e2", "u2", "a", T0 + timedelta(days=1), 5.0, 10.0, False, True),
            ("e3", "u1", "b", T0 + timedelta(days=2), 3.0, None, True, False),
            ("e4", "u2", "b", T0 + timedelta(days=5), 1.0, 10.0, False, True),
        ]
    )


def test_unknown_values_are_null_not_zero() -> None:
    ev = _timeline()
    assert ev["share"].null_count() == ev.height
    assert ev.filter(pl.col("event_id") == "e3")["video_duration_s"].item() is None
    assert ev.schema["ts"] == pl.Datetime("us", "UTC")


def test_store_append_is_idempotent(tmp_path) -> None:
    store = EventStore(tmp_path)
    ev = _timeline()
    assert store.append(ev) == 4
    assert store.append(ev) == 0
    assert store.append(pl.concat([ev.head(1), ev.head(1)])) == 0
    assert store.read().height == 4
    assert sorted(store.read()["event_id"].to_list()) == ["e1", "e2", "e3", "e4"]


def test_missing_column_is_a_clear_error() -> None:
    with pytest.raises(EventDataError, match="missing required column"):
        conform_events(pl.DataFrame({"event_id": ["x"], "user_id": ["u"]}))


def test_missing_kuairand_file_names_it(tmp_path) -> None:
    with pytest.raises(EventDataError, match=r"nope\.tsv does not exist"):
        load_kuairand(tmp_path / "nope.tsv")


def test_smoothed_rates_follow_the_prior() -> None:
    ev = _timeline()
    cfg = AggregateConfig(half_life_days=1e9, prior_strength=2.0, windows=(("all", None),))
    agg = video_aggregates(ev, T0 + timedelta(days=10), cfg).sort("video_id")
    # Global like rate is 0.5; video a has one like in two events: (1 + 2*0.5) / (2 + 2) = 0.5.
    assert agg["v_all_like"].to_list() == pytest.approx([0.5, 0.5])
    # Watch ratio of b: only the event with a known duration counts (0.1); prior mean over known = 0.5333.
    prior = (1.0 + 0.5 + 0.1) / 3
    assert agg["v_all_watch_ratio"][1] == pytest.approx((0.1 + 2 * prior) / (1 + 2))


def test_no_leakage_from_events_after_as_of() -> None:
    ev = _timeline()
    as_of = T0 + timedelta(days=3)
    future = _events(
        [
            ("f1", "u1", "a", as_of, 0.0, 10.0, False, True),
            ("f2", "u3", "c", as_of + timedelta(hours=1), 1.0, 1.0, True, False),
        ]
    )
    before = video_aggregates(ev, as_of)
    after = video_aggregates(pl.concat([ev, future]), as_of)
    assert before.equals(after)
    vecs = np.random.default_rng(0).normal(size=(3, 6, 4))
    cat = ItemCatalog(
        video_ids=["a", "b", "c"],
        video=(vecs / np.linalg.norm(vecs, axis=2, keepdims=True)).astype(np.float32),
    )
    s1 = user_state(ev, cat, as_of)
    s2 = user_state(pl.concat([ev, future]), cat, as_of)
    assert s1.user_ids == s2.user_ids
    assert (s1.positive_matrix != s2.positive_matrix).nnz == 0
    c1, c2 = build_context(ev, cat, as_of), build_context(pl.concat([ev, future]), cat, as_of)
    np.testing.assert_array_equal(c1.video_agg, c2.video_agg)
    np.testing.assert_array_equal(c1.user_agg, c2.user_agg)


@pytest.mark.shared_data
def test_load_kuairand(shared_data) -> None:
    ev = load_kuairand(shared_data / "engagement" / "kuairand_27k_likehate_kcore15.tsv")
    assert ev.height > 41_000
    assert ev["event_id"].n_unique() == ev.height
    # duration_ms == 0 rows are unknown durations, i.e. null.
    assert ev["video_duration_s"].null_count() > 7_000
    assert (ev["like"] ^ ev["hate"]).all()
    # time_ms is UTC epoch milliseconds: the first row printed in the file is 2022-04-10 08:59:09 UTC.
    row = ev.filter(pl.col("event_id") == "kr:111:3892024:1649581149287")
    assert row["ts"].item() == datetime(2022, 4, 10, 8, 59, 9, 287000, tzinfo=UTC)
