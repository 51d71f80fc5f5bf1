"""The encoder pipeline end to end on real files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from encoder.pipeline import Encoder, compose_text, default_video_id
from sv6d.dimensions import DIMENSIONS
from sv6d.errors import VideoInputError
from sv6d.record import SV6DRecord

sys.path.insert(0, str(Path(__file__).parent))
from helpers_video import cut_video, scene, write_video


def check_record(rec: SV6DRecord, dim: int = 64) -> None:
    assert rec.video.shape == rec.hook.shape == (len(DIMENSIONS), dim)
    for block in [rec.video, rec.hook, *(s.vectors for s in rec.segments)]:
        assert np.isfinite(block).all()
        np.testing.assert_allclose(np.linalg.norm(block, axis=1), 1.0, atol=1e-4)
    assert rec.segments
    assert rec.segments[0].start_s == 0.0
    assert rec.segments[-1].end_s == pytest.approx(rec.duration_s, abs=0.05)
    assert rec.encoder.name == "evidence"
    # the fixed layout for the video and its shots, the packaged trained heads and style model for the hook
    from encoder.contrastive.heads import ContrastiveHeads
    from encoder.evidence.default_heads import HOOK_HEADS_DIR
    from encoder.style import StyleModel

    hook_version = ContrastiveHeads.load(HOOK_HEADS_DIR).version
    style = StyleModel.load(HOOK_HEADS_DIR)
    assert style is not None
    assert rec.encoder.head_version == f"fixed-layout-1+hook:{hook_version}+{style.version}"
    assert list(rec.hook_style) == list(style.labels)
    assert rec.encoder.fingerprint


def test_encodes_a_cut_video_into_a_valid_record(tmp_path: Path) -> None:
    path = tmp_path / "cuts.mp4"
    cuts = cut_video(path, [15, 12, 18], fps=10)
    rec = Encoder().encode_file(path)
    check_record(rec)
    assert rec.video_id == default_video_id(path)
    assert rec.hook_window == (0.0, 3.0)
    hard = sorted(t.start_s + 0.1 for t in rec.tags if t.label == "hard_cut")
    assert hard == pytest.approx(cuts, abs=0.11)
    assert len(rec.segments) == len(cuts) + 1
    assert len(rec.energy) > 0
    assert rec.energy_hz == 2.0
    # the packaged hook heads' style model gives the hook an opening-style profile
    assert rec.hook_style
    assert sum(rec.hook_style.values()) == pytest.approx(1.0, abs=2e-3)


def test_clip_shorter_than_the_hook_window_has_the_whole_clip_as_its_hook(tmp_path: Path) -> None:
    path = tmp_path / "loop.mp4"
    cut_video(path, [10, 10], fps=10)  # a 2 s loop with a cut at 1 s
    rec = Encoder(hook_s=3.0).encode_file(path)
    assert rec.duration_s == pytest.approx(2.0, abs=0.11)
    assert rec.hook_window == pytest.approx((0.0, rec.duration_s))
    assert np.isfinite(rec.hook).all()
    assert any(t.label == "hard_cut" and t.start_s < rec.hook_window[1] for t in rec.tags)


def test_clip_too_short_to_measure_is_refused_naming_the_file_and_the_minimum(tmp_path: Path) -> None:
    path = tmp_path / "blip.mp4"
    write_video(path, [scene(1)] * 3, fps=10)  # 0.3 s
    with pytest.raises(VideoInputError, match=r"blip\.mp4.*too short to measure.*minimum is 0\.5 s"):
        Encoder(hook_s=3.0).encode_file(path)


def test_text_goes_through_minilm_into_dissemination(tmp_path: Path) -> None:
    path = tmp_path / "cuts.mp4"
    cut_video(path, [20, 20], fps=10)
    enc = Encoder()
    plain = enc.encode_file(path, video_id="a")
    titled = enc.encode_file(path, video_id="b", title="How to flip a pancake", hashtags=["cooking"])
    assert compose_text("How to flip a pancake", None, ["cooking"]) == "How to flip a pancake \n#cooking"
    np.testing.assert_allclose(plain.video[:5], titled.video[:5], atol=1e-6)
    assert not np.allclose(plain.video[5], titled.video[5])
    assert titled.hashtags == ["cooking"]


@pytest.mark.slow
def test_chaplin_end_to_end_finds_faces(shared_data: Path) -> None:
    from encoder.decode import decode
    from encoder.evidence.measure import measure
    from encoder.transitions import detect_transitions, shots_from_transitions

    path = shared_data / "videos" / "chaplin.mp4"
    enc = Encoder()
    rec = enc.encode_file(path, title="Chaplin")
    check_record(rec)
    decoded = decode(path, enc.decode_config)
    transitions = detect_transitions(decoded)
    m = measure(decoded, transitions, shots_from_transitions(transitions, decoded.info.duration_s))
    assert (m.faces.count > 0).sum() >= 2
    assert m.faces.max_area.max() > 0.005


def test_overlapped_measurement_gives_the_same_record(tmp_path: Path) -> None:
    # Measuring analysis frames in a worker while decoding must not change a single value of the record.
    path = tmp_path / "cuts.mp4"
    cut_video(path, [25, 30, 25], fps=10)
    overlapped = Encoder().encode_file(path, video_id="x")
    serial = Encoder(overlap=False).encode_file(path, video_id="x")
    np.testing.assert_array_equal(overlapped.video, serial.video)
    np.testing.assert_array_equal(overlapped.hook, serial.hook)
    assert len(overlapped.segments) == len(serial.segments) == 3
    for a, b in zip(overlapped.segments, serial.segments, strict=True):
        np.testing.assert_array_equal(a.vectors, b.vectors)
    assert [t.model_dump() for t in overlapped.tags] == [t.model_dump() for t in serial.tags]


def test_overlapped_encode_reports_bad_input_and_leaves_no_worker(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "truncated.mp4"
    cut_video(path, [30, 30], fps=10)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(VideoInputError, match="truncated"):
        Encoder().encode_file(path)
    assert not [t for t in threading.enumerate() if t.name == "sv6d-frame-measurer"]


def test_encoder_sets_opencv_threads_only_when_asked() -> None:
    import cv2

    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(2)
        Encoder(opencv_threads=None)
        assert cv2.getNumThreads() == 2
        Encoder()
        assert cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(before)
