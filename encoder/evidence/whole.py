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
REPEAT_DIFF = 0.3  # grey levels: a thumbnail closer than this to the one before repeats it (not a neighbour)


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

    ``(d_i - median of the neighbouring d) / (that median + SPIKE_NOISE)``, clipped at 0, with d the mean
    absolute difference of consecutive thumbnails (``thumb_differences``) and the neighbours the
    ``SPIKE_NEIGHBOURS`` frames either side that are not repeats (d >= ``REPEAT_DIFF``). A cut is one frame of
    change among still ones (a large ratio) even when the two shots look alike, while a moving subject or
    camera changes every frame (a ratio near 0): a scale-free cut cue that does not depend on the transition
    detector's thresholds. Repeated frames are left out of the median because frame-rate conversion repeats
    frames in a pattern (a 24 fps source shown at 30 fps, a low-rate webcam): counted, they halve the median,
    and every real frame after a repeat looked like a cut (on the hook benchmark's training renders: 41
    false events against 61 found jump cuts with them, 8 against 61 without; in static openings 221 against
    135). Our own few lines: a median filter over a difference signal.
    """
    return spikes_from_differences(thumb_differences(thumbs))


def spikes_from_differences(d: np.ndarray) -> np.ndarray:
    """``change_spikes`` from the thumbnail differences ``thumb_differences`` gave."""
    from numpy.lib.stride_tricks import sliding_window_view

    m = len(d)
    out = np.zeros(m, dtype=np.float64)
    if m < 3:
        return out
    k = SPIKE_NEIGHBOURS
    real = np.where(d >= REPEAT_DIFF, d, np.nan)
    real[0] = np.nan
    padded = np.concatenate([np.full(k, np.nan), real, np.full(k, np.nan)])
    near = np.delete(sliding_window_view(padded, 2 * k + 1), k, axis=1)  # (m, 2k): the frame itself left out
    # median over the real neighbours (NaNs sort last); 0 where every neighbour repeats
    ordered = np.sort(near, axis=1)
    count = np.isfinite(near).sum(axis=1)
    lo = np.take_along_axis(ordered, np.maximum(count - 1, 0)[:, None] // 2, axis=1)[:, 0]
    hi = np.take_along_axis(ordered, (count // 2)[:, None], axis=1)[:, 0]
    med = np.where(count > 0, (lo + hi) / 2, 0.0)
    out[:] = np.maximum(0.0, d - med) / (med + SPIKE_NOISE)
    out[0] = 0.0
    return out
