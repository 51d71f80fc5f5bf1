"""The VLM backbone on tiny random checkpoints of each supported family, through the real loading code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from encoder.types import DecodedVideo, Shot, VideoInfo
from sv6d.dimensions import DIMENSIONS
from sv6d.errors import ConfigError

pytest.importorskip("transformers")

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
HOOK = (0.0, 3.0)
SHOTS = [Shot(0.0, 2.0), Shot(2.0, 5.0), Shot(5.0, 8.0)]


def make_video(
    seed: int = 0, seconds: float = 8.0, fps: float = 4.0, h: int = 72, w: int = 128
) -> DecodedVideo:
    """Frames with real structure: three colour shots, a moving bar, and noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fps)
    times = np.arange(n) / fps
    frames = np.empty((n, h, w, 3), dtype=np.uint8)
    palette = rng.integers(0, 255, (3, 3))
    for i, t in enumerate(times):
        shot = 0 if t < 2 else (1 if t < 5 else 2)
        frames[i] = palette[shot]
        x = int((t * 20) % (w - 10))
        frames[i, :, x : x + 10] = 255
    frames = np.clip(frames.astype(int) + rng.integers(-10, 10, frames.shape), 0, 255).astype(np.uint8)
    info = VideoInfo("generated.mp4", seconds, fps, w, h, 0, "h264", False)
    return DecodedVideo(info, frames, times, frames[:, ::4, ::4], times)


@pytest.fixture(scope="module", params=FAMILIES)
def backbone(request, tmp_path_factory):
    from encoder.vlm.backbone import VLMBackbone
    from encoder.vlm.tiny import build_tiny_checkpoint

    path = build_tiny_checkpoint(tmp_path_factory.mktemp(request.param), request.param)
    return VLMBackbone(path, fps=2.0, max_frames=32)


def test_shapes_and_levels(backbone):
    out = backbone.encode(make_video(), [], SHOTS, HOOK)
    assert backbone.device.type == "cpu"
    assert str(backbone.dtype) == "torch.float32"
    for level in (out.video, out.hook, *out.segments):
        assert set(level.features) == set(DIMENSIONS)
        for vec in level.features.values():
            assert vec.shape == (backbone.feature_dim,)
            assert vec.dtype == np.float32
            assert np.isfinite(vec).all()
    assert len(out.segments) == len(SHOTS)
    assert (out.hook.start_s, out.hook.end_s) == HOOK
    assert [s.start_s for s in out.segments] == [s.start_s for s in SHOTS]
    # Shots with different pictures must read out differently.
    a, b = out.segments[0].features, out.segments[1].features
    assert not np.allclose(a[DIMENSIONS[0]], b[DIMENSIONS[0]])
    assert len(out.energy) == 8  # 16 frames at 2 fps -> 8 temporal patches
    assert out.energy_hz == pytest.approx(1.0)


def test_deterministic(backbone):
    v = make_video()
    one = backbone.encode(v, [], SHOTS, HOOK)
    two = backbone.encode(v, [], SHOTS, HOOK)
    for d in DIMENSIONS:
        np.testing.assert_array_equal(one.video.features[d], two.video.features[d])
        np.testing.assert_array_equal(one.hook.features[d], two.hook.features[d])


def test_hook_depends_only_on_hook_frames(backbone):
    base = make_video()
    changed = make_video()
    after = changed.times_s >= HOOK[1]
    changed.frames[after] = 255 - changed.frames[after]
    one = backbone.encode(base, [], SHOTS, HOOK)
    two = backbone.encode(changed, [], SHOTS, HOOK)
    for d in DIMENSIONS:
        np.testing.assert_allclose(one.hook.features[d], two.hook.features[d], rtol=1e-5, atol=1e-5)
    # ...while the whole-video read-out does see the change (the test can fail).
    assert not np.allclose(one.video.features[DIMENSIONS[0]], two.video.features[DIMENSIONS[0]], atol=1e-4)


def test_batch_equals_single(backbone):
    v1, v2 = make_video(1), make_video(2, seconds=6.0)
    single = [backbone.encode(v, [], SHOTS[:2], HOOK) for v in (v1, v2)]
    backbone.batch_size = 2
    try:
        batched = backbone.encode_batch([(v1, SHOTS[:2], HOOK, None), (v2, SHOTS[:2], HOOK, None)])
    finally:
        backbone.batch_size = 1
    for s, b in zip(single, batched, strict=True):
        for d in DIMENSIONS:
            np.testing.assert_allclose(s.video.features[d], b.video.features[d], rtol=1e-4, atol=1e-4)


def test_fingerprint_tracks_settings(backbone):
    from encoder.vlm.backbone import VLMBackbone

    other = VLMBackbone(backbone.checkpoint, fps=1.0)
    assert other.fingerprint() != backbone.fingerprint()
    assert VLMBackbone(backbone.checkpoint, fps=2.0).fingerprint() == backbone.fingerprint()


def test_get_backbone_builds_vlm(backbone):
    from encoder.backbone import Backbone, get_backbone

    bb = get_backbone("vlm", checkpoint=backbone.checkpoint)
    assert isinstance(bb, Backbone)
    assert bb.name == "vlm"


def test_unsupported_model_type_is_a_clear_error(tmp_path: Path):
    from encoder.vlm.backbone import VLMBackbone

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava"}))
    with pytest.raises(
        ConfigError, match=r"'llava' is not supported; supported: qwen2_vl, qwen2_5_vl, qwen3_vl"
    ):
        VLMBackbone(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no config\.json"):
        VLMBackbone(tmp_path / "empty")
    with pytest.raises(ConfigError, match="not a directory"):
        VLMBackbone(tmp_path / "nope")


def test_vlm_encoder_decodes_deblocked_pictures_by_default(backbone):
    from encoder.decode import DecodeConfig
    from encoder.pipeline import Encoder

    assert Encoder(backbone=backbone).decode_config.loop_filter_skip == "none"
    assert Encoder().decode_config.loop_filter_skip == "all"  # the evidence backbone: measured to hold
    chosen = Encoder(backbone=backbone, decode_config=DecodeConfig(skip_loop_filter="noref"))
    assert chosen.decode_config.loop_filter_skip == "noref"
