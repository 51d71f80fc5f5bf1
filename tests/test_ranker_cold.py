"""The cold-start prior (structure -> expected engagement), the cold channel and the cold feature."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from ranker.candidates import CHANNEL_INDEX, CandidateConfig, generate_candidates
from ranker.catalog import ItemCatalog, tag_label_order
from ranker.cold import COLD_MAX_PLAYS, fit_ridge, predict_ridge
from ranker.context import build_context
from ranker.events import conform_events
from ranker.features import FeatureSchema, assemble_features

T0 = datetime(2025, 1, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=10)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def platform() -> tuple[ItemCatalog, pl.DataFrame, np.ndarray, np.ndarray]:
    """300 videos whose like probability is a function of their structure; the last 60 are uploaded late
    (cold at ``AS_OF``: no plays), 10 of them after it."""
    rng = np.random.default_rng(5)
    n, d = 300, 8
    video = _unit(rng.normal(size=(n, 6, d)))
    direction = _unit(rng.normal(size=(6, d)))
    appeal = np.einsum("nkd,kd->n", video, direction)  # the structural truth, known only to the test
    p_like = 1 / (1 + np.exp(-3 * appeal))
    labels, dims = tag_label_order()
    created = np.array(
        [T0.timestamp()] * 240
        + [(AS_OF - timedelta(hours=1)).timestamp()] * 50
        + [(AS_OF + timedelta(days=1)).timestamp()] * 10
    )
    cat = ItemCatalog(
        video_ids=[f"v{i}" for i in range(n)],
        video=video,
        hook=video,
        tags=np.zeros((n, len(labels)), dtype=bool),
        created_at_s=created,
        duration_s=np.full(n, 20.0),
        tag_labels=labels,
        tag_dims=dims,
    )
    rows = []
    for i in range(240):
        for j in range(30):
            ts = T0 + timedelta(hours=float(rng.uniform(0, 200)))
            like = bool(rng.random() < p_like[i])
            rows.append((f"e{i}-{j}", f"u{j}", f"v{i}", ts, 10.0, 20.0, like))
    ev = conform_events(
        pl.DataFrame(
            rows,
            schema=["event_id", "user_id", "video_id", "ts", "play_time_s", "video_duration_s", "like"],
            orient="row",
        )
    )
    return cat, ev, appeal, created


def test_ridge_recovers_a_linear_signal() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    y = x @ np.array([1.0, -2.0, 0.0, 0.5, 0.0]) + 3.0
    fit = fit_ridge(x, y, alpha=1e-6)
    np.testing.assert_allclose(predict_ridge(x, fit), y, atol=1e-4)
    wide = rng.normal(size=(20, 50))  # more columns than rows: the dual form
    assert np.corrcoef(predict_ridge(wide, fit_ridge(wide, wide[:, 0], alpha=1.0)), wide[:, 0])[0, 1] > 0.9


def test_prior_predicts_engagement_of_new_videos_from_structure(platform) -> None:
    cat, ev, appeal, _ = platform
    ctx = build_context(ev, cat, AS_OF)
    prior = ctx.cold_prior()
    assert not np.isnan(prior).any()
    new = np.arange(240, 300)  # never played: the prior is all there is
    assert np.corrcoef(prior[new], appeal[new])[0, 1] > 0.6


def test_cold_channel_and_features(platform) -> None:
    cat, ev, _, created = platform
    ctx = build_context(ev, cat, AS_OF)
    order = ctx.cold_order()
    # Only videos with few plays and already uploaded; best prior first.
    assert set(order.tolist()) == set(range(240, 290))
    assert (np.diff(ctx.cold_prior()[order]) <= 0).all()
    req = ctx.request_for_user("u1")
    cfg = CandidateConfig(quotas={**CandidateConfig().quotas, "cold": 5})
    cands = generate_candidates(ctx, req, cfg)
    cold = cands.for_channel("cold")
    assert sorted(cold.tolist()) == sorted(order[:5].tolist())
    schema = FeatureSchema.for_config(ctx.config)
    feats = assemble_features(ctx, req, cands, schema)
    col = {n: i for i, n in enumerate(schema.names)}
    is_cold = cands.channels[:, CHANNEL_INDEX["cold"]]
    assert (feats[is_cold, col["ch_cold"]] == 1).all()
    np.testing.assert_allclose(feats[:, col["cold_prior"]], ctx.cold_prior()[cands.positions], rtol=1e-6)
    assert set(schema.select({"cold"})) == {"ch_cold", "cold_prior"}
    assert COLD_MAX_PLAYS > 0
    assert created[order].max() <= AS_OF.timestamp()
    # Off by default: experiments keep their candidate sets unless they ask for the channel.
    assert len(generate_candidates(ctx, req).for_channel("cold")) == 0


def test_without_content_there_is_no_prior(platform) -> None:
    _, ev, _, _ = platform
    cat = ItemCatalog.from_events(ev)
    ctx = build_context(ev, cat, AS_OF)
    assert np.isnan(ctx.cold_prior()).all()
    req = ctx.request_for_user("u1")
    cands = generate_candidates(ctx, req, CandidateConfig(quotas={**CandidateConfig().quotas, "cold": 5}))
    assert len(cands.for_channel("cold")) == 0
    schema = FeatureSchema.for_config(ctx.config)
    feats = assemble_features(ctx, req, cands, schema)
    assert np.isnan(feats[:, schema.names.index("cold_prior")]).all()
