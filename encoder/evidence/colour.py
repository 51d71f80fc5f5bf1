"""Aesthetics measurements per sampled frame: light, colour and sharpness.

Every statistic is computed on the analysis frames (a few fps, <= 320 px), subsampled 2x in each direction:
means and spreads of a frame do not need every pixel, and this keeps the pass at a few ms per second of video.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    """(N, H, W) float32 luma in [0, 255] of an (N, H, W, 3) RGB uint8 stack."""
    return np.tensordot(frames.astype(np.float32), _LUMA_WEIGHTS, axes=([3], [0]))


def frame_colour(frames: np.ndarray, luma: np.ndarray | None = None) -> FrameColour:
    """Colour and light statistics of each frame of an (N, H, W, 3) RGB uint8 stack."""
    import cv2

    n = len(frames)
    if n == 0:
        empty = np.zeros(0, dtype=np.float32)
        return FrameColour(empty, empty, empty, empty, empty)
    small = frames[:, ::2, ::2].astype(np.float32)
    y = luma[:, ::2, ::2] if luma is not None else luma_stack(frames[:, ::2, ::2])
    mx = small.max(axis=3)
    mn = small.min(axis=3)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-6), 0.0)
    warmth = (small[..., 0] - small[..., 2]).mean(axis=(1, 2)) / 255.0
    full = luma if luma is not None else luma_stack(frames)
    sharp = np.array(
        [float(cv2.Laplacian(f, cv2.CV_32F, ksize=3).var()) for f in full],
        dtype=np.float64,
    )
    return FrameColour(
        luma=(y.mean(axis=(1, 2)) / 255.0).astype(np.float32),
        luma_std=(y.std(axis=(1, 2)) / 255.0).astype(np.float32),
        saturation=sat.mean(axis=(1, 2)).astype(np.float32),
        warmth=warmth.astype(np.float32),
        sharpness=np.log10(1.0 + sharp).astype(np.float32),
    )
