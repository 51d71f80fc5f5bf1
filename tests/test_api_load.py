"""A bounded load test on loopback: mixed hook searches, event writes and reads at concurrency 16 against the
real server (uvicorn). It stops by itself (request count or time budget) and must see 0 responses 5xx."""

from __future__ import annotations

import asyncio
import os
import time

import httpx
import numpy as np
import pytest

from api.main import create_app
from api.settings import Settings
from indexer.factory import open_index
from indexer.synthetic import make_records
from tests.test_e2e_server import ServerThread, _free_port

pytestmark = pytest.mark.slow
KEY = "load-key-0123456789abcdef"
REQUESTS = int(os.environ.get("SV6D_LOAD_REQUESTS", "5000"))
CONCURRENCY = 16
TIME_BUDGET_S = 45.0
N_VIDEOS = 2000


async def _drive(url: str, n: int) -> tuple[list[float], dict[int, int], float]:
    rng = np.random.default_rng(0)
    kinds = rng.choice(["search", "event", "video"], size=n, p=[0.7, 0.2, 0.1])
    videos = rng.integers(0, N_VIDEOS, size=n)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    start = time.perf_counter()
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": KEY}, limits=limits, timeout=30) as c:

        async def worker() -> None:
            while not queue.empty() and time.perf_counter() - start < TIME_BUDGET_S:
                i = queue.get_nowait()
                vid = f"v{videos[i]}"
                t0 = time.perf_counter()
                if kinds[i] == "search":
                    r = await c.post("/v1/search/hooks", json={"video_id": vid, "k": 10})
                elif kinds[i] == "event":
                    events = [
                        {
                            "event_id": f"e{i}-{j}",
                            "user_id": f"u{i % 50}",
                            "video_id": vid,
                            "ts": "2024-06-01T10:00:00Z",
                            "play_time_s": 3.0,
                            "like": bool(j % 2),
                        }
                        for j in range(5)
                    ]
                    r = await c.post("/v1/events", json={"events": events})
                else:
                    r = await c.get(f"/v1/videos/{vid}")
                latencies.append(time.perf_counter() - t0)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return latencies, statuses, time.perf_counter() - start


def test_mixed_load_has_no_server_errors(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", api_keys=[KEY])
    index = open_index(None, settings.data_dir)
    index.upsert(make_records(N_VIDEOS, d=32, seed=11))
    with ServerThread(create_app(settings, index=index), _free_port()) as srv:
        latencies, statuses, elapsed = asyncio.run(_drive(srv.url, REQUESTS))
    index.close()
    lat = np.array(latencies) * 1000
    done = len(latencies)
    print(
        f"\nload: {done} requests in {elapsed:.1f} s = {done / elapsed:.0f} req/s, conc. {CONCURRENCY}; "
        f"p50 {np.percentile(lat, 50):.1f} ms, p99 {np.percentile(lat, 99):.1f} ms; statuses {statuses}"
    )
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses.get(200, 0) == done  # every request was valid, so every answer is a success
    assert done >= min(REQUESTS, 500)
