"""Trained projection heads: one small MLP per dimension, plus a text head per dimension.

Video head of dimension d: ``z = (x - mean_d) / std_d`` (clipped to ``±clip`` when the heads were trained with
``TrainConfig.input_clip``) → Linear(f, h) → GELU → Linear(h, dim) → unit.
Text head of dimension d: MiniLM sentence embedding (384) → Linear(384, h) → GELU → Linear(h, dim) → unit,
trained so that a label's definition lands near the videos carrying that label.
Free text (``project_text``) goes through ``TextAnchors`` when the heads have them: its MiniLM cosine with
each label's sentences (best sentence per label) gives softmax weights (``TEXT_TEMPERATURE``) over the
labels' centroids of trained video embeddings, leaning towards an unused direction when the text names
nothing of the dimension (``TextAnchors``). Why: the text MLP sees two sentences per label in training, too
few to place an unseen sentence reliably (measured: "fast cuts with a text overlay" landed nowhere near the
fast_rhythm videos); reading the text as a soft mix of known labels, and sending it where videos of those
labels actually are, keeps free text inside the space the index searches.
Saved as ``heads.json`` (manifest: type, version, dim, config, metrics, library versions) + ``heads.npz``.
Inference runs in numpy, so loading heads never needs torch.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sv6d.dimensions import DIMENSIONS, Dimension
from sv6d.errors import ConfigError

MANIFEST = "heads.json"
WEIGHTS = "heads.npz"


def _gelu(x: np.ndarray) -> np.ndarray:
    # The exact (erf) GELU, as torch.nn.GELU() computes it, so numpy inference matches training.
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)


@dataclass
class MLP:
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    clip: np.ndarray | None = None  # a scalar: standardised inputs are clipped to +-clip

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.mean is not None and self.std is not None:
            x = (x - self.mean) / self.std
        if self.clip is not None:
            x = np.clip(x, -self.clip, self.clip)
        return _unit(_gelu(x @ self.w1 + self.b1) @ self.w2 + self.b2)


MLP_ARRAYS = ("w1", "b1", "w2", "b2", "mean", "std", "clip")  # how an MLP is stored (heads.npz)

TEXT_TEMPERATURE = 0.05
# MiniLM cosine of a text with a label's best sentence: <= LO names nothing of the dimension, >= HI names it
# (measured: "fast cuts with a text overlay..." scores 0.52 with fast_rhythm, 0.58 with text_overlay, and at
# most 0.25 with any aesthetics or camera label).
RELEVANCE_LO, RELEVANCE_HI = 0.3, 0.5


@dataclass
class TextAnchors:
    """Where free text goes in one dimension's space: the label sentences' MiniLM embeddings (m, 384), the
    label each sentence stands for (m,), and each label's centroid of trained video embeddings (L, dim)."""

    sentences: np.ndarray
    owner: np.ndarray
    centroids: np.ndarray
    labels: list[str]
    null: np.ndarray | None = None  # a unit direction the trained video embeddings barely use

    def label_similarity(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, 384) MiniLM embeddings -> (n, L): each label's best sentence cosine (how the text is read)."""
        sims = np.atleast_2d(embeddings) @ self.sentences.T
        per_label = np.full((len(sims), len(self.centroids)), -np.inf)
        for j in range(len(self.centroids)):
            per_label[:, j] = sims[:, self.owner == j].max(axis=1)
        return per_label

    def __call__(self, embeddings: np.ndarray) -> np.ndarray:
        per_label = self.label_similarity(embeddings)
        best = per_label.max(axis=1, keepdims=True)
        w = np.exp((per_label - best) / TEXT_TEMPERATURE)
        mix = _unit((w / w.sum(axis=1, keepdims=True)) @ self.centroids)
        if self.null is None:
            return mix
        # Text that names nothing of this dimension should not rank videos by it: its query leans towards
        # a direction no video points to (cos ~ 0 for all), in proportion to how weakly it matches any label.
        r = np.clip((best - RELEVANCE_LO) / (RELEVANCE_HI - RELEVANCE_LO), 0.0, 1.0)
        return _unit(r * mix + np.sqrt(1.0 - r**2) * self.null[None, :])


@dataclass
class ContrastiveHeads:
    """A ``encoder.heads.Heads`` implementation with trained video and text heads per dimension."""

    dim: int
    video_heads: dict[Dimension, MLP]
    text_heads: dict[Dimension, MLP] = field(default_factory=dict)
    version: str = "contrastive-0"
    manifest: dict = field(default_factory=dict)
    text_anchors: dict[Dimension, TextAnchors] = field(default_factory=dict)

    def input_size(self, dimension: Dimension) -> int:
        return int(self.video_heads[Dimension.parse(dimension)].w1.shape[0])

    def project(self, dimension: Dimension, features: np.ndarray) -> np.ndarray:
        """(n, f) raw features of one dimension -> (n, dim) float32 unit rows."""
        dim = Dimension.parse(dimension)
        x = np.asarray(features, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        f = self.input_size(dim)
        if x.ndim != 2 or x.shape[1] != f:
            raise ValueError(f"{dim.value} features must have shape (n, {f}), got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"{dim.value} features contain NaN or infinite values")
        return self.video_heads[dim](x)

    def project_text_embeddings(self, dimension: Dimension, embeddings: np.ndarray) -> np.ndarray:
        """(n, 384) MiniLM embeddings -> (n, dim) unit rows in ``dimension``'s space."""
        dim = Dimension.parse(dimension)
        if dim in self.text_anchors:
            return self.text_anchors[dim](embeddings)
        if dim not in self.text_heads:
            raise ConfigError(f"heads {self.version!r} have no text head for {dim.value!r}")
        return self.text_heads[dim](np.atleast_2d(embeddings))

    def project_text(self, dimension: Dimension, texts: list[str]) -> np.ndarray:
        """Free text (e.g. "fast cuts with a text overlay in the first seconds") -> (n, dim) unit rows."""
        from encoder.contrastive.text import TextEncoder

        return self.project_text_embeddings(dimension, TextEncoder.shared().embed(texts))

    def read_text(self, text: str) -> list[tuple[str, str | None, float]] | None:
        """What ``project_text`` reads ``text`` as: (label, its dimension, best sentence cosine) over the
        labels of every dimension's ``TextAnchors``, best first; a label anchored in several dimensions (an
        opening style of the hook heads) appears once, with dimension None. None without anchors."""
        if not self.text_anchors:
            return None
        from encoder.contrastive.text import TextEncoder

        emb = TextEncoder.shared().embed([text])
        best: dict[str, float] = {}
        dims: dict[str, set[str]] = {}
        for d, anchors in self.text_anchors.items():
            for label, s in zip(anchors.labels, anchors.label_similarity(emb)[0], strict=True):
                best[label] = max(best.get(label, -1.0), float(s))
                dims.setdefault(label, set()).add(d.value)
        return [
            (label, next(iter(dims[label])) if len(dims[label]) == 1 else None, s)
            for label, s in sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
        ]

    def save(self, directory: str | Path) -> None:
        """Write ``heads.json`` (manifest) and ``heads.npz`` (weights) to ``directory``."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        for kind, heads in (("video", self.video_heads), ("text", self.text_heads)):
            for d, mlp in heads.items():
                for name in MLP_ARRAYS:
                    value = getattr(mlp, name)
                    if value is not None:
                        arrays[f"{kind}.{d.value}.{name}"] = np.asarray(value)
        for d, a in self.text_anchors.items():
            arrays[f"anchor.{d.value}.sentences"] = a.sentences
            arrays[f"anchor.{d.value}.owner"] = a.owner
            arrays[f"anchor.{d.value}.centroids"] = a.centroids
            if a.null is not None:
                arrays[f"anchor.{d.value}.null"] = a.null
        np.savez_compressed(path / WEIGHTS, **arrays)  # type: ignore[arg-type]
        manifest = {**self.manifest, "type": "ContrastiveHeads", "version": self.version, "dim": self.dim}
        manifest["text_anchor_labels"] = {d.value: a.labels for d, a in self.text_anchors.items()}
        (path / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))

    @classmethod
    def load(cls, directory: str | Path) -> ContrastiveHeads:
        """Rebuild heads written by ``save``; ConfigError naming the folder when they are not there."""
        path = Path(directory)
        try:
            manifest = json.loads((path / MANIFEST).read_text())
            z = dict(np.load(path / WEIGHTS))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot read contrastive heads ({exc})") from None
        if manifest.get("type") != "ContrastiveHeads":
            raise ConfigError(f"{path}: heads of type {manifest.get('type')!r}, not ContrastiveHeads")

        def mlp(kind: str, d: Dimension) -> MLP | None:
            key = f"{kind}.{d.value}"
            if f"{key}.w1" not in z:
                return None
            return MLP(*(z.get(f"{key}.{n}") for n in MLP_ARRAYS))  # type: ignore[arg-type]

        video = {d: m for d in DIMENSIONS if (m := mlp("video", d)) is not None}
        if set(video) != set(DIMENSIONS):
            raise ConfigError(f"{path}: heads lack dimensions {sorted(set(DIMENSIONS) - set(video))}")
        text = {d: m for d in DIMENSIONS if (m := mlp("text", d)) is not None}
        anchor_labels = manifest.get("text_anchor_labels", {})
        anchors = {
            d: TextAnchors(
                z[f"anchor.{d.value}.sentences"],
                z[f"anchor.{d.value}.owner"],
                z[f"anchor.{d.value}.centroids"],
                list(anchor_labels.get(d.value, [])),
                z.get(f"anchor.{d.value}.null"),
            )
            for d in DIMENSIONS
            if f"anchor.{d.value}.centroids" in z
        }
        return cls(int(manifest["dim"]), video, text, str(manifest["version"]), manifest, anchors)


def load_heads(directory: str | Path):  # type: ignore[no-untyped-def]
    """Load whichever heads a folder holds (contrastive, random projection, fixed layout) by manifest type."""
    path = Path(directory)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        kind = manifest.get("type")
    except (OSError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: cannot read heads manifest ({exc})") from None
    if kind == "ContrastiveHeads" and manifest.get("trained_for") == "hook":
        # Hook heads (sv6d train-hook-heads) project the hook only: the video and its shots keep the fixed
        # layout, as with the evidence backbone's packaged hook heads (default_evidence_heads).
        from encoder.heads import FixedLayoutHeads, LevelHeads
        from encoder.style import StyleModel

        hook = ContrastiveHeads.load(path)
        return LevelHeads(FixedLayoutHeads(dim=hook.dim), hook, StyleModel.load(path))
    if kind == "ContrastiveHeads":
        return ContrastiveHeads.load(path)
    if kind == "RandomProjectionHeads":
        from encoder.vlm.heads import RandomProjectionHeads

        return RandomProjectionHeads.load(path)
    if kind == "FixedLayoutHeads":
        from encoder.heads import FixedLayoutHeads

        return FixedLayoutHeads.load(path)
    if kind == "LevelHeads":
        from encoder.heads import LevelHeads

        return LevelHeads.load(path)
    raise ConfigError(
        f"{path / MANIFEST}: unknown heads type {kind!r}; "
        "known: ContrastiveHeads, RandomProjectionHeads, FixedLayoutHeads, LevelHeads"
    )
