"""Hook search latency with and without the opening-style blend, side by side on one index.

The similar-hooks search (``VectorIndex.similar_hooks``) re-orders its top ``STYLE_TOP_N`` hits by the two
hooks' opening-style profiles (``indexer.base``): that costs a profile lookup per hit on top of the vector
search. This measures both on the embedded default (FAISS ``Flat`` in a data directory): ``--n`` videos with
structured hook vectors (``indexer.synthetic.structured_vectors``, d=64 as the evidence encoder makes them)
and a random profile over 16 styles each, then single-query latency of ``similar_hooks`` by stored id, the
two kinds interleaved query by query so that machine noise falls on both alike. Prints a table, then (with
``--json``) one JSON line ``{"n", "queries", "p50_ms", "p95_ms", "p50_ratio"}`` (ratio: with the blend /
without).

Usage: ``python bench/hook_search.py --n 100000 [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexer import open_index
from indexer.synthetic import structured_vectors
from sv6d.record import SV6DRecord

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search import make_records  # bench/search.py: the search benchmark's records

STYLES = [f"style_{i}" for i in range(16)]


def records(hooks: np.ndarray, start: int, rng: np.random.Generator) -> list[SV6DRecord]:
    """``bench/search.py``'s records (hook = video vectors), each with a random opening-style profile."""
    profiles = rng.dirichlet(np.full(len(STYLES), 0.3), size=len(hooks))
    return [
        r.model_copy(
            update={"hook_style": {s: round(float(p), 4) for s, p in zip(STYLES, profile, strict=True)}}
        )
        for r, profile in zip(make_records(hooks, start), profiles, strict=True)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", "--size", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--batch", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    hooks = structured_vectors(a.n, 64, rng=rng)
    times: dict[str, list[float]] = {"vectors only": [], "with style blend": []}
    with tempfile.TemporaryDirectory(prefix="sv6d-bench-hooks-") as tmp, open_index(data_dir=Path(tmp)) as ix:
        t0 = time.perf_counter()
        for s in range(0, a.n, a.batch):
            ix.upsert(records(hooks[s : s + a.batch], s, rng))
        load_s = time.perf_counter() - t0
        ids = [f"v{i}" for i in rng.choice(a.n, size=a.queries, replace=False)]
        for vid in ids[:5]:  # warm-up
            ix.similar_hooks(vid, k=a.k)
        for vid in ids:
            for name, share in (("vectors only", 0.0), ("with style blend", None)):
                t = time.perf_counter()
                ix.similar_hooks(vid, k=a.k, style=share)
                times[name].append((time.perf_counter() - t) * 1000)
    p50 = {k: float(np.percentile(v, 50)) for k, v in times.items()}
    p95 = {k: float(np.percentile(v, 95)) for k, v in times.items()}
    print(f"hook search, FAISS Flat, {a.n} videos, {a.queries} queries, k={a.k} (load {load_s:.0f} s)")
    print(f"{'':20s} {'p50 ms':>8s} {'p95 ms':>8s}")
    for k in times:
        print(f"{k:20s} {p50[k]:8.2f} {p95[k]:8.2f}")
    ratio = p50["with style blend"] / p50["vectors only"]
    print(f"p50 ratio (blend / vectors only): {ratio:.3f}")
    if a.json:
        doc = {"n": a.n, "queries": a.queries, "p50_ms": p50, "p95_ms": p95, "p50_ratio": round(ratio, 3)}
        print(json.dumps(doc))


if __name__ == "__main__":
    main()
