"""The face detector (MTCNN through cv2.dnn): faces on real footage, none on the generator's textures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encoder.evidence import faces
from tests.helpers_video import texture


def _analysis_frames(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from encoder.decode import DecodeConfig, decode

    decoded = decode(path, DecodeConfig(min_duration_s=0.0))
    return decoded.frames, decoded.times_s


def test_no_face_on_generated_textures() -> None:
    # The Haar cascade found "faces" on some of these textures; the detector must not.
    from sv6d.synth.spec import TEXTURES

    for seed in range(4):
        for kind in TEXTURES:
            img = texture(seed, 180, 320, kind=kind, hue=0.05)  # a skin-like hue: the pre-check passes
            assert faces._detect(img, None) is None, (seed, kind)


def test_skin_free_frame_skips_the_detector() -> None:
    blue = np.zeros((180, 320, 3), np.uint8)
    blue[..., 2] = 200
    assert faces.skin_fraction(blue) < faces.SKIN_MIN_FRACTION
    assert faces.check_frame(blue) is None


def test_chaplin_faces_are_found_and_small(shared_data: Path) -> None:
    frames, times = _analysis_frames(shared_data / "videos" / "chaplin.mp4")
    track = faces.detect_faces(np.zeros(frames.shape[:3], np.uint8), times, rgb=frames)
    assert (track.count > 0).sum() >= 2
    # full figures in a wide shot: faces of ~0.5-1.5 % of the frame, in the upper half
    hit = track.count > 0
    assert 0.003 < float(track.max_area[hit].max()) < 0.03
    assert float(track.cy[hit].max()) < 0.5


def test_close_up_face_is_found_on_kinetics(shared_data: Path) -> None:
    frames, _ = _analysis_frames(shared_data / "videos" / "kinetics_test.avi")
    hit = faces.check_frame(frames[5])
    assert hit is not None
    assert hit[2] * hit[3] > 0.15  # a head filling much of the frame (the cascade missed it behind a hand)


@pytest.mark.parametrize("frame", [np.zeros((10, 10, 3), np.uint8), np.zeros((40, 40), np.uint8)])
def test_tiny_or_grey_frames_are_handled(frame: np.ndarray) -> None:
    assert faces._detect(faces._as_rgb(frame), None) is None


def test_detectors_are_reused_across_threads_never_shared() -> None:
    import threading

    img = texture(1, 120, 160)
    faces._detect(img, None)
    loaded = list(faces._IDLE)
    inside: list[object] = []

    def work() -> None:
        with faces._detector() as det:
            inside.append(det)
            with faces._detector() as other:  # a second borrower gets another detector
                assert other is not det

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert inside[0] in loaded  # a new thread borrowed a loaded detector instead of loading its own
