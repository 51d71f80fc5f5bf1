"""Search benchmark: raw FAISS vs this project's FAISS backend (Flat, HNSW, IVF-PQ + exact re-rank), Qdrant.

Data with structure: a low-dimensional latent projected to each of the six dimensions plus noise
(``indexer.synthetic.structured_vectors``); queries come from the same distribution. Six dimensions of d=128
make a 768-long concatenation. Timings are wall-clock on this machine; the last line with ``--json`` is
``{"n", "flat_ratio_to_raw_faiss", "ann": [{"recipe", "recall_at_10", "single_speedup_vs_flat",
"qps_ratio_to_flat"}], "bytes_per_video"}``.

Usage: ``python bench/search.py --n 100000 [--json]`` (1M works too: HNSW32 then builds for several minutes).
Single-query latency loops ``search`` over the queries; batch QPS is ``search_many`` over all of them (one
FAISS call, exact per-dimension scores for each hit), beside raw FAISS's batched ``IndexFlatIP.search``.
``qps_ratio_to_flat`` compares batch QPS. ANN search parameters default to ``recipe_defaults`` (re-rank depth
and efSearch / nprobe); ``--ef-search``, ``--nprobe``, ``--rerank-factor`` override them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexer import open_index
from indexer.synthetic import ENCODER, structured_vectors
from sv6d.record import SV6DRecord

K = 10


def make_records(vectors: np.ndarray, start: int) -> list[SV6DRecord]:
    return [
        SV6DRecord(
            video_id=f"v{start + i}",
            source="bench",
            duration_s=30.0,
            fps=30.0,
            width=1080,
            height=1920,
            encoder=ENCODER,
            hook_window=(0.0, 3.0),
            video=v,
            hook=v,
        )
        for i, v in enumerate(vectors)
    ]


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def percentiles(times: list[float]) -> tuple[float, float]:
    arr = np.asarray(times) * 1e3
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def time_ours(ix: Any, queries: np.ndarray, w: dict[str, float]) -> tuple[list[list[str]], list[float]]:
    results, times = [], []
    for q in queries:
        t0 = time.perf_counter()
        hits = ix.search(q, w, k=K)
        times.append(time.perf_counter() - t0)
        results.append([h.video_id for h in hits])
    return results, times


def time_batch(ix: Any, queries: np.ndarray, w: dict[str, float]) -> float:
    """QPS of one ``search_many`` call over every query."""
    t0 = time.perf_counter()
    ix.search_many(queries, w, k=K)
    return len(queries) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--batch", type=int, default=100_000, help="records per upsert")
    ap.add_argument("--recipes", default="HNSW32,IVF{nlist},PQ96x8", help="ANN recipes separated by ';'")
    ap.add_argument("--ef-search", type=int, default=None)
    ap.add_argument("--nprobe", type=int, default=None)
    ap.add_argument("--rerank-factor", type=int, default=None)
    ap.add_argument("--qdrant-n", type=int, default=20_000)
    ap.add_argument("--threads", type=int, default=1, help="FAISS OpenMP threads (1: stable on shared CPUs)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import faiss

    # OpenMP spin-waits make FAISS 10-100x slower when the CPU is oversubscribed; pin the thread count.
    faiss.omp_set_num_threads(args.threads)

    n, d, nq = args.n, args.d, args.queries
    nlist = int(max(16, min(4096, 2 ** round(np.log2(np.sqrt(n) * 4)))))
    while nlist * 39 > n and nlist > 16:
        nlist //= 2
    recipes = [
        r.format(nlist=nlist)
        for r in args.recipes.replace("HNSW32,IVF", "HNSW32;IVF").split(";")
        if r.strip()
    ]
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    allv = structured_vectors(n + nq, d, latent_dim=32, noise=0.6, rng=rng)
    data, queries = allv[:n], allv[n:]
    weights = {"editing": 2.0, "subject": 0.5}
    w = np.array([0.5, 1, 1, 2, 1, 1], dtype=np.float32)
    qcat = np.ascontiguousarray((queries * w[None, :, None]).reshape(nq, -1))
    print(f"generated {n} x 6 x {d} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)

    rows: list[dict[str, Any]] = []
    # Raw FAISS on the same matrix.
    flat_raw = faiss.IndexFlatIP(6 * d)
    flat_raw.add(data.reshape(n, -1))
    raw_times = []
    for q in qcat:
        t = time.perf_counter()
        flat_raw.search(q[None], K)
        raw_times.append(time.perf_counter() - t)
    t = time.perf_counter()
    flat_raw.search(qcat, K)
    raw_qps = nq / (time.perf_counter() - t)
    raw_p50, raw_p99 = percentiles(raw_times)
    rows.append({"name": "raw faiss IndexFlatIP", "p50_ms": raw_p50, "p99_ms": raw_p99, "qps": raw_qps})
    summary_raw = {"raw_p50_ms": round(raw_p50, 3), "raw_batch_qps": round(raw_qps, 1)}

    def build(recipe: str, tmp: Path) -> tuple[Any, float]:
        params = {"efSearch": args.ef_search, "nprobe": args.nprobe}
        opts: dict[str, Any] = {"search_params": {k: v for k, v in params.items() if v is not None}}
        if args.rerank_factor is not None:
            opts["rerank_factor"] = args.rerank_factor
        ix = open_index(data_dir=tmp, recipe=recipe, **opts)
        t = time.perf_counter()
        for s in range(0, n, args.batch):
            ix.upsert(make_records(data[s : s + args.batch], s))
        return ix, time.perf_counter() - t

    summary: dict[str, Any] = {"n": n, "ann": [], **summary_raw}
    with tempfile.TemporaryDirectory(prefix="sv6d-bench-") as tmpdir:
        tmp = Path(tmpdir)
        flat, build_s = build("Flat", tmp / "flat")
        exact, times = time_ours(flat, queries, weights)
        p50, p99 = percentiles(times)
        flat_qps = time_batch(flat, queries, weights)
        rows.append({"name": "ours Flat", "p50_ms": p50, "p99_ms": p99, "qps": flat_qps, "build_s": build_s})
        t = time.perf_counter()
        flat.upsert(make_records(data[:100], 0))
        summary["flat_upsert_100_s"] = round(time.perf_counter() - t, 3)
        # On a shared machine the load drifts between the two loops above: the ratio is taken from
        # interleaved pairs (raw, ours) on the same query, so both see the same load.
        pair_ratios = []
        for q, qc in zip(queries, qcat, strict=True):
            t = time.perf_counter()
            flat_raw.search(qc[None], K)
            t_raw = time.perf_counter() - t
            t = time.perf_counter()
            flat.search(q, weights, k=K)
            pair_ratios.append((time.perf_counter() - t) / t_raw)
        del flat_raw
        summary["flat_ratio_to_raw_faiss"] = round(float(np.median(pair_ratios)), 3)
        summary["flat_ratio_of_p50s"] = round(p50 / raw_p50, 3)
        flat_bytes = dir_bytes(tmp / "flat")
        summary["bytes_per_video"] = round(flat_bytes / n, 1)
        flat.close()
        del flat  # the snapshot holds the vectors: free them before the ANN builds
        for recipe in recipes:
            ix, build_s = build(recipe, tmp / recipe.replace(",", "_"))
            got, times = time_ours(ix, queries, weights)
            ix_params = (ix.rerank_factor, dict(ix.search_params))
            a50, a99 = percentiles(times)
            qps = time_batch(ix, queries, weights)
            recall = float(np.mean([len(set(a) & set(b)) / K for a, b in zip(exact, got, strict=True)]))
            bpv = dir_bytes(tmp / recipe.replace(",", "_")) / n
            ix.close()
            del ix
            rows.append(
                {
                    "name": f"ours {recipe}",
                    "p50_ms": a50,
                    "p99_ms": a99,
                    "qps": qps,
                    "recall": recall,
                    "build_s": build_s,
                }
            )
            summary["ann"].append(
                {
                    "recipe": recipe,
                    "params": {"rerank_factor": ix_params[0], **ix_params[1]},
                    "recall_at_10": round(recall, 4),
                    "single_speedup_vs_flat": round(p50 / a50, 2),
                    "qps_ratio_to_flat": round(qps / flat_qps, 2),
                    "bytes_per_video": round(bpv, 1),
                }
            )
    if args.qdrant_n:
        qn = min(args.qdrant_n, n)
        qd = open_index("qdrant::memory:")
        t = time.perf_counter()
        for s in range(0, qn, 2000):
            qd.upsert(make_records(data[s : min(qn, s + 2000)], s))
        qbuild = time.perf_counter() - t
        got, times = time_ours(qd, queries[:50], weights)
        q50, q99 = percentiles(times)
        rows.append(
            {
                "name": f"qdrant local ({qn})",
                "p50_ms": q50,
                "p99_ms": q99,
                "qps": 50 / sum(times),
                "build_s": qbuild,
            }
        )
        summary["qdrant_local"] = {"n": qn, "p50_ms": round(q50, 2)}
        qd.close()

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"search, n={n}, 6 x {d} dims, k={K}, weights {weights}, cores={os.cpu_count()}")
    for col in ("index", "p50 ms", "p99 ms", "QPS", "recall@10", "build s"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"],
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r['qps']:.0f}",
            f"{r['recall']:.3f}" if "recall" in r else "-",
            f"{r['build_s']:.1f}" if "build_s" in r else "-",
        )
    Console(stderr=not args.json).print(table) if args.json else Console().print(table)
    print(f"bytes per video (Flat data dir, video+hook levels and catalog): {summary['bytes_per_video']}")
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
