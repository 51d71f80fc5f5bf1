"""Untrained default heads for the VLM backbone: a seeded orthonormal random projection per dimension.

Used when ``sv6d encode --backbone vlm`` is given no ``--heads``: records can be written and searched at
once, and their ``encoder.head_version`` (``untrained-projection-1-s<seed>``) says the vectors come from no
training, so an index built from them is recognisably provisional until ``sv6d train-heads`` and
``sv6d reproject`` replace them.

Per dimension d (input size f, output size dim):
  1. centre and scale each row by its own mean and standard deviation (parameter-free, like a LayerNorm
     without weights): VLM hidden states carry a few huge-magnitude channels that would otherwise own every
     direction, and without training there are no corpus statistics to standardise with;
  2. multiply by Q_d, the (f, dim) Q factor of a Gaussian matrix seeded by ``seed`` and d's position
     (orthonormal columns: random projection keeps the angles between rows in expectation; when f < dim,
     orthonormal rows, so angles are kept exactly);
  3. L2-normalise.
Only the manifest is saved: the matrices are rebuilt from the seed, so a save/load round trip is exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sv6d.dimensions import DIMENSIONS, Dimension
from sv6d.errors import ConfigError

MANIFEST = "heads.json"
TYPE = "RandomProjectionHeads"
VERSION_PREFIX = "untrained-projection-1"


class RandomProjectionHeads:
    """``encoder.heads.Heads`` without training (module docstring); ``input_sizes``: f per dimension."""

    def __init__(self, input_sizes: dict[Dimension, int], dim: int = 64, seed: int = 0) -> None:
        if dim < 2:
            raise ConfigError(f"heads dim must be >= 2, got {dim}")
        missing = set(DIMENSIONS) - set(input_sizes)
        if missing:
            raise ConfigError(
                f"random projection heads lack input sizes for {sorted(d.value for d in missing)}"
            )
        self.dim, self.seed = int(dim), int(seed)
        self.input_sizes = {Dimension.parse(d): int(f) for d, f in input_sizes.items()}
        self.version = f"{VERSION_PREFIX}-s{self.seed}"
        self._proj: dict[Dimension, np.ndarray] = {}
        for i, d in enumerate(DIMENSIONS):
            f = self.input_sizes[d]
            rng = np.random.default_rng([self.seed, i])
            if f >= self.dim:
                # (f, dim) with orthonormal columns.
                q, _ = np.linalg.qr(rng.standard_normal((f, self.dim)))
                self._proj[d] = q.astype(np.float32)
            else:
                # (f, dim) with orthonormal rows: an isometric embedding of the f-dim input.
                q, _ = np.linalg.qr(rng.standard_normal((self.dim, f)))
                self._proj[d] = q.T.astype(np.float32)

    def project(self, dimension: Dimension, features: np.ndarray) -> np.ndarray:
        """(n, f) raw features of one dimension -> (n, dim) float32 unit rows."""
        d = Dimension.parse(dimension)
        x = np.asarray(features, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        f = self.input_sizes[d]
        if x.ndim != 2 or x.shape[1] != f:
            raise ValueError(f"{d.value} features must have shape (n, {f}), got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"{d.value} features contain NaN or infinite values")
        z = (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-6)
        out = z @ self._proj[d]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        # A constant row has no direction: give it a fixed one rather than NaN.
        out = np.where(norms > 1e-9, out / np.maximum(norms, 1e-12), 1.0 / np.sqrt(self.dim))
        return out.astype(np.float32)

    def save(self, directory: str | Path) -> None:
        """Write ``heads.json`` (type, version, dim, seed, input sizes); the matrices follow from the seed."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        manifest = {
            "type": TYPE,
            "version": self.version,
            "dim": self.dim,
            "seed": self.seed,
            "input_sizes": {d.value: f for d, f in self.input_sizes.items()},
            "trained": False,
        }
        (path / MANIFEST).write_text(json.dumps(manifest, indent=2))

    @classmethod
    def load(cls, directory: str | Path) -> RandomProjectionHeads:
        """Rebuild heads written by ``save``; ConfigError naming the file when it is not such a manifest."""
        path = Path(directory) / MANIFEST
        try:
            manifest = json.loads(path.read_text())
            if manifest.get("type") != TYPE:
                raise ValueError(f"type {manifest.get('type')!r} is not {TYPE}")
            sizes = {Dimension.parse(k): int(v) for k, v in manifest["input_sizes"].items()}
            return cls(sizes, dim=int(manifest["dim"]), seed=int(manifest["seed"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: cannot read random projection heads ({exc})") from None
