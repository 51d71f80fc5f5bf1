"""Faces with OpenCV's frontal-face Haar cascade (it ships inside opencv-python-headless).

The detector is by far the slowest measurement (~15-30 ms a call on 2 cores), so it runs on at most
``MAX_FACE_CALLS`` frames per video spread evenly over time (at most ``FACE_FPS`` per second), plus one
per shot while the budget allows, with one cascade loaded per process. The analysis frames (<= 320 px) are
resized to ``FACE_WIDTH`` first: the cascade's window is 24 px, and faces of ~12 % of the frame height (a
full-figure shot) must still fill it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

FACE_FPS = 1.0  # at most this many detector calls per second of video
MAX_FACE_CALLS = 10  # and at most this many per video (the detector dominates the analysis time)
FACE_WIDTH = 400  # px: a face of 6 % of the frame width still fills the 24 px window
MIN_FACE_PX = 24
MAX_FACE_FRAC = 0.8  # of the frame height: larger "faces" are texture artefacts
SCALE_FACTOR = 1.2  # pyramid step: 1.1 finds a few more faces at twice the cost
MIN_NEIGHBOURS = 4  # one more than OpenCV's default 3: fewer false faces on textures


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


def detect_faces(
    luma: np.ndarray, times_s: np.ndarray, fps: float = FACE_FPS, also: np.ndarray | None = None
) -> FaceTrack:
    """Run the cascade on a subset of an (N, H, W) luma stack (float or uint8, [0, 255]): one frame per
    1/fps slot, plus the frame indices in ``also`` (e.g. one per shot, so short shots are checked too)."""
    import cv2

    idx = pick_face_frames(times_s, fps)
    if len(idx) > MAX_FACE_CALLS:
        idx = idx[np.linspace(0, len(idx) - 1, MAX_FACE_CALLS).round().astype(np.int64)]
    if also is not None and len(also):
        extra = np.setdiff1d(np.asarray(also, dtype=np.int64), idx)
        room = max(0, MAX_FACE_CALLS + MAX_FACE_CALLS // 2 - len(idx))
        if len(extra) > room:
            extra = (
                extra[np.linspace(0, len(extra) - 1, room).round().astype(np.int64)] if room else extra[:0]
            )
        idx = np.union1d(idx, extra)
    k = len(idx)
    count = np.zeros(k, dtype=np.int64)
    area = np.zeros(k, dtype=np.float64)
    cx = np.full(k, 0.5)
    cy = np.full(k, 0.5)
    cascade = _cascade()
    for j, i in enumerate(idx):
        img = np.clip(luma[i], 0, 255).astype(np.uint8)
        h, w = img.shape
        if w != FACE_WIDTH:
            size = (FACE_WIDTH, max(8, round(h * FACE_WIDTH / w)))
            img = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
            h, w = img.shape
        img = cv2.equalizeHist(img)
        top = max(MIN_FACE_PX + 1, int(MAX_FACE_FRAC * h))
        found = cascade.detectMultiScale(
            img,
            scaleFactor=SCALE_FACTOR,
            minNeighbors=MIN_NEIGHBOURS,
            minSize=(MIN_FACE_PX, MIN_FACE_PX),
            maxSize=(top, top),
        )
        if len(found) == 0:
            continue
        boxes = np.asarray(found, dtype=np.float64)
        areas = boxes[:, 2] * boxes[:, 3]
        big = int(np.argmax(areas))
        count[j] = len(boxes)
        area[j] = areas[big] / (w * h)
        cx[j] = (boxes[big, 0] + boxes[big, 2] / 2) / w
        cy[j] = (boxes[big, 1] + boxes[big, 3] / 2) / h
    return FaceTrack(np.asarray(times_s, dtype=np.float64)[idx], count, area, cx, cy)
