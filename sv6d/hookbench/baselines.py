"""Two baselines for the hook benchmark, scored the same way as the encoder (rank the other clips of the same
side, P@5), each small and self-contained (no code or threshold shared with the encoder):

- ``colour_histogram``: what the hook *shows* — an HSV histogram (8 x 4 x 4) of its frames, averaged,
  square-rooted (Hellinger), compared by cosine. Content, no structure: the floor a structural search must
  beat and the measure of how much same-footage matching a content signal gives.
- ``structural``: eight numbers a person would write down about the first seconds — cut count, frozen share,
  start luma, flash, zoom (optical-flow divergence), pan, change of edges in the top third, motion energy —
  z-scored with the training side's statistics, compared by Euclidean distance.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_FPS = 10.0
WIDTH = 160
STRUCTURAL_NAMES = (
    "cuts",
    "frozen_share",
    "start_luma",
    "flash",
    "zoom",
    "pan",
    "top_edge_change",
    "motion",
)


@dataclass(frozen=True)
class HookFrames:
    rgb: list[np.ndarray]  # small RGB frames of the hook, SAMPLE_FPS apart


def hook_frames(path: str | Path, hook_s: float = 3.0) -> HookFrames:
    """The hook's frames, ``SAMPLE_FPS`` a second, ``WIDTH`` pixels wide (OpenCV decoding)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    next_t = 0.0
    try:
        while True:
            ok = cap.grab()
            if not ok:
                break
            t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if t > hook_s + 1e-6:
                break
            if t + 1e-6 < next_t:
                continue
            ok, bgr = cap.retrieve()
            if not ok:
                break
            h, w = bgr.shape[:2]
            small = cv2.resize(bgr, (WIDTH, max(2, round(h * WIDTH / w))), interpolation=cv2.INTER_AREA)
            frames.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
            next_t += 1.0 / SAMPLE_FPS
    finally:
        cap.release()
    if len(frames) < 2:
        raise ValueError(f"{path}: fewer than two frames in the first {hook_s:g} s")
    return HookFrames(frames)


def colour_histogram(frames: HookFrames) -> np.ndarray:
    """Unit-norm square-rooted HSV histogram of the hook (128 bins)."""
    import cv2

    total = np.zeros(8 * 4 * 4, np.float64)
    for rgb in frames.rgb:
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256]).reshape(-1)
        total += hist / max(1.0, hist.sum())
    v = np.sqrt(total / len(frames.rgb))
    return (v / max(1e-12, np.linalg.norm(v))).astype(np.float32)


def structural(frames: HookFrames) -> np.ndarray:
    """The eight hand-made numbers of ``STRUCTURAL_NAMES`` for one hook."""
    import cv2

    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames.rgb]
    g = [x.astype(np.float32) for x in grey]
    luma = np.array([x.mean() for x in g]) / 255.0
    diffs = np.array([np.abs(a - b).mean() for a, b in itertools.pairwise(g)]) / 255.0

    def hist(x: np.ndarray) -> np.ndarray:
        h = np.histogram(x, bins=16, range=(0, 256))[0].astype(np.float64)
        return h / h.sum()

    hd = np.array([0.5 * np.abs(hist(a) - hist(b)).sum() for a, b in itertools.pairwise(g)])
    # a cut: a frame change well above this hook's typical change (jump cuts inside one take are small ones)
    cuts = float(((diffs > max(0.03, 2.5 * float(np.median(diffs)))) | (hd > 0.3)).sum())
    frozen = float((diffs < 0.004).mean())
    flash = float(max(0.0, luma[: max(1, round(0.5 * SAMPLE_FPS))].max() - np.median(luma)))

    zooms, pans = [], []
    h, w = grey[0].shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xs -= w / 2
    ys -= h / 2
    r2 = float((xs**2 + ys**2).mean())
    for a, b in itertools.pairwise(grey):
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)  # type: ignore[call-overload]
        u, v = flow[..., 0], flow[..., 1]
        zooms.append(float((u * xs + v * ys).mean() / r2))
        pans.append(float(np.hypot(np.median(u), np.median(v)) / w))
    top = [cv2.Sobel(x[: h // 3], cv2.CV_32F, 1, 0) for x in g]
    edge0 = np.abs(top[0])
    top_change = float(max(np.abs(np.abs(t) - edge0).mean() for t in top) / 255.0)
    motion = float(diffs.mean())
    return np.array(
        [
            cuts,
            frozen,
            float(luma[0]),
            flash,
            float(np.mean(zooms)),
            float(np.mean(pans)),
            top_change,
            motion,
        ],
        np.float64,
    )
