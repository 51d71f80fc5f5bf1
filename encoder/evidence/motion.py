"""Global camera motion between consecutive analysis frames: translation and zoom.

OpenCV does the signal work: Shi-Tomasi corners (``goodFeaturesToTrack``), pyramidal Lucas-Kanade flow
(``calcOpticalFlowPyrLK``) and a RANSAC similarity fit (``estimateAffinePartial2D``), which gives translation
*and* scale in one robust step (phase correlation alone sees no zoom). The fit's translation is taken at the
frame centre, so a centred zoom does not read as a pan. Frames are downscaled to ``MOTION_WIDTH`` first.

Sign conventions (image coordinates, y down): ``dx > 0`` means the content moves right across the frame,
i.e. the camera pans left; ``dy > 0`` means the content moves down, i.e. the camera tilts up;
``log_scale > 0`` means the content grows, i.e. a push-in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Width (px) at which flow is estimated. Global motion is a 4-parameter fit over many corners, so it does not
# need detail: at 160 px a slow zoom (6 %/s, 1.5 % a step at 4 fps) moves a corner 40 px from the centre by
# 0.6 px, well above Lucas-Kanade's ~0.05 px precision, and the whole pass costs ~1 ms a frame pair.
MOTION_WIDTH = 160
# Fewer tracked corners than this and the fit is declared invalid (flat or black frames).
MIN_TRACKED = 10
# ... and so is a fit whose RANSAC inliers are under this share of the tracked corners: on shaky, blurred
# footage Lucas-Kanade tracks badly, and a similarity that explains a handful of 50 corners is noise (a
# 12 % "zoom" in a quarter second read off one such step turned a push-in over shake into a pull-out). Steps
# this poor are rare: 7 of 534 on the 13 real videos, 9 of 1,780 on 40 corpus videos.
MIN_INLIER_RATIO = 0.25
MAX_CORNERS = 60  # enough for a RANSAC similarity fit that tolerates a moving subject
LK_WINDOW = 15  # px, at MOTION_WIDTH


@dataclass
class MotionSteps:
    """One entry per pair of consecutive analysis frames (i, i + 1)."""

    t0: np.ndarray  # time of frame i
    t1: np.ndarray  # time of frame i + 1
    dx: np.ndarray  # horizontal content displacement, fraction of frame width
    dy: np.ndarray  # vertical content displacement, fraction of frame height
    log_scale: np.ndarray  # natural log of the global scale change
    valid: np.ndarray  # bool: enough corners tracked and a fit found

    def __len__(self) -> int:
        return len(self.t0)


def _resize_stack(luma: np.ndarray) -> np.ndarray:
    import cv2

    _, h, w = luma.shape
    if w <= MOTION_WIDTH:
        return luma if luma.dtype == np.uint8 else np.clip(luma, 0, 255).astype(np.uint8)
    nh = max(8, round(h * MOTION_WIDTH / w))
    src = luma if luma.dtype == np.uint8 else np.clip(luma, 0, 255).astype(np.uint8)
    return np.stack([cv2.resize(f, (MOTION_WIDTH, nh), interpolation=cv2.INTER_AREA) for f in src])


def estimate_motion(luma: np.ndarray, times_s: np.ndarray) -> MotionSteps:
    """Global similarity motion between each pair of consecutive frames of an (N, H, W) luma stack."""
    import cv2

    n = len(luma)
    m = max(0, n - 1)
    dx = np.zeros(m, dtype=np.float64)
    dy = np.zeros(m, dtype=np.float64)
    ls = np.zeros(m, dtype=np.float64)
    valid = np.zeros(m, dtype=bool)
    times = np.asarray(times_s, dtype=np.float64)
    if m == 0:
        return MotionSteps(times[:0], times[:0], dx, dy, ls, valid)
    small = _resize_stack(luma)
    h, w = small.shape[1:]
    centre = np.array([w / 2.0, h / 2.0, 1.0])
    prev_pts = None
    for i in range(m):
        a, b = small[i], small[i + 1]
        if prev_pts is None:
            prev_pts = cv2.goodFeaturesToTrack(a, MAX_CORNERS, 0.01, 5, blockSize=5)
        pts = prev_pts
        prev_pts = None
        if pts is None or len(pts) < MIN_TRACKED:
            continue
        nxt, status, _ = cv2.calcOpticalFlowPyrLK(  # type: ignore[call-overload]
            a, b, pts, None, winSize=(LK_WINDOW, LK_WINDOW), maxLevel=2,
            criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03),
        )  # fmt: skip
        ok = status.ravel() == 1
        if ok.sum() < MIN_TRACKED:
            continue
        mat, inliers = cv2.estimateAffinePartial2D(
            pts[ok], nxt[ok], method=cv2.RANSAC, ransacReprojThreshold=1.0, maxIters=300
        )
        if (
            mat is None
            or inliers is None
            or int(inliers.sum()) < max(MIN_TRACKED, MIN_INLIER_RATIO * ok.sum())
        ):
            continue
        moved = mat @ centre
        dx[i] = (moved[0] - centre[0]) / w
        dy[i] = (moved[1] - centre[1]) / h
        ls[i] = float(np.log(max(1e-6, np.hypot(mat[0, 0], mat[1, 0]))))
        valid[i] = True
    return MotionSteps(times[:-1].copy(), times[1:].copy(), dx, dy, ls, valid)


@dataclass
class WindowMotion:
    """Camera motion aggregated over a window (a shot, the hook, the whole video)."""

    dx_per_s: float  # content motion, fraction of frame width per second (+ right)
    dy_per_s: float  # content motion, fraction of frame height per second (+ down)
    zoom_per_s: float  # log scale change per second (+ push-in)
    jitter: float  # RMS deviation of per-step displacement from the window's median step (frame fractions)
    speed: float  # mean |translation| rate, fraction of frame per second
    n_steps: int


def window_motion(
    steps: MotionSteps, start_s: float, end_s: float, exclude: np.ndarray | None = None
) -> WindowMotion:
    """Aggregate the valid steps inside ``[start_s, end_s]``; ``exclude`` masks steps across transitions."""
    sel = steps.valid & (steps.t0 >= start_s - 1e-6) & (steps.t1 <= end_s + 1e-6)
    if exclude is not None:
        sel &= ~exclude
    if not sel.any():
        return WindowMotion(0.0, 0.0, 0.0, 0.0, 0.0, 0)
    dt = steps.t1[sel] - steps.t0[sel]
    total = float(dt.sum())
    dx, dy, ls = steps.dx[sel], steps.dy[sel], steps.log_scale[sel]
    vdx, vdy = dx / np.maximum(dt, 1e-3), dy / np.maximum(dt, 1e-3)
    # Jitter is measured on per-step displacements (not rates): random shake moves the frame by about the same
    # amount between any two samples, whatever their spacing, while a smooth pan's steps sit on the median.
    jitter = (
        float(np.sqrt(np.mean((dx - np.median(dx)) ** 2 + (dy - np.median(dy)) ** 2))) if len(dx) > 1 else 0.0
    )
    return WindowMotion(
        dx_per_s=float(dx.sum() / total),
        dy_per_s=float(dy.sum() / total),
        zoom_per_s=float(ls.sum() / total),
        jitter=jitter,
        speed=float(np.mean(np.hypot(vdx, vdy))),
        n_steps=int(sel.sum()),
    )
