"""The clamped linear ramp fit that narrows fades and dissolves to their changing frames."""

from __future__ import annotations

import numpy as np


def fit_ramp(alpha: np.ndarray) -> tuple[int, int]:
    """(p, q), p + 2 <= q: the clamped linear ramp (1 up to index p, 0 from index q, linear between) that
    fits ``alpha`` best in least squares; the ramp's changing samples are p + 1 .. q - 1."""
    n = len(alpha)
    idx = np.arange(n, dtype=np.float64)
    best, span = np.inf, (0, n - 1)
    for p in range(0, n - 2):
        q = np.arange(p + 2, n, dtype=np.float64)
        ramps = np.clip((q[:, None] - idx[None, :]) / (q[:, None] - p), 0.0, 1.0)
        err = ((ramps - alpha[None, :]) ** 2).sum(axis=1)
        k = int(np.argmin(err))
        if err[k] < best:
            best, span = float(err[k]), (p, int(q[k]))
    return span
