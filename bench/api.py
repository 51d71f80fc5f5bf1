"""API overhead: ``similar_hooks`` in-process vs over HTTP on loopback, beside an empty JSON route.

Builds an index of ``--n`` synthetic records with structure (``indexer.synthetic``) written through the
indexer directly, starts ``sv6d serve`` on a loopback port in a subprocess (so the client does not share the
server's interpreter), and measures sequential latency (p50, p99) and throughput at ``--concurrency``.

    .venv/bin/python bench/api.py --n 100000 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_index(data_dir: Path, n: int, d: int, batch: int = 20_000) -> float:
    from indexer.factory import open_index
    from indexer.synthetic import make_records

    t0 = time.perf_counter()
    index = open_index(None, data_dir)
    if index.count() < n:
        for start in range(index.count(), n, batch):
            recs = make_records(min(batch, n - start), d=d, seed=start, prefix="v", max_segments=2)
            # make_records numbers from 0 within a batch: rename to keep ids unique across batches.
            for i, r in enumerate(recs):
                r.video_id = f"v{start + i}"
            index.upsert(recs)
    index.close()
    return time.perf_counter() - t0


def percentiles(samples: list[float]) -> tuple[float, float]:
    a = np.array(samples) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def inprocess(data_dir: Path, ids: list[str], k: int) -> list[float]:
    from indexer.factory import open_index

    index = open_index(None, data_dir, read_only=True)
    index.similar_hooks(ids[0], k)  # warm
    out = []
    for vid in ids:
        t0 = time.perf_counter()
        index.similar_hooks(vid, k)
        out.append(time.perf_counter() - t0)
    index.close()
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sequential(url: str, ids: list[str], k: int) -> tuple[list[float], list[float]]:
    search, empty = [], []
    with httpx.Client(base_url=url, timeout=60) as c:
        c.post("/v1/search/hooks", json={"video_id": ids[0], "k": k}).raise_for_status()
        for vid in ids:
            t0 = time.perf_counter()
            c.post("/v1/search/hooks", json={"video_id": vid, "k": k}).raise_for_status()
            search.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            c.get("/v1/ping").raise_for_status()
            empty.append(time.perf_counter() - t0)
    return search, empty


async def throughput(url: str, ids: list[str], k: int, concurrency: int) -> tuple[float, list[float], int]:
    """Requests/s at ``concurrency``, each request's latency, and how many did not answer 200 (a bounded
    load test: the queue is the query list, ``concurrency`` clients drain it)."""
    queue = list(ids)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as c:

        async def worker() -> None:
            nonlocal errors
            while queue:
                vid = queue.pop()
                t0 = time.perf_counter()
                try:
                    r = await c.post("/v1/search/hooks", json={"video_id": vid, "k": k})
                    errors += r.status_code != 200
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(ids) / (time.perf_counter() - t0), latencies, errors


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000, help="videos in the index")
    p.add_argument("--d", type=int, default=64, help="vector size per dimension")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--data-dir", type=Path, default=None, help="reuse an index built by an earlier run")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    args = p.parse_args()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="sv6d-bench-api-"))
    build_s = build_index(data_dir, args.n, args.d)
    rng = np.random.default_rng(0)
    ids = [f"v{i}" for i in rng.integers(0, args.n, size=args.queries)]
    local = inprocess(data_dir, ids, args.k)

    port = _free_port()
    env = {**os.environ, "SV6D_AUTH_DISABLED": "true", "SV6D_API_KEYS": ""}
    cmd = [
        sys.executable,
        "-m",
        "cli.main",
        "serve",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not become ready")
            time.sleep(0.2)
        remote, empty = sequential(url, ids, args.k)
        rps, loaded, errors = asyncio.run(throughput(url, ids, args.k, args.concurrency))
    finally:
        server.terminate()
        server.wait(30)

    lp50, lp99 = percentiles(local)
    hp50, hp99 = percentiles(remote)
    ep50, ep99 = percentiles(empty)
    cp50, cp99 = percentiles(loaded)
    rows = [
        ("similar_hooks in-process", lp50, lp99, 1000 / lp50),
        ("similar_hooks over HTTP", hp50, hp99, 1000 / hp50),
        (f"HTTP at concurrency {args.concurrency}", cp50, cp99, rps),
        ("empty JSON route", ep50, ep99, 1000 / ep50),
    ]
    print(
        f"index: {args.n} videos, d={args.d}, built/loaded in {build_s:.1f} s; "
        f"{args.queries} queries, k={args.k}"
    )
    print(f"{'case':28s} {'p50 ms':>8s} {'p99 ms':>8s} {'req/s':>8s}")
    for name, a, b, c in rows:
        print(f"{name:28s} {a:8.2f} {b:8.2f} {c:8.1f}")
    target = 1.5 * lp50 + ep50
    print(
        f"target: HTTP p50 <= 1.5 x in-process p50 + empty p50 = {target:.2f} ms -> "
        f"{'met' if hp50 <= target else 'NOT met'}; errors under load: {errors} of {len(loaded)}"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "http_p50_ms": round(hp50, 3),
                    "inprocess_p50_ms": round(lp50, 3),
                    "empty_route_p50_ms": round(ep50, 3),
                    "http_rps": round(rps, 1),
                    "concurrency": args.concurrency,
                    "loaded_p50_ms": round(cp50, 3),
                    "loaded_p99_ms": round(cp99, 3),
                    "loaded_errors": errors,
                    "http_p99_ms": round(hp99, 3),
                    "inprocess_p99_ms": round(lp99, 3),
                    "n": args.n,
                }
            )
        )


if __name__ == "__main__":
    main()
