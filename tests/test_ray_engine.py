"""The Ray Data batch engine: same shard folder, failures table and resume rules as the local engine.

One local Ray instance (2 CPUs) is started for the module and shut down at the end. Two encoders run on it:
``ProbeEncoder`` below (a small real encoder over PyAV-decoded frames, importable by Ray's workers, so the
engine's resume, failure and crash handling is tested whatever state the main pipeline is in), and the
project's ``encoder.pipeline.Encoder``, whose output must equal the local engine's.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from encoder.batch import ShardStore, encode_batch, source_key
from encoder.ray_engine import (
    actor_resources,
    encode_batch_ray,
    load_factory,
    record_from_bytes,
    record_to_bytes,
)
from sv6d.errors import ConfigError
from sv6d.record import EncoderInfo, SV6DRecord, make_tag

TESTS_DIR = Path(__file__).resolve().parent
HAS_RAY = importlib.util.find_spec("ray") is not None
HAS_PIPELINE = importlib.util.find_spec("encoder.pipeline") is not None
needs_ray = pytest.mark.skipif(
    not HAS_RAY, reason="ray is not installed (optional extra: pip install sv6d[ray])"
)


class ProbeEncoder:
    """Mean colour per second of a decoded video as six unit vectors; kills its own process on a file whose
    name contains ``crash`` (a stand-in for a decoder segfault, which the engine must survive)."""

    def __init__(self, hook_s: float = 1.0) -> None:
        self.hook_s = hook_s

    def encode_file(self, path: str) -> SV6DRecord:
        import av

        if "crash" in Path(path).name:
            os._exit(3)
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        means = np.stack([f.reshape(-1, 3).mean(axis=0) for f in frames]).astype(np.float32)
        block = np.tile(np.concatenate([means.mean(axis=0), means.std(axis=0) + 1.0]), (6, 2))
        block += np.arange(6, dtype=np.float32)[:, None]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        tag = make_tag("static", 0.0, 1.0, 0.9, {"motion_px_per_s": 0.0, "zoom_per_s": 0.0})
        return SV6DRecord(
            video_id=Path(path).stem,
            source=source_key(path),
            duration_s=len(frames) / 12.0,
            fps=12.0,
            width=frames[0].shape[1],
            height=frames[0].shape[0],
            encoder=EncoderInfo(name="probe", version="1", head_version="none"),
            hook_window=(0.0, self.hook_s),
            video=block,
            hook=block,
            tags=[tag] if tag is not None else [],
        )


def _write_video(path: Path, seed: int, seconds: float = 4.0, fps: int = 12) -> None:
    """A small h264 video with two shots (a hard cut at the middle) and a moving bright square."""
    import av

    rng = np.random.default_rng(seed)
    colours = rng.integers(30, 220, size=(2, 3))
    n = int(seconds * fps)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for i in range(n):
            img = np.empty((96, 128, 3), np.uint8)
            img[:] = colours[0 if i < n // 2 else 1]
            x = (i * 3 + seed * 11) % 100
            img[30:54, x : x + 24] = 255
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    for i in range(3):
        _write_video(folder / f"clip{i}.mp4", seed=i)
    (folder / "broken.mp4").write_bytes(b"this is not a video container")
    return folder


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    if not HAS_RAY:
        pytest.skip("ray is not installed (optional extra: pip install sv6d[ray])")
    import ray

    # Workers import ProbeEncoder from this module (``tests.test_ray_engine`` or ``test_ray_engine``,
    # depending on how pytest imported it), so they need the project root and the tests folder on their path.
    extra = [str(TESTS_DIR.parent), str(TESTS_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
    path = os.pathsep.join(extra)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}},
    )
    try:
        yield
    finally:
        ray.shutdown()


# ------------------------------------------------------------------------------------------------ fast
def test_load_factory_refuses_bad_specs() -> None:
    with pytest.raises(ConfigError, match="must look like 'module:attribute'"):
        load_factory("encoder.pipeline.Encoder")
    with pytest.raises(ConfigError, match=r"'nope' is not a callable in encoder\.batch"):
        load_factory("encoder.batch:nope")
    assert load_factory("encoder.batch:ShardStore") is ShardStore


def test_actor_resources_give_gpus_to_the_vlm_backbone_only() -> None:
    assert actor_resources({"backbone": "vlm"}, None) == {"num_cpus": 1.0, "num_gpus": 1.0}
    assert actor_resources({"backbone": "evidence"}, None) == {"num_cpus": 1.0, "num_gpus": 0.0}
    assert actor_resources({}, None)["num_gpus"] == 0.0
    vlm_spec = {"spec": {"backbone": {"name": "vlm", "checkpoint": "/m"}}}
    assert actor_resources(vlm_spec, None)["num_gpus"] == 1.0
    assert actor_resources({"spec": {"backbone": {"name": "evidence"}}}, None)["num_gpus"] == 0.0
    assert actor_resources({"backbone": "vlm"}, 0.5)["num_gpus"] == 0.5
    with pytest.raises(ConfigError, match="num_gpus_per_worker must be >= 0, got -1"):
        actor_resources({"backbone": "vlm"}, -1)


def test_record_payload_round_trips(videos: Path) -> None:
    record = ProbeEncoder().encode_file(str(videos / "clip0.mp4"))
    back = record_from_bytes(record_to_bytes(record))
    assert back.video_id == record.video_id
    assert back.source == record.source
    np.testing.assert_array_equal(back.video, record.video)
    assert back.tags == record.tags


def test_workers_must_be_positive(tmp_path: Path, videos: Path) -> None:
    with pytest.raises(ConfigError, match="workers must be >= 1, got 0"):
        encode_batch_ray([videos], tmp_path / "out", workers=0)


# ------------------------------------------------------------------------------------------------ on Ray
@needs_ray
@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")
def test_ray_engine_writes_shards_records_failures_and_resumes(tmp_path: Path, videos: Path) -> None:
    crash = tmp_path / "crash.mp4"
    _write_video(crash, seed=9, seconds=1.0)
    out = tmp_path / "records"
    inputs = [videos, crash]
    progress: list[tuple[str, str]] = []
    factory = f"{__name__}:ProbeEncoder"

    batches: list[list[str]] = []
    first = encode_batch_ray(
        inputs,
        out,
        workers=2,
        encoder_factory=factory,
        on_progress=lambda f, s: progress.append((f, s)),
        on_records=lambda records: batches.append([r.source for r in records]),
        commit_every=2,
    )

    clips = sorted(source_key(p) for p in videos.glob("clip*.mp4"))
    assert sorted(e["file"] for e in first.encoded) == clips
    failed = {f["file"]: f["error"] for f in first.failed}
    assert set(failed) == {source_key(videos / "broken.mp4"), source_key(crash)}
    assert "broken.mp4" in failed[source_key(videos / "broken.mp4")]
    assert "Ray task encoding this file failed" in failed[source_key(crash)]
    assert sorted(progress) == sorted([(c, "encoded") for c in clips] + [(f, "failed") for f in failed])
    # the records were handed on (to the index, for sv6d ingest) in batches of 2 while encoding went on
    assert [len(b) for b in batches] == [2, 1]
    assert sorted(s for b in batches for s in b) == clips

    store = ShardStore(out)
    assert [p.name for p in store.shard_files()] == ["shard-00000.parquet"]
    assert store.part_files() == []
    assert set(store.failures()["file"].to_list()) == set(failed)
    expected = {r.video_id: r for r in (ProbeEncoder().encode_file(c) for c in clips)}
    stored = {r.video_id: r for r in store.read_all()}
    assert stored.keys() == expected.keys()
    for vid, rec in stored.items():
        np.testing.assert_allclose(rec.video, expected[vid].video, atol=1e-6)
        assert rec.tags == expected[vid].tags

    second = encode_batch_ray(inputs, out, workers=2, encoder_factory=factory)
    assert second.encoded == []
    assert second.failed == []
    assert sorted(second.skipped) == sorted([*clips, *failed])
    assert len(store.read_all()) == len(clips)


@needs_ray
@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")
@pytest.mark.skipif(not HAS_PIPELINE, reason="encoder.pipeline (the Encoder) is not in the tree yet")
def test_ray_engine_output_equals_local_engine(tmp_path: Path, videos: Path) -> None:
    options = {"backbone": "evidence", "hook_s": 1.0}
    local = encode_batch([videos], tmp_path / "local", workers=1, encoder_options=options)
    remote = encode_batch_ray([videos], tmp_path / "ray", workers=2, encoder_options=options)

    assert sorted(e["video_id"] for e in remote.encoded) == sorted(e["video_id"] for e in local.encoded)
    assert len(remote.encoded) == 3
    assert [f["file"] for f in remote.failed] == [source_key(videos / "broken.mp4")]
    assert ShardStore(tmp_path / "ray").failures()["file"].to_list() == [source_key(videos / "broken.mp4")]
    a = {r.video_id: r for r in ShardStore(tmp_path / "local").read_all()}
    b = {r.video_id: r for r in ShardStore(tmp_path / "ray").read_all()}
    assert a.keys() == b.keys()
    for vid in a:
        np.testing.assert_allclose(b[vid].video, a[vid].video, atol=1e-5)
        np.testing.assert_allclose(b[vid].hook, a[vid].hook, atol=1e-5)
        assert len(b[vid].segments) == len(a[vid].segments)
        assert {(t.dimension, t.label) for t in b[vid].tags} == {(t.dimension, t.label) for t in a[vid].tags}

    again = encode_batch_ray([videos], tmp_path / "ray", workers=2, encoder_options=options)
    assert again.encoded == []
    assert len(again.skipped) == 4
    # another encoder (here another hook window) does not count the stored records as its own
    shorter = {**options, "hook_s": 0.8}
    redone = encode_batch_ray([videos], tmp_path / "ray", workers=2, encoder_options=shorter)
    assert len(redone.encoded) == 3
    assert {r.hook_window for r in ShardStore(tmp_path / "ray").read_all()} == {(0.0, 0.8)}


def test_module_does_not_import_ray_at_import_time() -> None:
    import subprocess

    code = "import encoder.ray_engine, sys; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
