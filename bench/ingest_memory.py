"""Peak memory of ``sv6d ingest`` against the number of videos (streaming ingest must stay flat).

Writes ``--videos`` small generated clips (96x64, 10 fps, 3 s, three shots of distinct textures: the test
suite's ``cut_video`` family, the fastest videos to encode), runs ``sv6d ingest`` on them into a fresh data
directory as a child process, and samples the resident memory of its process tree every 0.2 s (psutil):
the driver's peak, the largest worker's peak and the peak of the whole tree. One JSON line on stdout.

    python -m bench.ingest_memory --videos 200 --workdir /tmp/ingest-memory
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_S = 0.2


def write_clips(folder: Path, n: int) -> list[Path]:
    """``n`` distinct 3 s clips (kept when already there)."""
    from tests.helpers_video import moving, scene, write_video

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"clip{i:05d}.mp4"
        if not path.is_file():
            frames: list[np.ndarray] = []
            for k in range(3):
                frames += moving(scene(1000 + 3 * i + k), 10)
            write_video(path, frames, fps=10)
        paths.append(path)
    return paths


def measure(cmd: list[str]) -> dict[str, Any]:
    """Run ``cmd``; peak RSS (MiB) of the driver, of the largest child and of the whole tree."""
    import psutil

    # files, not pipes: a pipe nobody reads while sampling would block the child on its final JSON
    with tempfile.TemporaryFile("w+") as out_file, tempfile.TemporaryFile("w+") as err_file:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out_file, stderr=err_file, text=True)
        root = psutil.Process(proc.pid)
        peak_child = peak_tree = 0
        driver_trace: list[int] = []
        while proc.poll() is None:
            try:
                driver = root.memory_info().rss
                children = []
                for c in root.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        children.append(c.memory_info().rss)
            except psutil.Error:
                break
            driver_trace.append(driver)
            peak_child = max([peak_child, *children])
            peak_tree = max(peak_tree, driver + sum(children))
            time.sleep(SAMPLE_S)
        proc.wait()
        wall = time.monotonic() - start
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-2000:]}")
    mib = 1024 * 1024
    result = json.loads(out)
    trace = driver_trace or [0]
    return {
        "encoded": len(result["encoded"]),
        "failed": len(result["failed"]),
        "wall_s": round(wall, 1),
        "peak_driver_mib": round(max(trace) / mib, 1),
        "peak_worker_mib": round(peak_child / mib, 1),
        "peak_tree_mib": round(peak_tree / mib, 1),
        # the driver's peak so far at each tenth of the run: flat, or growing with the videos done
        "driver_peak_by_tenth_mib": [
            round(max(trace[: max(1, len(trace) * k // 10)]) / mib, 1) for k in range(1, 11)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ingest-memory"))
    args = parser.parse_args()
    clips = args.workdir / "clips"
    write_clips(clips, args.videos)
    listing = args.workdir / f"list-{args.videos}.txt"
    listing.write_text("".join(f"{clips / f'clip{i:05d}.mp4'}\n" for i in range(args.videos)))
    data = args.workdir / f"data-{args.videos}"
    shutil.rmtree(data, ignore_errors=True)
    cmd = [sys.executable, "-m", "cli.main", "ingest", str(listing), "--data-dir", str(data)]
    cmd += ["--workers", str(args.workers), "--json"]
    result = measure(cmd)
    from indexer import open_index

    with open_index(None, data_dir=data, read_only=True) as index:
        result["indexed"] = index.count()
    print(json.dumps({"videos": args.videos, "workers": args.workers, **result}))


if __name__ == "__main__":
    main()
