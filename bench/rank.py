"""Ranking benchmark: candidate generation, feature assembly, LightGBM scoring and whole ``recommend``.

Synthetic but structured data: ``--n`` videos whose (6, d) vectors are a low-dimensional latent per cluster
plus noise, ``--users`` users with ``--events-per-user`` events each (likes biased to one cluster). Neighbour
channels go through the indexer (``ranker.candidates.IndexNeighbours`` over a FAISS index of ``--recipe``,
``Flat`` by default; for another recipe the channels' recall against the exact ``Flat`` index is reported).
At 1M videos use an approximate recipe (below): Flat scans every video once per neighbour channel. Measured so
(2 cores, load 8 from other jobs): recommend p50 35.0 ms (CPU 26.5) with the default channels, 37.6 ms (CPU
27.2) with itemknn, als and cold added; channel recall 0.998 against the exact scan.
FAISS runs with ``--faiss-threads`` threads and BLAS with ``--blas-threads`` (1 by default: one request per
core is how a server runs it).

Two candidate configurations are measured on the same requests, side by side (``--channels``): ``base`` is
``CandidateConfig``'s defaults (structural, hook, popular, fresh, covisit; the collaborative channels and
``cold`` at quota 0) and ``new`` adds ``itemknn`` 400 and ``als`` 200 (the quotas of
``experiments/kuairand_rolling.toml``) and ``cold`` 50 (``ranker.training.SERVING_CANDIDATES``).

    .venv/bin/python bench/rank.py --n 1000000 --users 10000 --recipe "IVF2000,Flat" --json

``recommend_cpu`` is the request's CPU time (``time.thread_time``; FAISS and BLAS run on the calling thread),
which does not include waiting for a core when other processes share the machine.

Prints a table (one column pair per configuration), then (with --json) one JSON line:
{"configs": {"base": {"recommend_p50_ms", "candidates_p50_ms", "n_candidates_mean", ...}, "new": {...}}, ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from ranker.candidates import (
    CHANNELS,
    COLD_CHANNEL,
    CandidateConfig,
    CandidateSet,
    IndexNeighbours,
    generate_candidates,
)
from ranker.catalog import ItemCatalog
from ranker.context import build_context
from ranker.events import conform_events
from ranker.features import FeatureSchema, assemble_features
from ranker.model import train_ranker
from ranker.serve import Recommender

T0 = datetime(2024, 5, 1, tzinfo=UTC)
# The collaborative and cold channels on (they default to quota 0 in CandidateConfig).
NEW_CHANNEL_QUOTAS = {"itemknn": 400, "als": 200, COLD_CHANNEL: 50}


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
    ap.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS threads (NumPy matmuls: ALS scores, similarities); 1, like FAISS: one request per core",
    )
    ap.add_argument("--seeds", type=int, default=1, help="recent positives used as neighbour seeds")
    ap.add_argument(
        "--channels",
        choices=["base", "new", "both"],
        default="both",
        help="candidate configurations to time: base (defaults), new (+itemknn, als, cold), both",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import faiss

    faiss.omp_set_num_threads(args.faiss_threads)
    # Small per-request matmuls on a pool of BLAS threads wait for each other on a busy machine (a 40k x 64
    # ALS scoring took 8.8 ms with 2 OpenBLAS threads, 1.1 ms with 1).
    threadpool_limits(args.blas_threads, "blas")
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
    base_cfg = CandidateConfig(n_seeds=args.seeds)
    configs = {
        "base": base_cfg,
        "new": CandidateConfig(quotas={**base_cfg.quotas, **NEW_CHANNEL_QUOTAS}, n_seeds=args.seeds),
    }
    configs = {k: v for k, v in configs.items() if args.channels in (k, "both")}
    ccfg = configs.get("new", base_cfg)

    rng = np.random.default_rng(1)
    users = [ctx.users.user_ids[i] for i in rng.choice(len(ctx.users.user_ids), args.requests, replace=False)]
    t = time.perf_counter()
    for u in users[:5]:
        # Builds the lazily made FAISS indexes (one per dimension slab and level) and fits the context's
        # collaborative models and cold-start prior before timing.
        for cfg in configs.values():
            generate_candidates(ctx, ctx.request_for_user(u), cfg)
    setup["warm_up_s"] = time.perf_counter() - t
    nb_recall = float("nan")
    if args.recipe.strip() != "Flat":
        # Recall of the approximate neighbour channels against the exact scan, on the same requests.
        exact = IndexNeighbours.for_catalog(cat)
        exact_ctx = build_context(ev, cat, T0, neighbours=exact)
        nb_channels = [i for i, c in enumerate(CHANNELS) if c.startswith("nb_") or c == "hook"]
        got = want = 0
        for u in users[:20]:
            a = generate_candidates(ctx, ctx.request_for_user(u), base_cfg)
            b = generate_candidates(exact_ctx, exact_ctx.request_for_user(u), base_cfg)
            for j in nb_channels:
                ref = set(b.positions[b.channels[:, j]].tolist())
                got += len(ref & set(a.positions[a.channels[:, j]].tolist()))
                want += len(ref)
        nb_recall = got / max(want, 1)
        del exact_ctx
        exact.close()
    # A small model on real bench features (labels: the user's favourite cluster, as liked in events), trained
    # on the candidates of the widest configuration and used by both.
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
    recommenders = {name: Recommender(ctx, model, cfg) for name, cfg in configs.items()}

    timings: dict[str, dict[str, list[float]]] = {
        name: {k: [] for k in ("candidates", "recommend", "recommend_cpu", "n_candidates")}
        for name in configs
    }
    load_before = os.getloadavg()[0]
    feat_t, score_t, both_t = [], [], []
    for u in users:
        # Configurations alternate on each request, so that both see the same machine load.
        for name, cfg in configs.items():
            req = ctx.request_for_user(u)
            t = time.perf_counter()
            cs = generate_candidates(ctx, req, cfg)
            timings[name]["candidates"].append(time.perf_counter() - t)
            timings[name]["n_candidates"].append(len(cs))
            t, tc = time.perf_counter(), time.thread_time()
            recommenders[name].recommend(user_id=u, k=10)
            timings[name]["recommend"].append(time.perf_counter() - t)
            # CPU time of this thread (FAISS and BLAS run on it with one thread each): what the request
            # costs, apart from the time it waited for a core on a shared machine.
            timings[name]["recommend_cpu"].append(time.thread_time() - tc)
        req = ctx.request_for_user(u)
        cs = generate_candidates(ctx, req, ccfg)
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

    n_feats = len(schema.names)
    xr = np.random.default_rng(2).normal(size=(args.train_rows, n_feats)).astype(np.float32)
    yr = (xr[:, 0] + 0.5 * np.random.default_rng(3).normal(size=args.train_rows) > 1.5).astype(float)
    gr = np.arange(args.train_rows) // 1000
    t = time.perf_counter()
    big = train_ranker(xr, yr, gr, schema, num_boost_round=100, early_stopping_rounds=100)
    train_s = time.perf_counter() - t

    per_config: dict[str, dict[str, float]] = {}
    for name, tm in timings.items():
        c50, c99 = pct(tm["candidates"])
        r50, r99 = pct(tm["recommend"])
        u50, u99 = pct(tm["recommend_cpu"])
        per_config[name] = {
            "quotas": dict(configs[name].quotas),  # type: ignore[dict-item]
            "candidates_p50_ms": c50,
            "candidates_p99_ms": c99,
            "recommend_p50_ms": r50,
            "recommend_p99_ms": r99,
            "recommend_cpu_p50_ms": u50,
            "recommend_cpu_p99_ms": u99,
            "n_candidates_mean": float(np.mean(tm["n_candidates"])),
        }
    res = {
        "n_videos": args.n,
        "n_users": args.users,
        "requests": args.requests,
        "recipe": args.recipe,
        "neighbour_recall_vs_exact": nb_recall,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
        "configs": per_config,
        "features_1000_p50_ms": pct(feat_t)[0],
        "features_1000_p99_ms": pct(feat_t)[1],
        "lightgbm_1000_p50_ms": pct(score_t)[0],
        "lightgbm_1000_p99_ms": pct(score_t)[1],
        "score_1000_p50_ms": pct(both_t)[0],
        "score_1000_p99_ms": pct(both_t)[1],
        "train_rows": args.train_rows,
        "train_trees": big.metrics["best_iteration"],
        "train_s": train_s,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
        **{k: round(v, 2) for k, v in setup.items()},
    }
    names = list(per_config)
    head = "".join(f"{n + ' p50':>14}{n + ' p99':>14}" for n in names)
    sys.stdout.write(f"{args.n} videos, {args.users} users, {args.requests} requests (ms)\n")
    sys.stdout.write(f"{'measure':<24}{head}\n")
    for key in ("candidates", "recommend", "recommend_cpu"):
        cells = "".join(
            f"{per_config[n][key + '_p50_ms']:>14.2f}{per_config[n][key + '_p99_ms']:>14.2f}" for n in names
        )
        sys.stdout.write(f"{key:<24}{cells}\n")
    cells = "".join(f"{per_config[n]['n_candidates_mean']:>14.0f}{'':>14}" for n in names)
    sys.stdout.write(f"{'candidates (mean count)':<24}{cells}\n")
    for key in ("features_1000", "lightgbm_1000", "score_1000"):
        sys.stdout.write(f"{key:<24}{res[key + '_p50_ms']:>14.2f}{res[key + '_p99_ms']:>14.2f}\n")
    sys.stdout.write(f"neighbour channels vs exact scan: recall {nb_recall:.3f}\n")
    sys.stdout.write(f"training {args.train_rows} rows x {n_feats} features, 100 rounds: {train_s:.1f} s\n")
    sys.stdout.write(f"peak RSS {res['peak_rss_gb']} GB\n")
    lb, la = res["load_average_1min"]
    sys.stdout.write(
        f"load average (1 min) before / after the timed loop: {lb} / {la} on {os.cpu_count()} CPUs\n"
    )
    if args.json:
        sys.stdout.write(json.dumps(res) + "\n")
    neighbours.close()


if __name__ == "__main__":
    main()
