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

from encoder.style import StyleModel
from encoder.types import WindowFeatures
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


# What hook heads take: the hook window's raw features alone, or those and their difference from the whole
# video's (``hook_head_input``): an opening told apart by how it departs from the rest of its own video, so
# that what the footage shows (its palette, its faces, its usual pace) cancels out.
HOOK_ONLY = "hook"
HOOK_AND_CONTRAST = "hook+contrast"
HOOK_INPUTS = (HOOK_ONLY, HOOK_AND_CONTRAST)


def hook_head_input(hook: np.ndarray, video: np.ndarray) -> np.ndarray:
    """The ``HOOK_AND_CONTRAST`` input of hook heads: ``[hook, hook - video]`` along the last axis (raw
    features of one dimension; the same rows in both). Training and encoding both build it here."""
    hook = np.asarray(hook, dtype=np.float32)
    return np.concatenate([hook, hook - np.asarray(video, dtype=np.float32)], axis=-1)


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


class LevelHeads:
    """Heads of their own for the hook, others for the whole video and its shots.

    The hook is where an opening style lives, so its heads may be trained for it (``sv6d train-hook-heads``:
    contrastive heads on real footage re-cut into known openings) while the video and shot vectors keep
    theirs. ``project`` is the base heads' (video and shots); ``project_level("hook", ...)`` the hook heads'.
    Free text goes through the hook heads (``project_text``), since text queries ask for openings.
    ``style``: the opening-style model trained with the hook heads (``encoder.style``), which gives the
    record's ``hook_style`` (``hook_style``); None: records carry no profile.
    """

    manifest_name = "heads.json"

    def __init__(self, base: Heads, hook: Heads, style: StyleModel | None = None) -> None:
        if base.dim != hook.dim:
            raise ConfigError(f"hook heads have {hook.dim} dims, the base heads {base.dim}: they must agree")
        self.base = base
        self.hook = hook
        self.style = style
        self.dim = int(base.dim)
        self.version = f"{base.version}+hook:{hook.version}" + (f"+{style.version}" if style else "")
        self.hook_input = str(getattr(hook, "manifest", {}).get("input", HOOK_ONLY))
        if self.hook_input not in HOOK_INPUTS:
            raise ConfigError(f"hook heads take {self.hook_input!r} input; known: {', '.join(HOOK_INPUTS)}")

    def project(self, dimension: Dimension, features: np.ndarray) -> np.ndarray:
        return self.base.project(dimension, features)

    def project_level(
        self, level: str, dimension: Dimension, features: np.ndarray, video: np.ndarray | None = None
    ) -> np.ndarray:
        """``project`` for one level: ``"hook"`` through the hook heads, anything else the base heads.
        ``video``: the whole video's raw features of ``dimension``, which hook heads trained on
        ``HOOK_AND_CONTRAST`` input need beside the hook's (``hook_head_input``)."""
        if level != "hook":
            return self.base.project(dimension, features)
        if self.hook_input == HOOK_AND_CONTRAST:
            if video is None:
                raise ConfigError("these hook heads compare the hook with the whole video: give its features")
            features = hook_head_input(features, np.broadcast_to(video, features.shape))
        return self.hook.project(dimension, features)

    def hook_style(self, hook: WindowFeatures, video: WindowFeatures) -> dict[str, float]:
        """The hook's opening-style profile (``encoder.style``); empty without a style model."""
        if self.style is None:
            return {}
        inputs = {d: hook_head_input(hook.features[d], video.features[d]) for d in DIMENSIONS}
        return self.style.profile(inputs)

    @property
    def text_heads(self) -> dict:
        return dict(getattr(self.hook, "text_heads", {}))

    def project_text(self, dimension: Dimension, texts: list[str]) -> np.ndarray:
        project = getattr(self.hook, "project_text", None)
        if project is None:
            raise ConfigError(f"hook heads {self.hook.version!r} have no text heads")
        return np.asarray(project(dimension, texts))

    def read_text(self, text: str) -> list[tuple[str, str | None, float]] | None:
        """The hook heads' reading of ``text`` (``ContrastiveHeads.read_text``); None when they have none."""
        read = getattr(self.hook, "read_text", None)
        return read(text) if read is not None else None

    @property
    def manifest(self) -> dict:
        return dict(getattr(self.hook, "manifest", {}))

    def save(self, directory: str | Path) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self.base.save(path / "base")
        self.hook.save(path / "hook")
        if self.style is not None:
            self.style.save(path / "hook")
        manifest = {"type": "LevelHeads", "version": self.version, "dim": self.dim}
        (path / self.manifest_name).write_text(json.dumps(manifest, indent=2))

    @classmethod
    def load(cls, directory: str | Path) -> LevelHeads:
        from encoder.contrastive.heads import load_heads

        path = Path(directory)
        hook = load_heads(path / "hook")
        if isinstance(hook, LevelHeads):  # hook heads load as LevelHeads of their own (load_heads)
            hook = hook.hook
        return cls(load_heads(path / "base"), hook, StyleModel.load(path / "hook"))


def check_heads_backbone(heads: Heads, fingerprint: str, backbone: str = "the") -> None:
    """Refuse heads whose manifest names another backbone fingerprint than ``fingerprint`` (heads trained on
    one backbone's features mean nothing on another's); heads that name none are accepted."""
    trained_on = (getattr(heads, "manifest", None) or {}).get("backbone") or {}
    found = trained_on.get("fingerprint") if isinstance(trained_on, dict) else None
    if found is not None and found != fingerprint:
        raise ConfigError(
            f"heads {heads.version!r} were trained on backbone fingerprint {found}, "
            f"{backbone} backbone here is {fingerprint}: train them again on its features"
        )


def project_window(
    heads: Heads, level: str, dimension: Dimension, features: np.ndarray, video: np.ndarray | None = None
) -> np.ndarray:
    """Project one level's features ("video", "hook" or "segment") with heads that may differ per level;
    ``video``: the whole video's features of ``dimension`` (hook heads may compare the hook with them)."""
    per_level = getattr(heads, "project_level", None)
    if callable(per_level):
        return np.asarray(per_level(level, dimension, features, video))
    return heads.project(dimension, features)


def style_profile(heads: Heads, hook: WindowFeatures, video: WindowFeatures) -> dict[str, float]:
    """The opening-style profile ``heads`` give a hook (``LevelHeads.hook_style``); empty when they have no
    style model."""
    style = getattr(heads, "hook_style", None)
    return dict(style(hook, video)) if callable(style) else {}


def project_block(heads: Heads, window: WindowFeatures, level: str, video: WindowFeatures) -> np.ndarray:
    """(6, dim) projected vectors of one window of a video whose whole-video window is ``video``."""
    return np.concatenate(
        [
            project_window(heads, level, d, window.features[d][None, :], video.features[d][None, :])
            for d in DIMENSIONS
        ]
    )
