"""Every-frame picture evidence from the thumbnails: sharpness along each axis, change per region of a grid,
straight seams, blended in-between frames and colour continuity from one frame to the next.

Why these: the analysis frames (4 fps) are too sparse to see a 0.2 s whip, a frame that is the average of its
neighbours (slow motion made by blending frames), or two pictures side by side that change independently,
while the every-frame thumbnails the transition detector already decoded see all three at no decoding cost.
Each is a physical property of the picture sequence, not of what it shows:

- a whip pan blurs the picture along one axis for a few frames (``grad_x`` / ``grad_y`` fall unevenly);
- a split screen or picture in picture leaves a straight seam that stays put while the picture changes
  (``col_edges`` / ``row_edges``), and grid regions that change at different moments (``regions``);
- slow motion by frame blending makes a frame close to the mean of its neighbours (``blend`` against
  ``span``), a real moving picture does not;
- a jump cut joins two frames of one take, a montage two moments that look different (``hist_sim``).

Window features built from them are in ``features`` (their layout table); this module only measures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

GRID = 3  # regions per side of the change grid
HIST_LEVELS = 4  # colour-histogram levels per channel (64 colours)
EDGE_PERCENTILE = 20  # a seam is an edge along most of the line: this percentile of the line's gradient
CHUNK = 256  # thumbnails processed at once (bounds the float copies of long videos)


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.float32)


@dataclass
class PictureTrack:
    """Per thumbnail (every decoded frame), all float32; index 0 has no previous frame (changes are 0)."""

    grad_x: np.ndarray = field(default_factory=_empty)  # (M,) mean |d grey / dx| (grey levels)
    grad_y: np.ndarray = field(default_factory=_empty)  # (M,) mean |d grey / dy|
    regions: np.ndarray = field(default_factory=_empty)  # (M, GRID ** 2) mean |grey - previous| per cell
    col_edges: np.ndarray = field(default_factory=_empty)  # (M, W - 1) EDGE_PERCENTILE over rows of |d/dx|
    row_edges: np.ndarray = field(default_factory=_empty)  # (M, H - 1) EDGE_PERCENTILE over columns of |d/dy|
    blend: np.ndarray = field(default_factory=_empty)  # (M,) mean |grey - mean of neighbours|; nan at ends
    span: np.ndarray = field(default_factory=_empty)  # (M,) mean |next - previous| / 2; nan at ends
    hist_sim: np.ndarray = field(default_factory=_empty)  # (M,) colour-histogram intersection with previous

    def __len__(self) -> int:
        return len(self.grad_x)


def _grey(thumbs: np.ndarray) -> np.ndarray:
    """(n, H, W) float32 Rec.601 grey of (n, H, W, 3) RGB uint8 thumbnails."""
    t = thumbs.astype(np.float32)
    return t[..., 0] * 0.299 + t[..., 1] * 0.587 + t[..., 2] * 0.114


def _histograms(thumbs: np.ndarray) -> np.ndarray:
    """(n, HIST_LEVELS ** 3) normalised colour histograms (OpenCV, one call a thumbnail)."""
    import cv2

    out = np.empty((len(thumbs), HIST_LEVELS**3), np.float32)
    for i, thumb in enumerate(thumbs):
        h = cv2.calcHist([thumb], [0, 1, 2], None, [HIST_LEVELS] * 3, [0, 256] * 3).ravel()
        out[i] = h / max(float(h.sum()), 1.0)
    return out


def _percentile(a: np.ndarray, q: float, axis: int) -> np.ndarray:
    """``np.percentile(a, q, axis)`` (linear interpolation) by partial sorting: same values, less time."""
    n = a.shape[axis]
    k = q / 100.0 * (n - 1)
    lo = int(np.floor(k))
    hi = min(lo + 1, n - 1)
    part = np.partition(a, [lo, hi], axis=axis)
    a_lo, a_hi = np.take(part, lo, axis=axis), np.take(part, hi, axis=axis)
    return a_lo + (k - lo) * (a_hi - a_lo)


def picture_track(thumbs: np.ndarray) -> PictureTrack:
    """Measure every thumbnail of an (M, H, W, 3) RGB uint8 stack (see ``PictureTrack``)."""
    m = len(thumbs)
    if m == 0 or thumbs.ndim != 4:
        return PictureTrack()
    _, h, w, _ = thumbs.shape
    gx, gy = np.zeros(m, np.float32), np.zeros(m, np.float32)
    regions = np.zeros((m, GRID * GRID), np.float32)
    cols, rows = np.zeros((m, max(0, w - 1)), np.float32), np.zeros((m, max(0, h - 1)), np.float32)
    blend, span = np.full(m, np.nan, np.float32), np.full(m, np.nan, np.float32)
    hist_sim = np.ones(m, np.float32)
    ys = [i * h // GRID for i in range(GRID + 1)]
    xs = [j * w // GRID for j in range(GRID + 1)]
    prev_grey: np.ndarray | None = None
    prev_hist: np.ndarray | None = None
    for lo in range(0, m, CHUNK):
        hi = min(m, lo + CHUNK)
        g = _grey(thumbs[lo:hi])
        dx, dy = np.abs(np.diff(g, axis=2)), np.abs(np.diff(g, axis=1))
        gx[lo:hi], gy[lo:hi] = dx.mean(axis=(1, 2)), dy.mean(axis=(1, 2))
        if w > 1:
            cols[lo:hi] = _percentile(dx, EDGE_PERCENTILE, axis=1)
        if h > 1:
            rows[lo:hi] = _percentile(dy, EDGE_PERCENTILE, axis=2)
        # changes against the previous frame, the chunk's first against the last of the chunk before
        ext = g if prev_grey is None else np.concatenate([prev_grey[None], g])
        change = np.abs(np.diff(ext, axis=0))
        first = lo + (1 if prev_grey is None else 0)
        for i in range(GRID):
            for j in range(GRID):
                cell = change[:, ys[i] : ys[i + 1], xs[j] : xs[j + 1]]
                regions[first:hi, i * GRID + j] = cell.mean(axis=(1, 2))
        hist = _histograms(thumbs[lo:hi])
        ext_hist = hist if prev_hist is None else np.concatenate([prev_hist[None], hist])
        hist_sim[first:hi] = np.minimum(ext_hist[1:], ext_hist[:-1]).sum(axis=1)
        # in-between frames: frame t against frames t - 1 and t + 1 (the chunk's neighbours included)
        nxt = _grey(thumbs[hi : hi + 1]) if hi < m else None
        trip = ext if nxt is None else np.concatenate([ext, nxt])
        if len(trip) >= 3:
            mid = 0.5 * (trip[:-2] + trip[2:])
            centre = lo + (0 if prev_grey is None else -1) + 1
            k = len(trip) - 2
            blend[centre : centre + k] = np.abs(trip[1:-1] - mid).mean(axis=(1, 2))
            span[centre : centre + k] = 0.5 * np.abs(trip[2:] - trip[:-2]).mean(axis=(1, 2))
        prev_grey, prev_hist = g[-1], hist[-1]
    return PictureTrack(gx, gy, regions, cols, rows, blend, span, hist_sim)
