"""Streaming ingest: records reach the index in batches while encoding goes on; a kill costs at most the batch
in flight (the re-run repairs it); pool workers die with their parent, however it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers_video import cut_video

ROOT = Path(__file__).resolve().parent.parent


def _videos(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"clip{i:02d}.mp4"
        cut_video(p, [10 + 2 * i, 14, 10], fps=10)
        out.append(p)
    return out


def test_committer_hands_on_batches_by_count_and_by_time() -> None:
    from encoder.batch import Committer
    from indexer.synthetic import make_records

    records = make_records(5)
    batches: list[list[str]] = []
    by_count = Committer(lambda rs: batches.append([r.video_id for r in rs]), every=2, interval_s=60)
    for r in records:
        by_count.add(r)
    assert [len(b) for b in batches] == [2, 2]
    by_count.flush()
    assert [len(b) for b in batches] == [2, 2, 1]
    assert [v for b in batches for v in b] == [r.video_id for r in records]

    batches.clear()
    by_time = Committer(lambda rs: batches.append([r.video_id for r in rs]), every=100, interval_s=0.05)
    assert by_time.time_left() is None
    by_time.add(records[0])
    assert batches == []
    assert 0 < (by_time.time_left() or 0) <= 0.05
    time.sleep(0.06)
    by_time.tick()
    assert batches == [[records[0].video_id]]
    with pytest.raises(ValueError, match="both must be positive"):
        Committer(None, every=0)


@pytest.mark.slow
def test_ingest_is_searchable_while_it_runs(tmp_path: Path) -> None:
    from cli import workflows
    from indexer import open_index

    videos = _videos(tmp_path / "in", 6)
    data = tmp_path / "data"
    seen: list[int] = []

    def progress(_file: str, status: str) -> None:
        if status == "encoded":  # what a reader (another process, a fresh open) finds at that moment
            with open_index(None, data_dir=data, read_only=True) as reader:
                seen.append(reader.count())

    result = workflows.ingest(videos, data, workers=1, on_progress=progress, commit_every=2)
    assert len(result.encoded) == 6
    assert seen == [0, 0, 2, 2, 4, 4]
    with open_index(None, data_dir=data, read_only=True) as index:
        assert index.count() == 6


def _workers_of(proc: subprocess.Popen, n: int, timeout: float = 60.0) -> list[psutil.Process]:
    """The process tree below ``proc`` once it holds ``n`` processes that run the encoder pool."""
    root = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = root.children(recursive=True)
        workers = [k for k in kids if _is_pool_worker(k)]
        if len(workers) >= n:
            return kids
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError(f"no {n} pool workers after {timeout} s")


def _is_pool_worker(p: psutil.Process) -> bool:
    try:
        return "multiprocessing.spawn" in " ".join(p.cmdline()) and "resource_tracker" not in " ".join(
            p.cmdline()
        )
    except psutil.Error:
        return False


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def _left_after(procs: list[psutil.Process], timeout: float = 10.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while _alive(procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _alive(procs)


@pytest.mark.slow
def test_sigkilled_encode_leaves_no_worker(tmp_path: Path) -> None:
    videos = _videos(tmp_path / "in", 12)
    cmd = [sys.executable, "-m", "cli.main", "encode", str(videos[0].parent)]
    cmd += ["--out", str(tmp_path / "out"), "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tree = _workers_of(proc, 2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = _left_after(tree)
    for p in left:  # never leave them behind, even when the test fails
        p.kill()
    assert left == [], [p.cmdline() for p in left]


@pytest.mark.slow
def test_a_killed_ingest_was_searchable_and_its_rerun_repairs_it(tmp_path: Path) -> None:
    from indexer import open_index

    videos = _videos(tmp_path / "in", 10)
    data = tmp_path / "data"
    cmd = [sys.executable, "-m", "cli.main", "ingest", str(videos[0].parent), "--data-dir", str(data)]
    cmd += ["--workers", "2", "--commit-every", "2", "--json"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tree = _workers_of(proc, 2)
    indexed = 0
    deadline = time.monotonic() + 120
    while indexed < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            with open_index(None, data_dir=data, read_only=True) as reader:
                indexed = reader.count()
        except Exception:  # the index is not created yet
            indexed = 0
    assert proc.poll() is None, "the ingest finished before it could be killed midway"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _left_after(tree) == []
    with open_index(None, data_dir=data, read_only=True) as reader:
        searchable = reader.count()
    assert 2 <= searchable < len(videos)  # searchable as it went, and killed in the middle

    rerun = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    with open_index(None, data_dir=data, read_only=True) as index:
        assert index.count() == len(videos)
