"""Durability: SIGKILLed writers leave a consistent index; readers never see a half-applied batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from indexer.faiss_backend import FaissIndex

BATCH = 5
WRITER = textwrap.dedent(
    """
    import sys
    import faiss
    from indexer.faiss_backend import FaissIndex
    from indexer.synthetic import make_records

    faiss.omp_set_num_threads(1)
    directory, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ix = FaissIndex(directory)
    print("ready", flush=True)
    for b in range(first, first + count):
        records = make_records({batch}, 8, seed=b, prefix=f"b{{b}}-")
        # Each batch also replaces the shared video, so a torn batch would show a mismatched version.
        shared = records[0].model_copy(update={{"video_id": "shared", "title": f"batch {{b}}"}})
        ix.upsert([*records, shared])
        if b % 3 == 2:
            ix.delete([f"b{{b - 1}}-1"])
        print(f"ack {{b}}", flush=True)
    """
).format(batch=BATCH)


def start_writer(script: Path, directory: Path, first: int, count: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen(
        [sys.executable, str(script), str(directory), str(first), str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def check_consistent(ix: FaissIndex, acked: set[int], attempted: set[int]) -> None:
    """Every acked batch present, every batch all-or-nothing, index and catalog agree."""
    snap = ix._snap
    ids = set(snap.v_ids)
    for level, data in snap.levels.items():
        rows = snap.s_sids.size if level == "segment" else len(snap.v_ids)
        assert data.index.ntotal == rows == data.matrix.shape[0], level
    for b in attempted:
        present = {f"b{b}-{j}" in ids for j in range(BATCH) if not (b % 3 == 1 and j == 1)}
        assert len(present) == 1, f"batch {b} is half visible"
        if b in acked:
            assert present == {True}, f"acknowledged batch {b} is missing"
    if ids:
        shared = ix.get("shared")
        b = int(shared.title.split()[1])
        np.testing.assert_array_equal(shared.video, ix.get(f"b{b}-0").video)
        probe = ix.search(shared.video, k=2)
        assert {h.video_id for h in probe} == {"shared", f"b{b}-0"}


@pytest.mark.slow
def test_sigkill_during_upserts_never_tears_a_batch(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    directory = tmp_path / "index"
    rng = np.random.default_rng(0)
    acked: set[int] = set()
    attempted: set[int] = set()
    first, kills = 0, 0
    deadline = time.monotonic() + 90
    while kills < 20 and time.monotonic() < deadline:
        proc = start_writer(script, directory, first, 1000)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
        time.sleep(float(rng.uniform(0.0, 0.4)))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        kills += 1
        done = {int(line.split()[1]) for line in out.splitlines() if line.startswith("ack ")}
        acked |= done
        last = max(done, default=first - 1)
        attempted |= set(range(first, last + 2))  # the batch in flight when killed may or may not be there
        first = last + 2
        ix = FaissIndex(directory)  # a writer: it also removes the killed writer's leftovers
        check_consistent(ix, acked, attempted)
        leftovers = {p.name for p in directory.iterdir()} - set(ix._snap.manifest.files.values())
        assert leftovers <= {"MANIFEST.json", "WRITER.lock"}
        ix.close()
    assert kills >= 20
    assert len(acked) >= 5, "the writer should have committed batches between kills"


@pytest.mark.slow
def test_reader_sees_whole_batches_while_writer_works(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    directory = tmp_path / "index"
    proc = start_writer(script, directory, 0, 25)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    reader = FaissIndex(directory, read_only=True)
    seen_generations = set()
    while proc.poll() is None:
        reader.refresh()
        gen = reader.generation
        seen_generations.add(gen)
        ids = set(reader._snap.v_ids)
        batches = {int(v.split("-")[0][1:]) for v in ids if v != "shared"}
        # The batches visible are exactly those committed; each is whole.
        check_consistent(reader, set(), batches)
        time.sleep(0.01)
    _, err = proc.communicate()
    assert proc.returncode == 0, err
    reader.refresh()
    check_consistent(reader, set(range(25)), set(range(25)))
    assert len(seen_generations) > 3
    reader.close()
