"""Transitions (hard cuts, fades, dissolves) and shots from the every-frame thumbnails of a decoded video.

Hard cuts: PySceneDetect's ContentDetector scores each thumbnail against the previous one (mean HSV change,
plus its edge-map change); we feed it our thumbnails frame by frame instead of letting it decode the file a
second time. The decision on top of its score is ours, for two reasons measured on real footage:
- a frame-wide colour change over an unchanged layout (same edges) is not a new shot (counter.mp4 recolours
  its background every second; ContentDetector's score there is 61, above its threshold), so a cut also needs
  its edge map to change;
- its first frame out of black at a fade-in scores like a cut (testvideo.mp4 frame 394), so candidates inside
  a detected gradual transition are dropped.
- its HSV delta is small when two shots share a palette (two pans over similar textures score 20-26, under
  its threshold of 27), so a second, motion-compensated test looks at layout instead of colour: the global
  translation between consecutive frames is estimated by phase correlation, the previous frame is shifted by
  it, and each tile of the frame is compared by zero-mean normalised correlation (ZNCC). Within a shot the
  compensated tiles match even while the camera pans, tilts or zooms slowly; across a cut most tiles stop
  matching. ZNCC ignores gain and offset, so recolourings and fades do not raise it; a median over tiles
  ignores a caption band that stays across a cut. Its threshold is adaptive, as in PySceneDetect's
  AdaptiveDetector: a frame must stand out from the median of its neighbours (whip pans, aliasing stripes or
  noise keep the score high over a whole shot) and still reach AdaptiveDetector's minimum content score.
  It is computed only around frames whose content score could make a cut, so it costs little.
- a flash cut (the new shot opens on a white or black frame that then decays) looks like a fade out of that
  flat frame; when the flat frame arrives in one step from a picture (even a washed-out one, nearly flat
  itself) it is a hard cut at the flat frame.
- two saturated textures of the same brightness can differ in colour only: their luma is nearly flat, and a
  caption band that stays across the cut is then the only luma structure. The layout test therefore also
  compares the R, G and B planes of tiles textured in both frames (for frames that could cut), and a spike
  of mean RGB change over the neighbouring frames, with a layout change that stands out and spreads over the
  frame's height, is a cut too (a caption band popping in changes a strip or two of rows only).
- two faint textures (washed out, soft) under a caption band that stays: the band's tiles can be half of
  those with structure and hold the median down, so a step ContentDetector scores as a cut, that spikes in
  RGB and spreads over the frame's height, is also a cut on the upper quartile of its tile changes.
- near black, hue and saturation are noise and ContentDetector's score and edges fly: no cut is declared
  without a visible mean RGB change.
The minimum shot length is applied in seconds (PySceneDetect counts frames, which drifts on variable frame
rate).

Gradual transitions are our own code: PySceneDetect's ThresholdDetector reports single fade points against a
fixed brightness level, but we need spans, fades to white as well as black, and dissolves between shots.
- fade: a monotone ramp of mean luma, several frames long, with a large swing (or, from a dark picture to
  pure black, most of the way there), one end of which is a flat black or white frame; two big steps inside
  are two cuts, not a ramp. Its span is the part of the run a clamped linear ramp fits (a slow drift before
  it is not the fade).
- dissolve: a span whose middle frame is well explained as a linear blend of its end frames, with no single
  RGB step inside carrying most of the change, whose two end frames are two pictures: not correlated (each
  colour plane centred on its own mean, so one hue shared by two shots does not count) and not one picture
  moved (motion-compensated, by the translation accumulated frame by frame, or zoomed). Over a periodic or
  smooth texture a pan's middle frame is close to a blend of its ends, so the blend test alone is not
  enough. When the shots move, the blend is tried again on blurred frames (a slow zoom or tilt over a fine
  texture) and with each end moved to the middle frame by its own shot's motion (fast pans), both only for
  ends whose colour histograms differ (one picture that moves keeps its histogram). Each window is narrowed
  to the frames a clamped linear ramp of each frame's share of the two ends puts in the blend, windows are
  merged by those blends (two dissolves a short shot apart stay two), and the merged span is narrowed again;
  a blend that a fade already covers is that fade.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from encoder.types import DecodedVideo, Shot, Transition


@dataclass(frozen=True)
class ShotConfig:
    """Thresholds of the transition detector (luma levels on 0..255).

    ``threshold`` is ContentDetector's (its default, 27). ``min_edge_delta``: least edge-map change (mean
    over 0/255 edge maps) for a cut; layouts that do not move are recolourings, not cuts. ``min_shot_s``:
    cuts closer than this keep the strongest. ``min_layout_change``: least motion-compensated layout change
    (1 - median tile ZNCC, 0..2) that may replace the edge-map test (when also 4x the local median).
    Adaptive cuts (palettes too close for ``threshold``) need a content score of ``adaptive_min_content``
    (AdaptiveDetector's ``min_content_val``), a layout change of ``adaptive_min_change`` and
    ``adaptive_margin`` above the median change of the ``adaptive_window`` frames on each side. Fades: the
    luma ramp must swing at least ``fade_min_swing``
    over at least ``fade_min_frames`` frames and end (or start) on a flat frame darker than ``black_level``
    or brighter than ``white_level`` whose luma spread is below ``flat_std``.

    Every cut's layout change must be ``layout_standout`` x the median of its neighbours' (frames whose
    content score is under ``repeat_content`` between two of twice that are repeats and left out).
    Monochrome steps (both frames grey: mean saturation under ``mono_saturation``, or mean chroma under
    ``mono_chroma`` on a frame not darker than ``black_level``) may also cut on a luma change
    of ``mono_min_luma`` that is
    ``mono_luma_ratio`` x the mean of the two frames on each side, with a layout change of at least
    ``mono_min_layout_change``, spread over ``mono_min_spread`` of the frame's horizontal strips.

    A ramp from a picture to pure black (or white: within ``pure_level``) is a fade on a swing of
    ``fade_full_fraction`` of the way, at least ``fade_min_dark_swing``. Dissolves: ends at least
    ``dissolve_min_delta`` apart (mean RGB), no RGB step over ``dissolve_max_step`` of that, and ends that are
    not one picture moved (layout change of at least ``dissolve_min_layout_change``). No cut without a mean
    RGB change of ``min_rgb_step``; a spike of mean RGB change of ``spike_min_rgb``, ``spike_ratio`` x the
    median of its neighbours', is a cut when its layout change reaches ``min_layout_change`` and stands out.
    """

    threshold: float = 27.0
    min_edge_delta: float = 10.0
    min_layout_change: float = 0.15
    adaptive_min_content: float = 15.0
    adaptive_min_change: float = 0.5
    adaptive_margin: float = 0.4
    adaptive_window: int = 6
    min_shot_s: float = 0.4
    fade_min_swing: float = 32.0
    fade_min_dark_swing: float = 12.0
    fade_full_fraction: float = 0.75
    pure_level: float = 6.0
    fade_min_frames: int = 4
    fade_step_eps: float = 0.25
    fade_max_stall: int = 1
    black_level: float = 24.0
    white_level: float = 228.0
    flat_std: float = 16.0
    dissolves: bool = True
    dissolve_window_s: float = 0.5
    dissolve_min_delta: float = 20.0
    dissolve_max_residual: float = 0.3
    dissolve_max_step: float = 0.5
    dissolve_max_correlation: float = 0.9
    dissolve_moving: bool = True
    dissolve_min_layout_change: float = 0.5
    min_rgb_step: float = 2.0
    spike_min_rgb: float = 20.0
    spike_ratio: float = 4.0
    layout_standout: float = 5.0
    repeat_content: float = 1.0
    mono_saturation: float = 8.0
    mono_chroma: float = 4.0
    mono_min_luma: float = 8.0
    mono_luma_ratio: float = 3.0
    mono_min_layout_change: float = 0.03
    mono_min_spread: float = 0.5
    overlay_cuts: bool = True


@dataclass
class ThumbStats:
    """Per-thumbnail statistics of the transition detector, each row vs the previous thumbnail (row 0: vs
    nothing, zeros): what ``detect_transitions`` needs of every frame before it looks at candidates. They
    depend on one frame or two consecutive ones only, so ``ThumbStatsStream`` computes them chunk by chunk
    while the video decodes (``encoder.decode.decode``'s ``on_thumbs``), equal to ``thumb_stats`` of all."""

    luma: np.ndarray  # (n, h, w) uint8, Rec. 601
    mean: np.ndarray  # (n,) mean luma
    spread: np.ndarray  # (n,) luma standard deviation
    small: np.ndarray  # (n, k) float32: RGB of every other pixel, flattened
    # mean |RGB change| over ``small``'s pixels: the visible change, which ContentDetector's HSV score
    # overstates where hue and saturation are unstable (near black or grey)
    rgb_step: np.ndarray  # (n,)
    hsv_delta: np.ndarray  # (n, 3) ContentDetector's mean |change| of hue, saturation, value
    saturation: np.ndarray  # (n,) mean HSV saturation, every fourth pixel (monochrome footage is below ~8)
    # (n,) mean chroma (max - min of R, G, B), the same pixels. HSV saturation divides by the value, so the
    # compression noise of black areas (letterbox bars) reads as strong colour and a black-and-white frame
    # can score 30; chroma stays at the noise (black-and-white footage ~2, colour footage >= 8 on the real
    # videos).
    chroma: np.ndarray

    def __len__(self) -> int:
        return len(self.mean)


def thumb_stats(thumbs: np.ndarray, prev: np.ndarray | None = None) -> ThumbStats:
    """``ThumbStats`` of an (n, h, w, 3) RGB thumbnail stack; ``prev``: the thumbnail just before it, when
    the stack continues a video (the first row's changes are then measured against it)."""
    import cv2

    ext = thumbs if prev is None else np.concatenate([prev[None], thumbs])
    k = 0 if prev is None else 1
    n, h, w, _ = ext.shape
    luma = _luma(ext)
    flat = np.ascontiguousarray(ext).reshape(n * h, w, 3)
    sub = _decimate(flat, n, 2).reshape(n, -1)
    rgb_step = np.zeros(n, dtype=np.float64)
    hsv_delta = np.zeros((n, 3), dtype=np.float64)
    if n > 1:
        sums = cv2.reduce(cv2.absdiff(sub[1:], sub[:-1]), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S)
        rgb_step[1:] = np.asarray(sums, dtype=np.float64).ravel() / sub.shape[1]
        hsv = cv2.cvtColor(flat, cv2.COLOR_RGB2HSV).reshape(n, h, w, 3)
        diff = cv2.absdiff(hsv[1:].reshape(-1, w, 3), hsv[:-1].reshape(-1, w, 3)).reshape(n - 1, h, w, 3)
        # per-channel sums frame by frame (exact integers; a transposed copy of the stack costs 6x as much)
        chan = np.array([cv2.sumElems(d)[:3] for d in diff], dtype=np.float64)
        hsv_delta[1:] = chan / (h * w)
    q = _decimate(flat, n, 4)
    sat = cv2.cvtColor(q, cv2.COLOR_RGB2HSV)[:, :, 1].reshape(n, -1).mean(axis=1)
    # max - min over the planes by OpenCV (numpy's reductions over the last axis cost 40x as much here)
    r, g, b = cv2.split(q)
    spread_rgb = cv2.subtract(cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b))
    chroma = spread_rgb.reshape(n, -1).mean(axis=1)
    # Mean and standard deviation of luma frame by frame with OpenCV (numpy's over the stack, converting to
    # float64 twice, cost 10x as much): the mean as an exact integer sum over the pixel count (the value numpy
    # gives), the spread OpenCV's (within 1e-13 of numpy's).
    own = luma[k:]
    mean = np.array([cv2.sumElems(x)[0] for x in own], dtype=np.float64) / (h * w)
    spread = np.array([cv2.meanStdDev(x)[1][0, 0] for x in own], dtype=np.float64)
    return ThumbStats(
        luma=own,
        mean=mean,
        spread=spread,
        small=sub[k:].astype(np.float32),
        rgb_step=rgb_step[k:],
        hsv_delta=hsv_delta[k:],
        saturation=sat[k:],
        chroma=chroma[k:],
    )


def _decimate(tall: np.ndarray, n: int, step: int) -> np.ndarray:
    """Every ``step``-th row and column of each of the ``n`` frames stacked in ``tall`` ((n * h, w, 3)), as
    one tall contiguous array: OpenCV's nearest-neighbour resize picks exactly those pixels, at a tenth of the
    cost of numpy's strided copy, when the frame's sides are multiples of ``step``."""
    import cv2

    h, w = tall.shape[0] // n, tall.shape[1]
    if h % step == 0 and w % step == 0:
        out: np.ndarray = cv2.resize(tall, (w // step, n * h // step), interpolation=cv2.INTER_NEAREST)
        return out
    frames = tall.reshape(n, h, w, 3)[:, ::step, ::step]
    return np.ascontiguousarray(frames).reshape(-1, frames.shape[2], 3)


class ThumbStatsStream:
    """``ThumbStats`` built chunk by chunk (``add``, e.g. as ``decode``'s ``on_thumbs``); ``result`` equals
    ``thumb_stats`` of the whole stack.

    ``background=True`` computes them in a worker thread of their own (``add`` only queues the chunk): fed by
    ``decode``, this keeps its conversion thread, which is the busiest one at 720p and above, free to shrink
    frames (measured over the 13 real videos: the whole encode 1.89 -> 1.79x the decode floor against
    computing them in the conversion thread). ``close`` stops the worker without a result (idempotent).
    """

    def __init__(self, background: bool = False) -> None:
        import queue
        import threading

        self._parts: list[ThumbStats] = []
        self._prev: np.ndarray | None = None
        self._error: BaseException | None = None
        self._queue: queue.Queue[np.ndarray | None] | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.Queue()
            self._thread = threading.Thread(target=self._run, name="sv6d-thumb-stats", daemon=True)
            self._thread.start()

    def add(self, chunk: np.ndarray) -> None:
        """The next thumbnails (never modified afterwards)."""
        if self._queue is not None:
            self._queue.put(chunk)
        else:
            self._add(chunk)

    def _add(self, chunk: np.ndarray) -> None:
        if len(chunk):
            self._parts.append(thumb_stats(chunk, self._prev))
            self._prev = chunk[-1]

    def _run(self) -> None:
        assert self._queue is not None
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._add(chunk)
                except BaseException as exc:  # re-raised by result()
                    self._error = exc

    def close(self) -> None:
        """Stop the worker (when there is one) once the queued chunks are done."""
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def result(self) -> ThumbStats | None:
        """The statistics of every thumbnail added (None when none was); waits for the worker."""
        self.close()
        if self._error is not None:
            raise self._error
        if not self._parts:
            return None
        parts = self._parts
        return ThumbStats(
            *[np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(ThumbStats)]
        )


def detect_transitions(
    decoded: DecodedVideo, config: ShotConfig | None = None, stats: ThumbStats | None = None
) -> list[Transition]:
    """Hard cuts, fades and dissolves of a decoded video, sorted by time.

    A cut has ``start_s == end_s ==`` the time of the first frame of the new shot and evidence
    ``content_delta`` (ContentDetector's score) with its components; a fade or dissolve spans its first to its
    last changing frame. ``stats``: ``thumb_stats(decoded.thumbs)`` when already computed (e.g. by a
    ``ThumbStatsStream`` fed while decoding), else computed here.
    """
    cfg = config or ShotConfig()
    thumbs = decoded.thumbs
    times = np.asarray(decoded.thumb_times_s, dtype=np.float64)
    if len(thumbs) < 2:
        return []
    st = stats if stats is not None and len(stats) == len(thumbs) else thumb_stats(thumbs)
    luma, mean, spread, rgb_step, small = st.luma, st.mean, st.spread, st.rgb_step, st.small

    fades, flashes = _fades(mean, spread, times, cfg)
    fps = decoded.info.fps or 25.0
    scores = _content_scores(thumbs, fps, cfg.threshold, st.hsv_delta)
    # Chroma catches black-and-white footage whose black areas (letterbox bars) inflate HSV saturation; near
    # black, where both are noise and ContentDetector's score flies, the saturation rule alone stands (a
    # fade-in's first frames must not become monochrome luma-spike cut candidates).
    grey = (st.saturation < cfg.mono_saturation) | ((st.chroma < cfg.mono_chroma) & (mean >= cfg.black_level))
    mono = np.zeros(len(thumbs), dtype=bool)
    mono[1:] = grey[1:] & grey[:-1]
    # In monochrome footage hue and saturation carry nothing, so ContentDetector's three-channel mean is a
    # third of the luma change: there the luma change alone is the content score the layout test is gated on.
    # RGB spikes join the frames the layout test looks at only where they stand out from the frames around
    # (fast motion changes every frame by as much, and is no cut candidate)
    w = cfg.adaptive_window
    padded = np.pad(rgb_step, w, mode="edge")
    around = np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * w + 1), axis=1)
    gate = (
        (scores[:, 0] >= cfg.adaptive_min_content)
        | (mono & (scores[:, 3] >= cfg.mono_min_luma))
        | ((rgb_step >= cfg.spike_min_rgb) & (rgb_step >= cfg.spike_ratio * around))
    )
    # Frames in a fade (or two frames either side) are never cuts (``_cut_indices`` drops them), so their
    # layout change is computed only where a frame outside needs it for its local median.
    in_fade = _in_fade(times, fades)
    in_fade[list(flashes)] = False
    change, upper = _layout_change(thumbs, luma, gate, cfg, in_fade)
    cut_idx = _cut_indices(scores, change, times, fades, flashes, cfg, mono, luma, rgb_step, upper)
    # two near-black (or near-white) frames whose noise sends hue and edges flying are not a cut
    cut_idx = [i for i in cut_idx if i in flashes or rgb_step[i] >= cfg.min_rgb_step]
    gradual = list(fades)
    if cfg.dissolves:
        # A cut whose layout changed blocks a dissolve around it; one seen only in colour and edges may be the
        # first frame of a short dissolve (its blend step scores like a cut while its layout still matches).
        strong = [
            i
            for i in cut_idx
            if change[i] >= cfg.min_layout_change
            or i in flashes
            or (np.isnan(change[i]) and scores[i, 4] >= cfg.min_edge_delta)
        ]
        # a flash's decay into its new shot is part of the cut, not a dissolve out of the flat frame
        decays = [(float(times[a]), float(times[b])) for a, b in flashes.items()]
        spans = [(f.start_s, f.end_s) for f in fades] + decays
        dissolves = _dissolves(small, rgb_step, thumbs, luma, times, spans, strong, cfg)
        gradual += dissolves
        step = float(np.median(np.diff(times)))
        cut_idx = [
            i
            for i in cut_idx
            if i in strong
            or not any(d.start_s - 2 * step <= times[i] <= d.end_s + 2 * step for d in dissolves)
        ]
    cuts = [_cut(i, scores, change, times, i in flashes) for i in cut_idx]
    return sorted(cuts + gradual, key=lambda t: (t.start_s, t.end_s))


def _luma(thumbs: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of every thumbnail, (M, h, w) uint8, in one OpenCV call over the stacked frames."""
    import cv2

    n, h, w, _ = thumbs.shape
    gray = cv2.cvtColor(np.ascontiguousarray(thumbs).reshape(n * h, w, 3), cv2.COLOR_RGB2GRAY)
    return np.asarray(gray).reshape(n, h, w)


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


# ---------------------------------------------------------------------------------------------------------
# hard cuts


def _content_scores(
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
TILES = 4  # the layout test compares a TILES x TILES grid of tiles
LAYOUT_WIDTH = 64  # px: width of the luma frames the layout test works on
OVERLAY_QUANTILE = 0.75  # quantile of tile changes that looks past a caption band across a cut
FLAT_TILE_STD = 4.0  # luma std below which a tile has no structure to correlate
TEXTURED_TILE_STD = 12.0  # ... and above which it clearly has


def _layout_geometry(h: int, w: int) -> tuple[int, int]:
    """(height, width) of the small frames the layout test works on: LAYOUT_WIDTH wide (at most the
    thumbnail's width), a multiple of TILES high."""
    sw = min(LAYOUT_WIDTH, w)
    return max(TILES, round(h * sw / w / TILES) * TILES), sw


def _planes(thumb: np.ndarray, luma: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The small (sh, sw, 4) float32 frame of the layout test: luma, then R, G and B.

    Colour planes as well as luma: two bright, saturated textures can differ in chroma only (their luma
    nearly flat), and then a caption band that stays across the cut is the only luma structure left."""
    import cv2

    dsize = (size[1], size[0])
    out = np.empty((*size, 4), dtype=np.float32)
    out[..., 0] = cv2.resize(luma, dsize, interpolation=cv2.INTER_AREA)
    out[..., 1:] = cv2.resize(thumb, dsize, interpolation=cv2.INTER_AREA)
    return out


def _compensated(prev: np.ndarray, cur: np.ndarray, window: np.ndarray) -> np.ndarray:
    """``prev`` (sh, sw, planes) shifted by the global translation that phase correlation finds, on luma,
    from it to ``cur``."""
    import cv2

    # Zero-mean copies: a flat background whose level changes (a recolouring) would otherwise, through the
    # window, add a structure of its own and pull the peak; and OpenCV 4.x multiplies phaseCorrelate's
    # inputs by the window in place.
    a, b = np.ascontiguousarray(prev[..., 0]), np.ascontiguousarray(cur[..., 0])
    (dx, dy), _ = cv2.phaseCorrelate(a - a.mean(), b - b.mean(), window)
    sh, sw = prev.shape[:2]
    shift = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    warped = cv2.warpAffine(prev, shift, (sw, sh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(warped).reshape(prev.shape)


def _tiles(x: np.ndarray) -> np.ndarray:
    """(k, sh, sw, planes) frames as (k, planes, TILES * TILES, pixels) zero-mean tiles."""
    k, sh, sw, c = x.shape
    th, tw = sh // TILES, sw // TILES
    t = (
        x.reshape(k, TILES, th, TILES, tw, c)
        .transpose(0, 5, 1, 3, 2, 4)
        .reshape(k, c, TILES * TILES, th * tw)
    )
    return t - t.mean(axis=3, keepdims=True)


def _median_dissimilarity(a: np.ndarray, b: np.ndarray, upper: float | None = None) -> np.ndarray:
    """Per frame pair: median over tiles of 1 - ZNCC (NaN when fewer than TILES tiles have structure); with
    ``upper``, a (2, k) array: the medians, then that quantile of the same tiles.

    A tile's value is its luma dissimilarity, raised to that of a colour plane where that plane is clearly
    textured in both frames (a texture seen in chroma only is a layout too). ZNCC ignores each plane's gain
    and offset, so a recolouring of an unchanged layout stays similar in every plane."""
    sa, sb = np.sqrt((a * a).mean(axis=3)), np.sqrt((b * b).mean(axis=3))
    zncc = (a * b).mean(axis=3) / np.maximum(sa * sb, 1e-6)
    la, lb = sa[:, 0], sb[:, 0]
    both = (la > FLAT_TILE_STD) & (lb > FLAT_TILE_STD)
    # a tile whose texture appears or vanishes (a cut to a flat card) changed completely; one that stays
    # flat on both sides (a plain background, black) says nothing
    one = ((la > TEXTURED_TILE_STD) & (lb < FLAT_TILE_STD)) | (
        (lb > TEXTURED_TILE_STD) & (la < FLAT_TILE_STD)
    )
    dissim = np.where(both, 1.0 - zncc[:, 0], np.where(one, 1.0, np.nan))
    colour = (sa[:, 1:] > TEXTURED_TILE_STD) & (sb[:, 1:] > TEXTURED_TILE_STD)
    if colour.shape[1]:
        colour_dissim = np.where(colour, 1.0 - zncc[:, 1:], -np.inf).max(axis=1)
        dissim = np.where(colour.any(axis=1), np.fmax(dissim, colour_dissim), dissim)
    counted = (both | one | colour.any(axis=1)).sum(axis=1)
    qs = (0.5,) if upper is None else (0.5, upper)
    out = np.where(counted >= TILES, _nan_quantiles(dissim, qs), np.nan)
    return out[0] if upper is None else out


def _nan_quantiles(x: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """(len(qs), k): quantiles of each row of ``x`` (k, m) over its non-NaN values, interpolated linearly as
    ``np.nanquantile`` does (NaN for a row without values). One sort for all of them: numpy's nanmedian and
    nanquantile on many short rows cost more than the tile comparisons they summarise."""
    srt = np.sort(x, axis=1)  # NaNs sort last
    valid = np.count_nonzero(~np.isnan(x), axis=1)
    rows = np.arange(len(x))
    out = np.full((len(qs), len(x)), np.nan)
    last = np.maximum(valid - 1, 0)
    for j, q in enumerate(qs):
        pos = q * last
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, last)
        a, b = srt[rows, lo], srt[rows, hi]
        out[j] = np.where(valid > 0, a + (pos - lo) * (b - a), np.nan)
    return out


def _layout_dissimilarity(
    prev: np.ndarray, cur: np.ndarray, window: np.ndarray, upper: float | None = None
) -> np.ndarray:
    """1 - median tile ZNCC of ``cur`` (k, sh, sw, planes) against ``prev`` motion-compensated, per pair
    (with ``upper``: (2, k), the medians and that quantile over the tiles)."""
    shifted = np.stack([_compensated(a, b, window) for a, b in zip(prev, cur, strict=True)])
    target = _tiles(cur)
    # Phase correlation is unreliable on frames with little structure (a label on a plain background) or a
    # fine periodic one (stripes, where it may pick a wrong alias): the unshifted comparison is kept as
    # well, and the better of the two counts.
    return np.fmin(
        _median_dissimilarity(_tiles(shifted), target, upper),
        _median_dissimilarity(_tiles(prev), target, upper),
    )


def _layout_change(
    thumbs: np.ndarray, luma: np.ndarray, gate: np.ndarray, cfg: ShotConfig, no_cut: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per frame (vs the previous): 1 - median ZNCC of motion-compensated tiles (0..2); 0 where not computed,
    NaN where too few tiles have structure to tell (flat frames).

    Our own measure (PySceneDetect compares frames in place, so a pan over a similar palette is invisible to
    it and a pan over a busy texture looks like a cut to its edge test). Only frames that could make a cut are
    computed (``gate``: a content score of ``adaptive_min_content``, or a luma change of ``mono_min_luma`` in
    monochrome footage) and their ``adaptive_window`` neighbours (for the local median): elsewhere no cut
    can be declared. Also returns, per frame, the ``OVERLAY_QUANTILE`` of the same tiles (0 where not
    computed): a caption band that stays across a cut can hold half the tiles that have structure.
    ``no_cut``: frames that cannot become cuts whatever their change (inside fades); gated ones are computed
    only as neighbours of the others, as they would be if they could.
    """
    import cv2

    n = len(luma)
    out = np.zeros((2, n), dtype=np.float64)
    could = gate if no_cut is None else gate & ~no_cut
    if not could.any():
        return out[0], out[1]
    need = np.zeros(n, dtype=bool)
    w = cfg.adaptive_window
    for i in np.flatnonzero(could):
        need[max(1, i - w) : min(n, i + w + 1)] = True
    idx = np.flatnonzero(need)
    cand = np.flatnonzero(could | (gate & need))
    size = _layout_geometry(*luma.shape[1:])
    small = np.zeros((n, *size, 4), dtype=np.float32)
    for i in np.union1d(idx, idx - 1):
        small[i, ..., 0] = cv2.resize(luma[i], (size[1], size[0]), interpolation=cv2.INTER_AREA)
    for i in np.union1d(cand, cand - 1):
        small[i] = _planes(thumbs[i], luma[i], size)
    window = cv2.createHanningWindow((size[1], size[0]), cv2.CV_32F)
    # Colour planes only where a cut could be declared; the neighbours, which only set the local median,
    # are compared in luma (a quarter of the work; colour could only raise their values).
    rest = np.setdiff1d(idx, cand)
    if len(rest):
        out[:, rest] = _layout_dissimilarity(
            small[rest - 1, ..., :1], small[rest, ..., :1], window, OVERLAY_QUANTILE
        )
    out[:, cand] = _layout_dissimilarity(small[cand - 1], small[cand], window, OVERLAY_QUANTILE)
    return out[0], out[1]


def _cut_indices(
    scores: np.ndarray,
    change: np.ndarray,
    times: np.ndarray,
    fades: list[Transition],
    flashes: dict[int, int],
    cfg: ShotConfig,
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
    in_fade = _in_fade(times, fades)
    cand = [i for i in cand if not in_fade[i]]
    # Keep the strongest of candidates closer than min_shot_s (flashes first: their decay frames are cut-like
    # too; then by content score and layout change together).
    kept: list[int] = []
    strength = np.where(mono, lum, content) / cfg.threshold + np.nan_to_num(change) / cfg.adaptive_min_change
    for k in sorted(set(cand) | set(flashes), key=lambda j: (j not in flashes, -float(strength[j]))):
        if all(abs(times[k] - times[j]) >= cfg.min_shot_s for j in kept):
            kept.append(k)
    return sorted(kept)


def _in_fade(times: np.ndarray, fades: list[Transition]) -> np.ndarray:
    """Per frame: inside a fade or within two frames of it (the first frame out of black scores like a cut;
    no cut is declared there)."""
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    out = np.zeros(len(times), dtype=bool)
    for f in fades:
        out |= (times >= f.start_s - 2 * step) & (times <= f.end_s + 2 * step)
    return out


def _row_spread(luma: np.ndarray, i: int, level: float = 0.5) -> float:
    """Share of the frame's MONO_STRIPS horizontal strips whose luma changed from frame i - 1 to i by at
    least ``level`` times as much as the most changed strip's."""
    diff = np.abs(luma[i].astype(np.float32) - luma[i - 1].astype(np.float32)).mean(axis=1)
    strips = np.array([x.mean() for x in np.array_split(diff, MONO_STRIPS)])
    return float((strips >= level * strips.max()).mean()) if strips.max() > 0 else 0.0


def _cut(i: int, scores: np.ndarray, change: np.ndarray, times: np.ndarray, flash: bool) -> Transition:
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


# ---------------------------------------------------------------------------------------------------------
# fades


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


def _full_fade_swing(mean: np.ndarray, a: int, b: int, cfg: ShotConfig) -> float:
    """The least swing of a ramp over frames [a, b] that ends on pure black (or white) to be a fade: a dark
    picture fading to black swings less than ``fade_min_swing`` and is still a fade when it covers most of the
    way (``fade_full_fraction``), never less than ``fade_min_dark_swing``; any other ramp needs
    ``fade_min_swing`` (inf here)."""
    lo, hi = (a, b) if mean[a] <= mean[b] else (b, a)
    if mean[lo] <= cfg.pure_level:
        return max(cfg.fade_min_dark_swing, cfg.fade_full_fraction * float(mean[hi]))
    if mean[hi] >= 255.0 - cfg.pure_level:
        return max(cfg.fade_min_dark_swing, cfg.fade_full_fraction * (255.0 - float(mean[lo])))
    return float("inf")


def _fades(
    mean: np.ndarray, spread: np.ndarray, times: np.ndarray, cfg: ShotConfig
) -> tuple[list[Transition], dict[int, int]]:
    """Fades, and flash cuts (a ramp out of a flat frame that arrived in one step) as the frame index of the
    flat frame mapped to the last frame of its decay."""
    out: list[Transition] = []
    flashes: dict[int, int] = {}
    runs = _monotone_runs(mean, cfg.fade_step_eps, cfg.fade_max_stall)
    while runs:
        a, b = runs.pop(0)
        swing = float(mean[b] - mean[a])
        if b - a < cfg.fade_min_frames or abs(swing) < min(
            cfg.fade_min_swing, _full_fade_swing(mean, a, b, cfg)
        ):
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
        picture_before = a > 0 and (
            spread[a - 1] > 2 * cfg.flat_std or jump >= cfg.fade_min_swing or vanished
        )
        if starts_flat and picture_before:
            flashes[a] = b
            continue
        # [a, b] runs from one frame before the first changed frame to the frame where the ramp arrives; a
        # slow drift of the picture before a fade (a pan darkening) joins the monotone run, so the ramp is
        # the part a clamped linear fit finds: from its first dimmed frame to its last.
        p, q = _fit_ramp((mean[a : b + 1] - mean[b]) / (mean[a] - mean[b]))
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


# ---------------------------------------------------------------------------------------------------------
# dissolves


def _dissolves(
    small: np.ndarray,
    rgb_step: np.ndarray,
    thumbs: np.ndarray,
    luma: np.ndarray,
    times: np.ndarray,
    gradual: list[tuple[float, float]],
    cut_idx: list[int],
    cfg: ShotConfig,
) -> list[Transition]:
    """Spans (outside the ``gradual`` spans of fades and flash decays) where frames m-k and m+k differ a
    lot, no step between them is cut-like, frame m is a blend of the two ends, and the two ends are different
    pictures (not one picture moved), tried at the DISSOLVE_WINDOWS half-windows (x ``dissolve_window_s / 2``)
    (dissolves run from a few frames to a couple of seconds). Our own code: PySceneDetect has no dissolve
    detector."""
    import cv2

    n = len(times)
    if n < 5:
        return []
    step = float(np.median(np.diff(times)))
    half = cfg.dissolve_window_s / 2 / max(step, 1e-3)
    is_cut = np.zeros(n, dtype=bool)
    is_cut[cut_idx] = True
    # RGB (``small``, every other pixel), not luma: two shots of equal brightness but different colours
    # blend visibly in RGB only. A dissolve spreads its change over its frames; a cut puts most of it into
    # one step (``rgb_step``). Measured in RGB, not by ContentDetector's HSV score: hue is unstable where a
    # blend passes through grey or black, and scores like a cut on a smooth ramp.
    size = _layout_geometry(*luma.shape[1:])
    window = cv2.createHanningWindow((size[1], size[0]), cv2.CV_32F)
    shrunk: dict[int, np.ndarray] = {}

    def layout(i: int) -> np.ndarray:
        if i not in shrunk:
            shrunk[i] = _planes(thumbs[i], luma[i], size)
        return shrunk[i]

    steps: dict[int, tuple[np.ndarray, float]] = {}

    def shift_into(i: int) -> tuple[np.ndarray, float]:
        """Global translation from frame i - 1 to frame i (layout pixels) and phase correlation's peak."""
        if i not in steps:
            x, y = layout(i - 1)[..., 0], layout(i)[..., 0]
            (dx, dy), response = cv2.phaseCorrelate(x - x.mean(), y - y.mean(), window)
            steps[i] = (np.array([dx, dy]), float(response))
        return steps[i]

    def travel(a: int, b: int) -> np.ndarray:
        """Global translation accumulated from frame a to b, step by step (phase correlation is reliable
        for the small shift of one frame, not for the large one over a window of a pan over fine stripes).
        A step whose correlation peak is weak (a caption band popping in over the pan) gives a wrong shift;
        the camera moves smoothly, so such a step counts as the median of the window's reliable steps."""
        found = [shift_into(i) for i in range(a + 1, b + 1)]
        shifts = np.array([f[0] for f in found])
        reliable = np.array([f[1] >= MIN_PEAK_RESPONSE for f in found])
        if reliable.any() and not reliable.all():
            shifts[~reliable] = np.median(shifts[reliable], axis=0)
        return shifts.sum(axis=0)

    h2, w2 = (thumbs.shape[1] + 1) // 2, (thumbs.shape[2] + 1) // 2
    to_small = np.array([w2 / size[1], h2 / size[0]])

    def moved_blend(a: int, m: int, b: int) -> tuple[float, float, float]:
        """The blend test with each end moved to frame m by its own shot's motion. Two moving shots that
        dissolve (fast pans) leave a large residual against their ends as they stand. Each end's shift is
        predicted from its shot's motion (shot A's as it enters the window, frame a - 1 to a; shot B's as
        it leaves it, b to b + 1), then refined by phase correlation against frame m, where the end's own
        picture is the component that correlates (one step's shift is biased on sub-pixel motion, and the
        bias adds up over a window). Returns (alpha, residual, the moved ends' delta); a delta of 0 where
        a motion cannot be measured."""
        if a < 1 or b + 1 >= n:
            return 0.0, np.inf, 0.0
        (va, ra), (vb, rb) = shift_into(a), shift_into(b + 1)
        if min(ra, rb) < MIN_PEAK_RESPONSE:
            return 0.0, np.inf, 0.0
        target = layout(m)[..., 0]
        target = target - target.mean()
        sh, sw = size
        ends = []
        for i, v in ((a, va * (m - a)), (b, -vb * (b - m))):
            predicted = np.array([[1, 0, v[0]], [0, 1, v[1]]], dtype=np.float32)
            moved = cv2.warpAffine(
                layout(i)[..., 0],
                predicted,
                (sw, sh),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
            (rx, ry), _ = cv2.phaseCorrelate(moved - moved.mean(), target, window)
            dx, dy = (v + np.array([rx, ry])) * to_small
            warp = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
            frame = small[i].reshape(h2, w2, 3)
            ends.append(
                np.asarray(
                    cv2.warpAffine(
                        frame, warp, (w2, h2), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
                    )
                ).ravel()
            )
        delta = float(np.abs(ends[0] - ends[1]).mean())
        alpha, rel = _blend_fit(ends[0], ends[1], small[m], delta)
        return alpha, rel, delta

    blurred: dict[int, np.ndarray] = {}
    histograms: dict[int, np.ndarray] = {}

    def histogram(i: int) -> np.ndarray:
        if i not in histograms:
            histograms[i] = _histogram(small[i])
        return histograms[i]

    def soft(i: int) -> np.ndarray:
        if i not in blurred:
            frame = small[i].reshape(h2, w2, 3)
            blurred[i] = np.asarray(cv2.GaussianBlur(frame, (0, 0), BLEND_BLUR_SIGMA)).ravel()
        return blurred[i]

    hits: list[tuple[int, int, int, int, float, float]] = []
    accepted: list[tuple[int, int]] = []
    # Largest windows first: a window inside one already accepted adds nothing to the merged span, and its
    # tests (the one-picture test above all) are skipped.
    for k in sorted({max(2, round(half * f)) for f in DISSOLVE_WINDOWS}, reverse=True):
        centres = np.arange(k, n - k, max(1, k // 2))
        if not len(centres):
            continue
        # The two cheapest tests for every window of this size at once (most windows fail them): ends far
        # enough apart, and no step inside carrying most of the change.
        deltas = _end_deltas(small, centres - k, centres + k)
        biggest = np.lib.stride_tricks.sliding_window_view(rgb_step[1:], 2 * k).max(axis=1)[centres - k]
        passing = (deltas >= cfg.dissolve_min_delta) & (biggest <= cfg.dissolve_max_step * deltas)
        for m, delta in zip(centres[passing].tolist(), deltas[passing].tolist(), strict=True):
            a, b = m - k, m + k
            if is_cut[a + 1 : b + 1].any() or any(a0 <= a and b <= b0 for a0, b0 in accepted):
                continue
            if any(s0 - step <= times[m] <= s1 + step for s0, s1 in gradual):
                continue
            fa, fb, fm = small[a], small[b], small[m]
            # Ends with the same layout (a brightness or exposure ramp inside one shot) are not two shots.
            corr = _correlation(fa, fb)
            if corr > cfg.dissolve_max_correlation:
                continue
            alpha, rel = _blend_fit(fa, fb, fm, delta)
            # A blend sits between its ends; a camera move over the same span leaves a large residual.
            if (
                (rel > cfg.dissolve_max_residual or not 0.2 <= alpha <= 0.8)
                and cfg.dissolve_moving
                and _histogram_distance(histogram(a), histogram(b)) >= MOVING_MIN_HISTOGRAM_DISTANCE
            ):
                # ... unless the shots move, and the ends' colour histograms differ (a picture that moves
                # keeps its histogram, and the motion-tolerant tests below can pass a pan over stripes whose
                # shift phase correlation aliases). A slow zoom or tilt shifts a fine texture by a pixel or
                # two, enough to leave a residual: blurred frames (a blend of the blurred ends still, blurring
                # being linear) keep the shapes that stayed, for ends that are plainly two pictures (blurred,
                # a hand moving over its own shot blends its ends as well). Faster moves (pans) need the ends
                # moved to the middle frame; moved ends must still differ: within one panning shot they meet.
                if corr <= BLUR_MAX_CORRELATION:
                    sa, sb = soft(a), soft(b)
                    alpha, rel = _blend_fit(sa, sb, soft(m), float(np.abs(sa - sb).mean()))
                if rel > cfg.dissolve_max_residual or not 0.2 <= alpha <= 0.8:
                    alpha, rel, moved_delta = moved_blend(a, m, b)
                    if moved_delta < cfg.dissolve_min_delta:
                        continue
            if rel > cfg.dissolve_max_residual or not 0.2 <= alpha <= 0.8:
                continue
            # ... but not always: over a periodic or smooth texture a pan's middle frame is close to a blend
            # of its ends (shifted sinusoids are linear combinations of each other). A dissolve's ends are
            # two pictures; a camera move's are one picture, shifted, so the motion-compensated layout test
            # of the cuts tells them apart.
            if _one_picture(
                layout(a), layout(b), window, cfg.dissolve_min_layout_change, functools.partial(travel, a, b)
            ):
                continue
            accepted.append((a, b))
            # trim frames that do not change at either end of the window
            while a + 1 < b and rgb_step[a + 1] < 0.5:
                a += 1
            while b - 1 > a and rgb_step[b] < 0.5:
                b -= 1
            p, q = _blend_ramp(small, a, b)
            hits.append((a, b, a + p + 1, a + q - 1, delta, rel))
    # Windows are merged by the blends they hold (each window's own ramp fit), not by the windows
    # themselves: two dissolves with a short shot between them have overlapping windows, and one span over
    # both would fit neither ramp. A merged span keeps its windows' reach (its ends lie on the two shots,
    # which ``_ramp_span`` needs) up to the neighbouring blends.
    groups: list[list[tuple[int, int, int, int, float, float]]] = []
    for hit in sorted(hits, key=lambda h: (h[2], h[3])):
        if groups and hit[2] <= max(h[3] for h in groups[-1]) + 1:
            groups[-1].append(hit)
        else:
            groups.append([hit])
    out: list[Transition] = []
    for g, group in enumerate(groups):
        a = min(h[0] for h in group)
        b = max(h[1] for h in group)
        if g > 0:
            a = max(a, max(h[3] for h in groups[g - 1]))
        if g + 1 < len(groups):
            b = min(b, min(h[2] for h in groups[g + 1]))
        delta = max(h[4] for h in group)
        out.append(
            Transition(
                kind="dissolve",
                start_s=float(times[min(a + 1, b)]),
                end_s=float(times[b]),
                score=delta,
                evidence={"rgb_delta": round(delta, 2), "blend_residual": round(min(h[5] for h in group), 3)},
            )
        )
    # A fade from or to a nearly flat picture (a washed-out white, a dark grey) that blends into a textured
    # one is also a blend of its ends; the fade already stands for it.
    return [
        d
        for d in (_ramp_span(t, small, times) for t in out)
        if not any(d.start_s <= s1 + step and s0 - step <= d.end_s for s0, s1 in gradual)
    ]


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
    """(p, q) of ``_fit_ramp`` over frames a..b: each frame's share of frame a against frame b."""
    if b - a < 3:
        return 0, b - a
    diff = small[a] - small[b]
    return _fit_ramp((small[a : b + 1] - small[b]) @ diff / max(float(diff @ diff), 1e-6))


def _fit_ramp(alpha: np.ndarray) -> tuple[int, int]:
    """(p, q), p + 2 <= q: the clamped linear ramp (1 up to index p, 0 from index q, linear between) that
    fits ``alpha`` best in least squares; the ramp's changing samples are p + 1 .. q - 1."""
    n = len(alpha)
    idx = np.arange(n, dtype=np.float64)
    best, span = np.inf, (0, n - 1)
    for p in range(0, n - 2):
        q = np.arange(p + 2, n, dtype=np.float64)
        ramps = np.clip((q[:, None] - idx[None, :]) / (q[:, None] - p), 0.0, 1.0)
        err = ((ramps - alpha[None, :]) ** 2).sum(axis=1)
        k = int(np.argmin(err))
        if err[k] < best:
            best, span = float(err[k]), (p, int(q[k]))
    return span


BLEND_BLUR_SIGMA = 1.5  # px (of the 64-px-wide blend frames): the blur of the slow-motion blend test
BLUR_MAX_CORRELATION = 0.5  # ... and the most its window's ends may correlate (per colour plane)
# least colour-histogram distance of a window's ends for the motion-tolerant blend tests (one picture moving:
# 0.03-0.05, 0.16 with a caption band popping in; dissolves between moving shots of the corpus: 0.8-1.0)
MOVING_MIN_HISTOGRAM_DISTANCE = 0.3
MIN_PEAK_RESPONSE = 0.3  # phase correlation's peak response under which a frame-to-frame shift is a guess
DISSOLVE_WINDOWS = (0.5, 0.75, 1.0, 1.5, 2.0)  # half-windows tried, in units of dissolve_window_s / 2
# scale factors tried between a span's ends: steps of 0.04 in log scale, out to +-0.4 (1.5x)
ZOOMS = tuple(float(np.exp(s * 0.04)) for k in range(1, 11) for s in (k, -k))


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

    change = _layout_dissimilarity(prev[None], cur[None], window)[0]
    if np.isnan(change):
        return False
    if change < max_change:
        return True
    sh, sw = prev.shape[:2]
    dx, dy = travel()
    shift = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    moved = cv2.warpAffine(prev, shift, (sw, sh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    tiles = _tiles(cur[None])
    if _median_dissimilarity(_tiles(np.asarray(moved).reshape(prev.shape)[None]), tiles)[0] < max_change:
        return True
    # (all planes: in luma alone, two pictures of similar structure can pass for one zoomed)
    scaled = []
    for z in ZOOMS:
        m = cv2.getRotationMatrix2D(((sw - 1) / 2, (sh - 1) / 2), 0.0, z)
        warped = cv2.warpAffine(prev, m, (sw, sh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        scaled.append(np.asarray(warped).reshape(prev.shape))
    target = np.broadcast_to(cur, (len(scaled), *cur.shape))
    return bool(np.nanmin(_layout_dissimilarity(np.stack(scaled), target, window)) < max_change)


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
