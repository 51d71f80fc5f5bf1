"""``sv6d encode --backbone vlm`` with its ``--vlm-*`` flags through the real CLI, batching videos in the
workers; one model per GPU worker (the device hand-out, run here with CPU devices)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from tests.test_heads_cli import _ok, _one_line_error, sv6d

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from encoder.vlm.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "qwen2_5_vl", "qwen2_5_vl")


@pytest.mark.slow
def test_encode_flags_reach_the_workers_and_videos_are_batched(shared_data, tiny, tmp_path):
    from encoder.batch import ShardStore
    from encoder.vlm.backbone import VLMBackbone

    videos = shared_data / "videos"
    inputs = [videos / "fire2.mp4", videos / "carphone_qcif.mp4", videos / "kinetics_test.mp4"]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    flags = ["--vlm-fps", "1", "--vlm-frames", "8", "--vlm-resolution", "224", "--vlm-batch", "2"]
    out = _ok(
        sv6d("encode", "--backbone", "vlm", "--checkpoint", tiny, *inputs, broken, "--data-dir", "d",
             "--workers", "1", *flags, "--no-vlm-tags", "--json", cwd=tmp_path)
    )  # fmt: skip
    assert len(out["encoded"]) == 3
    assert [Path(f["file"]).name for f in out["failed"]] == ["broken.mp4"]
    records = ShardStore(tmp_path / "d" / "records").read_all()
    expected = VLMBackbone(tiny, fps=1.0, max_frames=8, resolution=224).fingerprint()
    assert {r.encoder.fingerprint for r in records} == {expected}
    assert expected != VLMBackbone(tiny).fingerprint()
    fire = next(r for r in records if r.source.endswith("fire2.mp4"))
    assert len(fire.energy) / fire.energy_hz == pytest.approx(fire.duration_s, abs=2.0)


@pytest.mark.slow
def test_ingest_takes_the_same_vlm_flags(shared_data, tiny, tmp_path):
    """``sv6d ingest`` encodes with the ``--vlm-*`` flags as ``sv6d encode`` does, and indexes the records."""
    from encoder.batch import ShardStore
    from encoder.vlm.backbone import VLMBackbone
    from indexer import open_index

    video = shared_data / "videos" / "carphone_qcif.mp4"
    flags = ["--vlm-fps", "1", "--vlm-frames", "8", "--vlm-resolution", "224", "--vlm-batch", "2"]
    out = _ok(
        sv6d("ingest", "--backbone", "vlm", "--checkpoint", tiny, video, "--data-dir", "d", "--workers", "1",
             *flags, "--json", cwd=tmp_path)
    )  # fmt: skip
    assert len(out["encoded"]) == 1
    (record,) = ShardStore(tmp_path / "d" / "records").read_all()
    expected = VLMBackbone(tiny, fps=1.0, max_frames=8, resolution=224).fingerprint()
    assert record.encoder.fingerprint == expected
    with open_index(data_dir=tmp_path / "d") as ix:
        assert ix.video_ids() == [record.video_id]


@pytest.mark.parametrize("command", ["encode", "ingest"])
def test_vlm_flags_are_refused_for_the_evidence_backbone(tmp_path, command):
    proc = sv6d(command, tmp_path, "--vlm-fps", "1", "--vlm-tags", cwd=tmp_path)
    _one_line_error(proc, "--vlm-fps, --vlm-tags only apply to --backbone vlm")


def test_a_bad_vlm_dtype_names_the_valid_ones(tmp_path):
    (tmp_path / "ckpt").mkdir()
    proc = sv6d(
        "encode", tmp_path, "--backbone", "vlm", "--checkpoint", tmp_path / "ckpt", "--vlm-dtype", "bf16",
        cwd=tmp_path,
    )  # fmt: skip
    _one_line_error(proc, "unknown dtype 'bf16'; valid: auto, bfloat16, float16, float32")


def test_each_worker_takes_its_own_device(tiny):
    import encoder.batch as batch

    assert batch.worker_devices({"backbone": "evidence"}, 4) is None
    assert batch.worker_devices({"backbone": "vlm", "device": "cuda:1"}, 4) is None
    devices = mp.get_context("spawn").Queue()
    devices.put("cpu")
    options = {"backbone": "vlm", "backbone_options": {"checkpoint": str(tiny)}}
    try:
        batch._build_worker_encoder(options, devices)  # not _init_worker: it would tie pytest to its parent
        assert batch._WORKER_SETUP_ERROR is None
        assert str(batch._WORKER_ENCODER.backbone.device) == "cpu"
        assert devices.empty()  # taken by this worker, none left for another
    finally:
        batch._WORKER_ENCODER = None


@pytest.mark.slow
def test_the_gpu_benchmark_runs_its_smoke_mode(shared_data, tmp_path):
    """bench/vlm.py --smoke: the same code as the one-call GPU run, on tiny models and a small index."""
    import json
    import subprocess
    import sys

    bench = Path(__file__).resolve().parents[1] / "bench" / "vlm.py"
    proc = subprocess.run(
        [sys.executable, bench, "--smoke", "--videos", shared_data / "videos", "--limit", "2",
         "--min-videos", "2", "--families", "qwen3_vl", "--faiss-n", "3000", "--json"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    (row,) = report["vlm"]
    assert row["family"] == "qwen3_vl"
    assert row["videos"] == 2
    assert row["videos_per_s"] > 0
    assert row["visual_tokens_per_video"] > 0
    assert row["bf16_peak_share_forward"] is None  # no peak on CPU
    pil = report["processors"]["pil_image_processor"]
    assert pil["same_grid"] == pil["videos"] == 2
    assert pil["mean_grey_levels"] < 0.05
    flat, *ivf = report["faiss"]
    assert flat["index"] == "faiss-cpu Flat"
    assert flat["recall@10"] == 1.0
    assert [r["index"].split(" nprobe ")[1] for r in ivf] == ["16", "64"]
    assert all(0 < r["recall@10"] <= 1 for r in ivf)
