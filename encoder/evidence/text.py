"""On-screen text evidence: rendered text lines found as dense, high-contrast horizontal edge bands.

Why this approach: rendered captions and titles are lines of strokes with strong contrast against what is
behind them (outlines, bands, shadows), of a fixed height and many times wider than tall. A morphological
gradient marks the strokes, a horizontal closing fuses the characters of a line into one blob, and connected
components with shape tests keep line-shaped blobs. It costs ~1 ms per 320 px frame with OpenCV, needs no
model (MSER or a learned detector such as EAST would be slower and need tuning or weights), and natural
textures fail the shape tests because their edges do not form isolated, flat, wide bands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEXT_WIDTH = 320  # px: analysis width for the text pass
GRADIENT_THRESHOLD = 90  # morphological gradient (0-255) marking a text stroke edge: rendered text is crisp
MIN_LINE_H_FRAC = 0.025  # a text line is at least 2.5% of the frame height ...
MAX_LINE_H_FRAC = 0.2  # ... and at most 20%
MIN_LINE_W_FRAC = 0.08  # at least 8% of the frame width (a short word)
MIN_ASPECT = 1.8  # width / height of a line blob (two capitals and a space already reach ~2)
MIN_FILL = 0.45  # share of the blob's box covered by the closed mask (a line, not a diagonal streak)
MIN_EDGE_DENSITY = 0.12  # share of stroke-edge pixels inside the box (text is dense in edges)
MAX_EDGE_DENSITY = 0.85


@dataclass
class FrameText:
    """Per analysis frame: share of the frame covered by text-line boxes, and their mean vertical centre."""

    area_ratio: np.ndarray
    y_centre: np.ndarray  # fraction of height; 0.5 when no text


def text_lines(luma: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes (x, y, w, h) of text-line blobs in one luma frame (uint8 or float in [0, 255])."""
    import cv2

    img = luma if luma.dtype == np.uint8 else np.clip(luma, 0, 255).astype(np.uint8)
    h, w = img.shape
    if w > TEXT_WIDTH:
        img = cv2.resize(img, (TEXT_WIDTH, max(8, round(h * TEXT_WIDTH / w))), interpolation=cv2.INTER_AREA)
        h, w = img.shape
    grad = cv2.morphologyEx(img, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    edges = (grad >= GRADIENT_THRESHOLD).astype(np.uint8)
    # A caption band's own top and bottom borders are long thin edges; take them out so the closing below
    # cannot weld the text to them (a band hugging its text would otherwise become one tall, sparse blob).
    long_lines = cv2.morphologyEx(edges, cv2.MORPH_OPEN, np.ones((1, max(9, w // 4)), np.uint8))
    edges = (edges > 0) & (np.asarray(long_lines) == 0)
    edges = edges.astype(np.uint8)
    # Wide enough to bridge the space between words (~ half a line height at caption sizes).
    close_w = max(7, w // 20)
    closed = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, np.ones((3, close_w), np.uint8))
    # Grana's block-based labelling: the same components and stats as the default algorithm, in 40 % of its
    # time on these masks single-threaded (0.15 against 0.38 ms a frame; labelling was half of the text pass)
    _, _, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(closed, 8, cv2.CV_32S, cv2.CCL_GRANA)
    boxes = []
    for x, y, bw, bh, area in stats[1:]:
        if not (MIN_LINE_H_FRAC * h <= bh <= MAX_LINE_H_FRAC * h):
            continue
        if bw < MIN_LINE_W_FRAC * w or bw < MIN_ASPECT * bh:
            continue
        if area < MIN_FILL * bw * bh:
            continue
        density = float(edges[y : y + bh, x : x + bw].mean())
        if not (MIN_EDGE_DENSITY <= density <= MAX_EDGE_DENSITY):
            continue
        boxes.append((int(x), int(y), int(bw), int(bh)))
    return boxes


def frame_text(luma: np.ndarray) -> FrameText:
    """Text-line coverage of each frame of an (N, H, W) luma stack."""
    n = len(luma)
    area = np.zeros(n, dtype=np.float64)
    yc = np.full(n, 0.5)
    for i in range(n):
        h, w = luma[i].shape
        scale = min(1.0, TEXT_WIDTH / w)
        hh, ww = max(8, round(h * scale)), min(w, TEXT_WIDTH)
        boxes = text_lines(luma[i])
        if boxes:
            b = np.asarray(boxes, dtype=np.float64)
            area[i] = float((b[:, 2] * b[:, 3]).sum()) / (hh * ww)
            yc[i] = float(np.average(b[:, 1] + b[:, 3] / 2, weights=b[:, 2] * b[:, 3])) / hh
    return FrameText(area, yc)
