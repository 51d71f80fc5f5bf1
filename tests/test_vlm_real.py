"""The outside-checkpoint path at real resolution on CPU: tiny random Qwen-VL models with a real checkpoint's
file layout, encoding real 720p footage from ``../shared/data/videos`` the way the VLM runs on a GPU (its own
frames at 448 px, the chat turn, batches of videos, the measured transition tags)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")

FAMILIES = ("qwen2_5_vl", "qwen3_vl")


@pytest.fixture(scope="module", params=FAMILIES)
def checkpoint(request, tmp_path_factory) -> Path:
    from encoder.vlm.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp(request.param) / "model", request.param)


@pytest.fixture(scope="module")
def encoder(checkpoint):
    from encoder.pipeline import Encoder
    from encoder.vlm.backbone import VLMBackbone

    return Encoder(backbone=VLMBackbone(checkpoint, fps=2.0, max_frames=32, resolution=448, batch_size=2))


def test_tiny_checkpoints_have_the_real_file_layout(checkpoint):
    shards = sorted(checkpoint.glob("model-*-of-*.safetensors"))
    assert len(shards) >= 2
    index = json.loads((checkpoint / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == {s.name for s in shards}
    assert json.loads((checkpoint / "config.json").read_text())["dtype"] == "bfloat16"
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.json", "preprocessor_config.json"):
        assert (checkpoint / name).is_file(), name
    assert "<|video_pad|>" in json.loads((checkpoint / "chat_template.json").read_text())["chat_template"]


@pytest.mark.slow
def test_a_720p_video_reaches_the_model_at_448_px_with_its_whole_clock(shared_data, encoder):
    """testvideo.mp4: 1280x720, 24 s. The model sees its own frames (not the evidence's 320-px ones: 66
    tokens a frame pair at 168x308), spread over all 24 s; the record keeps the measured cuts and fades."""
    from encoder.decode import decode

    path = shared_data / "videos" / "testvideo.mp4"
    bb = encoder.backbone
    decoded = decode(path, encoder.decode_config)
    assert decoded.frames.shape[1:3] == (720, 1280)
    patched = bb.sample(decoded)
    factor = bb.preprocess_config.factor
    expected = {28: (16, 24, 42), 32: (16, 20, 36)}[factor]  # 336x588 (Qwen2.5) / 320x576 (Qwen3) px
    assert patched.grid_thw == expected
    assert patched.tokens_per_patch == expected[1] * expected[2] // 4

    record = encoder.encode_file(path)
    assert record.encoder.name == "vlm"
    assert record.video.shape == (6, 64)
    assert np.isfinite(record.video).all()
    assert len(record.energy) == 16
    assert len(record.energy) / record.energy_hz == pytest.approx(24.0, abs=1.6)  # the whole video
    labels = {t.label for t in record.tags}
    assert {"hard_cut", "fade"} <= labels  # goldens: hard cuts at frames 30 and 180, four fades
    cuts = sorted(t.evidence["cut_at_s"] for t in record.tags if t.label == "hard_cut")
    assert any(abs(c - 1.0) < 0.2 for c in cuts)
    assert any(abs(c - 6.0) < 0.2 for c in cuts)


@pytest.mark.slow
def test_vlm_and_evidence_records_answer_the_same_editing_tag_filters(shared_data, encoder):
    from encoder.pipeline import Encoder

    path = shared_data / "videos" / "goldeneye-vfr-drop3.mp4"  # cuts at 3.754 s and 8.759 s
    vlm = encoder.encode_file(path)
    evidence = Encoder().encode_file(path)
    editing = {"hard_cut", "jump_cut", "fade", "fast_rhythm", "slow_rhythm", "long_take"}

    def spans(record):  # type: ignore[no-untyped-def]
        return sorted(
            (t.label, round(t.start_s, 3), round(t.end_s, 3)) for t in record.tags if t.label in editing
        )

    assert [s for s in spans(vlm) if s[0] == "hard_cut"]
    assert spans(vlm) == spans(evidence)


@pytest.mark.slow
def test_videos_are_batched_through_the_model_and_a_bad_file_fails_alone(shared_data, encoder, tmp_path):
    videos = shared_data / "videos"
    files = [videos / "fire2.mp4", videos / "interview_outdoor_s32.mp4", videos / "chaplin.mp4"]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    results = encoder.encode_files([files[0], broken, files[1], files[2]])
    assert [type(r).__name__ for r in results] == [
        "SV6DRecord",
        "VideoInputError",
        "SV6DRecord",
        "SV6DRecord",
    ]
    assert "broken.mp4" in str(results[1])
    single = encoder.encode_file(files[1])
    batched = results[2]
    assert batched.video_id == single.video_id
    for level in ("video", "hook"):
        np.testing.assert_allclose(getattr(batched, level), getattr(single, level), atol=1e-5)
    assert [t.label for t in batched.tags] == [t.label for t in single.tags]
    assert batched.segments
