"""``ranker.systems``: every experiment system behind one interface (prepare, then rank)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ranker.aggregates import AggregateConfig
from ranker.baselines import BASELINES, BaselineConfig
from ranker.candidates import CHANNELS, CandidateSet
from ranker.catalog import ItemCatalog
from ranker.context import build_context
from ranker.events import conform_events
from ranker.experiment import load_config
from ranker.features import FeatureSchema, plays_feature, similarity_features
from ranker.systems import RUN_DEPTH, SYSTEMS, Baseline, LightGBM, Window, make_system

T0 = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def window(tmp_path_factory: pytest.TempPathFactory) -> Window:
    """A real context over 30 videos and 12 users who like the even videos."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(12):
        for j in range(15):
            v = int(rng.integers(0, 30))
            ts = T0 - timedelta(hours=float(rng.uniform(1, 200)))
            rows.append((f"e{u}-{j}", f"u{u}", f"v{v}", ts, 10.0, 20.0, v % 2 == 0, False))
    events = conform_events(
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
    catalog = ItemCatalog.from_events(events)
    aggregates = AggregateConfig()
    ctx = build_context(events, catalog, T0, aggregates)
    schema = FeatureSchema.for_config(aggregates)
    n = len(schema.names)
    x = rng.normal(size=(200, n)).astype(np.float32)
    y = (rng.random(200) < 0.2).astype(float)
    g = np.repeat(np.arange(20), 10)
    return Window(
        ctx=ctx,
        events=events,
        schema=schema,
        aggregates=aggregates,
        baselines=BaselineConfig(),
        test_users=["u0", "u1", "u2"],
        seed=7,
        model_dir=Path(tmp_path_factory.mktemp("models")),
        training=lambda: (x, y, g),
    )


def _candidates(positions: list[int]) -> CandidateSet:
    ch = np.zeros((len(positions), len(CHANNELS)), dtype=bool)
    return CandidateSet(np.asarray(positions, dtype=np.int64), ch)


def test_every_system_a_config_may_name(tmp_path: Path) -> None:
    cfg = tmp_path / "all.toml"
    cfg.write_text(f'name = "all"\nsystems = {list(SYSTEMS)!r}\n[data]\nsource = "simulated"\n')
    assert load_config(cfg).systems == list(SYSTEMS)
    assert {s for s in SYSTEMS if make_system(s).needs_content} == {
        "structural",
        "lgbm_structure",
        "lgbm_cold",
    }
    assert {s for s in SYSTEMS if make_system(s).ranks_catalogue} == set(BASELINES)
    assert all(make_system(s).name == s for s in SYSTEMS)


def test_a_system_ranks_only_once_prepared() -> None:
    for name in ("popularity", "lgbm_engagement", "itemknn"):
        with pytest.raises(RuntimeError, match=f"system '{name}' ranks only after prepare"):
            make_system(name).rank_candidates(0, _candidates([0, 1]), np.zeros((2, 3), np.float32))


def test_heuristics_read_their_columns_by_name(window: Window) -> None:
    names = window.schema.names
    feats = np.random.default_rng(1).normal(size=(40, len(names))).astype(np.float32)
    cands = _candidates(list(range(40)))
    pop = make_system("popularity")
    pop.prepare(window)
    plays = feats[:, names.index(plays_feature("v", window.aggregates.windows[0][0]))]
    assert pop.rank_candidates(0, cands, feats).tolist() == np.argsort(-plays, kind="stable").tolist()
    recency = make_system("recency")
    recency.prepare(window)
    age = feats[:, names.index("age_days")]
    assert recency.rank_candidates(0, cands, feats).tolist() == np.argsort(age, kind="stable").tolist()
    structural = make_system("structural")
    structural.prepare(window)
    sims = feats[:, [names.index(c) for c in similarity_features("sim_pos_video")]].mean(axis=1)
    assert structural.rank_candidates(0, cands, feats).tolist() == np.argsort(-sims, kind="stable").tolist()


def test_lightgbm_and_baseline_systems_prepare_and_rank(window: Window) -> None:
    model = make_system("lgbm_engagement")
    assert isinstance(model, LightGBM)
    model.prepare(window)
    assert (window.model_dir / "models" / "lgbm_engagement" / "model.txt").is_file()
    report = model.report()
    assert report is not None
    assert report["best_iteration"] >= 1
    feats = np.random.default_rng(2).normal(size=(150, len(window.schema.names))).astype(np.float32)
    order = model.rank_candidates(0, _candidates(list(range(150))), feats)
    assert len(order) == RUN_DEPTH
    assert sorted(set(order.tolist())) == sorted(order.tolist())
    base = make_system("pop_decay")
    assert isinstance(base, Baseline)
    base.prepare(window)
    allowed = np.arange(len(window.ctx.catalog))
    top = base.rank_catalogue(1, allowed)
    assert 0 < len(top) <= len(allowed)
    # re-ranking the same items as candidates: the same order (popularity, then candidate order, breaks ties)
    cands = _candidates(top.tolist())
    assert cands.positions[base.rank_candidates(1, cands, feats[: len(cands)])].tolist() == top.tolist()
    shuffled = _candidates(top[::-1].tolist())
    assert sorted(shuffled.positions[base.rank_candidates(1, shuffled, feats[: len(top)])]) == sorted(top)
    assert base.report() is None
