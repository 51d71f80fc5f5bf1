"""The transition detector's per-thumbnail statistics: streamed in chunks while decoding, as in one batch."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from encoder.decode import DecodeConfig, decode
from encoder.transitions import CutConfig, FadeConfig, ThumbStatsStream, detect_transitions, thumb_stats
from tests.helpers_video import moving, ramp, scene, write_video


@pytest.fixture
def edited_video(tmp_path: Path) -> Path:
    # cuts, a fade to black and motion, over more frames than one on_thumbs chunk
    frames = (
        moving(scene(1), 40)
        + moving(scene(2), 30)
        + ramp(scene(3), np.zeros_like(scene(3)), 12)
        + moving(scene(4), 50)
    )
    return write_video(tmp_path / "edited.mp4", frames, fps=25)


@pytest.mark.parametrize("sizes", [[1, 1, 5], [7, 64, 3], [200]])
def test_stream_in_any_chunks_equals_the_batch(edited_video: Path, sizes: list[int]) -> None:
    thumbs = decode(edited_video, DecodeConfig(min_duration_s=0.0)).thumbs
    stream = ThumbStatsStream()
    start = 0
    while start < len(thumbs):
        for size in sizes:
            stream.add(thumbs[start : start + size])
            start += size
    streamed, batch = stream.result(), thumb_stats(thumbs)
    assert streamed is not None
    assert len(streamed) == len(thumbs)
    for f in dataclasses.fields(batch):
        np.testing.assert_array_equal(getattr(streamed, f.name), getattr(batch, f.name), err_msg=f.name)
    assert batch.rgb_step[0] == 0.0
    assert batch.rgb_step[40] > 10 * np.median(batch.rgb_step[1:40])  # the cut into the second scene


def test_stats_fed_by_decode_give_the_same_transitions(edited_video: Path) -> None:
    stream = ThumbStatsStream()
    decoded = decode(edited_video, DecodeConfig(min_duration_s=0.0), on_thumbs=stream.add)
    with_stats = detect_transitions(decoded, stats=stream.result())
    without = detect_transitions(decoded)
    assert [t.kind for t in without].count("cut") >= 1
    assert repr(with_stats) == repr(without)  # repr: NaN evidence compares equal as text


def test_stats_of_other_frames_are_not_used(edited_video: Path) -> None:
    decoded = decode(edited_video, DecodeConfig(min_duration_s=0.0))
    partial = thumb_stats(decoded.thumbs[:50])  # e.g. a stream that missed frames
    assert repr(detect_transitions(decoded, stats=partial)) == repr(detect_transitions(decoded))
    assert ThumbStatsStream().result() is None


def test_background_stream_equals_the_batch_and_stops_its_worker(edited_video: Path) -> None:
    import threading

    stream = ThumbStatsStream(background=True)
    decoded = decode(edited_video, DecodeConfig(min_duration_s=0.0), on_thumbs=stream.add)
    streamed, batch = stream.result(), thumb_stats(decoded.thumbs)
    assert streamed is not None
    for f in dataclasses.fields(batch):
        np.testing.assert_array_equal(getattr(streamed, f.name), getattr(batch, f.name), err_msg=f.name)
    assert not [t for t in threading.enumerate() if t.name == "sv6d-thumb-stats"]
    idle = ThumbStatsStream(background=True)
    idle.close()  # e.g. decoding failed: no result is asked for
    idle.close()
    assert not [t for t in threading.enumerate() if t.name == "sv6d-thumb-stats"]


def test_background_stream_hands_its_error_to_result() -> None:
    stream = ThumbStatsStream(background=True)
    stream.add(np.zeros((3, 8, 8), dtype=np.uint8))  # not RGB thumbnails
    with pytest.raises(ValueError, match="not enough values to unpack"):
        stream.result()


def test_frames_inside_fades_get_a_layout_change_only_as_neighbours(edited_video: Path) -> None:
    from encoder.transitions.layout import layout_change

    thumbs = decode(edited_video, DecodeConfig(min_duration_s=0.0)).thumbs
    st = thumb_stats(thumbs)
    gate = np.ones(len(thumbs), dtype=bool)  # every frame could cut...
    no_cut = np.zeros(len(thumbs), dtype=bool)
    no_cut[60:100] = True  # ... but these sit inside a fade
    w = CutConfig().adaptive_window
    full, _ = layout_change(thumbs, st.luma, gate, w)
    part, _ = layout_change(thumbs, st.luma, gate, w, no_cut)
    # frames 54-59 and 100-105 can cut: their neighbours 60-65 and 94-99 keep their values, 66-93 are skipped
    keep = ~no_cut
    keep[60 : 60 + w] = keep[100 - w : 100] = True
    np.testing.assert_array_equal(part[keep], full[keep])
    assert (part[~keep] == 0).all()
    assert (full[~keep] != 0).any()


@pytest.mark.parametrize("n", [2, 5, 9, 30])
def test_clips_shorter_than_the_dissolve_windows(tmp_path: Path, n: int) -> None:
    # the largest dissolve windows do not fit a clip this short: they are skipped, the rest still run
    frames = moving(scene(1), n // 2) + moving(scene(2), n - n // 2)
    decoded = decode(write_video(tmp_path / "short.mp4", frames, fps=25), DecodeConfig(min_duration_s=0.0))
    found = detect_transitions(decoded)
    assert all(t.kind in ("cut", "fade", "dissolve") for t in found)
    if n >= 9:
        assert [t.kind for t in found] == ["cut"]


@pytest.mark.parametrize(("h", "w"), [(72, 128), (54, 128), (36, 64), (13, 17), (228, 128)])
def test_decimation_picks_the_strided_pixels(h: int, w: int) -> None:
    from encoder.transitions.stats import _decimate

    rng = np.random.default_rng(h * w)
    stack = rng.integers(0, 256, (5, h, w, 3), dtype=np.uint8)
    tall = stack.reshape(5 * h, w, 3)
    for step in (2, 4):
        expected = stack[:, ::step, ::step]
        got = _decimate(tall, 5, step)
        np.testing.assert_array_equal(got.reshape(expected.shape), expected)


def test_fade_out_right_after_a_cut_into_a_darkening_shot(tmp_path: Path) -> None:
    # synth-0-0033 (seed 0, rendered without x264's SIMD): a cut into a darker shot that keeps darkening a
    # little every frame, then a fade to black. Mean luma falls without a pause from the cut to black, so
    # the cut opened the fade's monotone run; its big step made the whole run "a cut", and the fade came out
    # as a dissolve plus a cut on its last frame.
    bright = scene(3).astype(np.float32)  # luma ~148
    dark = scene(2).astype(np.float32) * 0.4  # luma ~23: the cut is most of the swing down to black
    frames = [bright.astype(np.uint8)] * 20
    frames += [(dark * (1 - 0.03 * k)).astype(np.uint8) for k in range(8)]  # a little darker every frame
    frames += [(dark * 0.79 * (1 - j / 10)).astype(np.uint8) for j in range(1, 11)]
    frames += [np.zeros_like(frames[0])] * 8
    decoded = decode(write_video(tmp_path / "cut_fade.mp4", frames, fps=25), DecodeConfig(min_duration_s=0.0))
    found = [(t.kind, round(t.start_s, 2)) for t in detect_transitions(decoded)]
    assert found[0] == ("cut", 0.8)
    assert [k for k, _ in found] == ["cut", "fade"], found


def test_black_and_white_with_noisy_black_bars_is_grey_by_chroma() -> None:
    # A black-and-white picture between black bars whose compression noise tints them by a level or two:
    # HSV saturation divides by the value, so the bars read as strong colour; chroma does not.
    rng = np.random.default_rng(0)
    grey = rng.integers(60, 200, size=(4, 36, 40), dtype=np.uint8)
    frames = np.zeros((4, 36, 64, 3), dtype=np.uint8)
    frames[:, :, 12:52] = grey[..., None]
    frames[:, :, :12] = rng.integers(0, 3, size=(4, 36, 12, 3), dtype=np.uint8)
    frames[:, :, 52:] = rng.integers(0, 3, size=(4, 36, 12, 3), dtype=np.uint8)
    from encoder.transitions.cuts import monochrome_steps

    stats = thumb_stats(frames)
    cfg, black_level = CutConfig(), FadeConfig().black_level
    assert (stats.saturation > cfg.mono_saturation).all()  # the old test alone called this colour footage
    assert (stats.chroma < cfg.mono_chroma).all()
    assert (stats.mean >= black_level).all()
    assert monochrome_steps(stats, cfg, black_level).tolist() == [False, True, True, True]


@pytest.mark.shared_data
def test_jump_cuts_in_black_and_white_footage_between_noisy_bars(shared_data: Path, tmp_path: Path) -> None:
    # chaplin.mp4 re-cut into five 0.6 s snippets: jump cuts within one static set, at 0.6, 1.2, 1.8 and
    # 2.4 s (the last snippet runs on into the footage at 3.0 s without a visible change). Two snippets
    # come out with saturation 14-30 from the noise in the pillarbox bars; the cuts into them were missed.
    from sv6d.synth.recut import recut

    path = recut(
        shared_data / "videos" / "chaplin.mp4", tmp_path / "c.mp4", "fast_cuts", np.random.default_rng(0)
    )
    decoded = decode(path, DecodeConfig(min_duration_s=0.0))
    cuts = [t.start_s for t in detect_transitions(decoded) if t.kind == "cut" and t.start_s < 2.9]
    assert cuts == pytest.approx([0.6, 1.2, 1.8, 2.4], abs=0.05)
