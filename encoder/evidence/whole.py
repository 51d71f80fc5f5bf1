"""Measurements of a whole decoded video that need neither shots nor transitions: the audio track, the change
spikes of the thumbnails, the every-frame picture evidence (``picture``) and the static tail.

They are split from ``measure`` so that they can run beside the transition detector (``stream.FrameMeasurer``
computes them in its worker thread once decoding ends, while the caller's thread detects transitions);
``measure`` computes them itself when they were not made beforehand. Either way the values are the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from encoder.evidence.audio import AudioTrack, analyse_audio
from encoder.evidence.picture import PictureTrack, picture_track
from encoder.types import DecodedVideo

SPIKE_NOISE = 2.0  # grey levels added to the local median change: codec noise and grain are not cuts
SPIKE_NEIGHBOURS = 3  # frames either side that give the local median change


@dataclass
class WholeMeasures:
    """``audio``: loudness and onsets; ``spikes``: ``change_spikes`` per thumbnail; ``tail_static_s`` and
    ``tail_start_s``: ``static_tail``; ``diffs``: ``thumb_differences``; ``picture``: ``picture_track``."""

    audio: AudioTrack
    spikes: np.ndarray
    tail_static_s: float
    tail_start_s: float
    diffs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    picture: PictureTrack = field(default_factory=PictureTrack)


def measure_whole(decoded: DecodedVideo) -> WholeMeasures:
    """The shot-independent measurements of ``decoded``."""
    thumbs = decoded.thumbs
    tail_s, tail_start = static_tail(
        thumbs, np.asarray(decoded.thumb_times_s, dtype=np.float64), decoded.info.duration_s
    )
    diffs = thumb_differences(thumbs)
    return WholeMeasures(
        audio=analyse_audio(decoded.audio, decoded.sample_rate),
        spikes=spikes_from_differences(diffs),
        tail_static_s=tail_s,
        tail_start_s=tail_start,
        diffs=diffs,
        picture=picture_track(thumbs),
    )


def static_tail(thumbs: np.ndarray, thumb_times: np.ndarray, duration_s: float) -> tuple[float, float]:
    """How long the video ends on an unchanging picture (mean absolute thumb difference to the last thumb)."""
    if len(thumbs) < 2:
        return 0.0, duration_s
    last = thumbs[-1].astype(np.int16)
    # Walk back from the end in chunks: tails are short, so this usually reads one chunk, not every thumb.
    i = len(thumbs) - 1
    chunk = 16
    while i > 0:
        lo = max(0, i - chunk)
        diffs = np.abs(thumbs[lo:i].astype(np.int16) - last).mean(axis=(1, 2, 3))
        still = diffs <= 2.0  # grey levels: codec noise on a still picture stays well below this
        moving = np.flatnonzero(~still)
        if len(moving):
            i = lo + int(moving[-1]) + 1
            break
        i = lo
    start = float(thumb_times[i])
    return max(0.0, duration_s - start), start


def thumb_differences(thumbs: np.ndarray) -> np.ndarray:
    """(M,) mean absolute difference (grey levels) of each thumbnail from the one before it (green channel,
    every other pixel; 0 for the first). A frozen or duplicated frame stays under ``FROZEN_DIFF``."""
    m = len(thumbs)
    d = np.zeros(m, dtype=np.float64)
    if m >= 2:
        g = thumbs[:, ::2, ::2, 1].astype(np.int16)
        d[1:] = np.abs(np.diff(g, axis=0)).mean(axis=(1, 2))
    return d


def change_spikes(thumbs: np.ndarray) -> np.ndarray:
    """(M,) how much each frame's change from the previous one stands out from its neighbours' changes.

    ``(d_i - median of the 2 * SPIKE_NEIGHBOURS neighbouring d) / (that median + SPIKE_NOISE)``, clipped at 0,
    with d the mean absolute difference of consecutive thumbnails (``thumb_differences``). A cut is one frame
    of change among still ones (a large ratio) even when the two shots look alike, while a moving subject or
    camera changes every frame (a ratio near 0): a scale-free cut cue that does not depend on the transition
    detector's thresholds. Our own few lines: a median filter over a difference signal.
    """
    return spikes_from_differences(thumb_differences(thumbs))


def spikes_from_differences(d: np.ndarray) -> np.ndarray:
    """``change_spikes`` from the thumbnail differences ``thumb_differences`` gave."""
    from scipy.ndimage import median_filter

    m = len(d)
    out = np.zeros(m, dtype=np.float64)
    if m < 3:
        return out
    foot = np.ones(2 * SPIKE_NEIGHBOURS + 1, dtype=bool)
    foot[SPIKE_NEIGHBOURS] = False
    med = median_filter(d, footprint=foot, mode="nearest")
    out[:] = np.maximum(0.0, d - med) / (med + SPIKE_NOISE)
    out[0] = 0.0
    return out
