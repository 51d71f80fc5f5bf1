"""Decoding: codecs and containers, display orientation, non-square pixels, VFR, audio, sampling, limits, and
one typed error for every kind of bad input."""

from __future__ import annotations

import os
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from encoder.decode import MIN_SIDE_PX, DecodeConfig, decode, probe
from sv6d.errors import VideoInputError
from tests.helpers_video import H, W, moving, scene, write_audio_only, write_video

SHORT_OK = DecodeConfig(min_duration_s=0.0)


def _half_white(w: int = W, h: int = H) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = 255
    return img


@pytest.mark.parametrize(
    ("suffix", "codec", "expect_codec"),
    [
        (".mp4", "libx264", "h264"),
        (".mp4", "libx265", "hevc"),
        (".webm", "libvpx", "vp8"),
        (".webm", "libvpx-vp9", "vp9"),
        (".avi", "mpeg4", "mpeg4"),
        (".mkv", "libx264", "h264"),
    ],
)
def test_codecs_and_containers(tmp_path: Path, suffix: str, codec: str, expect_codec: str) -> None:
    path = write_video(tmp_path / f"v{suffix}", moving(scene(1), 30), fps=10, codec=codec)
    d = decode(path, SHORT_OK)
    assert d.info.codec == expect_codec
    assert (d.info.width, d.info.height) == (W, H)
    assert d.info.fps == pytest.approx(10.0)
    assert d.info.duration_s == pytest.approx(3.0, abs=0.15)
    assert len(d.thumbs) == 30
    np.testing.assert_allclose(d.thumb_times_s, np.arange(30) / 10, atol=2e-3)
    assert d.thumbs.dtype == np.uint8
    assert d.thumbs.shape[1:] == (H, W, 3)
    # the decoded picture is the one we wrote (lossy codecs: close, not equal)
    assert np.abs(d.thumbs[0].astype(int) - scene(1).astype(int)).mean() < 12
    assert d.audio is None
    assert not d.info.has_audio


def test_sampling_rate_cap_and_analysis_size(tmp_path: Path) -> None:
    path = write_video(tmp_path / "s.mp4", moving(scene(2, 200, 100), 40), fps=10)
    d = decode(path, DecodeConfig(sample_fps=2.0, analysis_max_side=64, min_duration_s=0))
    np.testing.assert_allclose(d.times_s, np.arange(8) * 0.5, atol=1e-3)
    assert d.frames.shape == (8, 32, 64, 3)
    capped = decode(path, DecodeConfig(sample_fps=10.0, max_frames=5, min_duration_s=0))
    assert len(capped.frames) == 5
    assert np.all(np.diff(capped.times_s) > 0.5)  # spread over the video, not its first half second
    assert capped.times_s[-1] >= 3.0


def test_resolution_limit_downscales_instead_of_refusing(tmp_path: Path) -> None:
    path = write_video(tmp_path / "big.mp4", moving(scene(3, 320, 160), 10), fps=10)
    d = decode(path, DecodeConfig(analysis_max_side=None, max_resolution=80, min_duration_s=0))
    assert d.frames.shape[1:] == (40, 80, 3)
    assert (d.info.width, d.info.height) == (320, 160)  # the info keeps the source size


@pytest.mark.parametrize(("rotation", "bright_half"), [(90, "bottom"), (-90, "top"), (180, "right")])
def test_rotation_metadata_gives_display_oriented_frames(
    tmp_path: Path, rotation: int, bright_half: str
) -> None:
    path = write_video(tmp_path / "rot.mp4", [_half_white()] * 20, rotation=rotation)
    d = decode(path, SHORT_OK)
    assert d.info.rotation == rotation % 360
    quarter = rotation % 180 != 0
    assert (d.info.width, d.info.height) == ((H, W) if quarter else (W, H))
    for img in (d.thumbs[0], d.frames[0]):
        assert img.shape[:2] == (d.info.height, d.info.width)
        lum = img.mean(axis=2)
        h2, w2 = lum.shape[0] // 2, lum.shape[1] // 2
        halves = {
            "top": lum[:h2].mean(),
            "bottom": lum[h2:].mean(),
            "left": lum[:, :w2].mean(),
            "right": lum[:, w2:].mean(),
        }
        assert halves[bright_half] > 200
        assert min(halves.values()) < 60


def test_non_square_pixels_stretch_to_display_width(tmp_path: Path) -> None:
    path = write_video(tmp_path / "sar.mp4", moving(scene(4), 10), sar=Fraction(2, 1))
    d = decode(path, SHORT_OK)
    assert (d.info.width, d.info.height) == (2 * W, H)
    assert d.thumbs.shape[2] / d.thumbs.shape[1] == pytest.approx(2 * W / H, rel=0.05)
    assert d.frames.shape[2] / d.frames.shape[1] == pytest.approx(2 * W / H, rel=0.05)


def test_variable_frame_rate_times_come_from_pts(tmp_path: Path) -> None:
    times = [0.0, 0.1, 0.2, 0.25, 0.3, 0.5, 0.9, 1.0, 1.1, 1.2, 1.6, 1.7, 1.8, 2.4, 2.5, 2.6, 3.0, 3.1]
    path = write_video(tmp_path / "vfr.mp4", moving(scene(5), len(times)), times_s=times)
    d = decode(path, SHORT_OK)
    np.testing.assert_allclose(d.thumb_times_s, times, atol=2e-3)
    assert d.info.variable_frame_rate
    # analysis frames at 4 fps: the first frame at or after each 0.25 s step
    assert d.times_s[:4].tolist() == pytest.approx([0.0, 0.25, 0.5, 0.9], abs=2e-3)


def test_audio_track_decoded_to_mono_at_the_analysis_rate(tmp_path: Path) -> None:
    rate = 16000
    tone = (0.5 * np.sin(np.arange(3 * rate) * 2 * np.pi * 440 / rate)).astype(np.float32)
    path = write_video(tmp_path / "a.mp4", moving(scene(6), 30), audio=tone, audio_rate=rate)
    d = decode(path, DecodeConfig(audio_rate=8000, min_duration_s=0))
    assert d.info.has_audio
    assert d.sample_rate == 8000
    assert d.audio is not None
    assert d.audio.dtype == np.float32
    assert d.audio.ndim == 1
    assert len(d.audio) == pytest.approx(3 * 8000, rel=0.1)
    assert 0.2 < float(np.abs(d.audio[2000:20000]).max()) <= 1.0
    assert decode(path, DecodeConfig(audio=False, min_duration_s=0)).audio is None


def test_stream_without_duration_falls_back_to_decoded_timestamps(tmp_path: Path) -> None:
    path = write_video(tmp_path / "raw.h264", moving(scene(7), 40), fps=10)
    info = probe(path)
    assert info.duration_s == 0.0  # the container declares none
    d = decode(path, SHORT_OK)
    assert len(d.thumbs) == 40
    assert d.info.duration_s == pytest.approx(4.0, abs=0.01)
    np.testing.assert_allclose(np.diff(d.thumb_times_s), 0.1, atol=1e-6)


@pytest.mark.parametrize("skip", [True, "all", "noref"])
def test_skip_loop_filter_still_decodes_every_frame(tmp_path: Path, skip: bool | str) -> None:
    path = write_video(tmp_path / "lf.mp4", moving(scene(15), 30), fps=10)
    normal = decode(path, DecodeConfig(min_duration_s=0, skip_loop_filter=False))
    fast = decode(path, DecodeConfig(min_duration_s=0, skip_loop_filter=skip))  # type: ignore[arg-type]
    assert fast.thumbs.shape == normal.thumbs.shape
    np.testing.assert_array_equal(fast.thumb_times_s, normal.thumb_times_s)
    np.testing.assert_array_equal(fast.times_s, normal.times_s)
    # the same pictures up to deblocking: close, not necessarily equal
    assert np.abs(fast.thumbs.astype(int) - normal.thumbs.astype(int)).mean() < 4


def test_skip_loop_filter_choice_is_checked() -> None:
    assert DecodeConfig().loop_filter_skip == "all"
    assert DecodeConfig(skip_loop_filter=False).loop_filter_skip == "none"
    with pytest.raises(ValueError, match="skip_loop_filter 'some'; valid: none, noref, all"):
        DecodeConfig(skip_loop_filter="some")  # type: ignore[arg-type]


def test_thumbnail_buffer_grows_past_the_declared_duration(tmp_path: Path) -> None:
    # 300 frames with no declared duration: the buffer starts small and must grow without losing frames
    path = write_video(tmp_path / "grow.h264", [scene(16 + i // 100, 32, 32) for i in range(300)], fps=25)
    d = decode(path, SHORT_OK)
    assert d.thumbs.shape == (300, 32, 32, 3)
    assert d.thumbs.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(np.diff(d.thumb_times_s), 0.04, atol=1e-6)
    # frames from each of the three scenes land in their own slots
    assert np.abs(d.thumbs[50].astype(int) - d.thumbs[150]).mean() > 10
    assert np.abs(d.thumbs[150].astype(int) - d.thumbs[250]).mean() > 10


class _FailingSink:
    """A frame sink that fails on its third analysis frame."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    def begin(self, duration_s: float | None, fps: float) -> None:
        pass

    def add(self, t: float, frame: np.ndarray) -> None:
        if len(self.seen) == 2:
            raise RuntimeError("sink gave up")
        self.seen.append(t)


def test_error_in_the_conversion_thread_reaches_the_caller(tmp_path: Path) -> None:
    # frames are shrunk in a worker thread: its error must surface in decode(), not hang or vanish
    path = write_video(tmp_path / "long.mp4", moving(scene(8), 400), fps=25)
    sink = _FailingSink()
    with pytest.raises(RuntimeError, match="sink gave up"):
        decode(path, DecodeConfig(min_duration_s=0.0, sample_fps=25.0), sink=sink)
    assert len(sink.seen) == 2


def test_analysis_frames_reach_the_sink_in_time_order(tmp_path: Path) -> None:
    class Recorder(_FailingSink):
        def add(self, t: float, frame: np.ndarray) -> None:
            self.seen.append(t)

    path = write_video(tmp_path / "order.mp4", moving(scene(8), 60), fps=25)
    sink = Recorder()
    d = decode(path, DecodeConfig(min_duration_s=0.0, sample_fps=10.0), sink=sink)
    assert sink.seen == sorted(sink.seen)
    assert len(sink.seen) == len(d.times_s)
    np.testing.assert_allclose(sink.seen, d.times_s)


def test_probe_matches_decode(tmp_path: Path) -> None:
    path = write_video(tmp_path / "p.mkv", moving(scene(8), 35), fps=10)
    info = probe(path)
    d = decode(path, SHORT_OK)
    assert (info.width, info.height, info.codec, info.fps) == (d.info.width, d.info.height, "h264", 10.0)
    assert info.duration_s == pytest.approx(d.info.duration_s, abs=0.11)


# --------------------------------------------------------------------------------------------------------
# bad input: one typed error naming the file and the problem


def _zero_byte(tmp: Path) -> Path:
    p = tmp / "empty.mp4"
    p.write_bytes(b"")
    return p


def _truncated_mp4(tmp: Path) -> Path:
    good = write_video(tmp / "good.mp4", moving(scene(9), 40))
    p = tmp / "truncated.mp4"
    p.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return p


def _truncated_mkv(tmp: Path) -> Path:
    good = write_video(tmp / "good.mkv", [scene(10 + i // 5) for i in range(80)])
    p = tmp / "truncated.mkv"
    p.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    return p


def _text(tmp: Path) -> Path:
    p = tmp / "notes.mp4"
    p.write_text("this is not a video\n" * 20)
    return p


def _audio_only(tmp: Path) -> Path:
    return write_audio_only(tmp / "sound.mp4")


def _too_short(tmp: Path) -> Path:
    return write_video(tmp / "short.mp4", moving(scene(11), 4), fps=10)  # 0.4 s: under MIN_CLIP_S


def _one_pixel(tmp: Path) -> Path:
    frames = [np.full((1, 1, 3), 5 * i, np.uint8) for i in range(40)]
    return write_video(tmp / "pixel.mp4", frames, pix_fmt="yuv444p")


def _directory(tmp: Path) -> Path:
    d = tmp / "folder.mp4"
    d.mkdir()
    return d


def _missing(tmp: Path) -> Path:
    return tmp / "nope.mp4"


def _garbage_after_header(tmp: Path) -> Path:
    good = write_video(tmp / "g.mp4", moving(scene(12), 40))
    data = bytearray(good.read_bytes())
    rng = np.random.default_rng(0)
    data[64:] = rng.integers(0, 256, len(data) - 64, dtype=np.uint8).tobytes()
    p = tmp / "garbled.mp4"
    p.write_bytes(bytes(data))
    return p


BAD_INPUTS = [
    (_zero_byte, "empty file"),
    (_truncated_mp4, "truncated"),
    (_truncated_mkv, "truncated"),
    (_text, "not a readable video container"),
    (_audio_only, "no video stream"),
    (_too_short, "too short"),
    (_one_pixel, f"picture too small \\(1x1 px; at least {MIN_SIDE_PX} px"),
    (_directory, "is a directory"),
    (_missing, "no such file"),
    (_garbage_after_header, "not a readable video container|does not decode|no decodable frame|truncated"),
]


@pytest.mark.parametrize(("make", "problem"), BAD_INPUTS, ids=[m.__name__.strip("_") for m, _ in BAD_INPUTS])
def test_bad_input_raises_video_input_error(tmp_path: Path, make, problem: str) -> None:
    path = make(tmp_path)
    with pytest.raises(VideoInputError, match=problem) as err:
        decode(path)
    assert str(path) in str(err.value)
    assert err.value.path == str(path)


@pytest.mark.parametrize(
    ("make", "problem"),
    [b for b in BAD_INPUTS if b[0] not in (_too_short, _truncated_mkv, _garbage_after_header)],
    ids=lambda x: x.__name__.strip("_") if callable(x) else "",
)
def test_probe_rejects_bad_input_too(tmp_path: Path, make, problem: str) -> None:
    path = make(tmp_path)
    with pytest.raises(VideoInputError, match=problem):
        probe(path)


def test_too_long_is_refused(tmp_path: Path) -> None:
    path = write_video(tmp_path / "long.mp4", moving(scene(13), 40), fps=10)
    with pytest.raises(VideoInputError, match=r"too long \(4\.0 s; the limit is 2 s\)"):
        decode(path, DecodeConfig(max_duration_s=2.0, min_duration_s=0))
    raw = write_video(tmp_path / "long.h264", moving(scene(13), 40), fps=10)  # no declared duration
    with pytest.raises(VideoInputError, match="too long"):
        decode(raw, DecodeConfig(max_duration_s=2.0, min_duration_s=0))


def test_unreadable_file(tmp_path: Path) -> None:
    good = write_video(tmp_path / "v.mp4", moving(scene(14), 40))
    locked = tmp_path / "locked.mp4"
    shutil.copy(good, locked)
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root (or with CAP_DAC_OVERRIDE): chmod 000 does not block reads here")
        with pytest.raises(VideoInputError, match="permission denied"):
            decode(locked)
    finally:
        locked.chmod(0o644)


# --------------------------------------------------------------------------------------------------------
# real footage


def test_real_non_square_pixels(shared_data: Path) -> None:
    info = probe(shared_data / "videos" / "issue-195-aspect-ratio.mp4")
    assert (info.width, info.height) == (1024, 576)  # 704x576 stored, SAR 16:11
    assert info.has_audio


@pytest.mark.slow
def test_real_rotation_and_vfr(shared_data: Path) -> None:
    fire = decode(shared_data / "videos" / "fire2.mp4", SHORT_OK)
    assert fire.info.rotation == 180
    assert (fire.info.width, fire.info.height) == (1280, 720)
    gold = decode(shared_data / "videos" / "goldeneye-vfr-drop3.mp4", SHORT_OK)
    assert gold.info.variable_frame_rate
    assert gold.info.fps == pytest.approx(24000 / 1001)
    assert len(gold.thumbs) == 160  # 10 s at 23.976 fps with dropped frames
    assert gold.thumb_times_s[-1] == pytest.approx(9.927, abs=0.01)


def test_thumbnails_reach_on_thumbs_in_chunks_once_each(tmp_path: Path) -> None:
    from encoder.decode import THUMB_CHUNK

    n = 2 * THUMB_CHUNK + 17
    path = write_video(tmp_path / "chunks.mp4", moving(scene(8), n), fps=25)
    chunks: list[np.ndarray] = []
    d = decode(path, SHORT_OK, on_thumbs=lambda c: chunks.append(c.copy()))
    assert [len(c) for c in chunks] == [THUMB_CHUNK, THUMB_CHUNK, 17]
    np.testing.assert_array_equal(np.concatenate(chunks), d.thumbs)
