"""Per-frame measurements of the analysis frames, in one batch or while the video is still decoding.

Everything here depends on one analysis frame (or on two consecutive ones, for camera motion) and on nothing
that needs the whole video (transitions, shots): luma, light and colour statistics, text lines, similarity
signatures, motion steps, and the face detector's full-frame verdicts on the frames spread evenly over time.

Why a stream: ``decode`` keeps about one core busy (the decoder's frame threads rarely overlap on short GOPs),
so on two cores this work is nearly free when it runs beside decoding instead of after it. OpenCV, numpy and
PyAV release the GIL in their C code, so one worker thread is enough. ``FrameMeasurer`` is the sink that
``encoder.decode.decode`` feeds; its result is the same ``FrameMeasures`` that ``frame_measures`` computes in
one batch (the same functions run on chunks of frames; motion steps carry the previous frame across chunks).

Once decoding ends (``after_decode``), the worker also makes what needs the whole video but no shots: the
audio track, change spikes and static tail (``whole.measure_whole``) and the follow-up face checks around the
faces it found. The caller's thread detects transitions meanwhile, so both cores stay busy after decoding.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from encoder.evidence import faces as face_mod
from encoder.evidence.colour import FrameColour, frame_colour, luma_stack
from encoder.evidence.editing import thumb_signature
from encoder.evidence.motion import MotionSteps, estimate_motion
from encoder.evidence.text import FrameText, frame_text
from encoder.evidence.whole import WholeMeasures, measure_whole
from encoder.types import DecodedVideo

CHUNK_FRAMES = 8  # frames handed to the worker at once, measured in one batch call (fewer at the end)


@dataclass
class FrameMeasures:
    """Measurements of each analysis frame (``times_s``); ``face_checks``: face verdicts by frame index."""

    times_s: np.ndarray
    luma: np.ndarray  # (N, H, W) uint8
    colour: FrameColour
    motion: MotionSteps
    text: FrameText
    signatures: np.ndarray  # (N, SIM_SIZE**2)
    face_checks: dict[int, face_mod.Hit | None] = field(default_factory=dict)
    # follow-up verdicts around the hits in face_checks, by (hit index, neighbour index): faces.detect_faces
    follow_checks: dict[tuple[int, int], face_mod.Hit | None] = field(default_factory=dict)
    whole: WholeMeasures | None = None  # the shot-independent measurements, when made beside the detector


def _signatures(luma: np.ndarray) -> np.ndarray:
    if not len(luma):
        return np.zeros((0, 1), dtype=np.float32)
    return np.stack([thumb_signature(f) for f in luma])


def frame_measures(frames: np.ndarray, times_s: np.ndarray) -> FrameMeasures:
    """Every per-frame measurement of an (N, H, W, 3) RGB stack in one batch (no face checks)."""
    times = np.asarray(times_s, dtype=np.float64)
    luma = luma_stack(frames) if len(frames) else np.zeros((0, 8, 8), dtype=np.uint8)
    return FrameMeasures(
        times_s=times,
        luma=luma,
        colour=frame_colour(frames, luma),
        motion=estimate_motion(luma, times),
        text=frame_text(luma),
        signatures=_signatures(luma),
    )


def _concat(parts: list[Any], cls: type) -> Any:
    """One dataclass of arrays from several, field by field."""
    names = [f.name for f in dataclasses.fields(cls)]
    return cls(*[np.concatenate([getattr(p, n) for p in parts]) for n in names])


def planned_face_slots(last_t: float | None, fps: float = face_mod.FACE_FPS) -> set[int]:
    """The time slots (``floor(t * fps)``) whose first frame ``faces.select_face_frames`` will pick when the
    last frame is at ``last_t`` seconds (every slot holds a sample: sampling is denser than the face rate)."""
    if last_t is None or last_t < 0:
        return set()
    n_slots = int(np.floor(last_t * fps)) + 1
    if n_slots <= face_mod.MAX_FACE_CALLS:
        return set(range(n_slots))
    return {int(x) for x in np.linspace(0, n_slots - 1, face_mod.MAX_FACE_CALLS).round()}


@dataclass
class _FaceJob:
    """Face checks for the worker: frame indices of the decoded analysis frames, and those frames."""

    indices: list[int]
    frames: list[np.ndarray]

    def run(self) -> dict[int, face_mod.Hit | None]:
        return {i: face_mod.check_frame(f) for i, f in zip(self.indices, self.frames, strict=True)}


@dataclass
class _WholeJob:
    """The work that needs the whole decoded video but no shots, for the worker once decoding has ended."""

    decoded: DecodedVideo


class FrameMeasurer:
    """A decode sink (``begin``, ``add``) that measures analysis frames in a worker thread.

    Use as a context manager around decoding (the worker stops on errors), then ``finish(frames, times)``
    with the frames decode kept: it waits for the worker and returns ``FrameMeasures``. When decode kept
    other frames than it was fed (its sampler thins out videos of unknown length), the affected
    measurements are recomputed, so the result never depends on how the frames arrived.
    """

    def __init__(self) -> None:
        # chunks of (time, frame), a face-check job (frame indices and the frames), the whole-video job, or
        # None to stop
        self._queue: queue.Queue[list[tuple[float, np.ndarray]] | _FaceJob | _WholeJob | None] = queue.Queue()
        self._pending: list[tuple[float, np.ndarray]] = []
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._slots: set[int] = set()
        self._times: list[float] = []
        self._parts: list[tuple[np.ndarray, FrameColour, FrameText, np.ndarray]] = []
        self._motion: list[MotionSteps] = []
        self._face_checks: dict[int, face_mod.Hit | None] = {}  # by index of the frames the worker saw
        self._job_checks: dict[int, face_mod.Hit | None] = {}  # by index of the frames finish() was given
        self._follow_checks: dict[tuple[int, int], face_mod.Hit | None] = {}  # by (hit, neighbour) index
        self._whole: WholeMeasures | None = None
        self._stopped = False

    # -- decode side

    def begin(self, duration_s: float | None, fps: float = 0.0) -> None:
        """Start the worker; ``duration_s`` (declared, may be None) and the nominal ``fps`` tell which frames
        the face pass will want. A wrong guess costs time only: ``detect_faces`` checks what is missing."""
        # The last frame starts one frame before the end (a tenth of a second when the rate is unknown).
        last_t = duration_s - (1.0 / fps if fps > 0 else 0.1) if duration_s else None
        self._slots = planned_face_slots(last_t)
        self._thread = threading.Thread(target=self._run, name="sv6d-frame-measurer", daemon=True)
        self._thread.start()

    def add(self, t: float, frame: np.ndarray) -> None:
        """One analysis frame (display-oriented RGB uint8) at time ``t``; it must not be modified later."""
        if self._thread is None:
            self.begin(None, 0.0)
        # Frames go to the worker in chunks: one hand-off and one batch call per chunk, not per frame.
        self._pending.append((t, frame))
        if len(self._pending) >= CHUNK_FRAMES:
            self._queue.put(self._pending)
            self._pending = []

    # -- worker

    def _run(self) -> None:
        prev: tuple[float, np.ndarray] | None = None  # last (time, luma) of the previous chunk
        checked: set[int] = set()
        while (batch := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep draining: the decode thread must not hang on us
            try:
                if isinstance(batch, _FaceJob):
                    self._job_checks.update(batch.run())
                elif isinstance(batch, _WholeJob):
                    self._run_whole(batch.decoded)
                else:
                    prev = self._measure(batch, prev, checked)
            except BaseException as exc:  # handed to finish()
                self._error = exc

    def _measure(
        self, batch: list[tuple[float, np.ndarray]], prev: tuple[float, np.ndarray] | None, checked: set[int]
    ) -> tuple[float, np.ndarray]:
        start = len(self._times)
        times = np.asarray([t for t, _ in batch], dtype=np.float64)
        frames = np.stack([f for _, f in batch])
        luma = luma_stack(frames)
        self._parts.append((luma, frame_colour(frames, luma), frame_text(luma), _signatures(luma)))
        if prev is not None:
            self._motion.append(
                estimate_motion(np.concatenate([prev[1][None], luma]), np.concatenate([[prev[0]], times]))
            )
        else:
            self._motion.append(estimate_motion(luma, times))
        self._times.extend(times.tolist())
        for j, t in enumerate(times):
            slot = int(np.floor(t * face_mod.FACE_FPS))
            if slot in self._slots and slot not in checked:
                checked.add(slot)
                self._face_checks[start + j] = face_mod.check_frame(frames[j])
        return float(times[-1]), luma[-1]

    def _run_whole(self, decoded: DecodedVideo) -> None:
        """The shot-independent measurements, and the follow-up face checks around the hits found while
        decoding (when decode kept the frames it was fed: the hits' indices are then those of ``frames``)."""
        self._whole = measure_whole(decoded)
        if not np.array_equal(np.asarray(self._times, dtype=np.float64), decoded.times_s):
            return
        frames = decoded.frames
        hits = {i: h for i, h in self._face_checks.items() if h is not None}
        for i, hit in hits.items():
            for nb in face_mod.follow_frames(i, len(frames)):
                if nb not in hits:
                    self._follow_checks[(i, nb)] = face_mod.follow_up(frames[nb], hit)

    def after_decode(self, decoded: DecodedVideo) -> None:
        """Decoding has ended with ``decoded``: the worker measures the frames still pending, then makes the
        measurements that need no shots (``whole.measure_whole``) and the follow-up face checks, while the
        caller detects transitions. ``finish`` hands them over."""
        if self._thread is None or self._stopped:
            return
        if self._pending:
            self._queue.put(self._pending)
            self._pending = []
        self._queue.put(_WholeJob(decoded))

    def close(self) -> None:
        """Stop the worker (idempotent); ``finish`` calls it."""
        if self._thread is not None and not self._stopped:
            self._stopped = True
            if self._pending:
                self._queue.put(self._pending)
                self._pending = []
            self._queue.put(None)
            self._thread.join()

    def __enter__(self) -> FrameMeasurer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- result

    def _planned_frames(self, times: np.ndarray) -> set[int]:
        """Indices of ``times`` that the worker checks for faces (the first frame of each planned slot)."""
        out: set[int] = set()
        slots: set[int] = set()
        for i, t in enumerate(times.tolist()):
            slot = int(np.floor(t * face_mod.FACE_FPS))
            if slot in self._slots and slot not in slots:
                slots.add(slot)
                out.add(i)
        return out

    def finish(
        self, frames: np.ndarray, times_s: np.ndarray, face_frames: np.ndarray | None = None
    ) -> FrameMeasures:
        """Wait for the worker; the measurements of ``frames`` (the analysis frames decode returned).

        ``face_frames``: indices the face pass will check; those the worker has not checked are shared out:
        every other one goes to the worker after its last frames, the rest are checked here meanwhile (two
        detector calls at once, on the two cores, instead of one after the other)."""
        times = np.asarray(times_s, dtype=np.float64)
        mine: dict[int, face_mod.Hit | None] = {}
        if face_frames is not None and self._error is None:
            planned = self._planned_frames(times)
            todo = [int(i) for i in face_frames if int(i) not in planned]
            if self._thread is not None and not self._stopped and len(todo) > 1:
                theirs = todo[1::2]
                self._queue.put(_FaceJob(theirs, [frames[i] for i in theirs]))
                todo = todo[::2]
            mine = {i: face_mod.check_frame(frames[i]) for i in todo}
        self.close()
        if self._error is not None:
            raise self._error
        result = self._result(frames, times)
        result.face_checks.update(mine)
        result.face_checks.update(self._job_checks)
        result.whole = self._whole  # (it depends on the decoded video alone, however the frames arrived)
        return result

    def _result(self, frames: np.ndarray, times: np.ndarray) -> FrameMeasures:
        seen = np.asarray(self._times, dtype=np.float64)
        if not len(seen) or len(times) > len(seen):
            return frame_measures(frames, times)
        luma = np.concatenate([p[0] for p in self._parts])
        colour = _concat([p[1] for p in self._parts], FrameColour)
        text = _concat([p[2] for p in self._parts], FrameText)
        signatures = np.concatenate([p[3] for p in self._parts])
        motion = _concat(self._motion, MotionSteps)
        if len(times) == len(seen) and np.array_equal(times, seen):
            return FrameMeasures(
                times,
                luma,
                colour,
                motion,
                text,
                signatures,
                dict(self._face_checks),
                dict(self._follow_checks),
            )
        # Decode kept a subset (thinned): per-frame values carry over, motion pairs do not.
        pos = {t: i for i, t in enumerate(seen.tolist())}
        keep = [pos.get(t) for t in times.tolist()]
        if any(k is None for k in keep):
            return frame_measures(frames, times)
        idx = np.asarray(keep, dtype=np.int64)
        back = {int(k): j for j, k in enumerate(idx)}
        return FrameMeasures(
            times_s=times,
            luma=luma[idx],
            colour=FrameColour(*[getattr(colour, f.name)[idx] for f in dataclasses.fields(FrameColour)]),
            motion=estimate_motion(luma[idx], times),
            text=FrameText(*[getattr(text, f.name)[idx] for f in dataclasses.fields(FrameText)]),
            signatures=signatures[idx],
            face_checks={back[i]: h for i, h in self._face_checks.items() if i in back},
        )
