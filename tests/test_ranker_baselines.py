"""Baselines against hand-computed cases, the clustered statistics, and the ceiling on a generated log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from ranker.baselines import BASELINES, BaselineConfig, like_data, rank_items, score_users
from ranker.events import conform_events
from ranker.metrics import (
    bootstrap_ci,
    cluster_bootstrap_ci,
    clustered_randomization_test,
    paired_randomization_test,
)
from sv6d.errors import ConfigError

T = datetime(2025, 1, 2, tzinfo=UTC)
ITEMS = {"x": 0, "y": 1, "z": 2, "w": 3}
SMALL_FACTORS = BaselineConfig(
    als_factors=4, als_iterations=5, bpr_factors=4, bpr_iterations=200, bpr_learning_rate=0.05
)


def _likes(rows: list[tuple[str, str, float]], like: bool = True) -> pl.DataFrame:
    """(user, video, age in days before T) likes."""
    return pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "video_id": [r[1] for r in rows],
            "ts": [T - timedelta(days=r[2]) for r in rows],
            "like": [like] * len(rows),
        }
    )


# a likes x (1 day ago) and y (2 days ago); b likes x, y, z; c likes z. One like on w is at T: not before it.
LOG = pl.concat(
    [
        _likes([("a", "x", 1), ("a", "y", 2), ("b", "x", 1), ("b", "y", 1), ("b", "z", 1), ("c", "z", 0.5)]),
        _likes([("c", "w", 0.0)]),
    ]
)


def test_like_data_decays_and_ignores_the_cutoff() -> None:
    cfg = BaselineConfig(pop_half_life_days=1.0, knn_half_life_days=0.5)
    d = like_data(LOG, ITEMS, 4, ["a", "b", "c"], T, cfg)
    assert d.binary.toarray().tolist() == [[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 0]]
    # 0.5 ** (age / 0.5): a's like of x one day ago weighs 0.25, of y two days ago 0.0625.
    np.testing.assert_allclose(d.decayed_knn.toarray()[0], [0.25, 0.0625, 0, 0])
    # Popularity: x = 0.5 + 0.5, y = 0.25 + 0.5, z = 0.5 + 0.5 ** 0.5; w's like at T is not before T.
    np.testing.assert_allclose(d.item_pop, [1.0, 0.75, 0.5 + 0.5**0.5, 0.0])


def test_itemknn_is_cosine_over_decayed_history() -> None:
    cfg = BaselineConfig(knn_k=10, knn_half_life_days=0.5)
    d = like_data(LOG, ITEMS, 4, ["a", "b", "c"], T, cfg)
    s = score_users("itemknn", d, ["a", "c"], cfg)
    # cos(x, y) = 1, cos(x, z) = cos(y, z) = 1 / 2, every item with itself 1 (seen items are excluded later).
    np.testing.assert_allclose(s[0], [0.3125, 0.3125, 0.15625, 0.0])
    np.testing.assert_allclose(s[1], [0.5 * 0.5, 0.5 * 0.5, 0.5, 0.0])


def test_ease_matches_the_closed_form_by_hand() -> None:
    # X = [[1, 1], [1, 0]], λ = 1: G = [[3, 1], [1, 2]], P = G⁻¹ = [[2, -1], [-1, 3]] / 5,
    # B_xy = -P_xy / P_yy = 1/3, B_yx = -P_yx / P_xx = 1/2.
    log = _likes([("u", "x", 1), ("u", "y", 1), ("v", "x", 1)])
    cfg = BaselineConfig(ease_lambda=1.0)
    d = like_data(log, {"x": 0, "y": 1, "z": 2}, 3, ["u", "v"], T, cfg)
    s = score_users("ease", d, ["v", "u"], cfg)
    np.testing.assert_allclose(s[0], [0.0, 1 / 3, 0.0], atol=1e-12)
    np.testing.assert_allclose(s[1], [0.5, 1 / 3, 0.0], atol=1e-12)


def test_factor_models_are_seeded_and_find_the_block() -> None:
    # Two blocks of items liked together; user q liked 3 of block A's 4 items and none of block B.
    rows = [(f"u{k}", f"a{j}", 1.0) for k in range(12) for j in range(4)]
    rows += [(f"v{k}", f"b{j}", 1.0) for k in range(12) for j in range(4)]
    rows += [("q", "a0", 1.0), ("q", "a1", 1.0), ("q", "a2", 1.0)]
    items = {f"{b}{j}": i for i, (b, j) in enumerate((b, j) for b in "ab" for j in range(4))}
    users = sorted({r[0] for r in rows})
    d = like_data(_likes(rows), items, 8, users, T, SMALL_FACTORS)
    for name in ("als", "bpr", "itemknn", "ease"):
        s = score_users(name, d, ["q"], SMALL_FACTORS, seed=3)[0]
        assert s[items["a3"]] > max(s[items[f"b{j}"]] for j in range(4)), name
        np.testing.assert_array_equal(s, score_users(name, d, ["q"], SMALL_FACTORS, seed=3)[0])


def test_unknown_users_score_zero_and_pop_scores_everyone() -> None:
    d = like_data(LOG, ITEMS, 4, ["a", "b", "c"], T, SMALL_FACTORS)
    for name in BASELINES:
        s = score_users(name, d, ["nobody"], SMALL_FACTORS)
        if name == "pop_decay":
            np.testing.assert_allclose(s[0], d.item_pop)
        else:
            assert not s.any(), name
    with pytest.raises(ConfigError, match="unknown baseline"):
        score_users("svd", d, ["a"], SMALL_FACTORS)
    with pytest.raises(ConfigError, match="knn_k"):
        BaselineConfig.from_mapping({"k": 3})


def test_rank_items_breaks_ties_by_popularity_then_position() -> None:
    scores = np.array([1.0, 2.0, 1.0, 1.0, 5.0])
    pop = np.array([0.0, 0.0, 3.0, 0.0, 0.0])
    assert rank_items(scores, np.array([0, 1, 2, 3]), pop, 3).tolist() == [1, 2, 0]


def test_clustered_statistics_reduce_to_the_plain_ones_for_one_row_per_user(rng) -> None:
    a, b = rng.random(50), rng.random(50) * 0.8
    users = np.arange(50)
    assert cluster_bootstrap_ci(a, users, n_boot=200, seed=4) == pytest.approx(bootstrap_ci(a, 200, seed=4))
    assert clustered_randomization_test(a, b, users, 500, 4) == paired_randomization_test(a, b, 500, 4)
    # The same user twice: the pair moves together, so the interval is wider than treating rows as users.
    twice = np.concatenate([a, a])
    lo, hi = cluster_bootstrap_ci(twice, np.concatenate([users, users]), n_boot=500, seed=1)
    lo2, hi2 = bootstrap_ci(twice, n_boot=500, seed=1)
    assert hi - lo > 1.2 * (hi2 - lo2)


# A generated log whose ceiling can be read off by hand: 20 events, an hour apart; test windows start at the
# 11th event (quantile 0.5). Before it, items i0..i4 have events; i5..i9 first appear inside the window.
EVENTS = [
    ("a", "i0", True), ("a", "i1", True), ("b", "i0", True), ("b", "i2", True), ("c", "i1", True),
    ("c", "i2", True), ("c", "i3", True), ("d", "i4", False), ("d", "i0", True), ("d", "i1", True),
    # inside the window
    ("a", "i2", True), ("a", "i5", True), ("b", "i3", True), ("b", "i1", False), ("c", "i0", True),
    ("c", "i6", True), ("d", "i7", True), ("d", "i8", True), ("e", "i0", True), ("e", "i9", False),
]  # fmt: skip

CONFIG = """
name = "hand"
systems = ["popularity", "itemknn", "pop_decay"]
[data]
source = "events"
path = "{path}"
[split]
train_cutoffs = [0.3]
test_start = 0.5
{windows}
[candidates.quotas]
popular = 100
fresh = 100
covisit = 100
[evaluation]
n_boot = 50
n_perm = 50
"""


def _write_log(tmp_path) -> str:
    t0 = datetime(2025, 3, 1, tzinfo=UTC)
    df = pl.DataFrame(
        {
            "event_id": [f"e{k}" for k in range(len(EVENTS))],
            "user_id": [e[0] for e in EVENTS],
            "video_id": [e[1] for e in EVENTS],
            "ts": [t0 + timedelta(hours=k) for k in range(len(EVENTS))],
            "like": [e[2] for e in EVENTS],
            "hate": [not e[2] for e in EVENTS],
        }
    )
    path = tmp_path / "events.parquet"
    conform_events(df).write_parquet(path)
    return str(path)


def test_ceiling_on_a_hand_log(tmp_path) -> None:
    from ranker.experiment import run_experiment

    cfg = tmp_path / "hand.toml"
    cfg.write_text(CONFIG.format(path=_write_log(tmp_path), windows=""))
    res = run_experiment(cfg, tmp_path / "run")
    (w,) = res["windows"]
    c = w["ceiling"]
    # Likes in the window: a {i2, i5}, b {i3}, c {i0, i6}, d {i7, i8}, e {i0}: 8, of which i2, i3, i0, i0
    # are on videos with an event before the window, and each is outside what its user saw: all 4 are
    # candidates (e is a new user: the popular channel alone).
    assert (c["n_users"], c["n_positives"]) == (5, 8)
    assert c["share_seen_before_window"] == pytest.approx(0.5)
    assert c["share_in_candidates"] == pytest.approx(0.5)
    assert c["reachable_in_candidates"] == pytest.approx(1.0)
    # Perfect NDCG@10: a and c get 1 of 2 likes at rank 1 (1 / (1 + 1/log2 3)), b and e 1, d 0.
    half = 1 / (1 + 1 / np.log2(3))
    assert c["perfect_ndcg_at_10_candidates"] == pytest.approx((2 * half + 2) / 5)
    assert c["perfect_ndcg_at_10_catalogue"] == pytest.approx((2 * half + 2) / 5)
    assert c["users_with_positive_in_candidates"] == 4
    sys_ = res["systems"]
    assert {"itemknn", "itemknn_catalogue", "pop_decay_catalogue"} <= set(sys_)
    assert sys_["itemknn_catalogue"]["scope"] == "catalogue"
    # Conditional NDCG counts only likes inside the candidates: it is never below the end-to-end value.
    for s in ("popularity", "itemknn", "pop_decay"):
        assert sys_[s]["ndcg_at_10_conditional"] >= sys_[s]["ndcg_at_10"]
    # Structural channels cannot exist without content: n/a (NaN), not 0.
    assert np.isnan(w["candidate_recall"]["nb_subject"])
    assert np.isnan(w["candidate_recall"]["hook"])
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Ceiling" in report
    assert "conditional" in report
    assert "| nb_subject | n/a |" in report
    runs = pl.read_parquet(tmp_path / "run" / "runs.parquet")
    # The catalogue baselines rank only videos known before the window, never one the user has seen.
    top_a = runs.filter((pl.col("system") == "itemknn_catalogue") & (pl.col("user_id") == "a"))
    assert set(top_a["video_id"]) == {"i2", "i3", "i4"}


def test_rolling_windows_pool_with_paired_tests(tmp_path) -> None:
    from ranker.experiment import run_experiment

    cfg = tmp_path / "roll.toml"
    cfg.write_text(CONFIG.format(path=_write_log(tmp_path), windows="test_windows = [0.5, 0.65, 0.8]"))
    res = run_experiment(cfg, tmp_path / "run")
    assert res["pooled"]
    assert len(res["windows"]) == 3
    starts = [w["test_start"] for w in res["windows"]]
    assert starts == sorted(starts)
    assert res["windows"][0]["test_end"] == starts[1]
    assert res["windows"][-1]["test_end"] is None
    n_rows = sum(w["n_test_users"] for w in res["windows"])
    for s in res["systems"].values():
        assert s["n_users"] == n_rows
        lo, hi = s["ndcg_at_10_ci"]
        assert lo <= s["ndcg_at_10"] + 1e-12
        assert s["ndcg_at_10"] <= hi + 1e-12
    doc = json.loads((tmp_path / "run" / "results.json").read_text())
    assert doc["windows"][1]["ceiling"]["n_positives"] > 0
    qrels = pl.read_parquet(tmp_path / "run" / "qrels.parquet")
    assert sorted(qrels["window"].unique().to_list()) == [0, 1, 2]


def test_test_windows_must_start_at_test_start(tmp_path) -> None:
    from ranker.experiment import load_config

    cfg = tmp_path / "bad.toml"
    cfg.write_text(CONFIG.format(path="x.parquet", windows="test_windows = [0.6, 0.8]"))
    with pytest.raises(ConfigError, match="test_windows must start at test_start"):
        load_config(cfg)


def test_collaborative_channels_on_the_hand_log(tmp_path) -> None:
    from ranker.candidates import CHANNELS, CandidateConfig, generate_candidates
    from ranker.catalog import ItemCatalog
    from ranker.context import build_context
    from ranker.events import load_events
    from ranker.features import FeatureSchema, assemble_features

    events = load_events(_write_log(tmp_path))
    catalog = ItemCatalog.from_events(events)
    ctx = build_context(events, catalog, events["ts"][10])
    pos = catalog.index
    # Likes before the window: i0 by a, b, d; i1 by a, c, d; i2 by b, c; i3 by c (i4 only hated).
    # cos(i0, i2) = cos(i1, i2) = 1/√6, cos(i1, i3) = 1/√3, cos(i0, i3) = 0.
    req = ctx.request_for_user("a")
    knn = ctx.collab_scores(req, "itemknn")
    assert knn[pos["i2"]] == pytest.approx(2 / np.sqrt(6), rel=1e-5)
    assert knn[pos["i3"]] == pytest.approx(1 / np.sqrt(3), rel=1e-5)
    only = {"popular": 0, "fresh": 0, "covisit": 0}
    cs = generate_candidates(ctx, req, CandidateConfig(quotas={**only, "itemknn": 5}))
    assert [catalog.video_ids[int(p)] for p in cs.positions] == ["i2", "i3"]
    assert cs.channels[:, CHANNELS.index("itemknn")].all()
    als = generate_candidates(ctx, req, CandidateConfig(quotas={**only, "als": 5}))
    # ALS ranks only unseen items with a positive: never i0/i1 (seen by a), never i4 (no like).
    assert set(als.positions.tolist()) <= {pos["i2"], pos["i3"]}
    assert len(als) > 0
    # ALS scores come from the rows with a positive only: the same float32 values as the whole matrix.
    vec = ctx.als_item_vectors()
    q = vec[req.recent_positives].sum(axis=0)
    full = vec @ (q / float(np.linalg.norm(q)))
    assert full.dtype == ctx.collab_scores(req, "als").dtype == np.float32
    np.testing.assert_array_equal(ctx.collab_scores(req, "als"), full)
    assert (full[~np.any(vec != 0, axis=1)] == 0).all()
    # Off by default: the channels of earlier configs are unchanged.
    default = generate_candidates(ctx, req)
    assert not default.channels[:, [CHANNELS.index("itemknn"), CHANNELS.index("als")]].any()
    schema = FeatureSchema.for_config(ctx.config)
    feats = assemble_features(ctx, req, cs, schema)
    col = schema.names.index("knn_score")
    np.testing.assert_allclose(feats[:, col], [2 / np.sqrt(6), 1 / np.sqrt(3)], rtol=1e-5)
    assert set(schema.select({"collab"})) == {"ch_itemknn", "ch_als", "knn_score", "als_score"}
