"""Faces with OpenCV's frontal-face Haar cascade (it ships inside opencv-python-headless).

The detector is the slowest measurement, so it runs on few frames: ``MAX_FACE_CALLS`` spread evenly over the
video plus the middle frame of each shot (so short shots get their own verdict), at most ``MAX_TOTAL_CALLS``,
each resized to ``FACE_WIDTH``. The cascade is loaded once per process. A frame with almost no skin-coloured
pixels (``SKIN_MIN_FRACTION``, YCrCb skin box on a coarse grid, ~0.05 ms) cannot hold a frontal face and skips
the detector: that is most frames of graphics, landscapes and animation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

FACE_FPS = 0.5  # at most this many evenly spread full-frame detector calls per second of video ...
MAX_FACE_CALLS = 3  # ... and at most this many per video
MAX_TOTAL_CALLS = 5  # with the one-per-shot frames
FACE_WIDTH = 400  # px: a face of 6 % of the frame width (a full figure) still fills the 24 px window
FOLLOW_FRAMES = 2  # a found face is looked for again in this many analysis frames either side ...
FOLLOW_MARGIN = 1.0  # ... inside its box grown by this many box sizes each way (a ~1 ms call, not ~20)
MIN_FACE_PX = 24
MAX_FACE_FRAC = 0.8  # of the frame height: larger "faces" are texture artefacts
SCALE_FACTOR = 1.2  # pyramid step: 1.1 finds a few more faces at twice the cost
MIN_NEIGHBOURS = 4  # one more than OpenCV's default 3: fewer false faces on textures
# Skin pre-check (Chai & Ngan's YCrCb box, robust across skin tones): below this share of skin-coloured grid
# samples, a face of the smallest detectable size (24 px in 240 px, ~1 % of the frame) cannot be there.
SKIN_MIN_FRACTION = 0.005
SKIN_CR = (133, 173)
SKIN_CB = (77, 127)
GREY_MAX_CHROMA = 6.0  # mean |Cr - 128| + |Cb - 128| below this: a black-and-white picture


@dataclass
class FaceTrack:
    """Per checked frame: how many faces, the largest one's area (fraction of the frame) and centre."""

    times_s: np.ndarray
    count: np.ndarray  # int
    max_area: np.ndarray  # area of the largest face / frame area
    cx: np.ndarray  # centre of the largest face, fraction of width (0.5 when none)
    cy: np.ndarray  # centre of the largest face, fraction of height (0.5 when none)


@lru_cache(maxsize=1)
def _cascade() -> Any:
    import cv2

    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(path)  # type: ignore[attr-defined]
    if cascade.empty():
        raise RuntimeError(f"{path}: OpenCV's Haar cascade could not be loaded")
    return cascade


def pick_face_frames(times_s: np.ndarray, fps: float = FACE_FPS) -> np.ndarray:
    """Indices of the analysis frames to run the detector on: the first frame of each 1/fps slot."""
    if len(times_s) == 0:
        return np.zeros(0, dtype=np.int64)
    slots = np.floor(np.asarray(times_s) * fps).astype(np.int64)
    _, first = np.unique(slots, return_index=True)
    return np.sort(first)


def skin_fraction(rgb: np.ndarray) -> float:
    """Share of skin-coloured pixels (YCrCb box) on a coarse grid of one RGB uint8 frame; 1.0 for a frame
    without colour (black-and-white footage has faces but no skin tones, so the check must not skip it)."""
    import cv2

    k = max(1, rgb.shape[1] // 80)
    grid = np.ascontiguousarray(rgb[::k, ::k])
    ycc = cv2.cvtColor(grid, cv2.COLOR_RGB2YCrCb)
    cr, cb = ycc[..., 1], ycc[..., 2]
    chroma = np.abs(cr.astype(np.int16) - 128) + np.abs(cb.astype(np.int16) - 128)
    if float(chroma.mean()) < GREY_MAX_CHROMA:
        return 1.0
    skin = (cr >= SKIN_CR[0]) & (cr <= SKIN_CR[1]) & (cb >= SKIN_CB[0]) & (cb <= SKIN_CB[1])
    return float(skin.mean())


def select_face_frames(
    times_s: np.ndarray, also: np.ndarray | None = None, fps: float = FACE_FPS
) -> np.ndarray:
    """The detector's frames: MAX_FACE_CALLS spread evenly, then the ``also`` frames (one per shot) while
    fewer than MAX_TOTAL_CALLS, spread evenly when they do not all fit."""
    idx = pick_face_frames(times_s, fps)
    if len(idx) > MAX_FACE_CALLS:
        idx = idx[np.linspace(0, len(idx) - 1, MAX_FACE_CALLS).round().astype(np.int64)]
    if also is not None and len(also):
        extra = np.setdiff1d(np.asarray(also, dtype=np.int64), idx)
        room = max(0, MAX_TOTAL_CALLS - len(idx))
        if len(extra) > room:
            extra = (
                extra[np.linspace(0, len(extra) - 1, room).round().astype(np.int64)] if room else extra[:0]
            )
        idx = np.union1d(idx, extra)
    return np.unique(idx)


def detect_faces(
    luma: np.ndarray,
    times_s: np.ndarray,
    fps: float = FACE_FPS,
    also: np.ndarray | None = None,
    rgb: np.ndarray | None = None,
) -> FaceTrack:
    """Run the cascade on a subset of an (N, H, W) luma stack (float or uint8, [0, 255]): frames spread
    over time plus the indices in ``also`` (e.g. one per shot). With ``rgb`` (the same frames in colour),
    frames without skin-coloured pixels skip the detector and count as faceless."""
    idx = select_face_frames(times_s, also, fps)
    cascade = _cascade()
    found_at: dict[int, tuple[float, float, float, float, int]] = {}
    for i in idx:
        if rgb is not None and skin_fraction(rgb[int(i)]) < SKIN_MIN_FRACTION:
            continue
        hit = _detect(cascade, luma[int(i)], None)
        if hit is not None:
            found_at[int(i)] = hit
    # Faces persist: around each hit, the neighbouring frames are searched only near the face (cheap), so
    # a video with people gets a denser face track without more full-frame calls.
    for i, (fx, fy, fw, fh, _) in list(found_at.items()):
        for nb in range(i - FOLLOW_FRAMES, i + FOLLOW_FRAMES + 1):
            if 0 <= nb < len(luma) and nb not in found_at:
                hit = _detect(cascade, luma[nb], (fx, fy, fw, fh))
                if hit is not None:
                    found_at[nb] = hit
    idx = np.union1d(idx, np.asarray(sorted(found_at), dtype=np.int64)).astype(np.int64)
    k = len(idx)
    count = np.zeros(k, dtype=np.int64)
    area = np.zeros(k, dtype=np.float64)
    cx = np.full(k, 0.5)
    cy = np.full(k, 0.5)
    for j, i in enumerate(idx):
        if int(i) in found_at:
            x, y, w, h, n = found_at[int(i)]
            count[j], area[j], cx[j], cy[j] = n, w * h, x + w / 2, y + h / 2
    return FaceTrack(np.asarray(times_s, dtype=np.float64)[idx], count, area, cx, cy)


def _detect(
    cascade: Any, frame: np.ndarray, near: tuple[float, float, float, float] | None
) -> tuple[float, float, float, float, int] | None:
    """Largest face (x, y, w, h as frame fractions) and the face count in one luma frame, or None.
    With ``near`` (a face box in frame fractions), only the region around it is searched."""
    import cv2

    img = frame if frame.dtype == np.uint8 else np.clip(frame, 0, 255).astype(np.uint8)
    h0, w0 = img.shape
    scale = FACE_WIDTH / w0
    x0 = y0 = 0
    if near is not None:
        fx, fy, fw, fh = near
        x0 = max(0, int((fx - FOLLOW_MARGIN * fw) * w0))
        y0 = max(0, int((fy - FOLLOW_MARGIN * fh) * h0))
        x1 = min(w0, int(np.ceil((fx + (1 + FOLLOW_MARGIN) * fw) * w0)))
        y1 = min(h0, int(np.ceil((fy + (1 + FOLLOW_MARGIN) * fh) * h0)))
        img = img[y0:y1, x0:x1]
    h, w = img.shape
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    if size != (w, h):
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    img = cv2.equalizeHist(img)
    top = max(MIN_FACE_PX + 1, int(MAX_FACE_FRAC * h0 * scale))
    if min(img.shape) < MIN_FACE_PX:
        return None
    found = cascade.detectMultiScale(
        img,
        scaleFactor=SCALE_FACTOR,
        minNeighbors=MIN_NEIGHBOURS,
        minSize=(MIN_FACE_PX, MIN_FACE_PX),
        maxSize=(top, top),
    )
    if len(found) == 0:
        return None
    boxes = np.asarray(found, dtype=np.float64)
    big = int(np.argmax(boxes[:, 2] * boxes[:, 3]))
    bx, by, bw, bh = boxes[big] / scale
    return ((x0 + bx) / w0, (y0 + by) / h0, bw / w0, bh / h0, len(boxes))
