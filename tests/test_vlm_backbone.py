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
    from encoder.vlm.backbone import VideoItem

    v1, v2 = make_video(1), make_video(2, seconds=6.0)
    single = [backbone.encode(v, [], SHOTS[:2], HOOK) for v in (v1, v2)]
    backbone.batch_size = 2
    try:
        batched = backbone.encode_batch([VideoItem(v, [], SHOTS[:2], HOOK) for v in (v1, v2)])
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


# ------------------------------------------------------------------------ options, turn, time, tags, weights


def test_options_are_one_typed_object_with_clear_errors():
    from encoder.vlm.options import VLMOptions

    opts = VLMOptions.from_mapping({"checkpoint": "/m", "fps": 1.0, "resolution": 336, "dtype": "bfloat16"})
    assert opts.max_pixels == 336 * 336
    assert VLMOptions.from_mapping(json.loads(json.dumps(opts.to_dict()))) == opts
    with pytest.raises(ConfigError, match=r"unknown VLM option\(s\) fsp; valid: checkpoint, fps, "):
        VLMOptions.from_mapping({"checkpoint": "/m", "fsp": 2})
    with pytest.raises(ConfigError, match=r"unknown dtype 'bf16'; valid: auto, bfloat16, float16, float32"):
        VLMOptions(checkpoint="/m", dtype="bf16")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="checkpoint is required"):
        VLMOptions.from_mapping({"fps": 2.0})
    with pytest.raises(ConfigError, match=r"max_frames must be >= 2, got 1"):
        VLMOptions(checkpoint="/m", max_frames=1)


def test_the_video_sits_in_the_checkpoints_chat_turn(backbone):
    video = make_video()
    prepared = backbone._prepare(video, SHOTS, HOOK, "my title")
    text = backbone.tokenizer.decode(prepared.layout.input_ids)
    template = json.loads((backbone.checkpoint / "chat_template.json").read_text())["chat_template"]
    has_system = "You are a helpful assistant." in template
    assert text.startswith("<|im_start|>system\n" if has_system else "<|im_start|>user\n")
    assert "Describe the structure of this video" in text
    assert "Title: my title" in text
    # The user's turn closes after the last frame; the whole video is read where the answer begins.
    head, tail = text.split("<|im_end|>\n<|im_start|>assistant\n")
    assert head.rstrip().endswith("<|vision_end|>") or head.endswith(" Dissemination:")
    assert tail.startswith(" Subject:")
    assert backbone.turn.source == "chat_template.json"


def test_long_videos_keep_their_clock(backbone):
    """Past max_frames / fps the frames are spread out: the model is told their real spacing, and the
    energy curve covers the whole video, not its first 16 s."""
    long = make_video(seconds=24.0)
    prepared = backbone._prepare(long, [], HOOK, None)
    assert prepared.patched.grid_thw[0] == 16  # 32 frames
    assert prepared.step_s == pytest.approx(1.5, abs=0.05)
    out = backbone.encode(long, [], [], HOOK)
    assert len(out.energy) == 16
    assert len(out.energy) / out.energy_hz == pytest.approx(24.0, abs=0.5)
    inputs = backbone._model_inputs([prepared])
    if backbone.model_type == "qwen2_5_vl":
        np.testing.assert_allclose(inputs["second_per_grid_ts"].cpu().numpy(), prepared.step_s, rtol=1e-6)
    if backbone.model_type == "qwen3_vl":
        assert "<23.0 seconds>" in backbone.tokenizer.decode(prepared.layout.input_ids)
    short = backbone._prepare(make_video(seconds=8.0), [], HOOK, None)
    assert short.step_s == pytest.approx(1.0)  # 2 frames a patch at 2 fps


def test_records_keep_the_measured_transition_tags(backbone):
    from encoder.evidence.editing import fades, measure_cuts
    from encoder.evidence.tagging import transition_tags
    from encoder.types import Transition

    video = make_video()
    transitions = [
        Transition("cut", 2.0, 2.0, 0.8),
        Transition("fade", 4.5, 5.0, 0.6, {"luma_start": 0.5, "luma_end": 0.05}),
    ]
    out = backbone.encode(video, transitions, SHOTS, HOOK)
    cut = next(t for t in out.tags if t.label == "hard_cut")
    assert cut.evidence["cut_at_s"] == 2.0
    fade = next(t for t in out.tags if t.label == "fade")
    assert (fade.start_s, fade.end_s) == (4.5, 5.0)
    cuts = measure_cuts(transitions, video.thumbs, video.thumb_times_s)
    same = transition_tags(cuts, fades(transitions), SHOTS, 8.0, HOOK, lambda t: 0.0)
    assert sorted((t.label, t.start_s, t.end_s) for t in out.tags) == sorted(
        (t.label, t.start_s, t.end_s) for t in same
    )


def test_the_encoder_decodes_frames_for_the_vlm_itself(backbone):
    from encoder.pipeline import Encoder

    cfg = Encoder(backbone=backbone).decode_config
    assert (cfg.sample_fps, cfg.max_frames) == (backbone.fps, backbone.max_frames)
    assert cfg.analysis_max_side is None  # full size: the model's processor resizes, not the evidence's 320
    assert not cfg.audio


def _bin_copy(src: Path, dst: Path, bump: float = 0.0) -> Path:
    import shutil

    import torch
    from safetensors.torch import load_file

    shutil.copytree(src, dst)
    state: dict = {}
    for f in sorted(dst.glob("*.safetensors")):
        state.update(load_file(f))
        f.unlink()
    (dst / "model.safetensors.index.json").unlink()
    if bump:
        name = sorted(state)[0]
        state[name] = state[name] + bump
    torch.save(state, dst / "pytorch_model.bin")
    return dst


def test_bin_weights_are_in_the_fingerprint(backbone, tmp_path):
    from encoder.vlm.backbone import VLMBackbone

    if backbone.model_type != "qwen2_vl":
        pytest.skip("one family is enough for the weight files")
    a = VLMBackbone(_bin_copy(backbone.checkpoint, tmp_path / "a"))
    b = VLMBackbone(_bin_copy(backbone.checkpoint, tmp_path / "b", bump=0.5))
    assert a.fingerprint() != b.fingerprint()
    assert a.fingerprint() == VLMBackbone(tmp_path / "a").fingerprint()
    (tmp_path / "a" / "pytorch_model.bin").unlink()
    with pytest.raises(ConfigError, match=r"no weights \(\*\.safetensors or \*\.bin\)"):
        VLMBackbone(tmp_path / "a")


def test_tag_generation_runs_in_the_chat_turn_beside_the_measured_tags(backbone):
    from encoder.types import Transition
    from encoder.vlm.backbone import VLMBackbone
    from encoder.vlm.tags_json import generate_tags

    talker = VLMBackbone(backbone.checkpoint, generate_tags=True, max_new_tokens=8)
    video = make_video()
    out = talker.encode(video, [Transition("cut", 2.0, 2.0, 0.8)], SHOTS, HOOK)
    assert "hard_cut" in {t.label for t in out.tags}  # measured tags stay when the model's are asked for
    tags, report = generate_tags(talker, video, max_new_tokens=8)
    # A random model answers no JSON: nothing is stored, and the report says why.
    assert tags == []
    assert report.dropped == {"no_json": 1}
    assert talker.fingerprint() == VLMBackbone(backbone.checkpoint).fingerprint()  # features are the same
