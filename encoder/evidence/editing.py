"""Editing evidence from the detected transitions: cuts, fades, rhythm, jump cuts.

Transitions come from ``encoder.transitions`` (every decoded frame is checked there); this module only
measures them: where the cuts are, how the shot lengths are spread, and how alike the frames across each cut
are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from encoder.types import Shot, Transition

SIM_SIZE = 32  # px: frames are compared as SIM_SIZE x SIM_SIZE luma thumbnails


def thumb_signature(rgb: np.ndarray) -> np.ndarray:
    """A zero-mean, unit-norm SIM_SIZE x SIM_SIZE luma signature of one RGB (or luma) frame."""
    import cv2

    img = rgb.astype(np.float32)
    if img.ndim == 3:
        img = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    small = cv2.resize(img, (SIM_SIZE, SIM_SIZE), interpolation=cv2.INTER_AREA).ravel()
    small -= small.mean()
    norm = float(np.linalg.norm(small))
    # A frame with (almost) no structure gets the zero signature: correlation would only amplify noise.
    return small / norm if norm > 1.0 * SIM_SIZE else np.zeros_like(small)


def similarity_from_signatures(sa: np.ndarray, la: float, sb: np.ndarray, lb: float) -> float:
    """Similarity in [0, 1] of two frames given their signatures and mean levels (luma / 255)."""
    level = 1.0 - min(1.0, abs(la - lb) * 4.0)
    ha, hb = bool(sa.any()), bool(sb.any())
    if not (ha and hb):  # a flat frame has no structure to correlate: the level decides
        return level if not (ha or hb) else 0.5 * level
    corr = max(0.0, float(sa @ sb))
    return float(0.8 * corr + 0.2 * level)


def frame_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """How alike two frames look, in [0, 1]: zero-normalised cross-correlation of small luma thumbnails,
    blended with a mean-luma match so that two flat frames of the same level count as alike."""
    la = float(a.astype(np.float32).mean()) / 255.0
    lb = float(b.astype(np.float32).mean()) / 255.0
    return similarity_from_signatures(thumb_signature(a), la, thumb_signature(b), lb)


@dataclass
class Cut:
    t: float
    content_delta: float
    similarity: float  # frame_similarity of the last frame before and the first frame after
    luma_before: float = 0.0  # mean luma / 255 of the last frame before the cut
    luma_after: float = 0.0  # mean luma / 255 of the first frame after (a flash cut opens on white)


def measure_cuts(transitions: list[Transition], thumbs: np.ndarray, thumb_times: np.ndarray) -> list[Cut]:
    """The hard cuts, each with the similarity of the frames on either side of it."""
    cuts = []
    for tr in transitions:
        if tr.kind != "cut":
            continue
        sim, before, after_l = 0.0, 0.0, 0.0
        if len(thumbs) > 1:
            after = int(np.searchsorted(thumb_times, tr.start_s - 1e-4))
            after = min(max(after, 1), len(thumbs) - 1)
            sim = frame_similarity(thumbs[after - 1], thumbs[after])
            before = float(thumbs[after - 1].mean()) / 255.0
            after_l = float(thumbs[after].mean()) / 255.0
        cuts.append(Cut(float(tr.start_s), float(tr.score), sim, before, after_l))
    return cuts


def shot_change_times(cuts: list[Cut], fade_list: list[Transition]) -> np.ndarray:
    """Times at which one shot gives way to another: hard cuts and dissolve midpoints (fades from or to
    black change no shot, so rhythm does not count them)."""
    times = [c.t for c in cuts] + [0.5 * (f.start_s + f.end_s) for f in fade_list if f.kind == "dissolve"]
    return np.sort(np.asarray(times, dtype=np.float64))


def fades(transitions: list[Transition]) -> list[Transition]:
    return [t for t in transitions if t.kind in ("fade", "dissolve")]


@dataclass
class WindowEditing:
    n_cuts: int
    cuts_per_s: float
    n_fades: int
    mean_shot_s: float
    shot_cv: float  # coefficient of variation of the shot lengths
    min_shot_s: float
    longest_shot_s: float
    jump_cut_ratio: float  # share of the cuts that are jump cuts


def window_editing(
    cuts: list[Cut],
    fade_list: list[Transition],
    shots: list[Shot],
    start_s: float,
    end_s: float,
    jump_sim: float,
) -> WindowEditing:
    """Cut rhythm over ``[start_s, end_s]``: cuts strictly inside, shots clipped to the window."""
    span = max(1e-6, end_s - start_s)
    inside = [c for c in cuts if start_s < c.t < end_s]
    n_fades = sum(1 for f in fade_list if f.end_s > start_s and f.start_s < end_s)
    lengths = np.array(
        [
            min(s.end_s, end_s) - max(s.start_s, start_s)
            for s in shots
            if s.end_s > start_s and s.start_s < end_s
        ]
    )
    lengths = lengths[lengths > 1e-3] if len(lengths) else np.array([span])
    if len(lengths) == 0:
        lengths = np.array([span])
    jumps = sum(1 for c in inside if c.similarity >= jump_sim)
    return WindowEditing(
        n_cuts=len(inside),
        cuts_per_s=len(inside) / span,
        n_fades=n_fades,
        mean_shot_s=float(lengths.mean()),
        shot_cv=float(lengths.std() / max(1e-6, lengths.mean())),
        min_shot_s=float(lengths.min()),
        longest_shot_s=float(lengths.max()),
        jump_cut_ratio=jumps / len(inside) if inside else 0.0,
    )
