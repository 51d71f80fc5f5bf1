"""Backbone outputs (before the heads) cached on disk, keyed by video id + backbone fingerprint.

Layout: ``<root>/<fingerprint>/<sha1(video_id)[:2]>/<sha1(video_id)>.npz`` — one compressed numpy file per
video (the fan-out keeps directories small at a million videos), holding each level's per-dimension
features, windows, energy and the video id. Changing any backbone or preprocessing setting changes the
fingerprint, so stale features are never mixed with fresh ones.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from encoder.types import BackboneOutput, WindowFeatures
from sv6d.dimensions import DIMENSIONS
from sv6d.errors import ConfigError, NotFoundError
from sv6d.record_io import atomic_write_bytes


class FeatureCache:
    """Raw per-dimension features of many videos for one backbone fingerprint."""

    def __init__(self, root: str | Path, fingerprint: str) -> None:
        if not fingerprint or "/" in fingerprint:
            raise ConfigError(f"feature cache: invalid fingerprint {fingerprint!r}")
        self.root = Path(root)
        self.fingerprint = fingerprint
        self.dir = self.root / fingerprint

    def _path(self, video_id: str) -> Path:
        h = hashlib.sha1(video_id.encode()).hexdigest()
        return self.dir / h[:2] / f"{h}.npz"

    def __contains__(self, video_id: str) -> bool:
        return self._path(video_id).is_file()

    def put(self, video_id: str, output: BackboneOutput, meta: dict | None = None) -> None:
        """Store ``output`` for ``video_id`` (atomic; overwrites)."""
        arrays: dict[str, np.ndarray] = {"video_id": np.array(video_id)}
        levels = {"video": [output.video], "hook": [output.hook], "seg": output.segments}
        for name, wins in levels.items():
            arrays[f"{name}_windows"] = np.array([[w.start_s, w.end_s] for w in wins], dtype=np.float64)
            for d in DIMENSIONS:
                if wins:
                    arrays[f"{name}_{d.value}"] = np.stack([w.features[d] for w in wins]).astype(np.float32)
        arrays["energy"] = np.asarray(output.energy, dtype=np.float32)
        arrays["energy_hz"] = np.array(output.energy_hz)
        arrays["meta"] = np.array(json.dumps(meta or {}))
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        path = self._path(video_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = buf.getvalue()

        def write(tmp: Path) -> None:
            tmp.write_bytes(data)

        atomic_write_bytes(path, write)

    def get(self, video_id: str) -> tuple[BackboneOutput, dict]:
        """The cached output (tags are not cached: they are not features) and the stored metadata."""
        path = self._path(video_id)
        if not path.is_file():
            raise NotFoundError(f"feature cache {self.dir}: no features for video {video_id!r}")
        with np.load(path) as z:

            def level(name: str) -> list[WindowFeatures]:
                wins = z[f"{name}_windows"]
                return [
                    WindowFeatures(float(a), float(b), {d: z[f"{name}_{d.value}"][i] for d in DIMENSIONS})
                    for i, (a, b) in enumerate(wins)
                ]

            out = BackboneOutput(
                video=level("video")[0],
                hook=level("hook")[0],
                segments=level("seg"),
                tags=[],
                energy=z["energy"].tolist(),
                energy_hz=float(z["energy_hz"]),
            )
            return out, json.loads(str(z["meta"]))

    def video_ids(self) -> Iterator[str]:
        """Every cached video id (order of the files on disk, sorted)."""
        for path in sorted(self.dir.glob("*/*.npz")):
            with np.load(path) as z:
                yield str(z["video_id"])

    def matrix(self, level: str = "video") -> tuple[list[str], dict, list[dict]]:
        """All cached ``level`` ("video" or "hook") features: ids, {dimension: (n, f)}, metadata."""
        if level not in ("video", "hook"):
            raise ConfigError(f"feature cache level must be 'video' or 'hook', got {level!r}")
        ids, metas, rows = [], [], []
        for vid in self.video_ids():
            out, meta = self.get(vid)
            ids.append(vid)
            metas.append(meta)
            rows.append((out.video if level == "video" else out.hook).features)
        feats = {
            d: np.stack([r[d] for r in rows]) if rows else np.zeros((0, 0), np.float32) for d in DIMENSIONS
        }
        return ids, feats, metas
