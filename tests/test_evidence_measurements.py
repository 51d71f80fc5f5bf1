"""Each evidence measurement on synthetic arrays with known truth, through the real backbone."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from encoder.evidence.backbone import EvidenceBackbone
from encoder.evidence.text import text_lines
from encoder.types import BackboneOutput, DecodedVideo, Shot, Transition, VideoInfo

FPS = 4.0
H, W = 120, 200


def texture(seed: int, h: int, w: int) -> np.ndarray:
    """A smooth random RGB texture with plenty of corners (for flow) and no text-like lines."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.random((h // 8 + 2, w // 8 + 2, 3)).astype(np.float32)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(40 + 170 * img, 0, 255).astype(np.uint8)


def make_video(frames: list[np.ndarray], audio: np.ndarray | None = None, fps: float = FPS) -> DecodedVideo:
    arr = np.stack(frames)
    times = np.arange(len(arr)) / fps
    info = VideoInfo(
        "synthetic.mp4", len(arr) / fps, fps, arr.shape[2], arr.shape[1], 0, "raw", audio is not None
    )
    return DecodedVideo(info, arr, times, arr, times, audio, 16000 if audio is not None else None)


def run(video: DecodedVideo, transitions: list[Transition] | None = None) -> BackboneOutput:
    transitions = transitions or []
    bounds = [0.0] + [t.start_s for t in transitions] + [video.info.duration_s]
    shots = [Shot(a, b) for a, b in itertools.pairwise(bounds)]
    return EvidenceBackbone().encode(video, transitions, shots, (0.0, 3.0))


def labels(out: BackboneOutput) -> set[str]:
    return {t.label for t in out.tags}


def panning(step_px: float, n: int = 24, axis: int = 1) -> list[np.ndarray]:
    big = texture(1, H + 200, W + 200)
    frames = []
    for i in range(n):
        off = round(100 + (i - n / 2) * step_px)
        frames.append(big[100 : 100 + H, off : off + W] if axis == 1 else big[off : off + H, 100 : 100 + W])
    return frames


@pytest.mark.parametrize(("step", "label"), [(-4.0, "pan_left"), (4.0, "pan_right")])
def test_translating_texture_gives_pan_with_the_right_sign(step: float, label: str) -> None:
    # The crop window moving right (step > 0) makes content move left: the camera pans right.
    out = run(make_video(panning(step)))
    pans = [t for t in out.tags if t.label in ("pan_left", "pan_right")]
    assert [t.label for t in pans] == [label]
    expected = -step * FPS / W  # content displacement, frame widths per second
    assert pans[0].evidence["dx_frac_per_s"] == pytest.approx(expected, rel=0.15)
    assert "static" not in labels(out)


def test_vertical_translation_gives_tilt() -> None:
    out = run(make_video(panning(3.0, axis=0)))  # window moves down: content moves up: tilt down
    assert "tilt_down" in labels(out)
    assert "tilt_up" not in labels(out)


@pytest.mark.parametrize(("rate", "label"), [(0.15, "push_in"), (-0.15, "pull_out")])
def test_zooming_texture_gives_push_in_or_pull_out(rate: float, label: str) -> None:
    import cv2

    big = texture(2, H * 2, W * 2)
    frames = []
    for i in range(20):
        scale = np.exp(rate * i / FPS)  # content magnification
        ch, cw = round(H * 0.9 / scale), round(W * 0.9 / scale)  # stays inside the texture
        y0, x0 = (2 * H - ch) // 2, (2 * W - cw) // 2
        frames.append(cv2.resize(big[y0 : y0 + ch, x0 : x0 + cw], (W, H), interpolation=cv2.INTER_AREA))
    out = run(make_video(frames))
    zooms = [t for t in out.tags if t.label in ("push_in", "pull_out")]
    assert [t.label for t in zooms] == [label]
    assert zooms[0].evidence["zoom_per_s"] == pytest.approx(rate, rel=0.3)
    assert not labels(out) & {"pan_left", "pan_right", "tilt_up", "tilt_down"}


def test_still_texture_is_static() -> None:
    out = run(make_video([texture(3, H, W)] * 16))
    assert "static" in labels(out)


def test_dark_frames_are_low_key_and_bright_frames_high_key() -> None:
    dark = (texture(4, H, W) * 0.25).astype(np.uint8)
    bright = np.clip(texture(4, H, W).astype(np.int16) + 120, 0, 255).astype(np.uint8)
    assert "low_key" in labels(run(make_video([dark] * 16)))
    assert "high_key" in labels(run(make_video([bright] * 16)))
    low = next(t for t in run(make_video([dark] * 16)).tags if t.label == "low_key")
    assert low.evidence["mean_luma"] < 0.28


def test_caption_band_gives_text_overlay_over_its_window() -> None:
    import cv2

    base = texture(5, H, W)
    frames = []
    for i in range(24):  # text on frames 4..15 -> shown over [1.0, 4.0) s
        f = base.copy()
        if 4 <= i < 16:
            # Outlined caption text, the usual short-video style (black stroke under white letters).
            cv2.putText(f, "NO WAY", (50, 98), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 5)
            cv2.putText(f, "NO WAY", (50, 98), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
        frames.append(f)
    assert text_lines(cv2.cvtColor(frames[8], cv2.COLOR_RGB2GRAY))
    assert not text_lines(cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY))
    out = run(make_video(frames))
    texts = [t for t in out.tags if t.label == "text_overlay"]
    assert len(texts) == 1
    assert texts[0].start_s == pytest.approx(1.0, abs=0.2)
    assert texts[0].end_s == pytest.approx(4.0, abs=0.2)


def tone(seconds: float, db: float, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (np.sqrt(2) * 10 ** (db / 20) * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_loud_opening_gives_loud_open_and_silence_silent_open() -> None:
    frames = [texture(6, H, W)] * 16
    loud = np.concatenate([tone(1.0, -10), tone(3.0, -40)])
    out = run(make_video(frames, loud))
    tag = next(t for t in out.tags if t.label == "loud_open")
    assert tag.evidence["open_loudness_db"] == pytest.approx(-10, abs=1.0)
    assert (tag.start_s, tag.end_s) == (0.0, 1.0)
    assert "silent_open" in labels(run(make_video(frames, np.zeros(4 * 16000, dtype=np.float32))))
    assert "silent_open" in labels(run(make_video(frames)))  # no audio track at all


def test_first_equal_last_gives_loop_ending() -> None:
    a, b = texture(7, H, W), texture(8, H, W)
    frames = [a] * 8 + [b] * 8 + [a] * 8
    cuts = [Transition("cut", 2.0, 2.0, 80.0), Transition("cut", 4.0, 4.0, 80.0)]
    out = run(make_video(frames), cuts)
    loop = next(t for t in out.tags if t.label == "loop_ending")
    assert (loop.start_s, loop.end_s) == (5.0, 6.0)
    assert loop.evidence["first_last_similarity"] > 0.9
    hard = sorted(t.start_s for t in out.tags if t.label == "hard_cut")
    assert hard == [pytest.approx(1.9), pytest.approx(3.9)]
    frames2 = [a] * 8 + [b] * 16
    assert "loop_ending" not in labels(run(make_video(frames2), cuts[:1]))


def test_flash_cut_after_calm_is_a_reveal() -> None:
    a, b = texture(9, H, W), texture(10, H, W)
    white = np.full_like(a, 250)
    flash = [np.clip(white * (1 - k / 4) + b * (k / 4), 0, 255).astype(np.uint8) for k in range(4)]
    frames = [a] * 10 + flash + [b] * 10
    out = run(make_video(frames, fps=4.0), [Transition("cut", 2.5, 2.5, 90.0)])
    reveal = [t for t in out.tags if t.label == "reveal"]
    assert len(reveal) == 1
    assert reveal[0].evidence["change_at_s"] == pytest.approx(2.5)


def test_faces_are_found_on_a_face_like_pattern_free_video_as_none() -> None:
    out = run(make_video([texture(11, H, W)] * 12))
    assert "no_person" in labels(out)
    assert "face_present" not in labels(out)


def _block_texture(seed: int, h: int = 90, w: int = 160, cell: int = 6) -> np.ndarray:
    import cv2

    cells = np.random.default_rng(seed).integers(0, 256, size=(h // cell + 1, w // cell + 1)).astype(np.uint8)
    return cv2.GaussianBlur(cv2.resize(cells, (w, h), interpolation=cv2.INTER_NEAREST), (0, 0), 1.0)


@pytest.mark.parametrize(("share", "valid"), [(0.25, False), (0.5, True)])
def test_a_motion_fit_that_explains_few_of_the_tracked_corners_is_no_motion(
    share: float, valid: bool
) -> None:
    # A strip of the picture moves 2 px right; the rest turns into an unrelated texture (tracking noise, as
    # on blurred, shaky footage). A quarter of the frame gives ~12 RANSAC inliers of ~56 tracked corners:
    # enough corners for a fit, too few of them for it to be the camera's motion.
    from encoder.evidence.motion import estimate_motion

    a, b = _block_texture(1), _block_texture(2)
    strip = int(a.shape[1] * share)
    b[:, :strip] = np.roll(a, 2, axis=1)[:, :strip]
    steps = estimate_motion(np.stack([a, b]), np.array([0.0, 0.25]))
    assert bool(steps.valid[0]) is valid
    if valid:
        assert steps.dx[0] == pytest.approx(2 / a.shape[1], abs=0.002)


def _captioned(frames: list[np.ndarray], on: range, text: str = "NO WAY", org: tuple[int, int] = (50, 30)):
    import cv2

    out = []
    for i, f in enumerate(frames):
        f = f.copy()
        if i in on:
            cv2.putText(f, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 5)
            cv2.putText(f, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
        out.append(f)
    return out


def _held(out: BackboneOutput, level: str = "hook") -> dict[str, float]:
    return {k: _feature(out, "dissemination", k, level) for k in ("held_area", "held_lines", "held_lines_y")}


def _feature(out: BackboneOutput, dimension: str, name: str, level: str = "hook") -> float:
    from encoder.evidence.features import FEATURE_NAMES
    from sv6d.dimensions import Dimension

    d = Dimension(dimension)
    return float(getattr(out, level).features[d][FEATURE_NAMES[d].index(name)])


def test_a_caption_held_over_the_hook_is_held_text_and_always_there_text_is_not() -> None:
    """evidence-1.9 (``text.held_overlay``): over footage that moves, a caption shown through the hook
    (frames 0..11 of 32, 3 s at 4 fps) and nowhere after it holds text lines near the top; the same text
    in every frame (a watermark) holds none, and the whole video's window never holds anything (no rest to
    compare with)."""
    footage = panning(3.0, n=32)
    caption = run(make_video(_captioned(footage, range(12))))
    held = _held(caption)
    assert held["held_lines"] > 0.3, held
    assert held["held_lines_y"] < -0.3, held  # text at y ~ 25 of 120 px: the top of the frame
    assert _held(caption, "video") == {"held_area": 0.0, "held_lines": 0.0, "held_lines_y": 0.0}
    watermark = _held(run(make_video(_captioned(footage, range(32)))))
    assert watermark["held_lines"] == 0.0, watermark
    assert watermark["held_area"] < 0.01, watermark
    plain = _held(run(make_video(footage)))
    assert plain["held_lines"] == 0.0, plain
    assert plain["held_area"] < 0.01, plain


def test_a_cut_to_a_tighter_framing_of_the_same_take_is_a_scale_jump() -> None:
    """evidence-1.9 (``features.scale_jumps``): a punch-in (the same picture, x1.35 from frame 6 on) is one
    valid motion step with a large scale change, kept although it spans the cut; a slow push-in's steps
    change scale by a few percent each and are no jump."""
    import cv2

    big = texture(3, H, W)

    def zoomed(z: float) -> np.ndarray:
        ch, cw = round(H / z), round(W / z)
        y0, x0 = (H - ch) // 2, (W - cw) // 2
        return cv2.resize(big[y0 : y0 + ch, x0 : x0 + cw], (W, H), interpolation=cv2.INTER_LINEAR)

    punch = run(make_video([zoomed(1.0)] * 6 + [zoomed(1.35)] * 10), [Transition("cut", 1.5, 1.5, 1.0)])
    assert _feature(punch, "camera", "scale_jumps") > 0.1
    assert _feature(punch, "camera", "scale_jump") > 0.5  # log 1.35 = 0.30 of SCALE_JUMP_FULL 0.4: 0.75
    push = run(make_video([zoomed(1.0 + 0.02 * i) for i in range(16)]))
    assert _feature(push, "camera", "scale_jumps") == 0.0
    assert _feature(push, "camera", "zoom") > 0.1  # it is a zoom, read as one


def test_a_border_held_over_the_hook_is_a_rule_not_text() -> None:
    """evidence-1.9 (``text.held_overlay``): an inset's border drawn over moving footage through the hook
    only is a held straight run (``held_rules``), not held text."""
    import cv2

    frames = []
    for i, f in enumerate(panning(3.0, n=32)):
        f = f.copy()
        if i < 12:
            cv2.rectangle(f, (110, 10), (190, 70), (255, 255, 255), 2)
        frames.append(f)
    out = run(make_video(frames))
    assert _feature(out, "dissemination", "held_rules") > 0.5
    assert _feature(out, "dissemination", "held_lines") == 0.0
