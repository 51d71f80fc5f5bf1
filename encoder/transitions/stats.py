"""Per-thumbnail statistics of the transition detectors, computed once for every decoded thumbnail (while
decoding, chunk by chunk, with ``ThumbStatsStream``): luma, its mean and spread, a decimated RGB copy, the
visible (RGB) and ContentDetector's (HSV) change against the previous thumbnail, saturation and chroma."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


@dataclass
class ThumbStats:
    """Per-thumbnail statistics of the transition detector, each row vs the previous thumbnail (row 0: vs
    nothing, zeros): what ``detect_transitions`` needs of every frame before it looks at candidates. They
    depend on one frame or two consecutive ones only, so ``ThumbStatsStream`` computes them chunk by chunk
    while the video decodes (``encoder.decode.decode``'s ``on_thumbs``), equal to ``thumb_stats`` of all."""

    luma: np.ndarray  # (n, h, w) uint8, Rec. 601
    mean: np.ndarray  # (n,) mean luma
    spread: np.ndarray  # (n,) luma standard deviation
    small: np.ndarray  # (n, k) float32: RGB of every other pixel, flattened
    # mean |RGB change| over ``small``'s pixels: the visible change, which ContentDetector's HSV score
    # overstates where hue and saturation are unstable (near black or grey)
    rgb_step: np.ndarray  # (n,)
    hsv_delta: np.ndarray  # (n, 3) ContentDetector's mean |change| of hue, saturation, value
    saturation: np.ndarray  # (n,) mean HSV saturation, every fourth pixel (monochrome footage is below ~8)
    # (n,) mean chroma (max - min of R, G, B), the same pixels. HSV saturation divides by the value, so the
    # compression noise of black areas (letterbox bars) reads as strong colour and a black-and-white frame
    # can score 30; chroma stays at the noise (black-and-white footage ~2, colour footage >= 8 on the real
    # videos).
    chroma: np.ndarray

    def __len__(self) -> int:
        return len(self.mean)


def thumb_stats(thumbs: np.ndarray, prev: np.ndarray | None = None) -> ThumbStats:
    """``ThumbStats`` of an (n, h, w, 3) RGB thumbnail stack; ``prev``: the thumbnail just before it, when
    the stack continues a video (the first row's changes are then measured against it)."""
    import cv2

    ext = thumbs if prev is None else np.concatenate([prev[None], thumbs])
    k = 0 if prev is None else 1
    n, h, w, _ = ext.shape
    luma = _luma(ext)
    flat = np.ascontiguousarray(ext).reshape(n * h, w, 3)
    sub = _decimate(flat, n, 2).reshape(n, -1)
    rgb_step = np.zeros(n, dtype=np.float64)
    hsv_delta = np.zeros((n, 3), dtype=np.float64)
    if n > 1:
        sums = cv2.reduce(cv2.absdiff(sub[1:], sub[:-1]), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S)
        rgb_step[1:] = np.asarray(sums, dtype=np.float64).ravel() / sub.shape[1]
        hsv = cv2.cvtColor(flat, cv2.COLOR_RGB2HSV).reshape(n, h, w, 3)
        diff = cv2.absdiff(hsv[1:].reshape(-1, w, 3), hsv[:-1].reshape(-1, w, 3)).reshape(n - 1, h, w, 3)
        # per-channel sums frame by frame (exact integers; a transposed copy of the stack costs 6x as much)
        chan = np.array([cv2.sumElems(d)[:3] for d in diff], dtype=np.float64)
        hsv_delta[1:] = chan / (h * w)
    q = _decimate(flat, n, 4)
    sat = cv2.cvtColor(q, cv2.COLOR_RGB2HSV)[:, :, 1].reshape(n, -1).mean(axis=1)
    # max - min over the planes by OpenCV (numpy's reductions over the last axis cost 40x as much here)
    r, g, b = cv2.split(q)
    spread_rgb = cv2.subtract(cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b))
    chroma = spread_rgb.reshape(n, -1).mean(axis=1)
    # Mean and standard deviation of luma frame by frame with OpenCV (numpy's over the stack, converting to
    # float64 twice, cost 10x as much): the mean as an exact integer sum over the pixel count (the value numpy
    # gives), the spread OpenCV's (within 1e-13 of numpy's).
    own = luma[k:]
    mean = np.array([cv2.sumElems(x)[0] for x in own], dtype=np.float64) / (h * w)
    spread = np.array([cv2.meanStdDev(x)[1][0, 0] for x in own], dtype=np.float64)
    return ThumbStats(
        luma=own,
        mean=mean,
        spread=spread,
        small=sub[k:].astype(np.float32),
        rgb_step=rgb_step[k:],
        hsv_delta=hsv_delta[k:],
        saturation=sat[k:],
        chroma=chroma[k:],
    )


def _decimate(tall: np.ndarray, n: int, step: int) -> np.ndarray:
    """Every ``step``-th row and column of each of the ``n`` frames stacked in ``tall`` ((n * h, w, 3)), as
    one tall contiguous array: OpenCV's nearest-neighbour resize picks exactly those pixels, at a tenth of the
    cost of numpy's strided copy, when the frame's sides are multiples of ``step``."""
    import cv2

    h, w = tall.shape[0] // n, tall.shape[1]
    if h % step == 0 and w % step == 0:
        out: np.ndarray = cv2.resize(tall, (w // step, n * h // step), interpolation=cv2.INTER_NEAREST)
        return out
    frames = tall.reshape(n, h, w, 3)[:, ::step, ::step]
    return np.ascontiguousarray(frames).reshape(-1, frames.shape[2], 3)


class ThumbStatsStream:
    """``ThumbStats`` built chunk by chunk (``add``, e.g. as ``decode``'s ``on_thumbs``); ``result`` equals
    ``thumb_stats`` of the whole stack.

    ``background=True`` computes them in a worker thread of their own (``add`` only queues the chunk): fed by
    ``decode``, this keeps its conversion thread, which is the busiest one at 720p and above, free to shrink
    frames (measured over the 13 real videos: the whole encode 1.89 -> 1.79x the decode floor against
    computing them in the conversion thread). ``close`` stops the worker without a result (idempotent).
    """

    def __init__(self, background: bool = False) -> None:
        import queue
        import threading

        self._parts: list[ThumbStats] = []
        self._prev: np.ndarray | None = None
        self._error: BaseException | None = None
        self._queue: queue.Queue[np.ndarray | None] | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.Queue()
            self._thread = threading.Thread(target=self._run, name="sv6d-thumb-stats", daemon=True)
            self._thread.start()

    def add(self, chunk: np.ndarray) -> None:
        """The next thumbnails (never modified afterwards)."""
        if self._queue is not None:
            self._queue.put(chunk)
        else:
            self._add(chunk)

    def _add(self, chunk: np.ndarray) -> None:
        if len(chunk):
            self._parts.append(thumb_stats(chunk, self._prev))
            self._prev = chunk[-1]

    def _run(self) -> None:
        assert self._queue is not None
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._add(chunk)
                except BaseException as exc:  # re-raised by result()
                    self._error = exc

    def close(self) -> None:
        """Stop the worker (when there is one) once the queued chunks are done."""
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def result(self) -> ThumbStats | None:
        """The statistics of every thumbnail added (None when none was); waits for the worker."""
        self.close()
        if self._error is not None:
            raise self._error
        if not self._parts:
            return None
        parts = self._parts
        return ThumbStats(
            *[np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(ThumbStats)]
        )


def _luma(thumbs: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of every thumbnail, (M, h, w) uint8, in one OpenCV call over the stacked frames."""
    import cv2

    n, h, w, _ = thumbs.shape
    gray = cv2.cvtColor(np.ascontiguousarray(thumbs).reshape(n * h, w, 3), cv2.COLOR_RGB2GRAY)
    return np.asarray(gray).reshape(n, h, w)
