"""Per-frame measurements made while decoding (``FrameMeasurer``) equal the batch ones."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from encoder.decode import DecodeConfig, decode
from encoder.evidence import faces
from encoder.evidence.stream import FrameMeasurer, FrameMeasures, frame_measures, planned_face_slots
from encoder.evidence.whole import WholeMeasures, measure_whole
from tests.helpers_video import pan, texture, write_video


def _assert_same(a: FrameMeasures, b: FrameMeasures) -> None:
    np.testing.assert_array_equal(a.times_s, b.times_s)
    np.testing.assert_array_equal(a.luma, b.luma)
    np.testing.assert_array_equal(a.signatures, b.signatures)
    for part in ("colour", "motion", "text"):
        for f in dataclasses.fields(getattr(a, part)):
            np.testing.assert_array_equal(
                getattr(getattr(a, part), f.name),
                getattr(getattr(b, part), f.name),
                err_msg=f"{part}.{f.name}",
            )


@pytest.fixture
def panning_video(tmp_path: Path) -> Path:
    tex = texture(3, 160, 400)
    return write_video(tmp_path / "pan.mp4", pan(tex, 70, 160, speed=2.0), fps=10)


def test_stream_fed_by_decode_equals_the_batch(panning_video: Path) -> None:
    with FrameMeasurer() as sink:
        decoded = decode(panning_video, DecodeConfig(min_duration_s=0.0), sink=sink)
        streamed = sink.finish(decoded.frames, decoded.times_s)
    batch = frame_measures(decoded.frames, decoded.times_s)
    assert len(decoded.times_s) > 2 * 8  # several worker chunks, so motion crosses chunk borders
    _assert_same(streamed, batch)
    assert streamed.motion.valid.all()  # the pan is tracked across every step, chunk borders included
    # The face pass's full-frame frames were checked in the worker: detect_faces has nothing left to run.
    assert set(streamed.face_checks) == set(faces.select_face_frames(decoded.times_s).tolist())


def test_stream_reuses_per_frame_values_when_decode_kept_a_subset(panning_video: Path) -> None:
    decoded = decode(panning_video, DecodeConfig(min_duration_s=0.0))
    sink = FrameMeasurer()
    sink.begin(None, 0.0)
    for t, f in zip(decoded.times_s, decoded.frames, strict=True):
        sink.add(float(t), f)
    keep = np.arange(0, len(decoded.times_s), 2)  # what a sampler that halved its density keeps
    streamed = sink.finish(decoded.frames[keep], decoded.times_s[keep])
    _assert_same(streamed, frame_measures(decoded.frames[keep], decoded.times_s[keep]))


def test_stream_hands_a_worker_error_to_finish() -> None:
    sink = FrameMeasurer()
    sink.begin(2.0, 10.0)
    sink.add(0.0, np.zeros((4, 4), dtype=np.uint8))  # not an RGB frame: the worker's colour pass fails
    with pytest.raises(ValueError, match="cannot reshape"):
        sink.finish(np.zeros((1, 4, 4, 3), dtype=np.uint8), np.zeros(1))


def test_planned_face_slots_match_the_face_pass_selection() -> None:
    for duration, fps in [(2.4, 25.0), (10.0, 30.0), (24.024, 29.97), (25.1, 25.0), (61.3, 24.0)]:
        frame_times = np.arange(0.0, duration - 1e-9, 1.0 / fps)
        times = frame_times[:: max(1, round(fps / 4))]  # 4 analysis frames a second
        chosen = faces.select_face_frames(times)
        slots = {int(np.floor(times[i] * faces.FACE_FPS)) for i in chosen}
        assert planned_face_slots(duration - 1.0 / fps) == slots, duration


def test_finish_checks_the_other_face_frames_itself(panning_video: Path) -> None:
    with FrameMeasurer() as sink:
        decoded = decode(panning_video, DecodeConfig(min_duration_s=0.0), sink=sink)
        wanted = faces.select_face_frames(decoded.times_s, np.array([5, 9]))  # e.g. two shots' middle frames
        streamed = sink.finish(decoded.frames, decoded.times_s, wanted)
    assert {5, 9} <= set(streamed.face_checks)
    assert set(wanted.tolist()) <= set(streamed.face_checks)


@pytest.mark.parametrize("thinned", [False, True])
def test_face_checks_shared_with_the_worker_equal_direct_checks(shared_data: Path, thinned: bool) -> None:
    # finish() hands every other unplanned face frame to the worker; the verdicts must be the detector's own,
    # keyed by index into the frames finish() was given (also when decode kept a subset of what it fed)
    with FrameMeasurer() as sink:
        decoded = decode(shared_data / "videos" / "chaplin.mp4", DecodeConfig(min_duration_s=0.0), sink=sink)
        keep = np.arange(0, len(decoded.times_s), 2 if thinned else 1)
        frames, times = decoded.frames[keep], decoded.times_s[keep]
        wanted = np.arange(1, len(times), 4)
        streamed = sink.finish(frames, times, wanted)
    assert set(wanted.tolist()) <= set(streamed.face_checks)
    direct = {int(i): faces.check_frame(frames[int(i)]) for i in wanted}
    assert {i: streamed.face_checks[i] for i in direct} == direct
    assert any(v is not None for v in direct.values())  # chaplin has faces: the comparison is not vacuous


def _assert_same_whole(a: WholeMeasures | None, b: WholeMeasures) -> None:
    assert a is not None
    for f in dataclasses.fields(a.audio):
        np.testing.assert_array_equal(getattr(a.audio, f.name), getattr(b.audio, f.name), err_msg=f.name)
    np.testing.assert_array_equal(a.spikes, b.spikes)
    assert (a.tail_static_s, a.tail_start_s) == (b.tail_static_s, b.tail_start_s)


def test_after_decode_makes_the_whole_video_measurements(panning_video: Path) -> None:
    with FrameMeasurer() as sink:
        decoded = decode(panning_video, DecodeConfig(min_duration_s=0.0), sink=sink)
        sink.after_decode(decoded)
        streamed = sink.finish(decoded.frames, decoded.times_s)
    _assert_same(streamed, frame_measures(decoded.frames, decoded.times_s))
    _assert_same_whole(streamed.whole, measure_whole(decoded))
    assert streamed.follow_checks == {}  # no face on a texture: nothing to follow up


def test_follow_ups_made_after_decode_equal_the_face_pass_own(shared_data: Path) -> None:
    # chaplin has faces in the frames the worker checks while decoding; their neighbours are looked at again
    # by the worker once decoding ends, and detect_faces then gives what it gives when it looks itself
    path = shared_data / "videos" / "chaplin.mp4"
    with FrameMeasurer() as sink:
        decoded = decode(path, DecodeConfig(min_duration_s=0.0), sink=sink)
        sink.after_decode(decoded)
        streamed = sink.finish(decoded.frames, decoded.times_s)
    _assert_same_whole(streamed.whole, measure_whole(decoded))
    hits = {i for i, h in streamed.face_checks.items() if h is not None}
    assert hits  # not vacuous
    assert {i for i, _ in streamed.follow_checks} == hits
    times = decoded.times_s
    args = (streamed.luma, times)
    kept = faces.detect_faces(*args, rgb=decoded.frames, known=streamed.face_checks)
    reused = faces.detect_faces(
        *args, rgb=decoded.frames, known=streamed.face_checks, followed=streamed.follow_checks
    )
    for f in dataclasses.fields(kept):
        np.testing.assert_array_equal(getattr(kept, f.name), getattr(reused, f.name), err_msg=f.name)
    assert len(reused.times_s) > len(faces.select_face_frames(times))  # follow-ups found faces too
