"""Batch encoding: resumable shards, failures table, a killed run loses only what was in flight."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from encoder.batch import ShardStore, collect_inputs, encode_batch
from sv6d.errors import VideoInputError
from tests.helpers_video import cut_video

pytestmark = pytest.mark.slow


def _videos(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"clip{i:02d}.mp4"
        cut_video(p, [12 + 3 * i, 18, 10], fps=10)
        paths.append(p)
    return paths


def test_resume_skips_done_and_records_failures(tmp_path: Path) -> None:
    videos = _videos(tmp_path / "in", 3)
    bad = tmp_path / "in" / "broken.mp4"
    bad.write_text("this is not a video")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# inputs\n{videos[0]}\nin/clip01.mp4\n")
    out = tmp_path / "records"

    first = encode_batch([listing, tmp_path / "in"], out, workers=2)
    assert sorted(Path(e["file"]).name for e in first.encoded) == ["clip00.mp4", "clip01.mp4", "clip02.mp4"]
    assert [Path(f["file"]).name for f in first.failed] == ["broken.mp4"]
    assert "not a readable video" in first.failed[0]["error"]
    assert "broken.mp4" in first.failed[0]["error"]
    failures = ShardStore(out).failures()
    assert failures.height == 1
    assert failures["file"][0].endswith("broken.mp4")

    store = ShardStore(out)
    assert store.part_files() == []
    assert len(store.shard_files()) == 1
    records = store.read_all()
    assert {r.video_id for r in records} == {e["video_id"] for e in first.encoded}

    second = encode_batch([tmp_path / "in"], out, workers=2)
    assert second.encoded == []
    assert second.failed == []
    assert len(second.skipped) == 4
    retried = encode_batch([bad], out, workers=1, retry_failed=True)
    assert len(retried.failed) == 1
    assert retried.skipped == []


def test_missing_input_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(VideoInputError, match=r"nope\.mp4: no such file or directory"):
        collect_inputs([tmp_path / "nope.mp4"])


def test_killed_run_loses_only_in_flight_videos(tmp_path: Path) -> None:
    videos = _videos(tmp_path / "in", 6)
    data = tmp_path / "data"
    cmd = [sys.executable, "-m", "cli.main", "encode", str(tmp_path / "in"), "--data-dir", str(data)]
    cmd += ["--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    parts = data / "records" / "parts"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(parts.glob("*.parquet"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {r.source for r in ShardStore(data / "records").read_all()}
    assert 2 <= len(done_before) < len(videos), "the kill should land mid-batch"

    out = subprocess.run([*cmd, "--json"], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    redone = {e["file"] for e in result["encoded"]}
    assert redone.isdisjoint(done_before), "finished videos must not be encoded again"
    assert set(result["skipped"]) == done_before
    stored = ShardStore(data / "records").read_all()
    assert sorted(r.source for r in stored) == sorted(str(v.resolve()) for v in videos)
    frame = pl.concat([pl.read_parquet(f) for f in ShardStore(data / "records").record_files()])
    assert frame["video_id"].n_unique() == len(videos)


def test_encoder_that_cannot_be_built_stops_the_batch(tmp_path: Path) -> None:
    from encoder.batch import EncoderSetupError

    videos = _videos(tmp_path / "in", 1)
    with pytest.raises(EncoderSetupError, match="unknown backbone 'nope'; valid backbones: evidence, vlm"):
        encode_batch(videos, tmp_path / "records", workers=1, encoder_options={"backbone": "nope"})
    assert ShardStore(tmp_path / "records").failures().height == 0


def test_a_file_replaced_in_place_or_a_new_encoder_is_encoded_again(tmp_path: Path) -> None:
    videos = _videos(tmp_path / "in", 2)
    out = tmp_path / "records"
    first = encode_batch(videos, out, workers=1)
    old_ids = {Path(e["file"]).name: e["video_id"] for e in first.encoded}
    cut_video(videos[0], [25, 15], fps=10)  # new content at the same path
    second = encode_batch(videos, out, workers=1)
    assert [Path(e["file"]).name for e in second.encoded] == ["clip00.mp4"]
    assert second.encoded[0]["video_id"] != old_ids["clip00.mp4"]
    stored = {Path(r.source).name: r.video_id for r in ShardStore(out).read_all()}
    assert stored == {"clip00.mp4": second.encoded[0]["video_id"], "clip01.mp4": old_ids["clip01.mp4"]}
    third = encode_batch(videos, out, workers=1, fingerprint="another-backbone")
    assert len(third.encoded) == 2


def test_ingest_indexes_records_encoded_but_never_indexed(tmp_path: Path) -> None:
    from cli import workflows
    from indexer import open_index

    videos = _videos(tmp_path / "in", 2)
    data = tmp_path / "data"
    encoded = workflows.encode_paths(videos, data, workers=1)  # as if a crash hit before indexing
    result = workflows.ingest(videos, data, workers=1)
    assert result.encoded == []
    assert len(result.skipped) == 2
    with open_index(None, data_dir=data, read_only=True) as index:
        assert sorted(index.video_ids()) == sorted(e["video_id"] for e in encoded.encoded)
        assert workflows.records_not_indexed(index, workflows.records_dir(data)) == []


def test_a_changed_encoder_is_refused_by_ingest_and_applied_by_upgrade(tmp_path: Path) -> None:
    # A data directory records its encoder: an ingest asking for another one (here another hook window) is
    # refused, naming `sv6d upgrade`, which encodes again what the kept features cannot give (the hook
    # features depend on the hook window) and switches the index; the content ids stay.
    from cli import workflows
    from cli.upgrade import upgrade
    from encoder.spec import EncoderSpec, data_dir_spec
    from indexer import open_index
    from sv6d.errors import ConfigError

    videos = _videos(tmp_path / "in", 2)
    data = tmp_path / "data"
    first = workflows.ingest(videos, data, workers=1)
    assert len(first.encoded) == 2
    same = workflows.ingest(videos, data, workers=1)
    assert same.encoded == []
    assert len(same.skipped) == 2
    short_hook = EncoderSpec(hook_s=2.0)
    with pytest.raises(ConfigError, match="sv6d upgrade"):
        workflows.ingest(videos, data, workers=1, spec=short_hook)
    result = upgrade(data, data_dir_spec(data).changed(hook_s=2.0), workers=1)
    assert (result.encoded, result.reprojected, result.switched) == (2, 0, True)
    with open_index(None, data_dir=data, read_only=True) as index:
        assert index.count() == 2
        for entry in first.encoded:
            assert index.get(entry["video_id"]).hook_window == (0.0, 2.0)
    assert {r.hook_window for r in ShardStore(workflows.records_dir(data)).read_all()} == {(0.0, 2.0)}
    assert workflows.ingest(videos, data, workers=1, spec=short_hook).encoded == []


def test_encoder_identity_tells_its_own_records() -> None:
    from encoder.batch import EncoderIdentity, StoredRecord

    mine = EncoderIdentity("fp", "heads-1", 3.0)
    stored = StoredRecord("a.mp4", "v1", "fp", "heads-1", 3.0, 12.5)
    assert mine.made(stored)
    assert not mine.made(stored._replace(encoder_fingerprint="other"))
    assert not mine.made(stored._replace(head_version="heads-2"))
    assert not mine.made(stored._replace(hook_end_s=2.0))
    assert EncoderIdentity("fp", "heads-1", 5.0).made(stored._replace(hook_end_s=4.0, duration_s=4.0))


def _stored_for(store: ShardStore, video: Path) -> None:
    from encoder.pipeline import default_video_id
    from indexer.synthetic import make_records

    record = make_records(1)[0].model_copy(update={"video_id": default_video_id(video), "source": str(video)})
    store.write_part(record)


def test_resume_hashes_only_files_whose_size_or_mtime_changed(tmp_path: Path) -> None:
    store = ShardStore(tmp_path / "records")
    old, fresh = tmp_path / "old.mp4", tmp_path / "fresh.mp4"
    old.write_bytes(b"A" * 1000)
    fresh.write_bytes(b"B" * 1000)
    past = time.time_ns() - 60 * 10**9
    os.utime(old, ns=(past, past))
    for video in (old, fresh):
        _stored_for(store, video)

    assert store.done_sources() == {str(old), str(fresh)}
    remembered = pl.read_parquet(store.content_ids_path)
    # A file modified within the last moments may still be being written: only the old one is remembered.
    assert remembered["source"].to_list() == [str(old)]
    assert remembered.row(0) == (str(old), 1000, past, _id(old))

    # Same size and mtime: taken as unchanged without reading it (the make/rsync quick check) ...
    old.write_bytes(b"C" * 1000)
    os.utime(old, ns=(past, past))
    assert str(old) in store.done_sources()
    # ... while a new size or mtime makes it hashed again, and its changed content is found.
    os.utime(old, ns=(past + 10**9, past + 10**9))
    assert str(old) not in store.done_sources()
    assert str(old) not in set(pl.read_parquet(store.content_ids_path)["source"])


def test_a_damaged_content_id_cache_only_costs_a_hash(tmp_path: Path) -> None:
    store = ShardStore(tmp_path / "records")
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"A" * 1000)
    _stored_for(store, video)
    store.content_ids_path.write_text("not parquet")
    assert store.done_sources() == {str(video)}


def _id(path: Path) -> str:
    from encoder.pipeline import default_video_id

    return default_video_id(path)
