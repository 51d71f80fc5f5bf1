"""Layout geometry: the motion-compensated layout test shared by the cut and dissolve detectors.

Frames are shrunk to ``LAYOUT_WIDTH`` pixels wide (luma, and R, G, B where colour matters), the global
translation between two frames is estimated by phase correlation, and a TILES x TILES grid of tiles is
compared by zero-mean normalised correlation (ZNCC): the layout change is 1 - the median tile ZNCC (0..2).
Within a shot the compensated tiles match even while the camera pans, tilts or zooms slowly; across a cut
most tiles stop matching. ZNCC ignores gain and offset, so recolourings and fades do not raise it.
"""

from __future__ import annotations

import numpy as np

TILES = 4  # the layout test compares a TILES x TILES grid of tiles
LAYOUT_WIDTH = 64  # px: width of the luma frames the layout test works on
OVERLAY_QUANTILE = 0.75  # quantile of tile changes that looks past a caption band across a cut
FLAT_TILE_STD = 4.0  # luma std below which a tile has no structure to correlate
TEXTURED_TILE_STD = 12.0  # ... and above which it clearly has


def layout_geometry(h: int, w: int) -> tuple[int, int]:
    """(height, width) of the small frames the layout test works on: LAYOUT_WIDTH wide (at most the
    thumbnail's width), a multiple of TILES high."""
    sw = min(LAYOUT_WIDTH, w)
    return max(TILES, round(h * sw / w / TILES) * TILES), sw


def layout_planes(thumb: np.ndarray, luma: np.ndarray, size: tuple[int, int]) -> np.ndarray:
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


def tiles(x: np.ndarray) -> np.ndarray:
    """(k, sh, sw, planes) frames as (k, planes, TILES * TILES, pixels) zero-mean tiles."""
    k, sh, sw, c = x.shape
    th, tw = sh // TILES, sw // TILES
    t = (
        x.reshape(k, TILES, th, TILES, tw, c)
        .transpose(0, 5, 1, 3, 2, 4)
        .reshape(k, c, TILES * TILES, th * tw)
    )
    return t - t.mean(axis=3, keepdims=True)


def median_dissimilarity(a: np.ndarray, b: np.ndarray, upper: float | None = None) -> np.ndarray:
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


def layout_dissimilarity(
    prev: np.ndarray, cur: np.ndarray, window: np.ndarray, upper: float | None = None
) -> np.ndarray:
    """1 - median tile ZNCC of ``cur`` (k, sh, sw, planes) against ``prev`` motion-compensated, per pair
    (with ``upper``: (2, k), the medians and that quantile over the tiles)."""
    shifted = np.stack([_compensated(a, b, window) for a, b in zip(prev, cur, strict=True)])
    target = tiles(cur)
    # Phase correlation is unreliable on frames with little structure (a label on a plain background) or a
    # fine periodic one (stripes, where it may pick a wrong alias): the unshifted comparison is kept as
    # well, and the better of the two counts.
    return np.fmin(
        median_dissimilarity(tiles(shifted), target, upper),
        median_dissimilarity(tiles(prev), target, upper),
    )


def layout_change(
    thumbs: np.ndarray, luma: np.ndarray, gate: np.ndarray, neighbours: int, no_cut: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per frame (vs the previous): 1 - median ZNCC of motion-compensated tiles (0..2); 0 where not computed,
    NaN where too few tiles have structure to tell (flat frames).

    Our own measure (PySceneDetect compares frames in place, so a pan over a similar palette is invisible to
    it and a pan over a busy texture looks like a cut to its edge test). Only frames that could make a cut are
    computed (``gate``: ``encoder.transitions.cuts.layout_gate``) and the ``neighbours`` frames on each side
    of them (for the local median): elsewhere no cut can be declared. Also returns, per frame, the
    ``OVERLAY_QUANTILE`` of the same tiles (0 where not computed): a caption band that stays across a cut
    can hold half the tiles that have structure.
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
    w = neighbours
    for i in np.flatnonzero(could):
        need[max(1, i - w) : min(n, i + w + 1)] = True
    idx = np.flatnonzero(need)
    cand = np.flatnonzero(could | (gate & need))
    size = layout_geometry(*luma.shape[1:])
    small = np.zeros((n, *size, 4), dtype=np.float32)
    for i in np.union1d(idx, idx - 1):
        small[i, ..., 0] = cv2.resize(luma[i], (size[1], size[0]), interpolation=cv2.INTER_AREA)
    for i in np.union1d(cand, cand - 1):
        small[i] = layout_planes(thumbs[i], luma[i], size)
    window = cv2.createHanningWindow((size[1], size[0]), cv2.CV_32F)
    # Colour planes only where a cut could be declared; the neighbours, which only set the local median,
    # are compared in luma (a quarter of the work; colour could only raise their values).
    rest = np.setdiff1d(idx, cand)
    if len(rest):
        out[:, rest] = layout_dissimilarity(
            small[rest - 1, ..., :1], small[rest, ..., :1], window, OVERLAY_QUANTILE
        )
    out[:, cand] = layout_dissimilarity(small[cand - 1], small[cand], window, OVERLAY_QUANTILE)
    return out[0], out[1]
