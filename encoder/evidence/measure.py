"""One pass of every measurement family over a decoded video, collected in ``Measurements``.

Features (``features``) and tags (``tagging``) are both derived from this object, so the two can never
disagree about what was measured.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from encoder.evidence.audio import AudioTrack
from encoder.evidence.colour import FrameColour
from encoder.evidence.editing import Cut, fades, measure_cuts, similarity_from_signatures
from encoder.evidence.faces import FaceTrack, detect_faces, select_face_frames
from encoder.evidence.motion import MotionSteps
from encoder.evidence.narrative import energy_curve
from encoder.evidence.picture import PictureTrack
from encoder.evidence.stream import FrameMeasures, frame_measures
from encoder.evidence.text import FrameText
from encoder.evidence.whole import measure_whole
from encoder.types import DecodedVideo, Shot, Transition

LOOP_FRAMES = 3  # analysis frames compared at each end of the video for the loop-ending similarity


@dataclass
class Measurements:
    duration_s: float
    width: int
    height: int
    times_s: np.ndarray  # analysis frame times
    colour: FrameColour
    motion: MotionSteps
    motion_excluded: np.ndarray  # bool per motion step: it spans a transition, so it is not camera motion
    faces: FaceTrack
    text: FrameText
    audio: AudioTrack
    cuts: list[Cut]
    fades: list[Transition]
    shots: list[Shot]
    energy_t: np.ndarray
    energy: np.ndarray
    first_last_similarity: float
    tail_static_s: float  # length of the static tail (thumbs identical to the last one)
    tail_start_s: float
    signatures: np.ndarray  # (N, SIM_SIZE**2) analysis-frame signatures (editing.thumb_signature)
    levels: np.ndarray  # (N,) mean luma / 255 of the analysis frames
    thumb_times_s: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    spikes: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))  # whole.change_spikes
    thumb_diffs: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))  # thumb_differences
    picture: PictureTrack = dataclasses.field(default_factory=PictureTrack)  # per thumbnail (picture.py)

    def frame_sim(self, i: int, j: int) -> float:
        """Similarity of analysis frames i and j (editing.similarity_from_signatures)."""
        return similarity_from_signatures(
            self.signatures[i], self.levels[i], self.signatures[j], self.levels[j]
        )

    def frame_change(self) -> np.ndarray:
        """(N,) 1 - similarity of each analysis frame to the one before it (0 for the first frame).

        A visual-change signal that does not depend on the transition detector: snippets of different moments
        change the picture even where a cut between similar frames is missed, a frozen card does not change.
        """
        n = len(self.signatures)
        out = np.zeros(n, dtype=np.float64)
        if n < 2:
            return out
        a, b = self.signatures[:-1], self.signatures[1:]
        la, lb = self.levels[:-1], self.levels[1:]
        level = 1.0 - np.minimum(1.0, np.abs(la - lb) * 4.0)
        ha, hb = a.any(axis=1), b.any(axis=1)
        corr = np.maximum(0.0, np.einsum("ij,ij->i", a, b))
        sim = np.where(ha & hb, 0.8 * corr + 0.2 * level, np.where(ha | hb, 0.5 * level, level))
        out[1:] = 1.0 - sim
        return out

    def window_first_last(self, start_s: float, end_s: float) -> float:
        """Similarity of the first and last LOOP_FRAMES analysis frames inside ``[start_s, end_s]``."""
        idx = np.flatnonzero((self.times_s >= start_s - 1e-6) & (self.times_s <= end_s + 1e-6))
        if len(idx) < 2:
            return 0.0
        k = min(LOOP_FRAMES, len(idx) // 2)
        head, tail = idx[:k], idx[len(idx) - k :]
        ends = self.frame_sim(int(idx[0]), int(idx[-1]))
        mean = float(np.mean([self.frame_sim(int(a), int(b)) for a, b in zip(head, tail, strict=True)]))
        return max(ends, mean)


def _steps_across_transitions(steps: MotionSteps, transitions: list[Transition]) -> np.ndarray:
    bad = np.zeros(len(steps), dtype=bool)
    for tr in transitions:
        # A cut at t breaks the step whose frames straddle t; a fade spoils every step it overlaps.
        bad |= (steps.t0 < tr.end_s + 1e-6) & (steps.t1 > tr.start_s - 1e-6)
    return bad


def unchecked_shot_mids(times: np.ndarray, shots: list[Shot]) -> np.ndarray:
    """The middle analysis frame of each shot that none of the face pass's evenly spread frames falls in:
    those join the detector's frames, so every shot gets its own face verdict at the least cost."""
    if not len(times):
        return np.zeros(0, dtype=np.int64)
    spread = times[select_face_frames(times)]
    mids = [
        int(np.argmin(np.abs(times - 0.5 * (s.start_s + s.end_s))))
        for s in shots
        if not ((spread >= s.start_s - 1e-6) & (spread < s.end_s - 1e-6)).any()
    ]
    return np.asarray(mids, dtype=np.int64)


def measure(
    decoded: DecodedVideo,
    transitions: list[Transition],
    shots: list[Shot],
    frame_stats: FrameMeasures | None = None,
) -> Measurements:
    """Run every measurement family once over ``decoded``. ``frame_stats``: the per-frame measurements of
    ``decoded.frames`` when already made (``stream.FrameMeasurer`` while decoding), else computed here."""
    info = decoded.info
    frames = decoded.frames
    times = np.asarray(decoded.times_s, dtype=np.float64)
    fm = frame_stats if frame_stats is not None else frame_measures(frames, times)
    luma = fm.luma
    faces = detect_faces(
        luma,
        times,
        also=unchecked_shot_mids(times, shots),
        rgb=frames,
        known=fm.face_checks,
        followed=fm.follow_checks,
    )
    colour = fm.colour
    steps = fm.motion
    excluded = _steps_across_transitions(steps, transitions)
    text = fm.text
    whole = fm.whole if fm.whole is not None else measure_whole(decoded)
    audio = whole.audio
    thumb_times = np.asarray(decoded.thumb_times_s, dtype=np.float64)
    cuts = measure_cuts(transitions, decoded.thumbs, thumb_times)
    # Flash cuts come from the transition detector as cuts (encoder.transitions): no check of our own.
    fade_list = fades(transitions)
    dt = np.maximum(steps.t1 - steps.t0, 1e-3)
    speed = np.hypot(steps.dx, steps.dy) / dt + np.abs(steps.log_scale) / dt
    speed = np.where(steps.valid & ~excluded, speed, np.nan)
    energy_t, energy = energy_curve(
        info.duration_s,
        (steps.t0 + steps.t1) / 2,
        speed,
        np.array([c.t for c in cuts]),
        audio.env_times_s,
        audio.env_db,
    )
    signatures = fm.signatures
    levels = colour.luma.astype(np.float64)
    out = Measurements(
        duration_s=float(info.duration_s),
        width=int(info.width),
        height=int(info.height),
        times_s=times,
        colour=colour,
        motion=steps,
        motion_excluded=excluded,
        faces=faces,
        text=text,
        audio=audio,
        cuts=cuts,
        fades=fade_list,
        shots=list(shots),
        energy_t=energy_t,
        energy=energy,
        first_last_similarity=0.0,
        tail_static_s=whole.tail_static_s,
        tail_start_s=whole.tail_start_s,
        signatures=signatures,
        levels=levels,
        thumb_times_s=thumb_times,
        spikes=whole.spikes,
        thumb_diffs=whole.diffs,
        picture=whole.picture,
    )
    out.first_last_similarity = out.window_first_last(0.0, info.duration_s)
    return out
