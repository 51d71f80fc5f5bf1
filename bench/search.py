"""Search benchmark: raw FAISS vs this project's FAISS backend (Flat, HNSW, IVF-PQ + exact re-rank), Qdrant.

Data with structure: a low-dimensional latent projected to each of the six dimensions plus noise
(``indexer.synthetic.structured_vectors``); queries come from the same distribution. Six dimensions of d=128
make a 768-long concatenation. Timings are wall-clock on this machine; the last line with ``--json`` is
``{"n", "flat_ratio_to_raw_faiss", "ann": [{"recipe", "recall_at_10", "single_speedup_vs_flat",
"qps_ratio_to_flat"}], "bytes_per_video"}``.

Qdrant Edge (the embedded engine, ``--edge-n`` videos, default all of them): load time, ``optimize()`` (HNSW
graphs on the three concatenations), bytes per video on disk by part, peak RSS of the build and of the
queries (each its own window), then: exact search on the concatenated vector, exact per-dimension
prefetches fused by an engine formula (``fusion="formula"``, ``--formula-queries 0`` skips it), and HNSW at
each ``--edge-ef`` on the original vectors and (``--edge-quant int8``, the default) on int8 + rescoring, each
with no filter and with a tag filter on ~1% and on ~30% of the videos (each point's ``plan``: how the
filtered query ran, ``EdgeIndex._plan``). Recall@10 is against NumPy's exact answers under the same filter.
``--edge-n 0`` skips it. The Edge store keeps the hook vectors apart from the video vectors (FAISS stores them
once when they are equal, as here), so its bytes per video include them.
Peak memory is reported twice: the resident set (memory-mapped files included: the kernel drops and re-reads
those pages, so it can exceed what the machine needs) and the anonymous part alone. A million videos on two
shared cores (``python bench/search.py --n 1000000 --recipes HNSW32 --build-threads 2 --qdrant-n 0
--formula-queries 0 --json``): about 75 minutes, of which Edge loads for 10 and optimizes for 25; its store
takes 22 GB of disk and its optimize about as much free space again (``infra/README.md``).

Usage: ``python bench/search.py --size 100000 [--json]`` (``--n`` is the same flag); at a million
videos (HNSW32 builds for many minutes on two cores, IVF recipes with an HNSW coarse quantizer train in a
few; Qdrant Edge's load and optimize take long too, ``--edge-n`` caps it):
``python bench/search.py --n 1000000 --json --sweep --nlist 2048 \
--recipes 'HNSW32;IVF{nlist}_HNSW32,PQ96x8'``.

Loading goes through ``FaissIndex.upsert_arrays`` (the bulk path for precomputed vectors: no record objects).
What is measured is the video level: each video's hook is its video vectors (``hook=None``), which the index
stores once, so the hook level costs no memory or build time here. Single-query latency loops
``search`` over the queries; batch QPS is ``search_many`` over all of them (one FAISS call, exact
per-dimension scores for each hit), beside raw FAISS's batched ``IndexFlatIP.search``. ``qps_ratio_to_flat``
compares batch QPS. ANN search parameters default to ``recipe_defaults`` (re-rank depth and efSearch /
nprobe); ``--ef-search``, ``--nprobe``, ``--rerank-factor`` override them, and ``--sweep`` also measures a
small grid of them on the built index (query-time settings: ``FaissIndex.tune``). ``peak_rss_gb`` is the
process's peak resident set. ``OMP_WAIT_POLICY=PASSIVE`` keeps multi-threaded builds sane on shared CPUs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexer import open_index
from indexer.faiss_backend import FaissIndex
from indexer.synthetic import ENCODER, structured_vectors
from sv6d.record import SV6DRecord, Tag, make_tag
from sv6d.vocabulary import default_vocabulary

K = 10
# A replace-upsert of 100 records copies every level of a Flat index (the loaded snapshot stays intact for
# readers): at a million videos that is several GB of transient memory, so it is timed only below this size.
UPSERT_PROBE_MAX_N = 200_000


# Filter tags: the rare one on ~1% of videos, the common one on ~30% (independent draws, seeded).
TAG_SELECTIVITY = {"narrative:reveal": 0.01, "editing:hard_cut": 0.30}


def tag_masks(n: int, seed: int = 11) -> dict[str, np.ndarray]:
    """Per filter tag, which of ``n`` videos carry it (``TAG_SELECTIVITY``)."""
    rng = np.random.default_rng(seed)
    return {tag: rng.random(n) < share for tag, share in TAG_SELECTIVITY.items()}


def _bench_tags() -> dict[str, Tag]:
    out = {}
    for key in TAG_SELECTIVITY:
        label = key.split(":", 1)[1]
        spec = default_vocabulary().spec(label)
        tag = make_tag(label, 0.5, 1.0, 0.9, dict.fromkeys(spec.evidence, 1.0))
        assert tag is not None
        out[key] = tag
    return out


def make_records(
    vectors: np.ndarray, start: int, masks: dict[str, np.ndarray] | None = None
) -> list[SV6DRecord]:
    """Records v{start}.. of ``vectors`` (hook = video), with the filter tags ``masks`` gives them."""
    tags = _bench_tags() if masks else {}
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
            tags=[t for key, t in tags.items() if masks is not None and masks[key][start + i]],
        )
        for i, v in enumerate(vectors)
    ]


def load_arrays(ix: FaissIndex, data: np.ndarray, batch: int) -> None:
    """Bulk-load ``data`` (n, 6, d) as videos v0..v{n-1}, ``batch`` per generation (0: one generation)."""
    n = len(data)
    step = batch or n
    for s in range(0, n, step):
        e = min(n, s + step)
        ix.upsert_arrays(
            [f"v{i}" for i in range(s, e)],
            data[s:e],
            encoder=ENCODER,
            duration_s=30.0,
            hook_window=(0.0, 3.0),
            width=1080,
            height=1920,
            source="bench",
        )


# Peaks of the windows closed by reset_stage_peak: a reset also lowers ru_maxrss (both read the kernel's
# high-water mark), so the whole run's peak is the largest of these and the current one.
_CLOSED_PEAKS: list[float] = []


def peak_rss_gb() -> float:
    """The process's peak resident set so far, in GB (across ``reset_stage_peak`` windows)."""
    now = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)  # ru_maxrss is in KiB on Linux
    return max([now, *_CLOSED_PEAKS])


def _status_gb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1e6, 2)  # kB
    return float("nan")


def reset_stage_peak() -> None:
    """Start a new peak-RSS window (``stage_peak_gb``): Linux resets VmHWM on ``5`` to clear_refs."""
    _CLOSED_PEAKS.append(stage_peak_gb())
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    _ANON_PEAK[0] = 0.0


# The kernel keeps no high-water mark of anonymous memory alone: a thread samples RssAnon (``watch_anon``).
_ANON_PEAK = [0.0]


def watch_anon(every_s: float = 0.2) -> None:
    """Sample the process's anonymous resident memory (heap, not memory-mapped files, which the kernel can
    drop and read again) in a daemon thread, for ``stage_anon_peak_gb``."""

    def loop() -> None:
        while True:
            _ANON_PEAK[0] = max(_ANON_PEAK[0], _status_gb("RssAnon"))
            time.sleep(every_s)

    threading.Thread(target=loop, daemon=True, name="rss-anon").start()


def stage_anon_peak_gb() -> float:
    """Peak anonymous resident memory since the last ``reset_stage_peak`` (sampled), in GB."""
    return round(max(_ANON_PEAK[0], _status_gb("RssAnon")), 2)


def stage_peak_gb() -> float:
    """Peak resident set since the last ``reset_stage_peak`` (VmHWM, memory-mapped file pages included), in
    GB."""
    return _status_gb("VmHWM")


def exact_top(data_flat: np.ndarray, qcat: np.ndarray, mask: np.ndarray | None) -> list[list[str]]:
    """Exact weighted top-K ids per query among the videos ``mask`` selects (NumPy, in row chunks)."""
    n = len(data_flat)
    best_s = np.full((len(qcat), K), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(qcat), K), dtype=np.int64)
    for s in range(0, n, 50_000):
        e = min(n, s + 50_000)
        sc = qcat @ data_flat[s:e].T
        if mask is not None:
            sc[:, ~mask[s:e]] = -np.inf
        cand_s = np.concatenate([best_s, sc], axis=1)
        cand_i = np.concatenate([best_i, np.broadcast_to(np.arange(s, e), sc.shape)], axis=1)
        top = np.argsort(-cand_s, axis=1, kind="stable")[:, :K]
        best_s = np.take_along_axis(cand_s, top, 1)
        best_i = np.take_along_axis(cand_i, top, 1)
    return [
        [f"v{i}" for i, sc in zip(row_i, row_s, strict=True) if sc > -np.inf]
        for row_i, row_s in zip(best_i, best_s, strict=True)
    ]


def store_breakdown(root: Path) -> dict[str, int]:
    """Bytes on disk (allocated blocks, not file lengths: the engine pre-allocates sparse files) of a Qdrant
    Edge store by part: concatenated / per-dimension vectors, int8 copies, HNSW graphs, payload, payload
    indexes, WAL, other."""
    out: dict[str, int] = {}
    for p in root.rglob("*"):
        if not p.is_file():
            continue
        parts = p.relative_to(root).parts
        name = "/".join(parts)
        if "wal" in parts:
            key = "wal"
        elif any(x.startswith("vector_index-") for x in parts):
            key = "hnsw graphs"
        elif any(x.startswith("vector_storage-") for x in parts):
            vec = next(x for x in parts if x.startswith("vector_storage-"))
            kind = "concatenated" if vec.endswith("_all") else "per-dimension"
            key = f"{kind} int8" if "quantized" in name else f"{kind} vectors"
        elif "payload_index" in parts:
            key = "payload indexes"
        elif "payload_storage" in parts:
            key = "payload"
        else:
            key = "other"
        out[key] = out.get(key, 0) + p.stat().st_blocks * 512
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sweep_grid(recipe: str, nlist: int) -> list[tuple[dict[str, int], int]]:
    """(search_params, rerank_factor) points to measure on a built index."""
    if "IVF" in recipe.upper():
        probes = sorted({max(1, nlist // f) for f in (128, 64, 32, 16, 8, 4)})
        return [({"nprobe": p}, r) for p in probes for r in (10, 20, 50)]
    if "HNSW" in recipe.upper():
        # efSearch below k * rerank_factor is raised to it by FAISS (it returns that many candidates).
        return [({"efSearch": ef}, r) for ef in (32, 64, 128, 256, 512) for r in (2, 10)]
    return []


def recall_of(exact: list[list[str]], got: list[list[str]]) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(exact, got, strict=True)]))


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def percentiles(times: list[float]) -> tuple[float, float]:
    arr = np.asarray(times) * 1e3
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def time_ours(
    ix: Any, queries: np.ndarray, w: dict[str, float], filters: Any = None
) -> tuple[list[list[str]], list[float]]:
    results, times = [], []
    for q in queries:
        t0 = time.perf_counter()
        hits = ix.search(q, w, k=K, filters=filters)
        times.append(time.perf_counter() - t0)
        results.append([h.video_id for h in hits])
    return results, times


def time_batch(ix: Any, queries: np.ndarray, w: dict[str, float]) -> float:
    """QPS of one ``search_many`` call over every query."""
    t0 = time.perf_counter()
    ix.search_many(queries, w, k=K)
    return len(queries) / (time.perf_counter() - t0)


def bench_edge(
    data: np.ndarray,
    queries: np.ndarray,
    qcat: np.ndarray,
    weights: dict[str, float],
    flat_exact: list[list[str]],
    flat_p50: float,
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    same_n: bool,
) -> dict[str, Any]:
    """Qdrant Edge on ``data``: load, optimize, exact concat (and the formula plan), then HNSW at each
    ``--edge-ef`` on the original vectors and (``--edge-quant int8``) on int8 + rescoring, each with no
    filter and with the 1% and 30% tag filters; recall@10 against NumPy's exact answers under the same
    filter. See the module docstring."""
    from indexer.base import Filters
    from indexer.qdrant_backend import QdrantConfig
    from indexer.qdrant_edge_backend import EdgeIndex
    from indexer.qdrant_layout import filter_spec

    n = len(data)
    masks = tag_masks(n)
    filters: dict[str, Filters | None] = {"no filter": None}
    for tag, share in TAG_SELECTIVITY.items():
        filters[f"{tag} {share:.0%}"] = Filters.model_validate({"tags": [tag]})
    flat = data.reshape(n, -1)
    t = time.perf_counter()
    truth = {"no filter": exact_top(flat, qcat, None)}
    for (name, _), mask in zip(list(filters.items())[1:], masks.values(), strict=True):
        truth[name] = exact_top(flat, qcat, mask)
    log(f"edge: exact answers under each filter (NumPy) in {time.perf_counter() - t:.1f}s")
    quantized = args.edge_quant == "int8"
    out: dict[str, Any] = {
        "n": n,
        "quantization": args.edge_quant,
        "hnsw_m": args.edge_m,
        "tag_share": {k: round(float(m.mean()), 4) for k, m in masks.items()},
        "numpy_truth_vs_faiss_flat": recall_of(flat_exact, truth["no filter"]) if same_n else None,
    }
    reset_stage_peak()
    with tempfile.TemporaryDirectory(prefix="sv6d-bench-edge-") as tmpdir:
        ix = EdgeIndex(tmpdir, hnsw_m=args.edge_m, exact_search=True, quantization=args.edge_quant)
        t = time.perf_counter()
        for s in range(0, n, 2000):
            ix.upsert(make_records(data[s : min(n, s + 2000)], s, masks))
            if (s + 2000) % 50_000 == 0:
                log(
                    f"edge: {s + 2000} upserted, {time.perf_counter() - t:.0f}s, RSS {_status_gb('VmRSS')} GB"
                )
        out["upsert_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        ix.optimize()
        out["optimize_s"] = round(time.perf_counter() - t, 1)
        out["build_s"] = round(out["upsert_s"] + out["optimize_s"], 1)
        out["segments"] = ix._shard.info().segments_count
        parts = store_breakdown(Path(tmpdir))
        # Allocated blocks (the engine's files are sparse and pre-allocated), and file lengths for reference.
        out["bytes_per_video"] = round(sum(parts.values()) / n, 1)
        out["file_length_bytes_per_video"] = round(dir_bytes(Path(tmpdir)) / n, 1)
        out["bytes_per_video_by_part"] = {k: round(v / n, 1) for k, v in parts.items()}
        out["build_peak_rss_gb"] = stage_peak_gb()
        out["build_peak_anon_gb"] = stage_anon_peak_gb()
        log(
            f"edge: upsert {out['upsert_s']}s, optimize {out['optimize_s']}s, peak RSS "
            f"{out['build_peak_rss_gb']} GB (anonymous {out['build_peak_anon_gb']} GB), "
            f"{out['bytes_per_video']} B/video "
            f"{out['bytes_per_video_by_part']}"
        )
        reset_stage_peak()
        exact, times = time_ours(ix, queries, weights)
        e50, e99 = percentiles(times)
        eqps = time_batch(ix, queries, weights)
        agree = recall_of(truth["no filter"], exact)
        out["exact_concat"] = {"p50_ms": round(e50, 3), "p99_ms": round(e99, 3), "batch_qps": round(eqps, 1)}
        out["exact_concat"]["recall_vs_numpy_exact"] = agree
        rows.append(
            {
                "name": f"edge exact concat ({n})",
                "p50_ms": e50,
                "p99_ms": e99,
                "qps": eqps,
                "build_s": out["build_s"],
                "recall": agree,
            }
        )
        log(f"edge exact concat: p50 {e50:.2f} ms, batch {eqps:.1f} QPS, top-10 agreement with NumPy {agree}")
        if args.formula_queries:
            ix.fusion = "formula"
            fq = queries[: args.formula_queries]
            fgot, ftimes = time_ours(ix, fq, weights)
            f50, f99 = percentiles(ftimes)
            frecall = recall_of(exact[: len(fq)], fgot)
            out["exact_formula"] = {
                "p50_ms": round(f50, 3),
                "p99_ms": round(f99, 3),
                "recall_vs_concat": frecall,
            }
            rows.append(
                {
                    "name": f"edge exact formula ({n})",
                    "p50_ms": f50,
                    "p99_ms": f99,
                    "qps": len(fq) / sum(ftimes),
                    "recall": frecall,
                }
            )
            log(f"edge exact formula: p50 {f50:.2f} ms ({f50 / e50:.1f}x concat), agreement {frecall:.3f}")
            ix.fusion = "concat"
        out["hnsw"] = []
        for mode in ("float", "int8+rescore") if quantized else ("float",):
            for ef in [int(x) for x in args.edge_ef.split(",") if x]:
                ix.config = QdrantConfig.parse(ix.config, exact_search=False, hnsw_ef=ef)
                # float on an int8 shard: its original vectors (QuantizationSearchParams(ignore=True)).
                ix.use_quantized = mode != "float"
                for fname, flt in filters.items():
                    got, times = time_ours(ix, queries, weights, flt)
                    h50, h99 = percentiles(times)
                    recall = recall_of(truth[fname], got)
                    point = {
                        "mode": mode,
                        "hnsw_ef": ef,
                        # How a filtered query is searched: post-filtered below a depth, or filtered.
                        "plan": ix._plan("video", filter_spec(flt or Filters()), K)._asdict(),
                        "filter": fname,
                        "recall_at_10": round(recall, 4),
                        "p50_ms": round(h50, 3),
                        "p99_ms": round(h99, 3),
                        "speedup_vs_flat_p50": round(flat_p50 / h50, 1),
                    }
                    out["hnsw"].append(point)
                    rows.append(
                        {
                            "name": f"edge HNSW ef={ef} {mode}, {fname} ({n})",
                            "p50_ms": h50,
                            "p99_ms": h99,
                            "qps": len(times) / sum(times),
                            "recall": recall,
                        }
                    )
                    log(f"edge {point}")
        ix.use_quantized = True
        out["query_peak_rss_gb"] = stage_peak_gb()
        out["query_peak_anon_gb"] = stage_anon_peak_gb()
        ix.close()
    base = {(p["mode"], p["hnsw_ef"]): p["p50_ms"] for p in out["hnsw"] if p["filter"] == "no filter"}
    for p in out["hnsw"]:
        p["p50_vs_unfiltered"] = round(p["p50_ms"] / base[(p["mode"], p["hnsw_ef"])], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", "--size", dest="n", type=int, default=100_000, help="videos in the index")
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--batch", type=int, default=0, help="videos per upsert_arrays call (0: all in one)")
    ap.add_argument("--recipes", default="HNSW32,IVF{nlist},PQ96x8", help="ANN recipes separated by ';'")
    ap.add_argument("--nlist", type=int, default=None, help="IVF cells for {nlist} (default ~4 sqrt(n))")
    ap.add_argument("--sweep", action="store_true", help="also measure a grid of query-time settings")
    ap.add_argument("--ef-search", type=int, default=None)
    ap.add_argument("--nprobe", type=int, default=None)
    ap.add_argument("--rerank-factor", type=int, default=None)
    ap.add_argument(
        "--qdrant-n", type=int, default=20_000, help="videos in qdrant-client's local mode (0: skip)"
    )
    ap.add_argument("--edge-n", type=int, default=None, help="videos in Qdrant Edge (default: --n; 0: skip)")
    ap.add_argument("--edge-m", type=int, default=16, help="Qdrant Edge HNSW links per node")
    ap.add_argument("--edge-ef", default="64,128,256", help="Qdrant Edge hnsw_ef values to measure")
    ap.add_argument(
        "--edge-quant",
        choices=["none", "int8"],
        default="int8",
        help="int8: the concatenations get int8 copies; HNSW measured on the originals and int8 + rescoring",
    )
    ap.add_argument(
        "--formula-queries", type=int, default=20, help="queries timed on the formula plan (0: skip it)"
    )
    ap.add_argument("--threads", type=int, default=1, help="FAISS OpenMP threads (1: stable on shared CPUs)")
    ap.add_argument("--build-threads", type=int, default=None, help="FAISS threads while building indexes")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import faiss

    # OpenMP spin-waits make FAISS 10-100x slower when the CPU is oversubscribed; pin the thread count.
    faiss.omp_set_num_threads(args.threads)
    watch_anon()

    n, d, nq = args.n, args.d, args.queries
    nlist = int(max(16, min(4096, 2 ** round(np.log2(np.sqrt(n) * 4)))))
    while nlist * 39 > n and nlist > 16:
        nlist //= 2
    nlist = args.nlist or nlist
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
    log(f"generated {n} x 6 x {d} in {time.perf_counter() - t0:.1f}s, peak RSS {peak_rss_gb()} GB")

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
    log(f"raw Flat: p50 {raw_p50:.2f} ms, batch {raw_qps:.1f} QPS")
    summary_raw = {"raw_p50_ms": round(raw_p50, 3), "raw_batch_qps": round(raw_qps, 1)}

    def build(recipe: str, tmp: Path) -> tuple[FaissIndex, float]:
        params = {"efSearch": args.ef_search, "nprobe": args.nprobe}
        ix = FaissIndex(
            tmp,
            recipe,
            search_params={k: v for k, v in params.items() if v is not None},
            rerank_factor=args.rerank_factor,
        )
        if args.build_threads:
            faiss.omp_set_num_threads(args.build_threads)
        t = time.perf_counter()
        load_arrays(ix, data, args.batch)
        faiss.omp_set_num_threads(args.threads)
        build_s = time.perf_counter() - t
        log(f"built {recipe} in {build_s:.1f}s, peak RSS {peak_rss_gb()} GB")
        return ix, build_s

    summary: dict[str, Any] = {"n": n, "ann": [], **summary_raw}
    with tempfile.TemporaryDirectory(prefix="sv6d-bench-") as tmpdir:
        tmp = Path(tmpdir)
        flat, build_s = build("Flat", tmp / "flat")
        exact, times = time_ours(flat, queries, weights)
        p50, p99 = percentiles(times)
        flat_qps = time_batch(flat, queries, weights)
        rows.append({"name": "ours Flat", "p50_ms": p50, "p99_ms": p99, "qps": flat_qps, "build_s": build_s})
        log(f"ours Flat: p50 {p50:.2f} ms, batch {flat_qps:.1f} QPS")
        if n <= UPSERT_PROBE_MAX_N:
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
        summary["flat_build_s"] = round(build_s, 1)
        flat.close()
        del flat  # the snapshot holds the vectors: free them before the ANN builds
        shutil.rmtree(tmp / "flat")
        sweeps: list[dict[str, Any]] = []
        for recipe in recipes:
            where = tmp / recipe.replace(",", "_")
            ix, build_s = build(recipe, where)
            got, times = time_ours(ix, queries, weights)
            ix_params = (ix.rerank_factor, dict(ix.search_params))
            effective = ix.effective_search_params()
            a50, a99 = percentiles(times)
            qps = time_batch(ix, queries, weights)
            recall = recall_of(exact, got)
            log(f"ours {recipe}: recall@10 {recall:.4f}, p50 {a50:.2f} ms ({p50 / a50:.1f}x), {qps:.1f} QPS")
            bpv = dir_bytes(where) / n
            index_files = sum(f.stat().st_size for f in where.glob("video.*.faiss"))
            for params, rerank in sweep_grid(recipe, nlist) if args.sweep else []:
                ix.search_params, ix.rerank_factor = dict(ix_params[1]), ix_params[0]
                ix.tune(params, rerank)
                sgot, stimes = time_ours(ix, queries, weights)
                s50, s99 = percentiles(stimes)
                sqps = time_batch(ix, queries, weights)
                point = {
                    "recipe": recipe,
                    "params": {"rerank_factor": rerank, **params},
                    "recall_at_10": round(recall_of(exact, sgot), 4),
                    "p50_ms": round(s50, 3),
                    "p99_ms": round(s99, 3),
                    "single_speedup_vs_flat": round(p50 / s50, 2),
                    "qps_ratio_to_flat": round(sqps / flat_qps, 2),
                }
                sweeps.append(point)
                log(f"  sweep {point}")
            ix.close()
            del ix
            shutil.rmtree(where)
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
                    "params": effective,
                    "recall_at_10": round(recall, 4),
                    "single_speedup_vs_flat": round(p50 / a50, 2),
                    "qps_ratio_to_flat": round(qps / flat_qps, 2),
                    "p50_ms": round(a50, 3),
                    "p99_ms": round(a99, 3),
                    "batch_qps": round(qps, 1),
                    "build_s": round(build_s, 1),
                    "bytes_per_video": round(bpv, 1),
                    "index_file_bytes_per_video": round(index_files / n, 1),
                    "peak_rss_gb": peak_rss_gb(),
                }
            )
        if sweeps:
            summary["sweep"] = sweeps
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
    edge_n = n if args.edge_n is None else min(args.edge_n, n)
    if edge_n:
        summary["edge"] = bench_edge(
            data[:edge_n], queries, qcat, weights, exact, p50, args, rows, n == edge_n
        )
    summary["flat_p50_ms"] = round(p50, 3)
    summary["flat_p99_ms"] = round(p99, 3)
    summary["flat_batch_qps"] = round(flat_qps, 1)
    summary["peak_rss_gb"] = peak_rss_gb()

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
    console = Console(stderr=True) if args.json else Console()
    console.print(table)
    if summary.get("sweep"):
        st = Table(title="query-time settings on the built indexes (recall@10 vs exact, single-query p50)")
        for col in ("recipe", "params", "recall@10", "p50 ms", "p99 ms", "speed-up vs Flat", "QPS ratio"):
            st.add_column(col)
        for pt in summary["sweep"]:
            st.add_row(
                pt["recipe"],
                " ".join(f"{k}={v}" for k, v in pt["params"].items()),
                f"{pt['recall_at_10']:.3f}",
                f"{pt['p50_ms']:.2f}",
                f"{pt['p99_ms']:.2f}",
                f"{pt['single_speedup_vs_flat']:.1f}",
                f"{pt['qps_ratio_to_flat']:.2f}",
            )
        console.print(st)
    print(
        f"bytes per video (Flat data dir: video vectors, hook alias, catalog): {summary['bytes_per_video']}"
    )
    print(f"peak RSS {summary['peak_rss_gb']} GB")
    edge = summary.get("edge")
    if edge:
        print(
            f"Qdrant Edge ({edge['n']}): build {edge['build_s']} s (upsert {edge['upsert_s']}, optimize "
            f"{edge['optimize_s']}), {edge['bytes_per_video']} bytes per video on disk "
            f"{edge['bytes_per_video_by_part']}, peak RSS build {edge['build_peak_rss_gb']} GB / queries "
            f"{edge['query_peak_rss_gb']} GB (anonymous: {edge['build_peak_anon_gb']} / "
            f"{edge['query_peak_anon_gb']} GB)"
        )
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
