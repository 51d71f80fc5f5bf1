"""The hook's opening-style profile: one classifier over the evidence of all six dimensions at once.

The hook heads embed each dimension on its own, and a hook search adds the six similarities. An opening style
is often a conjunction across dimensions (a scale jump with no cut is a punch-in, a cut with no scale jump a
jump cut; edges held over the hook in text-line shapes are a caption, held edges without them a split screen),
which a sum of per-dimension similarities cannot express. The style model reads the hook heads' input of
every dimension together (``encoder.heads.hook_head_input``: the hook's raw features beside their difference
from the whole video's) and gives a probability over the opening styles it was trained on: the record's
``hook_style``. Two profiles compare by the cosine of their centred log probabilities
(``sv6d.record.style_similarity``); the similar-hooks search blends it with the per-dimension score
(``indexer.base.STYLE_SHARE``).

Gradient-boosted trees (LightGBM, multiclass), because with a few thousand labelled clips of a few dozen
sources, thresholds on measured evidence are what generalises across footage. Chosen by source-grouped
3-fold cross-validation on the hook benchmark's training sources only (train on two thirds of the footage,
P@5 within the held-apart third, render seed 0): the hook heads alone 0.546; this model's profiles alone
0.716 (compared by the Bhattacharyya coefficient); a linear model on the same inputs 0.555, an MLP
classifier 0.569-0.588, LightGBM per dimension then summed like the heads 0.500 (the conjunctions are the
gain). Trained by ``sv6d train-hook-heads`` beside the hook heads, on the same clips, and saved in their
folder (``STYLE_MODEL``, ``STYLE_MANIFEST``); its version is part of the heads' version, so stored records
re-project.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sv6d.dimensions import DIMENSIONS, Dimension
from sv6d.errors import ConfigError

STYLE_MODEL = "style.txt.gz"  # LightGBM's text model, gzipped (a fifth of the size)
STYLE_MANIFEST = "style.json"
STYLE_DECIMALS = 4  # a record's profile is kept to this many decimals

# LightGBM parameters (chosen on the training sources' cross-validation; see the module docstring)
STYLE_PARAMS: dict[str, Any] = {
    "objective": "multiclass",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 10,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "feature_fraction": 0.5,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbosity": -1,
}
STYLE_ROUNDS = 300


def style_input(hook_inputs: Mapping[Dimension, np.ndarray]) -> np.ndarray:
    """(n, F) the style model's input: the hook heads' input of each dimension, in ``DIMENSIONS`` order."""
    rows = [np.asarray(hook_inputs[d], dtype=np.float64) for d in DIMENSIONS]
    return np.concatenate([r if r.ndim == 2 else r[None, :] for r in rows], axis=1)


class StyleModel:
    """A trained opening-style classifier: ``profile`` gives each hook a probability per style."""

    def __init__(
        self,
        booster: Any,
        labels: Sequence[str],
        manifest: Mapping[str, Any] | None = None,
        text: str | None = None,
    ) -> None:
        self.booster = booster
        self.labels = tuple(str(x) for x in labels)
        self.manifest = dict(manifest or {})
        # the version hashes the model's text as trained and saved (``text``: as read back), never a
        # re-serialisation, which another LightGBM release may write differently
        self.text = text if text is not None else booster.model_to_string()
        self.version = "style-" + hashlib.sha256(self.text.encode()).hexdigest()[:10]
        self.n_features = int(booster.num_feature())

    def probabilities(self, hook_inputs: Mapping[Dimension, np.ndarray]) -> np.ndarray:
        """(n, len(labels)) probabilities, rows summing to 1."""
        x = style_input(hook_inputs)
        if x.shape[1] != self.n_features:
            raise ConfigError(
                f"the style model reads {self.n_features} features, these hooks have {x.shape[1]}: "
                "train the hook heads again (sv6d train-hook-heads)"
            )
        p = np.asarray(self.booster.predict(x), dtype=np.float64).reshape(len(x), len(self.labels))
        return p / p.sum(axis=1, keepdims=True)

    def profile(self, hook_inputs: Mapping[Dimension, np.ndarray]) -> dict[str, float]:
        """One hook's profile: style -> probability (``STYLE_DECIMALS``), in the model's label order."""
        p = self.probabilities(hook_inputs)[0]
        return {lab: round(float(v), STYLE_DECIMALS) for lab, v in zip(self.labels, p, strict=True)}

    def save(self, directory: str | Path) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        (path / STYLE_MODEL).write_bytes(gzip.compress(self.text.encode(), compresslevel=9, mtime=0))
        manifest = {**self.manifest, "version": self.version, "labels": list(self.labels)}
        (path / STYLE_MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))

    @classmethod
    def load(cls, directory: str | Path) -> StyleModel | None:
        """The style model saved in ``directory``; None when there is none."""
        path = Path(directory)
        if not (path / STYLE_MANIFEST).is_file():
            return None
        import lightgbm as lgb

        try:
            manifest = json.loads((path / STYLE_MANIFEST).read_text())
            text = gzip.decompress((path / STYLE_MODEL).read_bytes()).decode()
            booster = lgb.Booster(model_str=text)
        except (OSError, ValueError, EOFError, lgb.basic.LightGBMError) as exc:
            raise ConfigError(f"{path}: cannot read the style model ({exc})") from None
        model = cls(booster, manifest["labels"], manifest, text)
        if manifest.get("version") not in (None, model.version):
            named = manifest["version"]
            raise ConfigError(f"{path / STYLE_MODEL} is not the model its manifest names ({named})")
        return model


def train_style_model(
    rows: Sequence[tuple[str, Mapping[Dimension, np.ndarray]]], seed: int = 0
) -> StyleModel:
    """A ``StyleModel`` on ``(style label, hook heads' input per dimension)`` rows (``STYLE_PARAMS``,
    ``STYLE_ROUNDS``; deterministic for a seed)."""
    import lightgbm as lgb

    labels = sorted({lab for lab, _ in rows})
    if len(labels) < 2:
        raise ConfigError(f"a style model needs at least two styles, got {labels}")
    x = np.concatenate([style_input(f) for _, f in rows])
    y = np.array([labels.index(lab) for lab, _ in rows])
    params = {**STYLE_PARAMS, "num_class": len(labels), "seed": seed}
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=STYLE_ROUNDS)
    manifest = {"params": params, "rounds": STYLE_ROUNDS, "rows": len(rows), "lightgbm": lgb.__version__}
    return StyleModel(booster, labels, manifest)
