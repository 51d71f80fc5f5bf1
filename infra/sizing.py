"""Measure index and storage sizes at a small scale and extrapolate them per million videos.

    .venv/bin/python infra/sizing.py --n 100000 --d 128 --qdrant-n 20000 --json

What is measured (on structured random vectors: a low-dimensional latent projected to six blocks plus
noise, unit rows, like the indexer benchmark):
- FAISS, over the concatenation of the six vectors (6·d floats): ``Flat``, ``HNSW32`` and
  ``IVF<nlist>,PQ<m>x8``; bytes of ``faiss.serialize_index`` and the process RSS growth while building.
- the parquet record shards (``sv6d.record_io.write_records``) of synthetic records with segments and tags.
- Qdrant in local mode (qdrant-client, ``path=``): one point per video with 14 named vectors (six
  per-dimension vectors and their concatenation, for the video and for the hook) and a payload of tags and
  metadata; the storage folder size on disk. Local mode keeps pickled points in SQLite and ignores
  quantization, so it calibrates the payload only; server memory comes from Qdrant's documented formula
  (see infra/SIZING.md).

Everything else (per million, Qdrant server RAM with and without scalar quantization, shards and replicas,
GPU-hours) is computed from these measurements by the formulas printed alongside, and written up in
infra/SIZING.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

MILLION = 1_000_000
DIMS = 6


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def structured_vectors(n: int, d: int, seed: int = 0, latent: int = 16) -> np.ndarray:
    """(n, 6·d) float32: six unit blocks per row from a shared low-dimensional latent plus noise."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, latent)).astype(np.float32)
    out = np.empty((n, DIMS * d), np.float32)
    for b in range(DIMS):
        proj = rng.standard_normal((latent, d)).astype(np.float32)
        block = z @ proj + 0.3 * rng.standard_normal((n, d)).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[:, b * d : (b + 1) * d] = block
    return out


def faiss_recipes(n: int, dim: int) -> list[str]:
    # nlist ~ 4·sqrt(n) (FAISS's guideline), PQ with 8 dims per sub-quantizer.
    nlist = 2 ** round(math.log2(4 * math.sqrt(n)))
    return ["Flat", "HNSW32", f"IVF{nlist},PQ{dim // 8}x8"]


def faiss_formula_bytes(recipe: str, n: int, dim: int) -> float:
    """Predicted bytes of a FAISS index with n vectors (ids are implicit 0..n-1 in these recipes)."""
    if recipe == "Flat":
        return n * dim * 4
    if recipe.startswith("HNSW"):
        m = int(recipe[4:])
        # Vectors + level-0 links (2M int32) + upper levels (M links with probability 1/M each level).
        return n * (dim * 4 + 2 * m * 4 + m * 4 / (m - 1) + 8 + 4)
    if recipe.startswith("IVF"):
        nlist = int(recipe[3:].split(",")[0])
        code = int(recipe.split(",PQ")[1].split("x")[0])
        # Codes + 8-byte ids per list entry; centroids and PQ codebooks fixed.
        return n * (code + 8) + nlist * dim * 4 + 256 * dim * 4
    raise ValueError(f"no formula for recipe {recipe!r}")


def measure_faiss(x: np.ndarray) -> list[dict[str, Any]]:
    import faiss

    # OpenMP threads spin while waiting; on a small shared machine one thread is far faster.
    faiss.omp_set_num_threads(int(os.environ.get("SIZING_THREADS", "1")))
    n, dim = x.shape
    half = n // 2
    rows = []
    for recipe in faiss_recipes(n, dim):
        before = rss_bytes()
        t0 = time.perf_counter()
        index = faiss.index_factory(dim, recipe, faiss.METRIC_INNER_PRODUCT)
        if not index.is_trained:
            nlist = int(recipe[3:].split(",")[0])
            # Polysemous training (on by default for 8-bit PQ) is a slow annealing that only serves
            # Hamming-distance filtering, which these recipes do not use.
            faiss.downcast_index(faiss.extract_index_ivf(index)).do_polysemous_training = False
            index.train(x[: min(n, 40 * nlist)])
        # Size at n/2 and at n: the slope is the cost per video, the intercept the fixed part (centroids,
        # codebooks, headers), so the extrapolation to a million does not assume either.
        index.add(x[:half])
        size_half = int(faiss.serialize_index(index).nbytes)
        index.add(x[half:])
        build_s = time.perf_counter() - t0
        rss = rss_bytes() - before
        size = int(faiss.serialize_index(index).nbytes)
        slope = (size - size_half) / (n - half)
        fixed = size - slope * n
        rows.append(
            {
                "recipe": recipe,
                "n": n,
                "dim": dim,
                "serialized_bytes": size,
                "bytes_per_video": round(slope, 1),
                "fixed_bytes": int(fixed),
                "formula_bytes_per_video": round(
                    (faiss_formula_bytes(recipe, n, dim) - faiss_formula_bytes(recipe, 0, dim)) / n, 1
                ),
                "rss_growth_bytes": rss,
                "build_s": round(build_s, 2),
                "per_million_bytes": int(slope * MILLION + fixed),
            }
        )
        del index
    return rows


def synthetic_records(n: int, d: int, segments: int, tags: int, seed: int = 0) -> list[Any]:
    from sv6d.dimensions import DIMENSIONS
    from sv6d.record import EncoderInfo, Segment, SV6DRecord, make_tag

    rng = np.random.default_rng(seed)

    def block() -> np.ndarray:
        b = rng.standard_normal((len(DIMENSIONS), d)).astype(np.float32)
        return b / np.linalg.norm(b, axis=1, keepdims=True)

    cut = make_tag("hard_cut", 1.0, 1.0, 0.9, {"hist_delta": 0.61, "content_score": 31.2})
    cut_tags = [cut] * tags if cut is not None else []
    out = []
    for i in range(n):
        out.append(
            SV6DRecord(
                video_id=f"v{i:08d}",
                source=f"/media/videos/{i:08d}.mp4",
                duration_s=30.0,
                fps=30.0,
                width=1080,
                height=1920,
                title=f"video {i}",
                encoder=EncoderInfo(name="evidence", version="1", head_version="h1"),
                hook_window=(0.0, 3.0),
                video=block(),
                hook=block(),
                segments=[
                    Segment(start_s=k * 3.0, end_s=k * 3.0 + 3.0, vectors=block()) for k in range(segments)
                ],
                tags=cut_tags,
                energy=list(rng.random(60).astype(np.float32)),
                energy_hz=2.0,
            )
        )
    return out


def measure_parquet(n: int, d: int, segments: int, tags: int) -> dict[str, Any]:
    from sv6d.record_io import write_records

    records = synthetic_records(n, d, segments, tags)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shard.parquet"
        write_records(path, records)
        size = path.stat().st_size
    return {
        "n": n,
        "segments_per_video": segments,
        "tags_per_video": tags,
        "bytes_per_video": round(size / n, 1),
    }


def measure_qdrant_local(n: int, d: int, tags: int) -> dict[str, Any]:
    from qdrant_client import QdrantClient, models

    from sv6d.dimensions import DIMENSIONS

    names = [f"{level}_{dim.value}" for level in ("video", "hook") for dim in DIMENSIONS]
    sizes = {name: d for name in names} | {"video_concat": DIMS * d, "hook_concat": DIMS * d}
    tmp = tempfile.mkdtemp(prefix="qdrant-sizing-")
    try:
        client = QdrantClient(path=tmp)
        client.create_collection(
            "sizing",
            vectors_config={
                k: models.VectorParams(size=v, distance=models.Distance.COSINE) for k, v in sizes.items()
            },
        )
        x = structured_vectors(n, d, seed=1)
        h = structured_vectors(n, d, seed=2)
        payload_bytes = 0
        t0 = time.perf_counter()
        for start in range(0, n, 500):
            points = []
            for i in range(start, min(n, start + 500)):
                vec: dict[str, Any] = {"video_concat": x[i].tolist(), "hook_concat": h[i].tolist()}
                for k, dim in enumerate(DIMENSIONS):
                    vec[f"video_{dim.value}"] = x[i, k * d : (k + 1) * d].tolist()
                    vec[f"hook_{dim.value}"] = h[i, k * d : (k + 1) * d].tolist()
                payload = {
                    "video_id": f"v{i:08d}",
                    "duration_s": 30.0,
                    "orientation": "portrait",
                    "created_at": "2026-01-01T00:00:00Z",
                    "creator": f"c{i % 1000}",
                    "tags": [f"editing:hard_cut:{j}" for j in range(tags)],
                    "hook_window": [0.0, 3.0],
                }
                payload_bytes += len(json.dumps(payload))
                points.append(models.PointStruct(id=i, vector=vec, payload=payload))
            client.upsert("sizing", points=points)
        upsert_s = time.perf_counter() - t0
        client.close()
        disk = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    floats = sum(sizes.values())
    return {
        "n": n,
        "named_vectors": len(sizes),
        "floats_per_point": floats,
        "local_disk_bytes_per_video": round(disk / n, 1),
        "payload_json_bytes_per_video": round(payload_bytes / n, 1),
        "upsert_s": round(upsert_s, 2),
    }


def qdrant_server_formula(
    floats: int, payload: float, hnsw_m: int = 16, named_vectors: int = 14
) -> dict[str, float]:
    """Bytes per video on a Qdrant server (one replica). Qdrant's guide: RAM ≈ vectors·dim·4·1.5; the 1.5
    covers the HNSW graph, id maps and segment overhead. With int8 scalar quantization and originals on disk
    (``always_ram=True`` for the quantized copy, rescoring from disk), RAM holds 1 byte per float plus the
    graphs; disk holds the originals, the quantized copy and the payload."""
    graph = named_vectors * 2 * hnsw_m * 4
    return {
        "ram_plain": floats * 4 * 1.5 + payload,
        "disk_plain": floats * 4 + graph + payload,
        "ram_sq_int8": floats * 1 + graph + payload,
        "disk_sq_int8": floats * 4 + floats * 1 + graph + payload,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="videos for the FAISS measurement")
    ap.add_argument("--d", type=int, default=128, help="size of each per-dimension vector")
    ap.add_argument("--qdrant-n", type=int, default=20_000, help="points for Qdrant local mode (0 skips)")
    ap.add_argument("--records-n", type=int, default=5_000, help="records for the parquet measurement")
    ap.add_argument("--segments", type=int, default=8, help="segments (shots) per video")
    ap.add_argument("--tags", type=int, default=15, help="tags per video")
    ap.add_argument("--json", action="store_true", help="print one JSON document as the last line")
    args = ap.parse_args(argv)

    result: dict[str, Any] = {"n": args.n, "d": args.d, "concat_dim": DIMS * args.d}
    x = structured_vectors(args.n, args.d)
    result["faiss"] = measure_faiss(x)
    del x
    result["parquet"] = measure_parquet(args.records_n, args.d, args.segments, args.tags)
    if args.qdrant_n:
        q = measure_qdrant_local(args.qdrant_n, args.d, args.tags)
        q["server_formula_bytes_per_video"] = {
            k: round(v, 1)
            for k, v in qdrant_server_formula(
                q["floats_per_point"], q["payload_json_bytes_per_video"]
            ).items()
        }
        result["qdrant"] = q

    print(f"{'recipe':<22}{'bytes/video':>14}{'formula':>12}{'GiB per 1M (one level)':>26}{'build s':>10}")
    for r in result["faiss"]:
        gib = r["per_million_bytes"] / 2**30
        row = f"{r['recipe']:<22}{r['bytes_per_video']:>14}{r['formula_bytes_per_video']:>12}"
        print(f"{row}{gib:>26.2f}{r['build_s']:>10}")
    p = result["parquet"]
    shape = f"{p['segments_per_video']} segments, {p['tags_per_video']} tags"
    print(f"parquet records: {p['bytes_per_video']} bytes/video ({shape})")
    if "qdrant" in result:
        q = result["qdrant"]
        disk, payload = q["local_disk_bytes_per_video"], q["payload_json_bytes_per_video"]
        print(f"qdrant local ({q['n']} points): {disk} bytes/video on disk, payload {payload} B")
        for k, v in q["server_formula_bytes_per_video"].items():
            print(f"  server {k}: {v:.0f} bytes/video = {v * MILLION / 2**30:.2f} GiB per 1M")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
