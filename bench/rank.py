"""Ranking benchmark: candidate generation, feature assembly, LightGBM scoring and whole ``recommend``.

Synthetic but structured data: ``--n`` videos whose (6, d) vectors are a low-dimensional latent per cluster
plus noise, ``--users`` users with ``--events-per-user`` events each (likes biased to one cluster). Neighbour
channels go through the indexer (``ranker.candidates.IndexNeighbours`` over a FAISS index of ``--recipe``,
``Flat`` by default; for another recipe the channels' recall against the exact ``Flat`` index is reported).
FAISS runs with ``--faiss-threads`` threads (1 by default: one request per core is how a server runs it).

    .venv/bin/python bench/rank.py --n 100000 --users 10000 --json

Prints a table, then (with --json) one JSON line:
{"score_1000_p50_ms", "recommend_p50_ms", "candidates_p50_ms", ...}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from ranker.candidates import CHANNELS, CandidateConfig, CandidateSet, IndexNeighbours, generate_candidates
from ranker.catalog import ItemCatalog
from ranker.context import build_context
from ranker.events import conform_events
from ranker.features import FeatureSchema, assemble_features
from ranker.model import train_ranker
from ranker.serve import Recommender

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make_world(n: int, users: int, per_user: int, d: int, seed: int) -> tuple[ItemCatalog, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    n_clusters = 50
    cluster = rng.integers(0, n_clusters, n)
    centers = rng.normal(size=(n_clusters, 6, d)).astype(np.float32)
    video = _unit(centers[cluster] + 0.5 * rng.normal(size=(n, 6, d)).astype(np.float32))
    hook = _unit(video + 0.3 * rng.normal(size=(n, 6, d)).astype(np.float32))
    cat = ItemCatalog(
        video_ids=[f"v{i}" for i in range(n)],
        video=video,
        hook=hook,
        creator=[f"c{i % 5000}" for i in range(n)],
        created_at_s=(T0.timestamp() - rng.uniform(0, 30 * 86400, n)),
        duration_s=rng.uniform(5, 90, n),
    )
    m = users * per_user
    uid = np.repeat(np.arange(users), per_user)
    fav = rng.integers(0, n_clusters, users)[uid]
    # Popularity: a Zipf-like draw over items, so that "popular" has a head.
    vid = np.minimum(rng.zipf(1.3, m) - 1, n - 1)
    like = (cluster[vid] == fav) | (rng.random(m) < 0.05)
    ts = [T0 - timedelta(seconds=float(s)) for s in rng.uniform(0, 14 * 86400, m)]
    dur = cat.duration_s[vid] if cat.duration_s is not None else np.full(m, np.nan)
    ev = conform_events(
        pl.DataFrame(
            {
                "event_id": [f"e{i}" for i in range(m)],
                "user_id": [f"u{u}" for u in uid],
                "video_id": [f"v{i}" for i in vid],
                "ts": ts,
                "play_time_s": dur * rng.uniform(0, 1.2, m),
                "video_duration_s": dur,
                "like": like,
                "hate": (~like) & (rng.random(m) < 0.05),
            }
        )
    )
    return cat, ev


def pct(times: list[float]) -> tuple[float, float]:
    a = np.array(times) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="indexed videos (1M needs ~6 GB of vectors)")
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--events-per-user", type=int, default=20)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--train-rows", type=int, default=1_000_000)
    ap.add_argument("--recipe", default="Flat", help="FAISS recipe of the neighbour channels' index")
    ap.add_argument("--faiss-threads", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=1, help="recent positives used as neighbour seeds")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import faiss

    faiss.omp_set_num_threads(args.faiss_threads)
    t = time.perf_counter()
    cat, ev = make_world(args.n, args.users, args.events_per_user, args.d, seed=0)
    setup: dict[str, float] = {"make_data_s": time.perf_counter() - t}
    t = time.perf_counter()
    neighbours = IndexNeighbours.for_catalog(cat, recipe=args.recipe)
    setup["index_build_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ctx = build_context(ev, cat, T0, neighbours=neighbours)
    setup["context_s"] = time.perf_counter() - t
    schema = FeatureSchema.for_config(ctx.config)
    ccfg = CandidateConfig(n_seeds=args.seeds)

    rng = np.random.default_rng(1)
    users = [ctx.users.user_ids[i] for i in rng.choice(len(ctx.users.user_ids), args.requests, replace=False)]
    t = time.perf_counter()
    for u in users[:5]:
        # Warms the index and the context's caches before timing.
        generate_candidates(ctx, ctx.request_for_user(u), ccfg)
    setup["neighbour_index_s"] = time.perf_counter() - t
    nb_recall = float("nan")
    if args.recipe.strip() != "Flat":
        # Recall of the approximate neighbour channels against the exact scan, on the same requests.
        exact = IndexNeighbours.for_catalog(cat)
        exact_ctx = build_context(ev, cat, T0, neighbours=exact)
        nb_channels = [i for i, c in enumerate(CHANNELS) if c.startswith("nb_") or c == "hook"]
        got = want = 0
        for u in users[:20]:
            a = generate_candidates(ctx, ctx.request_for_user(u), ccfg)
            b = generate_candidates(exact_ctx, exact_ctx.request_for_user(u), ccfg)
            for j in nb_channels:
                ref = set(b.positions[b.channels[:, j]].tolist())
                got += len(ref & set(a.positions[a.channels[:, j]].tolist()))
                want += len(ref)
        nb_recall = got / max(want, 1)
        del exact_ctx
        exact.close()
    # A small model on real bench features (labels: the user's favourite cluster, as liked in events).
    xs, ys, gs = [], [], []
    for g, u in enumerate(users[:50]):
        req = ctx.request_for_user(u)
        cs = generate_candidates(ctx, req, ccfg)
        x = assemble_features(ctx, req, cs, schema)
        xs.append(x)
        sims = np.nan_to_num(x[:, schema.names.index("sim_pos_video_subject")], nan=0.0)
        ys.append((sims > np.quantile(sims, 0.9)).astype(float))
        gs.append(np.full(len(cs), g))
    model = train_ranker(
        np.concatenate(xs), np.concatenate(ys), np.concatenate(gs), schema, num_boost_round=100
    )
    rec = Recommender(ctx, model, ccfg)

    cand_t, feat_t, score_t, both_t, rec_t = [], [], [], [], []
    for u in users:
        req = ctx.request_for_user(u)
        t = time.perf_counter()
        cs = generate_candidates(ctx, req, ccfg)
        cand_t.append(time.perf_counter() - t)
        # Exactly 1,000 candidates for the scoring measurements (the real ones, then a random fill).
        pos = np.unique(np.concatenate([cs.positions, rng.choice(len(cat), 1500, replace=False)]))[:1000]
        ch = np.zeros((len(pos), len(CHANNELS)), dtype=bool)
        ch[:, CHANNELS.index("popular")] = True
        c1000 = CandidateSet(pos, ch)
        t = time.perf_counter()
        x = assemble_features(ctx, req, c1000, schema)
        t1 = time.perf_counter()
        model.predict(x, schema)
        t2 = time.perf_counter()
        feat_t.append(t1 - t)
        score_t.append(t2 - t1)
        both_t.append(t2 - t)
        t = time.perf_counter()
        rec.recommend(user_id=u, k=10)
        rec_t.append(time.perf_counter() - t)

    n_feats = len(schema.names)
    xr = np.random.default_rng(2).normal(size=(args.train_rows, n_feats)).astype(np.float32)
    yr = (xr[:, 0] + 0.5 * np.random.default_rng(3).normal(size=args.train_rows) > 1.5).astype(float)
    gr = np.arange(args.train_rows) // 1000
    t = time.perf_counter()
    big = train_ranker(xr, yr, gr, schema, num_boost_round=100, early_stopping_rounds=100)
    train_s = time.perf_counter() - t

    res = {
        "n_videos": args.n,
        "n_users": args.users,
        "recipe": args.recipe,
        "neighbour_recall_vs_exact": nb_recall,
        "candidates_p50_ms": pct(cand_t)[0],
        "candidates_p99_ms": pct(cand_t)[1],
        "features_1000_p50_ms": pct(feat_t)[0],
        "features_1000_p99_ms": pct(feat_t)[1],
        "lightgbm_1000_p50_ms": pct(score_t)[0],
        "lightgbm_1000_p99_ms": pct(score_t)[1],
        "score_1000_p50_ms": pct(both_t)[0],
        "score_1000_p99_ms": pct(both_t)[1],
        "recommend_p50_ms": pct(rec_t)[0],
        "recommend_p99_ms": pct(rec_t)[1],
        "train_rows": args.train_rows,
        "train_trees": big.metrics["best_iteration"],
        "train_s": train_s,
        **{k: round(v, 2) for k, v in setup.items()},
    }
    sys.stdout.write(f"{'measure':<24}{'p50 ms':>10}{'p99 ms':>10}\n")
    for key in ("candidates", "features_1000", "lightgbm_1000", "score_1000", "recommend"):
        sys.stdout.write(f"{key:<24}{res[key + '_p50_ms']:>10.2f}{res[key + '_p99_ms']:>10.2f}\n")
    sys.stdout.write(f"neighbour channels vs exact scan: recall {nb_recall:.3f}\n")
    sys.stdout.write(f"training {args.train_rows} rows x {n_feats} features, 100 rounds: {train_s:.1f} s\n")
    if args.json:
        sys.stdout.write(json.dumps(res) + "\n")
    neighbours.close()


if __name__ == "__main__":
    main()
