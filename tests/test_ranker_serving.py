"""Candidates, features, LightGBM model round trip, serving with MMR and feature logging (real LightGBM)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from ranker.candidates import (
    CHANNELS,
    CandidateConfig,
    IndexNeighbours,
    candidate_recall,
    generate_candidates,
)
from ranker.catalog import ItemCatalog, tag_label_order
from ranker.context import build_context
from ranker.events import conform_events
from ranker.features import (
    ENGAGEMENT_GROUPS,
    FeatureLogger,
    FeatureSchema,
    assemble_features,
    read_feature_log,
)
from ranker.model import RankerModel, SchemaMismatchError, train_ranker
from ranker.serve import Recommender, mmr, mmr_ranked
from sv6d.errors import ConfigError

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def world() -> tuple[ItemCatalog, pl.DataFrame]:
    """200 videos in 4 structural clusters; 40 users who like one cluster and hate another."""
    rng = np.random.default_rng(3)
    n, d = 200, 8
    cluster = np.arange(n) % 4
    centers = _unit(rng.normal(size=(4, 6, d)))
    video = _unit(centers[cluster] + 0.3 * rng.normal(size=(n, 6, d)))
    hook = _unit(video + 0.2 * rng.normal(size=(n, 6, d)))
    labels, dims = tag_label_order()
    tags = rng.random((n, len(labels))) < 0.1
    cat = ItemCatalog(
        video_ids=[f"v{i}" for i in range(n)],
        video=video,
        hook=hook,
        tags=tags,
        creator=[f"c{i % 10}" for i in range(n)],
        created_at_s=np.array([(T0 + timedelta(hours=i)).timestamp() for i in range(n)]),
        duration_s=rng.uniform(5, 60, n),
        tag_labels=labels,
        tag_dims=dims,
    )
    rows = []
    k = 0
    for u in range(40):
        fav, bad = u % 4, (u + 1) % 4
        for _j in range(30):
            i = int(rng.integers(0, n))
            like = bool(cluster[i] == fav and rng.random() < 0.9)
            hate = bool(cluster[i] == bad and rng.random() < 0.7)
            ts = T0 + timedelta(hours=float(rng.uniform(0, 240)))
            rows.append(
                (
                    f"e{k}",
                    f"u{u}",
                    f"v{i}",
                    ts,
                    float(rng.uniform(1, 30)),
                    float(cat.duration_s[i]),
                    like,
                    hate,
                )
            )
            k += 1
    ev = conform_events(
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
    return cat, ev


@pytest.fixture(scope="module")
def neighbours(world):
    """The neighbour channels' index: an exact FAISS index over the world's catalog."""
    nb = IndexNeighbours.for_catalog(world[0])
    yield nb
    nb.close()


def _ctx(world, neighbours, as_of=T0 + timedelta(days=8)):
    cat, ev = world
    return build_context(ev, cat, as_of, neighbours=neighbours)


def test_candidates_keep_channels_and_exclude_seen(world, neighbours) -> None:
    ctx = _ctx(world, neighbours)
    req = ctx.request_for_user("u0")
    cs = generate_candidates(ctx, req)
    assert len(cs) > 0
    assert not np.isin(cs.positions, req.seen).any()
    assert not np.isin(cs.positions, req.negatives).any()
    assert cs.channels.any(axis=1).all()
    assert cs.channels[:, CHANNELS.index("nb_subject")].any()
    assert cs.channels[:, CHANNELS.index("hook")].any()
    # Quotas bound each channel.
    small = generate_candidates(
        ctx, req, CandidateConfig(quotas={"neighbours": 2, "hook": 3, "popular": 4, "fresh": 0, "covisit": 0})
    )
    assert small.channels[:, CHANNELS.index("popular")].sum() <= 4
    assert small.channels[:, CHANNELS.index("nb_camera")].sum() <= 2
    assert small.channels[:, CHANNELS.index("fresh")].sum() == 0
    with pytest.raises(ConfigError, match="unknown candidate quota"):
        CandidateConfig(quotas={"trending": 3})


def test_candidate_recall_per_channel(world, neighbours) -> None:
    _cat, ev = world
    as_of = T0 + timedelta(days=8)
    ctx = _ctx(world, neighbours, as_of)
    later = ev.filter((pl.col("ts") >= as_of) & pl.col("like"))
    held = {u: g["video_id"].to_list() for (u,), g in later.group_by("user_id")}
    rec = candidate_recall(ctx, held)
    assert set(rec) == {*CHANNELS, "all"}
    assert rec["all"] >= max(rec[c] for c in CHANNELS)
    assert 0 < rec["all"] <= 1


def test_features_follow_the_schema_and_mark_missing(world, neighbours) -> None:
    ctx = _ctx(world, neighbours)
    schema = FeatureSchema.for_config(ctx.config)
    req = ctx.request_for_user("u1")
    cs = generate_candidates(ctx, req)
    x = assemble_features(ctx, req, cs, schema)
    assert x.shape == (len(cs), len(schema.names))
    col = schema.names.index("sim_pos_video_camera")
    assert np.isfinite(x[:, col]).all()
    assert (np.abs(x[:, col]) <= 1.0001).all()
    # A cold user has no profile: structure similarities are missing (NaN), not zero.
    cold = ctx.request_for_user("nobody")
    xc = assemble_features(ctx, cold, generate_candidates(ctx, cold), schema)
    assert np.isnan(xc[:, col]).all()
    assert np.isfinite(xc[:, schema.names.index("ch_popular")]).all()


def _training(world, neighbours):
    cat, ev = world
    ctx = _ctx(world, neighbours, T0 + timedelta(days=6))
    schema = FeatureSchema.for_config(ctx.config)
    later = ev.filter((pl.col("ts") >= ctx.as_of) & pl.col("like"))
    pos = {u: set(g["video_id"].to_list()) for (u,), g in later.group_by("user_id")}
    xs, ys, gs = [], [], []
    for g, u in enumerate(sorted(pos)):
        req = ctx.request_for_user(u)
        cs = generate_candidates(ctx, req)
        xs.append(assemble_features(ctx, req, cs, schema))
        ys.append(np.array([cat.video_ids[p] in pos[u] for p in cs.positions], dtype=float))
        gs.append(np.full(len(cs), g))
    return schema, np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)


def test_model_round_trip_and_schema_mismatch(world, neighbours, tmp_path) -> None:
    schema, x, y, g = _training(world, neighbours)
    model = train_ranker(x, y, g, schema, num_boost_round=30, early_stopping_rounds=5)
    assert model.metrics["best_iteration"] >= 1
    model.save(tmp_path / "m")
    loaded = RankerModel.load(tmp_path / "m", schema)
    np.testing.assert_allclose(loaded.predict(x[:50], schema), model.predict(x[:50], schema))
    other = FeatureSchema("99", schema.names, schema.groups)
    with pytest.raises(SchemaMismatchError, match=f"version '{schema.version}' != current '99'"):
        RankerModel.load(tmp_path / "m", other)
    fewer = FeatureSchema(schema.version, schema.names[1:], schema.groups[1:])
    with pytest.raises(SchemaMismatchError, match=f"not in the current schema: {schema.names[0]}"):
        RankerModel.load(tmp_path / "m", fewer)
    eng = train_ranker(x, y, g, schema, schema.select(ENGAGEMENT_GROUPS), num_boost_round=10)
    assert not any(n.startswith("sim_") for n in eng.feature_names)


def test_recommend_with_model_fallback_and_logging(world, neighbours, tmp_path) -> None:
    schema, x, y, g = _training(world, neighbours)
    model = train_ranker(x, y, g, schema, num_boost_round=30)
    ctx = _ctx(world, neighbours)
    logger = FeatureLogger(tmp_path / "log")
    rec = Recommender(ctx, model, logger=logger)
    res = rec.recommend(user_id="u2", k=8)
    assert res.scorer == "lightgbm"
    assert len(res.items) == 8
    assert all(it.channels and set(it.channels) <= set(CHANNELS) for it in res.items)
    seen = {ctx.catalog.video_ids[p] for p in ctx.request_for_user("u2").seen}
    assert not seen & {it.video_id for it in res.items}
    log = read_feature_log(tmp_path / "log")
    assert log["request_id"].unique().to_list() == [res.request_id]
    assert log.filter(pl.col("rank").is_not_null()).height == 8
    assert set(schema.names) <= set(log.columns)
    fb = Recommender(ctx).recommend(history=["v0", "v4", "v8"], k=5)
    assert fb.scorer == "fallback_blend"
    assert "fallback" in fb.note
    assert len(fb.items) == 5
    with pytest.raises(ConfigError, match="exactly one of user_id or history"):
        rec.recommend(k=3)


def test_mmr_diversifies_near_duplicates() -> None:
    base = _unit(np.ones((6, 4)))
    other = _unit(np.tile(np.array([1.0, -1.0, 1.0, -1.0]), (6, 1)))
    vecs = np.stack([base, base, other]).reshape(3, -1)
    scores = np.array([1.0, 0.99, 0.9])
    order = np.array([0, 1, 2])
    assert mmr(order, scores, vecs, 2, 1.0).tolist() == [0, 1]
    assert mmr(order, scores, vecs, 2, 0.5).tolist() == [0, 2]


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.7, 1.0])
def test_mmr_values_follow_the_picked_order(rng, lam) -> None:
    vecs = np.stack([_unit(rng.normal(size=(6, 4))) for _ in range(30)]).reshape(30, -1)
    scores = rng.normal(size=30)
    order = np.argsort(-scores, kind="stable")
    picked, values = mmr_ranked(order, scores, vecs, 10, lam)
    assert picked.tolist() == mmr(order, scores, vecs, 10, lam).tolist()
    assert np.all(np.diff(values) <= 1e-12)
    if lam > 0:
        assert values[0] == pytest.approx(scores[picked[0]])


def _brute_force_channel(cat: ItemCatalog, seeds, excluded, w: np.ndarray, level: str, k: int) -> set[int]:
    """A neighbour channel by hand: per seed, Σ_d w_d cos(q_d, x_d) over unseen items; the top ``k`` items by
    their best score over the seeds."""
    block = cat.hook if level == "hook" else cat.video
    assert block is not None
    best: dict[int, float] = {}
    for s in seeds:
        scores = np.einsum("nij,ij->ni", block, block[s]) @ w
        order = [int(i) for i in np.argsort(-scores, kind="stable") if i not in set(excluded.tolist())][:k]
        for i in order:
            best[i] = max(best.get(i, -np.inf), float(scores[i]))
    return set(sorted(best, key=lambda i: -best[i])[:k])


@pytest.mark.parametrize("location", ["faiss", "qdrant::memory:"])
def test_neighbour_channels_query_the_index_with_its_weights(world, tmp_path, location) -> None:
    """The channels go through a real VectorIndex (FAISS or Qdrant): ``nb_<dim>`` is that dimension's cosine
    neighbours (``Weights.only``), ``hook`` all six dimensions at 1 (``Weights.uniform``)."""
    from indexer import open_index
    from sv6d.dimensions import DIMENSIONS
    from sv6d.record import EncoderInfo, SV6DRecord

    cat, ev = world
    assert cat.video is not None
    assert cat.hook is not None
    records = [
        SV6DRecord(
            video_id=v,
            source="test",
            duration_s=10.0,
            fps=25.0,
            width=360,
            height=640,
            encoder=EncoderInfo(name="test", version="0", head_version="0"),
            hook_window=(0.0, 3.0),
            video=cat.video[i],
            hook=cat.hook[i],
        )
        for i, v in enumerate(cat.video_ids)
    ]
    index = open_index(data_dir=tmp_path) if location == "faiss" else open_index(location)
    with index:
        index.upsert(records)
        ctx = build_context(ev, cat, T0 + timedelta(days=8), neighbours=IndexNeighbours(index))
        cfg = CandidateConfig()
        for user in ("u3", "u7"):
            req = ctx.request_for_user(user)
            got = generate_candidates(ctx, req, cfg)
            seeds, excluded = req.recent_positives[: cfg.n_seeds], req.excluded()
            assert len(seeds)
            for j, dim in enumerate(DIMENSIONS):
                w = np.eye(len(DIMENSIONS))[j]
                want = _brute_force_channel(cat, seeds, excluded, w, "video", cfg.quota(f"nb_{dim.value}"))
                assert set(got.for_channel(f"nb_{dim.value}").tolist()) == want
            want = _brute_force_channel(cat, seeds, excluded, np.ones(6), "hook", cfg.quota("hook"))
            assert set(got.for_channel("hook").tolist()) == want


def _recs(ids: list[str], seed: int) -> list:
    from sv6d.record import EncoderInfo, SV6DRecord, make_tag

    rng = np.random.default_rng(seed)
    out = []
    for i, v in enumerate(ids):
        out.append(
            SV6DRecord(
                video_id=v,
                source="test",
                duration_s=float(5 + i),
                fps=25.0,
                width=360,
                height=640,
                creator=f"c{i % 3}",
                encoder=EncoderInfo(name="test", version="0", head_version="0"),
                hook_window=(0.0, 3.0),
                video=_unit(rng.normal(size=(6, 8))),
                hook=_unit(rng.normal(size=(6, 8))),
                tags=[
                    t
                    for t in [make_tag("hard_cut", 1.0, 1.0, 0.9, {"cut_at_s": 1.0, "content_delta": 0.6})]
                    if t
                ]
                if i % 2
                else [],
            )
        )
    return out


def test_catalog_with_records_matches_a_rebuild() -> None:
    old = _recs(["a", "b", "c", "d"], 0)
    new = _recs(["c", "e"], 1)  # "c" is re-ingested with new vectors, "e" is new
    cat = ItemCatalog.from_records(old)
    upd = cat.with_records(new, removed=["b"])
    ref = ItemCatalog.from_records([old[0], old[3], *new])
    assert upd.video_ids == ref.video_ids == ["a", "d", "c", "e"]
    assert ref.tags is not None
    assert ref.tags.any()
    for name in ("video", "hook", "tags", "duration_s", "creator_idx"):
        np.testing.assert_array_equal(getattr(upd, name), getattr(ref, name), err_msg=name)
    assert cat.video_ids == ["a", "b", "c", "d"]  # the old catalog is untouched
    assert cat.with_records() is cat
    with pytest.raises(ConfigError, match="content-free catalog"):
        ItemCatalog(video_ids=["x"]).with_records(new)
