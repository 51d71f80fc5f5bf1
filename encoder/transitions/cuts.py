"""Hard cuts: PySceneDetect's ContentDetector score, with our own decision on top.

ContentDetector scores each thumbnail against the previous one (mean HSV change, plus its edge-map change);
we feed it our thumbnails instead of letting it decode the file a second time. The decision is ours, for
reasons measured on real footage:
- a frame-wide colour change over an unchanged layout (same edges) is not a new shot (counter.mp4 recolours
  its background every second; ContentDetector's score there is 61, above its threshold), so a cut also needs
  its edge map to change;
- its first frame out of black at a fade-in scores like a cut (testvideo.mp4 frame 394), so candidates inside
  a detected gradual transition are dropped;
- its HSV delta is small when two shots share a palette (two pans over similar textures score 20-26, under
  its threshold of 27), so a second, motion-compensated test looks at layout instead of colour
  (``encoder.transitions.layout``): a median over tiles ignores a caption band that stays across a cut. Its
  threshold is adaptive, as in PySceneDetect's AdaptiveDetector: a frame must stand out from the median of
  its neighbours (whip pans, aliasing stripes or noise keep the score high over a whole shot) and still reach
  AdaptiveDetector's minimum content score. It is computed only around frames whose content score could make
  a cut, so it costs little;
- a flash cut (``encoder.transitions.fades``) is a hard cut at its flat frame;
- two saturated textures of the same brightness can differ in colour only: their luma is nearly flat, and a
  caption band that stays across the cut is then the only luma structure. The layout test therefore also
  compares the R, G and B planes of tiles textured in both frames (for frames that could cut), and a spike
  of mean RGB change over the neighbouring frames, with a layout change that stands out and spreads over the
  frame's height, is a cut too (a caption band popping in changes a strip or two of rows only);
- two faint textures (washed out, soft) under a caption band that stays: the band's tiles can be half of
  those with structure and hold the median down, so a step ContentDetector scores as a cut, that spikes in
  RGB and spreads over the frame's height, is also a cut on the upper quartile of its tile changes;
- near black, hue and saturation are noise and ContentDetector's score and edges fly: no cut is declared
  without a visible mean RGB change.
The minimum shot length is applied in seconds (PySceneDetect counts frames, which drifts on variable frame
rate).
"""

from __future__ import annotations

import numpy as np

from encoder.transitions.config import CutConfig
from encoder.transitions.fades import in_fade
from encoder.transitions.layout import layout_change
from encoder.transitions.stats import ThumbStats, thumb_stats
from encoder.types import Transition


def detect_cuts(
    thumbs: np.ndarray,
    stats: ThumbStats,
    times: np.ndarray,
    fps: float,
    fades: list[Transition],
    flashes: dict[int, int],
    cfg: CutConfig,
    black_level: float,
) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Frame indices (sorted) that start a new shot by a hard cut, with every frame's ``content_scores`` and
    ``layout_change`` they were decided on. ``fades`` and ``flashes``: ``detect_fades``' (no cut is declared
    inside a fade; every flash is a cut). ``black_level``: the fades' (below it, chroma is noise)."""
    luma, rgb_step = stats.luma, stats.rgb_step
    scores = content_scores(thumbs, fps, cfg.threshold, stats.hsv_delta)
    mono = monochrome_steps(stats, cfg, black_level)
    gate = layout_gate(scores, mono, rgb_step, cfg)
    # Frames in a fade (or two frames either side) are never cuts (``cut_indices`` drops them), so their
    # layout change is computed only where a frame outside needs it for its local median.
    no_cut = in_fade(times, fades)
    no_cut[list(flashes)] = False
    change, upper = layout_change(thumbs, luma, gate, cfg.adaptive_window, no_cut)
    cut_idx = cut_indices(scores, change, times, fades, flashes, cfg, mono, luma, rgb_step, upper)
    # two near-black (or near-white) frames whose noise sends hue and edges flying are not a cut
    cut_idx = [i for i in cut_idx if i in flashes or rgb_step[i] >= cfg.min_rgb_step]
    return cut_idx, scores, change


def monochrome_steps(stats: ThumbStats, cfg: CutConfig, black_level: float) -> np.ndarray:
    """Per frame: whether it and the one before it are both grey (monochrome footage).

    Chroma catches black-and-white footage whose black areas (letterbox bars) inflate HSV saturation; near
    black (under ``black_level``), where both are noise and ContentDetector's score flies, the saturation
    rule alone stands (a fade-in's first frames must not become monochrome luma-spike cut candidates)."""
    grey = (stats.saturation < cfg.mono_saturation) | (
        (stats.chroma < cfg.mono_chroma) & (stats.mean >= black_level)
    )
    mono = np.zeros(len(stats), dtype=bool)
    mono[1:] = grey[1:] & grey[:-1]
    return mono


def layout_gate(scores: np.ndarray, mono: np.ndarray, rgb_step: np.ndarray, cfg: CutConfig) -> np.ndarray:
    """Per frame: whether it could make a cut, so its layout change is worth computing.

    In monochrome footage hue and saturation carry nothing, so ContentDetector's three-channel mean is a
    third of the luma change: there the luma change alone is the content score the layout test is gated on.
    RGB spikes join the frames the layout test looks at only where they stand out from the frames around
    (fast motion changes every frame by as much, and is no cut candidate)."""
    w = cfg.adaptive_window
    padded = np.pad(rgb_step, w, mode="edge")
    around = np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * w + 1), axis=1)
    gate: np.ndarray = (
        (scores[:, 0] >= cfg.adaptive_min_content)
        | (mono & (scores[:, 3] >= cfg.mono_min_luma))
        | ((rgb_step >= cfg.spike_min_rgb) & (rgb_step >= cfg.spike_ratio * around))
    )
    return gate


def content_scores(
    thumbs: np.ndarray, fps: float, threshold: float, hsv_delta: np.ndarray | None = None
) -> np.ndarray:
    """Per frame (vs the previous): content_val, delta_hue, delta_sat, delta_lum, delta_edges; row 0 is zeros.

    content_val is ContentDetector's default score (mean of the HSV channel changes), computed for all
    frames at once (``ThumbStats.hsv_delta``; passed in when already computed): feeding its
    ``process_frame`` one thumbnail at a time costs about as much as decoding a 720p file, and this is the
    floor we must stay near (``test_shots`` checks the two agree). Edge changes, which need a Canny pass per
    frame, come from PySceneDetect's detector itself, run only on the frame pairs that score above
    ``threshold``.
    """
    deltas = hsv_delta if hsv_delta is not None else thumb_stats(thumbs).hsv_delta
    out = np.zeros((len(thumbs), 5), dtype=np.float64)
    out[1:, 1:4] = deltas[1:]
    out[1:, 0] = deltas[1:].mean(axis=1)
    for i in np.flatnonzero(out[:, 0] >= threshold):
        out[i] = _detector_components(thumbs[i - 1], thumbs[i], fps)
    return out


def _detector_components(prev: np.ndarray, cur: np.ndarray, fps: float) -> np.ndarray:
    """PySceneDetect ContentDetector's score and its components (edges included) for one frame pair."""
    from scenedetect.common import FrameTimecode
    from scenedetect.detectors import ContentDetector
    from scenedetect.stats_manager import StatsManager

    keys = ["content_val", "delta_hue", "delta_sat", "delta_lum", "delta_edges"]
    detector = ContentDetector(min_scene_len=0)
    detector.stats_manager = StatsManager()  # makes the detector record its components, edges included
    for k, img in enumerate((prev, cur)):
        detector.process_frame(FrameTimecode(k, float(fps)), np.ascontiguousarray(img[..., ::-1]))
    return np.array(
        [float(v) for v in detector.stats_manager.get_metrics(FrameTimecode(1, float(fps)), keys)]
    )


MONO_STRIPS = 8  # horizontal strips over which a monochrome jump cut's change must spread
# A cut between two textures changes every strip, though unevenly (a quarter of the most changed strip's
# change is enough); a caption band popping in leaves the other strips unchanged.
SPREAD_LEVEL = 0.25


def cut_indices(
    scores: np.ndarray,
    change: np.ndarray,
    times: np.ndarray,
    fades: list[Transition],
    flashes: dict[int, int],
    cfg: CutConfig,
    mono: np.ndarray | None = None,
    luma: np.ndarray | None = None,
    rgb_step: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> list[int]:
    """Frame indices that start a new shot by a hard cut."""
    content, lum, edges = scores[:, 0], scores[:, 3], scores[:, 4]
    n, w = len(times), cfg.adaptive_window
    if mono is None or luma is None:
        mono = np.zeros(n, dtype=bool)
        luma = np.zeros((n, 1, 1), dtype=np.uint8)
    # Repeated frames (a frame-rate conversion that duplicates every few frames: a still step between
    # moving ones) are left out of the local statistics: their zero change would pull a shaky shot's median
    # down, and the step after each repeat, which carries two frames of motion, would then stand out like
    # a cut.
    level = np.where(mono, lum, content)
    moving = level >= 2 * cfg.repeat_content
    repeat = level < cfg.repeat_content
    repeat[1:-1] &= moving[:-2] & moving[2:]
    repeat[[0, -1]] = False
    local = np.zeros(n)
    gated = np.flatnonzero((change > 0) & ~np.isnan(change))
    for i in gated:
        around = np.r_[max(1, i - w) : i, i + 1 : min(n, i + w + 1)]
        around = around[~repeat[around]]
        if len(around):
            local[i] = np.nan_to_num(np.nanmedian(change[around]))
    stands_out = np.isnan(change) | (change >= cfg.layout_standout * local)
    # a layout change replaces the edge test when it stands out from the frames around it
    layout = (change >= cfg.min_layout_change) & stands_out
    # The edge test alone is not enough where the camera shakes or whips (motion blur changes every edge):
    # a cut's motion-compensated layout change must also stand out from that of the frames around it.
    fixed = (content >= cfg.threshold) & ((edges >= cfg.min_edge_delta) | layout) & stands_out
    adaptive = (
        (content >= cfg.adaptive_min_content)
        & (change >= cfg.adaptive_min_change)
        & (change >= local + cfg.adaptive_margin)
    )
    # Monochrome footage: a jump cut within a static set changes a few regions only (the median tile stays
    # put), so a luma spike over its neighbours (AdaptiveDetector's ratio test) with a layout change that
    # stands out (however small) is a cut there.
    # The change must span the frame's height: a caption band popping in or out changes a strip or two of
    # rows only, while a jump cut moves the figures that stand across the frame.
    neighbour_lum = np.zeros(n)
    spread = np.zeros(n)
    for i in np.flatnonzero(mono & (lum >= cfg.mono_min_luma)):
        around = np.r_[max(1, i - 2) : i, i + 1 : min(n, i + 3)]
        around = around[~repeat[around]]
        neighbour_lum[i] = float(lum[around].mean()) if len(around) else 0.0
        spread[i] = _row_spread(luma, int(i))
    # The same holds for an adaptive cut (no edge change, a colour change under ContentDetector's
    # threshold): a caption band popping in over a washed-out texture is all the layout there is to change.
    for i in np.flatnonzero(adaptive):
        adaptive[i] = _row_spread(luma, int(i), SPREAD_LEVEL) >= cfg.mono_min_spread
    monochrome = (
        mono
        & (spread >= cfg.mono_min_spread)
        & (lum >= cfg.mono_min_luma)
        & (lum >= cfg.mono_luma_ratio * neighbour_lum)
        & (np.nan_to_num(change) >= cfg.mono_min_layout_change)
        & stands_out
    )
    # A spike of visible (RGB) change over the frames around it, with a layout change that stands out: the
    # colour cut ContentDetector's HSV mean under-scores (a hue flip between two saturated textures of the
    # same brightness). Spread over the frame's height, as above; a recolouring keeps its layout and fails.
    spike = np.zeros(n, dtype=bool)
    if rgb_step is not None:
        for i in np.flatnonzero(
            (rgb_step >= cfg.spike_min_rgb) & (change >= cfg.min_layout_change) & stands_out
        ):
            around = np.r_[max(1, i - w) : i, i + 1 : min(n, i + w + 1)]
            around = around[~repeat[around]]
            base = float(np.median(rgb_step[around])) if len(around) else 0.0
            spike[i] = (
                rgb_step[i] >= cfg.spike_ratio * base
                and _row_spread(luma, int(i), SPREAD_LEVEL) >= cfg.mono_min_spread
            )
    # A cut under a caption band that stays: when the two shots' textures are faint (washed out, soft), the
    # band's tiles can be half of those with structure and hold the median down; the upper quantile of the
    # tiles looks past them. Only for a step ContentDetector scores as a cut, that is a spike of visible
    # change over its neighbours and spreads over the frame's height (a band popping in changes its rows).
    overlay = np.zeros(n, dtype=bool)
    if upper is not None and rgb_step is not None and cfg.overlay_cuts:
        for i in np.flatnonzero(
            (content >= cfg.threshold)
            & ~(change >= cfg.min_layout_change)
            & (upper >= cfg.adaptive_min_change)
            & (rgb_step >= cfg.spike_min_rgb)
        ):
            around = np.r_[max(1, i - w) : i, i + 1 : min(n, i + w + 1)]
            around = around[~repeat[around]]
            if not len(around):
                continue
            overlay[i] = (
                upper[i] >= cfg.layout_standout * float(np.nanmedian(upper[around]))
                and rgb_step[i] >= cfg.spike_ratio * float(np.median(rgb_step[around]))
                and _row_spread(luma, int(i), SPREAD_LEVEL) >= cfg.mono_min_spread
            )
    cand: list[int] = [
        int(i) for i in np.flatnonzero(fixed | adaptive | monochrome | spike | overlay) if i > 0
    ]
    fading = in_fade(times, fades)
    cand = [i for i in cand if not fading[i]]
    # Keep the strongest of candidates closer than min_shot_s (flashes first: their decay frames are cut-like
    # too; then by content score and layout change together).
    kept: list[int] = []
    strength = np.where(mono, lum, content) / cfg.threshold + np.nan_to_num(change) / cfg.adaptive_min_change
    for k in sorted(set(cand) | set(flashes), key=lambda j: (j not in flashes, -float(strength[j]))):
        if all(abs(times[k] - times[j]) >= cfg.min_shot_s for j in kept):
            kept.append(k)
    return sorted(kept)


def _row_spread(luma: np.ndarray, i: int, level: float = 0.5) -> float:
    """Share of the frame's MONO_STRIPS horizontal strips whose luma changed from frame i - 1 to i by at
    least ``level`` times as much as the most changed strip's."""
    diff = np.abs(luma[i].astype(np.float32) - luma[i - 1].astype(np.float32)).mean(axis=1)
    strips = np.array([x.mean() for x in np.array_split(diff, MONO_STRIPS)])
    return float((strips >= level * strips.max()).mean()) if strips.max() > 0 else 0.0


def cut_transition(
    i: int, scores: np.ndarray, change: np.ndarray, times: np.ndarray, flash: bool
) -> Transition:
    """The cut at frame ``i``, with its ``content_scores`` and ``layout_change`` as evidence."""
    c = scores[i]
    evidence = {
        "content_delta": round(float(c[0]), 3),
        "hue_delta": round(float(c[1]), 3),
        "sat_delta": round(float(c[2]), 3),
        "lum_delta": round(float(c[3]), 3),
        "edge_delta": round(float(c[4]), 3),
        "layout_change": round(float(change[i]), 3),
    }
    if flash:
        evidence["flash"] = 1.0
    return Transition(
        kind="cut", start_s=float(times[i]), end_s=float(times[i]), score=float(c[0]), evidence=evidence
    )
