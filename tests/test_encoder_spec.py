"""``EncoderSpec``: one description, saved as JSON beside heads and in a data directory's manifest, built the
same way by the CLI, the local worker pool, the Ray engine and the API (the contract test below)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from encoder.spec import SPEC_NAME, EncoderSpec, save_beside_heads
from sv6d.errors import ConfigError
from tests.helpers_video import cut_video

ROOT = Path(__file__).resolve().parent.parent
HAS_RAY = importlib.util.find_spec("ray") is not None


def _fixed_heads(folder: Path) -> Path:
    from encoder.heads import FixedLayoutHeads

    FixedLayoutHeads(dim=64).save(folder)
    return folder


def test_spec_round_trips_as_json_with_heads_relative_to_the_file(tmp_path: Path) -> None:
    heads = _fixed_heads(tmp_path / "heads")
    spec = EncoderSpec(heads=str(heads), hook_s=2.0, sampling={"sample_fps": 2.0})  # type: ignore[arg-type]
    path = save_beside_heads(spec, heads)
    assert path == heads / SPEC_NAME
    assert json.loads(path.read_text())["heads"] == "."
    moved = tmp_path / "moved"
    shutil.move(heads, moved)
    loaded = EncoderSpec.load(moved)  # a heads folder holding encoder.json is a spec
    assert loaded.heads == str(moved.resolve())
    assert loaded.model_dump(exclude={"heads"}) == spec.model_dump(exclude={"heads"})
    encoder = loaded.build()
    assert encoder.spec == loaded
    assert encoder.heads.version == "fixed-layout-1"
    assert encoder.hook_s == 2.0
    assert encoder.decode_config.sample_fps == 2.0
    # sampling other than the default keys the feature store apart from the default's features
    assert encoder.features_fingerprint.startswith(encoder.backbone.fingerprint() + "-s")
    assert EncoderSpec().build().features_fingerprint == encoder.backbone.fingerprint()
    # a data directory's feature store keeps the backbone outputs only when the spec says so
    kept = EncoderSpec().build(feature_store=tmp_path / "features").feature_cache
    assert kept is not None
    assert kept.dir == tmp_path / "features" / encoder.backbone.fingerprint()
    assert EncoderSpec(keep_features=False).build(feature_store=tmp_path / "features").feature_cache is None


def test_bad_specs_are_refused_naming_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown backbone 'nope'; valid backbones: evidence, vlm"):
        EncoderSpec.from_json({"backbone": {"name": "nope"}})
    with pytest.raises(ConfigError, match=r"backbone\.vlm\.checkpoint: Field required"):
        EncoderSpec.from_json({"backbone": {"name": "vlm"}})
    with pytest.raises(ConfigError, match="hook_seconds: Extra inputs are not permitted"):
        EncoderSpec.from_json({"hook_seconds": 3})
    with pytest.raises(ConfigError, match="hook_s: Input should be greater than 0"):
        EncoderSpec.from_json({"hook_s": 0})
    (tmp_path / SPEC_NAME).write_text("{not json")
    with pytest.raises(ConfigError, match="the encoder spec is not JSON"):
        EncoderSpec.load(tmp_path)
    with pytest.raises(ConfigError, match="cannot read the encoder spec"):
        EncoderSpec.load(tmp_path / "missing.json")
    # the VLM options are typed, one keyword of the backbone each
    vlm = EncoderSpec.from_json(
        {"backbone": {"name": "vlm", "checkpoint": "/m", "fps": 1.0, "dtype": "bfloat16"}}
    )
    assert vlm.backbone.kwargs() == {
        "checkpoint": "/m",
        "fps": 1.0,
        "max_frames": 32,
        "resolution": 448,
        "dtype": "bfloat16",
        "generate_tags": False,
    }


def test_heads_of_another_version_or_backbone_fingerprint_are_refused(tmp_path: Path) -> None:
    from encoder.evidence.default_heads import HOOK_HEADS_DIR

    heads = _fixed_heads(tmp_path / "fixed")
    with pytest.raises(
        ConfigError, match=r"heads at .* are version 'fixed-layout-1', the encoder spec names 'x-2'"
    ):
        EncoderSpec(heads=str(heads), head_version="x-2").build()
    stale = tmp_path / "stale"
    shutil.copytree(HOOK_HEADS_DIR, stale)
    manifest = json.loads((stale / "heads.json").read_text())
    manifest["backbone"]["fingerprint"] = "0123456789abcdef"
    (stale / "heads.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="trained on backbone fingerprint 0123456789abcdef"):
        EncoderSpec(heads=str(stale)).build()


@pytest.mark.slow
def test_one_spec_gives_identical_records_through_cli_pool_ray_and_api(tmp_path: Path) -> None:
    """The contract: the same spec (non-default heads and hook window, saved beside the heads) through the CLI
    (``sv6d encode --spec`` into a data directory, which records the spec), the local worker pool, the Ray
    engine (a local instance) and the API (an ingest job into that data directory, whose settings name no
    encoder: it must use the data directory's) gives the same record for the same file."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.settings import Settings
    from encoder.batch import ShardStore, encode_batch, spec_options
    from encoder.spec import data_dir_spec
    from sv6d.datadir import features_dir, records_dir

    heads = _fixed_heads(tmp_path / "heads")
    save_beside_heads(EncoderSpec(heads=str(heads), hook_s=2.0), heads)
    spec = EncoderSpec.load(heads)
    media = tmp_path / "media"
    media.mkdir()
    video = media / "clip.mp4"
    cut_video(video, [14, 12, 16], fps=10)

    # 1. the CLI, into a data directory (which then records the spec and keeps the features)
    data = tmp_path / "data"
    cli = [sys.executable, "-m", "cli.main", "encode", str(video), "--data-dir", str(data)]
    done = subprocess.run(
        [*cli, "--spec", str(heads), "--workers", "1", "--json"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    (from_cli,) = ShardStore(records_dir(data)).read_all()
    recorded = data_dir_spec(data)
    assert recorded is not None
    assert recorded.same_encoder(spec.resolved())
    assert recorded.head_version == "fixed-layout-1"
    assert len(list(features_dir(data).glob("*/*/*.npz"))) == 1

    # 2. the local worker pool
    encode_batch([video], tmp_path / "pool", workers=1, encoder_options=spec_options(spec))
    (from_pool,) = ShardStore(tmp_path / "pool").read_all()

    # 3. the Ray engine (its default factory builds through Encoder.from_spec)
    from_ray = None
    if HAS_RAY:
        import ray

        from encoder.ray_engine import encode_batch_ray

        ray.init(
            num_cpus=1,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
        )
        try:
            encode_batch_ray([video], tmp_path / "ray", workers=1, encoder_options=spec_options(spec))
        finally:
            ray.shutdown()
        (from_ray,) = ShardStore(tmp_path / "ray").read_all()
    else:  # the engine's actors build their encoder with this call
        import pyarrow as pa

        from encoder.ray_engine import DEFAULT_FACTORY, EncodeActor, record_from_bytes

        actor = EncodeActor(spec_options(spec), DEFAULT_FACTORY)
        row = actor(pa.table({"path": [str(video)]}))
        from_ray = record_from_bytes(row.column("payload")[0].as_py())

    # 4. the API: an ingest job into the data directory, with settings that name no encoder
    settings = Settings(data_dir=data, auth_disabled=True, media_roots=[media])
    with TestClient(create_app(settings)) as client:
        job = client.post("/v1/videos", json={"path": "clip.mp4"}).json()
        deadline = time.monotonic() + 120
        while (state := client.get(f"/v1/jobs/{job['job_id']}").json())["state"] not in (
            "succeeded",
            "failed",
        ):
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
        assert state["state"] == "succeeded", state
        from_api = client.app.state.services.index.get(from_cli.video_id)  # type: ignore[attr-defined]

    for name, other in {"pool": from_pool, "ray": from_ray, "api": from_api}.items():
        assert other is not None
        assert other.video_id == from_cli.video_id, name
        assert other.encoder == from_cli.encoder, name
        assert other.encoder.head_version == "fixed-layout-1", name
        assert other.hook_window == from_cli.hook_window == (0.0, 2.0), name
        np.testing.assert_array_equal(other.video, from_cli.video, err_msg=name)
        np.testing.assert_array_equal(other.hook, from_cli.hook, err_msg=name)
        assert [(s.start_s, s.end_s) for s in other.segments] == [
            (s.start_s, s.end_s) for s in from_cli.segments
        ]
        for a, b in zip(other.segments, from_cli.segments, strict=True):
            np.testing.assert_array_equal(a.vectors, b.vectors, err_msg=name)
        assert [t.model_dump() for t in other.tags] == [t.model_dump() for t in from_cli.tags], name


def test_a_data_directory_refuses_an_ingest_with_another_encoder(tmp_path: Path) -> None:
    from encoder.spec import bind_data_dir, data_dir_spec, spec_for_data_dir

    data = tmp_path / "data"
    heads = _fixed_heads(tmp_path / "heads")
    recorded = bind_data_dir(data, EncoderSpec(heads=str(heads)))
    # the heads are copied into the data directory, which then carries its encoder
    assert Path(recorded.heads or "").parent == (data / "heads").resolve()
    shutil.rmtree(heads)
    assert data_dir_spec(data) == recorded
    assert spec_for_data_dir(data) == recorded
    assert spec_for_data_dir(data, EncoderSpec(heads=recorded.heads)) == recorded
    with pytest.raises(
        ConfigError, match=r"holds records of evidence backbone, heads fixed-layout-1, .*sv6d upgrade"
    ):
        spec_for_data_dir(data, EncoderSpec())
