"""Dissolves: spans where one shot blends into the next. Our own code: PySceneDetect has no dissolve
detector.

A dissolve is a span whose middle frame is well explained as a linear blend of its end frames, with no single
RGB step inside carrying most of the change, whose two end frames are two pictures: not correlated (each
colour plane centred on its own mean, so one hue shared by two shots does not count) and not one picture
moved (motion-compensated, by the translation accumulated frame by frame, or zoomed). Over a periodic or
smooth texture a pan's middle frame is close to a blend of its ends, so the blend test alone is not enough.
When the shots move, the blend is tried again on blurred frames (a slow zoom or tilt over a fine texture) and
with each end moved to the middle frame by its own shot's motion (fast pans), both only for ends whose colour
histograms differ (one picture that moves keeps its histogram). Each window is narrowed to the frames a
clamped linear ramp of each frame's share of the two ends puts in the blend, windows are merged by those
blends (two dissolves a short shot apart stay two), and the merged span is narrowed again; a blend that a
fade already covers is that fade.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from encoder.transitions.config import DissolveConfig
from encoder.transitions.layout import (
    layout_dissimilarity,
    layout_geometry,
    layout_planes,
    median_dissimilarity,
    tiles,
)
from encoder.transitions.ramp import fit_ramp
from encoder.types import Transition

BLEND_BLUR_SIGMA = 1.5  # px (of the 64-px-wide blend frames): the blur of the slow-motion blend test
BLUR_MAX_CORRELATION = 0.5  # ... and the most its window's ends may correlate (per colour plane)
# least colour-histogram distance of a window's ends for the motion-tolerant blend tests (one picture moving:
# 0.03-0.05, 0.16 with a caption band popping in; dissolves between moving shots of the corpus: 0.8-1.0)
MOVING_MIN_HISTOGRAM_DISTANCE = 0.3
MIN_PEAK_RESPONSE = 0.3  # phase correlation's peak response under which a frame-to-frame shift is a guess
DISSOLVE_WINDOWS = (0.5, 0.75, 1.0, 1.5, 2.0)  # half-windows tried, in units of DissolveConfig.window_s / 2
# scale factors tried between a span's ends: steps of 0.04 in log scale, out to +-0.4 (1.5x)
ZOOMS = tuple(float(np.exp(s * 0.04)) for k in range(1, 11) for s in (k, -k))


def detect_dissolves(
    small: np.ndarray,
    rgb_step: np.ndarray,
    thumbs: np.ndarray,
    luma: np.ndarray,
    times: np.ndarray,
    gradual: list[tuple[float, float]],
    cut_idx: list[int],
    cfg: DissolveConfig,
) -> list[Transition]:
    """Spans (outside the ``gradual`` spans of fades and flash decays) where frames m-k and m+k differ a
    lot, no step between them is cut-like, frame m is a blend of the two ends, and the two ends are different
    pictures (not one picture moved), tried at the DISSOLVE_WINDOWS half-windows (x ``window_s / 2``)
    (dissolves run from a few frames to a couple of seconds). ``small``, ``rgb_step``, ``luma``:
    ``ThumbStats``'; ``cut_idx``: frames of cuts no window may cross."""
    n = len(times)
    if n < 5:
        return []
    step = float(np.median(np.diff(times)))
    frames = _Frames(small, thumbs, luma, n)
    hits = _window_hits(frames, rgb_step, times, gradual, cut_idx, cfg)
    out = _merge_hits(hits, times)
    # A fade from or to a nearly flat picture (a washed-out white, a dark grey) that blends into a textured
    # one is also a blend of its ends; the fade already stands for it.
    return [
        d
        for d in (_ramp_span(t, small, times) for t in out)
        if not any(d.start_s <= s1 + step and s0 - step <= d.end_s for s0, s1 in gradual)
    ]


class _Hit(NamedTuple):
    """A window that holds a blend: its end frames, the blend's first and last frame (``_blend_ramp``), the
    ends' mean RGB difference and the blend's residual."""

    a: int
    b: int
    first: int
    last: int
    delta: float
    residual: float


class _Frames:
    """What the dissolve tests measure of single frames and of frame-to-frame motion, each computed once
    (windows of several sizes overlap) from the thumbnails and their ``ThumbStats``.

    RGB (``small``, every other pixel), not luma: two shots of equal brightness but different colours blend
    visibly in RGB only. Measured in RGB, not by ContentDetector's HSV score: hue is unstable where a blend
    passes through grey or black, and scores like a cut on a smooth ramp."""

    def __init__(self, small: np.ndarray, thumbs: np.ndarray, luma: np.ndarray, n: int) -> None:
        import cv2

        self.small, self.thumbs, self.luma = small, thumbs, luma
        self.n = n  # frames
        self.size = layout_geometry(*luma.shape[1:])
        self.window = cv2.createHanningWindow((self.size[1], self.size[0]), cv2.CV_32F)
        self.h2, self.w2 = (thumbs.shape[1] + 1) // 2, (thumbs.shape[2] + 1) // 2
        self.to_small = np.array([self.w2 / self.size[1], self.h2 / self.size[0]])
        self._layouts: dict[int, np.ndarray] = {}
        self._steps: dict[int, tuple[np.ndarray, float]] = {}
        self._histograms: dict[int, np.ndarray] = {}
        self._blurred: dict[int, np.ndarray] = {}

    def layout(self, i: int) -> np.ndarray:
        """Frame i's planes for the layout test (``layout_planes``)."""
        if i not in self._layouts:
            self._layouts[i] = layout_planes(self.thumbs[i], self.luma[i], self.size)
        return self._layouts[i]

    def shift_into(self, i: int) -> tuple[np.ndarray, float]:
        """Global translation from frame i - 1 to frame i (layout pixels) and phase correlation's peak."""
        import cv2

        if i not in self._steps:
            x, y = self.layout(i - 1)[..., 0], self.layout(i)[..., 0]
            (dx, dy), response = cv2.phaseCorrelate(x - x.mean(), y - y.mean(), self.window)
            self._steps[i] = (np.array([dx, dy]), float(response))
        return self._steps[i]

    def travel(self, a: int, b: int) -> np.ndarray:
        """Global translation accumulated from frame a to b, step by step (phase correlation is reliable
        for the small shift of one frame, not for the large one over a window of a pan over fine stripes).
        A step whose correlation peak is weak (a caption band popping in over the pan) gives a wrong shift;
        the camera moves smoothly, so such a step counts as the median of the window's reliable steps."""
        found = [self.shift_into(i) for i in range(a + 1, b + 1)]
        shifts = np.array([f[0] for f in found])
        reliable = np.array([f[1] >= MIN_PEAK_RESPONSE for f in found])
        if reliable.any() and not reliable.all():
            shifts[~reliable] = np.median(shifts[reliable], axis=0)
        return shifts.sum(axis=0)

    def histogram(self, i: int) -> np.ndarray:
        """Frame i's colour histograms (``_histogram``)."""
        if i not in self._histograms:
            self._histograms[i] = _histogram(self.small[i])
        return self._histograms[i]

    def soft(self, i: int) -> np.ndarray:
        """Frame i's RGB (``small``) blurred by BLEND_BLUR_SIGMA."""
        import cv2

        if i not in self._blurred:
            frame = self.small[i].reshape(self.h2, self.w2, 3)
            self._blurred[i] = np.asarray(cv2.GaussianBlur(frame, (0, 0), BLEND_BLUR_SIGMA)).ravel()
        return self._blurred[i]

    def moved_blend(self, a: int, m: int, b: int) -> tuple[float, float, float]:
        """The blend test with each end moved to frame m by its own shot's motion. Two moving shots that
        dissolve (fast pans) leave a large residual against their ends as they stand. Each end's shift is
        predicted from its shot's motion (shot A's as it enters the window, frame a - 1 to a; shot B's as
        it leaves it, b to b + 1), then refined by phase correlation against frame m, where the end's own
        picture is the component that correlates (one step's shift is biased on sub-pixel motion, and the
        bias adds up over a window). Returns (alpha, residual, the moved ends' delta); a delta of 0 where
        a motion cannot be measured."""
        import cv2

        if a < 1 or b + 1 >= self.n:
            return 0.0, np.inf, 0.0
        (va, ra), (vb, rb) = self.shift_into(a), self.shift_into(b + 1)
        if min(ra, rb) < MIN_PEAK_RESPONSE:
            return 0.0, np.inf, 0.0
        target = self.layout(m)[..., 0]
        target = target - target.mean()
        sh, sw = self.size
        h2, w2 = self.h2, self.w2
        ends = []
        for i, v in ((a, va * (m - a)), (b, -vb * (b - m))):
            predicted = np.array([[1, 0, v[0]], [0, 1, v[1]]], dtype=np.float32)
            moved = cv2.warpAffine(
                self.layout(i)[..., 0],
                predicted,
                (sw, sh),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
            (rx, ry), _ = cv2.phaseCorrelate(moved - moved.mean(), target, self.window)
            dx, dy = (v + np.array([rx, ry])) * self.to_small
            warp = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
            frame = self.small[i].reshape(h2, w2, 3)
            ends.append(
                np.asarray(
                    cv2.warpAffine(
                        frame, warp, (w2, h2), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
                    )
                ).ravel()
            )
        delta = float(np.abs(ends[0] - ends[1]).mean())
        alpha, rel = _blend_fit(ends[0], ends[1], self.small[m], delta)
        return alpha, rel, delta


def _window_hits(
    frames: _Frames,
    rgb_step: np.ndarray,
    times: np.ndarray,
    gradual: list[tuple[float, float]],
    cut_idx: list[int],
    cfg: DissolveConfig,
) -> list[_Hit]:
    """Every window (half-width k frames, centre m) that holds a blend (``_window_residual``), narrowed to
    the frames that change. Largest windows first: a window inside one already accepted adds nothing to the
    merged span, and its tests (the one-picture test above all) are skipped."""
    n = frames.n
    small = frames.small
    step = float(np.median(np.diff(times)))
    half = cfg.window_s / 2 / max(step, 1e-3)
    is_cut = np.zeros(n, dtype=bool)
    is_cut[cut_idx] = True
    hits: list[_Hit] = []
    accepted: list[tuple[int, int]] = []
    for k in sorted({max(2, round(half * f)) for f in DISSOLVE_WINDOWS}, reverse=True):
        centres = np.arange(k, n - k, max(1, k // 2))
        if not len(centres):
            continue
        # The two cheapest tests for every window of this size at once (most windows fail them): ends far
        # enough apart, and no step inside carrying most of the change (a dissolve spreads its change over
        # its frames; a cut puts most of it into one step).
        deltas = _end_deltas(small, centres - k, centres + k)
        biggest = np.lib.stride_tricks.sliding_window_view(rgb_step[1:], 2 * k).max(axis=1)[centres - k]
        passing = (deltas >= cfg.min_delta) & (biggest <= cfg.max_step * deltas)
        for m, delta in zip(centres[passing].tolist(), deltas[passing].tolist(), strict=True):
            a, b = m - k, m + k
            if is_cut[a + 1 : b + 1].any() or any(a0 <= a and b <= b0 for a0, b0 in accepted):
                continue
            if any(s0 - step <= times[m] <= s1 + step for s0, s1 in gradual):
                continue
            rel = _window_residual(frames, a, m, b, delta, cfg)
            if rel is None:
                continue
            accepted.append((a, b))
            # trim frames that do not change at either end of the window
            while a + 1 < b and rgb_step[a + 1] < 0.5:
                a += 1
            while b - 1 > a and rgb_step[b] < 0.5:
                b -= 1
            p, q = _blend_ramp(small, a, b)
            hits.append(_Hit(a, b, a + p + 1, a + q - 1, delta, rel))
    return hits


def _not_a_blend(alpha: float, rel: float, cfg: DissolveConfig) -> bool:
    """Whether a blend fit (``_blend_fit``) fails: too large a residual, or a share of either end outside
    0.2..0.8 (a blend sits between its ends)."""
    return rel > cfg.max_residual or not 0.2 <= alpha <= 0.8


def _window_residual(
    frames: _Frames, a: int, m: int, b: int, delta: float, cfg: DissolveConfig
) -> float | None:
    """The blend residual of frame m between the window's ends a and b (``delta`` apart), or None when the
    window is no dissolve: its ends correlate, frame m is no blend of them (as they stand, blurred or moved
    by their shots' motion), or they are one picture moved."""
    small = frames.small
    fa, fb, fm = small[a], small[b], small[m]
    # Ends with the same layout (a brightness or exposure ramp inside one shot) are not two shots.
    corr = _correlation(fa, fb)
    if corr > cfg.max_correlation:
        return None
    alpha, rel = _blend_fit(fa, fb, fm, delta)
    # A blend sits between its ends; a camera move over the same span leaves a large residual.
    if (
        _not_a_blend(alpha, rel, cfg)
        and cfg.moving
        and _histogram_distance(frames.histogram(a), frames.histogram(b)) >= MOVING_MIN_HISTOGRAM_DISTANCE
    ):
        # ... unless the shots move, and the ends' colour histograms differ (a picture that moves keeps its
        # histogram, and the motion-tolerant tests below can pass a pan over stripes whose shift phase
        # correlation aliases). A slow zoom or tilt shifts a fine texture by a pixel or two, enough to leave
        # a residual: blurred frames (a blend of the blurred ends still, blurring being linear) keep the
        # shapes that stayed, for ends that are plainly two pictures (blurred, a hand moving over its own
        # shot blends its ends as well). Faster moves (pans) need the ends moved to the middle frame; moved
        # ends must still differ: within one panning shot they meet.
        if corr <= BLUR_MAX_CORRELATION:
            sa, sb = frames.soft(a), frames.soft(b)
            alpha, rel = _blend_fit(sa, sb, frames.soft(m), float(np.abs(sa - sb).mean()))
        if _not_a_blend(alpha, rel, cfg):
            alpha, rel, moved_delta = frames.moved_blend(a, m, b)
            if moved_delta < cfg.min_delta:
                return None
    if _not_a_blend(alpha, rel, cfg):
        return None
    # ... but not always: over a periodic or smooth texture a pan's middle frame is close to a blend of its
    # ends (shifted sinusoids are linear combinations of each other). A dissolve's ends are two pictures; a
    # camera move's are one picture, shifted, so the motion-compensated layout test of the cuts tells them
    # apart.
    if _one_picture(
        frames.layout(a),
        frames.layout(b),
        frames.window,
        cfg.min_layout_change,
        functools.partial(frames.travel, a, b),
    ):
        return None
    return rel


def _merge_hits(hits: list[_Hit], times: np.ndarray) -> list[Transition]:
    """One dissolve per group of windows whose blends touch.

    Windows are merged by the blends they hold (each window's own ramp fit), not by the windows themselves:
    two dissolves with a short shot between them have overlapping windows, and one span over both would fit
    neither ramp. A merged span keeps its windows' reach (its ends lie on the two shots, which
    ``_ramp_span`` needs) up to the neighbouring blends."""
    groups: list[list[_Hit]] = []
    for hit in sorted(hits, key=lambda h: (h.first, h.last)):
        if groups and hit.first <= max(h.last for h in groups[-1]) + 1:
            groups[-1].append(hit)
        else:
            groups.append([hit])
    out: list[Transition] = []
    for g, group in enumerate(groups):
        a = min(h.a for h in group)
        b = max(h.b for h in group)
        if g > 0:
            a = max(a, max(h.last for h in groups[g - 1]))
        if g + 1 < len(groups):
            b = min(b, min(h.first for h in groups[g + 1]))
        delta = max(h.delta for h in group)
        out.append(
            Transition(
                kind="dissolve",
                start_s=float(times[min(a + 1, b)]),
                end_s=float(times[b]),
                score=delta,
                evidence={
                    "rgb_delta": round(delta, 2),
                    "blend_residual": round(min(h.residual for h in group), 3),
                },
            )
        )
    return out


def _histogram(frame: np.ndarray) -> np.ndarray:
    """(3, 32) normalised histograms of an interleaved-RGB frame's colour planes (flat, 0..255)."""
    bins = (frame.reshape(-1, 3).astype(np.int64) >> 3) + np.array([0, 32, 64])
    return np.bincount(bins.ravel(), minlength=96).reshape(3, 32) / (len(frame) // 3)


def _histogram_distance(ha: np.ndarray, hb: np.ndarray) -> float:
    """Total variation distance (0..1) between two frames' ``_histogram`` s, the largest of the three
    colour planes'."""
    return 0.5 * float(np.abs(ha - hb).sum(axis=1).max())


def _blend_fit(fa: np.ndarray, fb: np.ndarray, fm: np.ndarray, delta: float) -> tuple[float, float]:
    """(alpha, residual): the least-squares share ``alpha`` (clipped to 0..1) of ``fa`` in ``fm`` as a blend
    ``alpha * fa + (1 - alpha) * fb``, and the blend's mean absolute residual relative to ``delta``."""
    diff = fa - fb
    alpha = float(np.clip((fm - fb) @ diff / max(float(diff @ diff), 1e-6), 0.0, 1.0))
    return alpha, float(np.abs(fm - (alpha * fa + (1 - alpha) * fb)).mean()) / max(delta, 1e-6)


def _ramp_span(t: Transition, small: np.ndarray, times: np.ndarray) -> Transition:
    """The dissolve ``t`` narrowed to its blend: the merged windows reach past it (a window's ends lie on
    the two shots), so each frame's share of the first end is measured against the span's two end frames and
    a clamped linear ramp (1 before frame p, 0 after frame q) is fitted by least squares; the blend is the
    frames strictly between p and q."""
    a = max(0, int(np.searchsorted(times, t.start_s - 1e-6)) - 1)
    b = int(np.searchsorted(times, t.end_s - 1e-6))
    if b - a < 3:
        return t
    p, q = _blend_ramp(small, a, b)
    return Transition(t.kind, float(times[a + p + 1]), float(times[a + q - 1]), t.score, t.evidence)


def _blend_ramp(small: np.ndarray, a: int, b: int) -> tuple[int, int]:
    """(p, q) of ``fit_ramp`` over frames a..b: each frame's share of frame a against frame b."""
    if b - a < 3:
        return 0, b - a
    diff = small[a] - small[b]
    return fit_ramp((small[a : b + 1] - small[b]) @ diff / max(float(diff @ diff), 1e-6))


def _one_picture(
    prev: np.ndarray,
    cur: np.ndarray,
    window: np.ndarray,
    max_change: float,
    travel: Callable[[], np.ndarray],
) -> bool:
    """Whether ``cur`` is ``prev`` moved: the motion-compensated translation, the translation accumulated
    frame by frame in between (``travel``), or some zoom about the centre (crash zooms reach 50% over a
    window) then the compensated translation leaves a layout change under ``max_change``. Frames too flat to
    tell are not called one picture."""
    import cv2

    change = layout_dissimilarity(prev[None], cur[None], window)[0]
    if np.isnan(change):
        return False
    if change < max_change:
        return True
    sh, sw = prev.shape[:2]
    dx, dy = travel()
    shift = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    moved = cv2.warpAffine(prev, shift, (sw, sh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    target_tiles = tiles(cur[None])
    if median_dissimilarity(tiles(np.asarray(moved).reshape(prev.shape)[None]), target_tiles)[0] < max_change:
        return True
    # (all planes: in luma alone, two pictures of similar structure can pass for one zoomed)
    scaled = []
    for z in ZOOMS:
        m = cv2.getRotationMatrix2D(((sw - 1) / 2, (sh - 1) / 2), 0.0, z)
        warped = cv2.warpAffine(prev, m, (sw, sh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        scaled.append(np.asarray(warped).reshape(prev.shape))
    target = np.broadcast_to(cur, (len(scaled), *cur.shape))
    return bool(np.nanmin(layout_dissimilarity(np.stack(scaled), target, window)) < max_change)


def _end_deltas(small: np.ndarray, a: np.ndarray, b: np.ndarray, rows: int = 64) -> np.ndarray:
    """Mean |RGB difference| between frames ``a[i]`` and ``b[i]`` of ``small`` (float32 rows), per pair, a
    block of pairs at a time (each value as ``np.abs(small[a] - small[b]).mean()`` gives it)."""
    out = np.empty(len(a), dtype=np.float64)
    for i in range(0, len(a), rows):
        out[i : i + rows] = np.abs(small[a[i : i + rows]] - small[b[i : i + rows]]).mean(axis=1)
    return out


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two interleaved-RGB frames (flat float32), each colour plane centred on its own
    mean: a frame-wide mean over the three planes would leave each plane's mean in, and two shots of one
    saturated hue would then correlate through their shared colour alone, whatever their layouts."""
    import cv2

    # (per-plane means by OpenCV over a 3-channel view: numpy's strided mean costs twice the rest)
    xc = (x.reshape(-1, 3) - np.array(cv2.mean(x.reshape(-1, 1, 3))[:3], dtype=np.float32)).ravel()
    yc = (y.reshape(-1, 3) - np.array(cv2.mean(y.reshape(-1, 1, 3))[:3], dtype=np.float32)).ravel()
    den = float(np.sqrt((xc @ xc) * (yc @ yc)))
    return float(xc @ yc) / den if den > 0 else 1.0
