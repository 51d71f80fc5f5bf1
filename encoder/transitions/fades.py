"""Fades to and from black (or white), and flash cuts, from the mean luma of every thumbnail.

A fade is a monotone ramp of mean luma, several frames long, with a large swing (or, from a dark picture to
pure black, most of the way there), one end of which is a flat black or white frame; two big steps inside
are two cuts, not a ramp. Its span is the part of the run a clamped linear ramp fits (a slow drift before it
is not the fade). A flash cut (the new shot opens on a white or black frame that then decays) looks like a
fade out of that flat frame; when the flat frame arrives in one step from a picture (even a washed-out one,
nearly flat itself) it is a hard cut at the flat frame. PySceneDetect's ThresholdDetector reports single
fade points against a fixed brightness level; we need spans, and fades to white as well as black.
"""

from __future__ import annotations

import numpy as np

from encoder.transitions.config import FadeConfig
from encoder.transitions.ramp import fit_ramp
from encoder.types import Transition


def _monotone_runs(mean: np.ndarray, eps: float, max_stall: int) -> list[tuple[int, int]]:
    """Maximal runs [a, b] (frame indices) over which mean luma moves one way, allowing ``max_stall`` flat
    steps inside a run."""
    d = np.diff(mean)
    sign = np.where(d > eps, 1, np.where(d < -eps, -1, 0))
    runs: list[tuple[int, int]] = []
    i, n = 0, len(sign)
    while i < n:
        if sign[i] == 0:
            i += 1
            continue
        s, a, j, last, stall = sign[i], i, i, i, 0
        while j + 1 < n:
            nxt = sign[j + 1]
            if nxt == s:
                last, stall = j + 1, 0
            elif nxt == 0 and stall < max_stall:
                stall += 1
            else:
                break
            j += 1
        runs.append((a, last + 1))
        i = last + 1
    return runs


def _full_fade_swing(mean: np.ndarray, a: int, b: int, cfg: FadeConfig) -> float:
    """The least swing of a ramp over frames [a, b] that ends on pure black (or white) to be a fade: a dark
    picture fading to black swings less than ``min_swing`` and is still a fade when it covers most of the
    way (``full_fraction``), never less than ``min_dark_swing``; any other ramp needs
    ``min_swing`` (inf here)."""
    lo, hi = (a, b) if mean[a] <= mean[b] else (b, a)
    if mean[lo] <= cfg.pure_level:
        return max(cfg.min_dark_swing, cfg.full_fraction * float(mean[hi]))
    if mean[hi] >= 255.0 - cfg.pure_level:
        return max(cfg.min_dark_swing, cfg.full_fraction * (255.0 - float(mean[lo])))
    return float("inf")


def detect_fades(
    mean: np.ndarray, spread: np.ndarray, times: np.ndarray, cfg: FadeConfig
) -> tuple[list[Transition], dict[int, int]]:
    """Fades, and flash cuts (a ramp out of a flat frame that arrived in one step) as the frame index of the
    flat frame mapped to the last frame of its decay."""
    out: list[Transition] = []
    flashes: dict[int, int] = {}
    runs = _monotone_runs(mean, cfg.step_eps, cfg.max_stall)
    while runs:
        a, b = runs.pop(0)
        swing = float(mean[b] - mean[a])
        if b - a < cfg.min_frames or abs(swing) < min(cfg.min_swing, _full_fade_swing(mean, a, b, cfg)):
            continue
        # One big step with a small tail is a cut, not a ramp; so are two big steps (two cuts a few frames
        # apart, with a slow drift between them). A cut can also open a run that a fade then continues (a
        # shot darker than the one before it, held nearly still, then faded out): the parts on either side
        # of the biggest step are tried as runs of their own.
        diffs = np.abs(np.diff(mean[a : b + 1]))
        steps = np.sort(diffs)[::-1]
        if steps[0] > 0.5 * abs(swing) or steps[:2].sum() > 0.8 * abs(swing):
            j = a + int(np.argmax(diffs))
            runs[:0] = [(a, j), (j + 1, b)]
            continue
        ends = []
        for k in (a, b):
            if spread[k] <= cfg.flat_std and mean[k] <= cfg.black_level:
                ends.append(0.0)
            elif spread[k] <= cfg.flat_std and mean[k] >= cfg.white_level:
                ends.append(255.0)
        if not ends:
            continue
        # A ramp out of a flat frame that was reached in one step from a picture (not held, not ramped into)
        # is a flash cut: the new shot opens on white (or black) and decays into its picture. A fade in holds
        # its black frame or starts the video on it.
        starts_flat = spread[a] <= cfg.flat_std and (mean[a] <= cfg.black_level or mean[a] >= cfg.white_level)
        jump = abs(float(mean[a] - mean[a - 1])) if a > 0 else 0.0
        # A washed-out picture (a bright, low-contrast texture) is nearly flat by itself; it still ends in
        # one step when its texture vanishes at once and the step into the flat frame outdoes every step of
        # the ramp out of it.
        before = abs(float(mean[a - 1] - mean[a - 2])) if a > 1 else 0.0
        vanished = (
            a > 0
            and spread[a - 1] - spread[a] >= cfg.flat_std / 2
            and (jump >= 1.5 * float(steps[0]) or jump >= 3.0 * before)
        )
        picture_before = a > 0 and (spread[a - 1] > 2 * cfg.flat_std or jump >= cfg.min_swing or vanished)
        if starts_flat and picture_before:
            flashes[a] = b
            continue
        # [a, b] runs from one frame before the first changed frame to the frame where the ramp arrives; a
        # slow drift of the picture before a fade (a pan darkening) joins the monotone run, so the ramp is
        # the part a clamped linear fit finds: from its first dimmed frame to its last.
        p, q = fit_ramp((mean[a : b + 1] - mean[b]) / (mean[a] - mean[b]))
        start, end = float(times[a + p + 1]), float(times[a + q - 1])
        out.append(
            Transition(
                kind="fade",
                start_s=start,
                end_s=end,
                score=abs(swing),
                evidence={
                    "luma_start": round(float(mean[a]), 2),
                    "luma_end": round(float(mean[b]), 2),
                    "luma_swing": round(abs(swing), 2),
                    "flat_level": ends[-1] if swing > 0 else ends[0],
                    "frames": float(b - a),
                },
            )
        )
    return out, flashes


def in_fade(times: np.ndarray, fades: list[Transition]) -> np.ndarray:
    """Per frame: inside a fade or within two frames of it (the first frame out of black scores like a cut;
    no cut is declared there)."""
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    out = np.zeros(len(times), dtype=bool)
    for f in fades:
        out |= (times >= f.start_s - 2 * step) & (times <= f.end_s + 2 * step)
    return out
