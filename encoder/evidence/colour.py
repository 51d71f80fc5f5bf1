"""Aesthetics measurements per sampled frame: light, colour and sharpness.

Means and spreads of a frame do not need every pixel: light and colour statistics are computed in one numpy
pass over the stacked frames, on a regular grid about ``GRID_WIDTH`` samples wide (every k-th pixel of the
<= 320 px analysis frames). Sharpness needs neighbouring pixels, so it is the variance of OpenCV's Laplacian
on the full analysis-size luma (uint8, ~0.1 ms a frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID_WIDTH = 80  # samples across the frame for the light / colour statistics (~3,600 per 16:9 frame)

# Rec.601 luma weights (what video codecs use for Y), so "luma" means what an editor's scope would show.
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass
class FrameColour:
    """Per-frame statistics, all in [0, 1] except ``warmth`` in [-1, 1] and ``sharpness`` (log scale)."""

    luma: np.ndarray  # mean luma / 255
    luma_std: np.ndarray  # std of luma / 255 (contrast)
    saturation: np.ndarray  # mean HSV saturation
    warmth: np.ndarray  # mean (R - B) / 255
    sharpness: np.ndarray  # log10(1 + variance of the Laplacian of luma)


def luma_stack(frames: np.ndarray) -> np.ndarray:
    """(N, H, W) uint8 luma (Rec.601) of an (N, H, W, 3) RGB uint8 stack, in one OpenCV call."""
    import cv2

    n, h, w = frames.shape[:3]
    if n == 0:
        return np.zeros((0, h, w), dtype=np.uint8)
    # The stack viewed as one tall image: cvtColor is per pixel, so frame boundaries do not matter.
    tall = np.ascontiguousarray(frames, dtype=np.uint8).reshape(n * h, w, 3)
    return np.asarray(cv2.cvtColor(tall, cv2.COLOR_RGB2GRAY)).reshape(n, h, w)


def grid_step(width: int) -> int:
    """Pixel stride that leaves about GRID_WIDTH samples across a frame ``width`` px wide."""
    return max(1, width // GRID_WIDTH)


def frame_colour(frames: np.ndarray, luma: np.ndarray | None = None) -> FrameColour:
    """Colour and light statistics of each frame of an (N, H, W, 3) RGB uint8 stack."""
    import cv2

    n = len(frames)
    if n == 0:
        empty = np.zeros(0, dtype=np.float32)
        return FrameColour(empty, empty, empty, empty, empty)
    full = luma if luma is not None else luma_stack(frames)
    k = grid_step(frames.shape[2])
    grid = frames[:, ::k, ::k]
    mx = grid.max(axis=3).astype(np.float32)
    mn = grid.min(axis=3).astype(np.float32)
    sat = (mx - mn) / np.maximum(mx, 1.0)
    warmth = (grid[..., 0].astype(np.float32) - grid[..., 2]).mean(axis=(1, 2)) / 255.0
    y = full[:, ::k, ::k].astype(np.float32)
    sharp = np.empty(n, dtype=np.float64)
    for i, f in enumerate(full):
        img = f if f.dtype == np.uint8 else np.clip(f, 0, 255).astype(np.uint8)
        _, std = cv2.meanStdDev(cv2.Laplacian(img, cv2.CV_16S, ksize=3))
        sharp[i] = float(std[0, 0]) ** 2
    return FrameColour(
        luma=(y.mean(axis=(1, 2)) / 255.0).astype(np.float32),
        luma_std=(y.std(axis=(1, 2)) / 255.0).astype(np.float32),
        saturation=sat.mean(axis=(1, 2)).astype(np.float32),
        warmth=warmth.astype(np.float32),
        sharpness=np.log10(1.0 + sharp).astype(np.float32),
    )
