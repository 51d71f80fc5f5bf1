"""Projection heads: raw per-dimension backbone features -> unit vectors of size d.

``Heads`` is the protocol every head implements (fixed layouts here; trained contrastive heads elsewhere).
``FixedLayoutHeads`` is the default for the evidence backbone: no training, fully documented.

FixedLayoutHeads, per dimension:
  1. standardise each named component: z = (x - FEATURE_CENTRE) / FEATURE_SPREAD (constants in
     ``encoder.evidence.features``, one per component; typical value and spread), clipped to +-CLIP_Z so one
     extreme measurement cannot own the direction;
  2. embed into d dims: component i goes to coordinate i, the rest are zeros (when d >= layout size; cosine
     similarities are then exactly those of the standardised layouts). When d is smaller than a layout, a
     fixed seeded orthonormal projection is used instead;
  3. L2-normalise. The constant ``bias`` component (z = 1) guarantees a non-zero row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from sv6d.dimensions import DIMENSIONS, Dimension
from sv6d.errors import ConfigError

CLIP_Z = 4.0
PROJECTION_SEED = 64


@runtime_checkable
class Heads(Protocol):
    version: str
    dim: int

    def project(self, dimension: Dimension, features: np.ndarray) -> np.ndarray:
        """(n, f) raw features of one dimension -> (n, dim) float32 unit rows."""
        ...

    def save(self, directory: str | Path) -> None:
        """Write the heads to ``directory`` (a manifest plus whatever weights they need)."""
        ...

    @classmethod
    def load(cls, directory: str | Path) -> Heads:
        """Rebuild heads saved by ``save``."""
        ...


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any() or not np.isfinite(x).all():
        raise ValueError("projected features contain a zero or non-finite row")
    return (x / norms).astype(np.float32)


class FixedLayoutHeads:
    """Standardise the documented evidence layout and embed it in ``dim`` dims (see module docstring)."""

    version = "fixed-layout-1"
    manifest_name = "heads.json"

    def __init__(self, dim: int = 64) -> None:
        if dim < 2:
            raise ConfigError(f"heads dim must be >= 2, got {dim}")
        self.dim = int(dim)
        from encoder.evidence.features import FEATURE_CENTRE, FEATURE_SIZES, FEATURE_SPREAD

        self._centre = FEATURE_CENTRE
        self._spread = FEATURE_SPREAD
        self._sizes = FEATURE_SIZES
        self._proj: dict[Dimension, np.ndarray] = {}
        for i, d in enumerate(DIMENSIONS):
            f = FEATURE_SIZES[d]
            if f > self.dim:
                rng = np.random.default_rng(PROJECTION_SEED + i)
                q, _ = np.linalg.qr(rng.standard_normal((f, f)))
                self._proj[d] = q[:, : self.dim].astype(np.float32)

    def project(self, dimension: Dimension, features: np.ndarray) -> np.ndarray:
        dim = Dimension.parse(dimension)
        x = np.asarray(features, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        f = self._sizes[dim]
        if x.ndim != 2 or x.shape[1] != f:
            raise ValueError(f"{dim.value} features must have shape (n, {f}), got {x.shape}")
        z = np.clip((x - self._centre[dim]) / self._spread[dim], -CLIP_Z, CLIP_Z)
        z = np.nan_to_num(z, nan=0.0)
        if dim in self._proj:
            out = z @ self._proj[dim]
        else:
            out = np.zeros((len(z), self.dim), dtype=np.float32)
            out[:, :f] = z
        return _unit_rows(out)

    def save(self, directory: str | Path) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        manifest = {"type": "FixedLayoutHeads", "version": self.version, "dim": self.dim}
        (path / self.manifest_name).write_text(json.dumps(manifest, indent=2))

    @classmethod
    def load(cls, directory: str | Path) -> FixedLayoutHeads:
        path = Path(directory) / cls.manifest_name
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot read heads manifest ({exc})") from None
        if manifest.get("type") != "FixedLayoutHeads" or manifest.get("version") != cls.version:
            raise ConfigError(
                f"{path}: heads {manifest.get('type')!r} version {manifest.get('version')!r} are not "
                f"FixedLayoutHeads {cls.version!r}"
            )
        return cls(dim=int(manifest["dim"]))
