"""Transitions of a decoded video (the detectors together) and the shots between them."""

from __future__ import annotations

import itertools

import numpy as np

from encoder.transitions.config import TransitionConfig
from encoder.transitions.cuts import cut_transition, detect_cuts
from encoder.transitions.dissolves import detect_dissolves
from encoder.transitions.fades import detect_fades
from encoder.transitions.stats import ThumbStats, thumb_stats
from encoder.types import DecodedVideo, Shot, Transition


def detect_transitions(
    decoded: DecodedVideo, config: TransitionConfig | None = None, stats: ThumbStats | None = None
) -> list[Transition]:
    """Hard cuts, fades and dissolves of a decoded video, sorted by time.

    A cut has ``start_s == end_s ==`` the time of the first frame of the new shot and evidence
    ``content_delta`` (ContentDetector's score) with its components; a fade or dissolve spans its first to its
    last changing frame. ``stats``: ``thumb_stats(decoded.thumbs)`` when already computed (e.g. by a
    ``ThumbStatsStream`` fed while decoding), else computed here.
    """
    cfg = config or TransitionConfig()
    thumbs = decoded.thumbs
    times = np.asarray(decoded.thumb_times_s, dtype=np.float64)
    if len(thumbs) < 2:
        return []
    st = stats if stats is not None and len(stats) == len(thumbs) else thumb_stats(thumbs)

    fades, flashes = detect_fades(st.mean, st.spread, times, cfg.fades)
    fps = decoded.info.fps or 25.0
    cut_idx, scores, change = detect_cuts(
        thumbs, st, times, fps, fades, flashes, cfg.cuts, cfg.fades.black_level
    )
    gradual = list(fades)
    if cfg.dissolves is not None:
        # A cut whose layout changed blocks a dissolve around it; one seen only in colour and edges may be the
        # first frame of a short dissolve (its blend step scores like a cut while its layout still matches).
        strong = [
            i
            for i in cut_idx
            if change[i] >= cfg.cuts.min_layout_change
            or i in flashes
            or (np.isnan(change[i]) and scores[i, 4] >= cfg.cuts.min_edge_delta)
        ]
        # a flash's decay into its new shot is part of the cut, not a dissolve out of the flat frame
        decays = [(float(times[a]), float(times[b])) for a, b in flashes.items()]
        spans = [(f.start_s, f.end_s) for f in fades] + decays
        dissolves = detect_dissolves(
            st.small, st.rgb_step, thumbs, st.luma, times, spans, strong, cfg.dissolves
        )
        gradual += dissolves
        step = float(np.median(np.diff(times)))
        cut_idx = [
            i
            for i in cut_idx
            if i in strong
            or not any(d.start_s - 2 * step <= times[i] <= d.end_s + 2 * step for d in dissolves)
        ]
    cuts = [cut_transition(i, scores, change, times, i in flashes) for i in cut_idx]
    return sorted(cuts + gradual, key=lambda t: (t.start_s, t.end_s))


def shots_from_transitions(transitions: list[Transition], duration_s: float) -> list[Shot]:
    """Shots tiling ``[0, duration_s)``: a cut starts a shot at its time; a gradual transition splits at its
    midpoint (each side keeps half of the ramp)."""
    bounds = [0.0]
    for t in sorted(transitions, key=lambda t: t.start_s):
        b = t.start_s if t.kind == "cut" else 0.5 * (t.start_s + t.end_s)
        if bounds[-1] + 1e-3 < b < duration_s - 1e-3:
            bounds.append(b)
    bounds.append(max(duration_s, bounds[-1]))
    return [Shot(a, b) for a, b in itertools.pairwise(bounds) if b - a > 1e-3]
