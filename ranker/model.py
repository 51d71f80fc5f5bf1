"""LightGBM lambdarank grouped by request, saved to a folder with its feature schema and metrics.

Folder layout: ``model.txt`` (LightGBM's own format) and ``manifest.json`` (schema version, the feature names
the model reads, training parameters, metrics, library versions). ``RankerModel.load`` refuses a folder whose
schema differs from the running code's and says how.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ranker.features import FeatureSchema
from sv6d.errors import SV6DError
from sv6d.record_io import atomic_write_bytes

MANIFEST = "manifest.json"
MODEL_FILE = "model.txt"

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [10],
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambdarank_truncation_level": 20,
    "verbose": -1,
    "seed": 7,
}
# Below this many training rows LightGBM runs on one thread: on small data its OpenMP threads spend more
# time waiting for each other than working, and on a busy 2-core machine a 6,000-row model took 52 s with
# two threads against 2.5 s with one. Larger sets use every core (``num_threads`` in params overrides).
SINGLE_THREAD_ROWS = 200_000


def _write_text(path: Path, text: str) -> None:
    path.write_text(text)


class SchemaMismatchError(SV6DError):
    """A saved model whose feature schema differs from the one the code computes."""


@dataclass
class RankerModel:
    """A trained booster plus the schema columns it reads."""

    booster: Any
    schema_version: str
    feature_names: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    # What it was trained on (data, snapshots, counts); written to the manifest as is.
    training: dict[str, Any] = field(default_factory=dict)
    # The folder name it was loaded from (a registry model's id); None for a model not loaded from disk.
    model_id: str | None = None
    saved_at: str | None = None

    def columns(self, schema: FeatureSchema) -> np.ndarray:
        """Indices of this model's features in ``schema`` (raises SchemaMismatchError if absent)."""
        check_schema(self.schema_version, self.feature_names, schema, where="model")
        pos = {n: i for i, n in enumerate(schema.names)}
        return np.array([pos[n] for n in self.feature_names], dtype=np.int64)

    def predict(self, features: np.ndarray, schema: FeatureSchema) -> np.ndarray:
        """Scores for rows of a full-schema matrix (higher = better)."""
        x = features[:, self.columns(schema)]
        return np.asarray(self.booster.predict(x, num_threads=1), dtype=np.float64)

    def save(self, folder: Path | str) -> Path:
        """Write ``model.txt`` and ``manifest.json`` into ``folder`` (atomically each)."""
        import lightgbm

        folder = Path(folder)
        text = self.booster.model_to_string()
        atomic_write_bytes(folder / MODEL_FILE, lambda tmp: _write_text(tmp, text))
        manifest = {
            "kind": "sv6d.ranker.lambdarank",
            "feature_schema_version": self.schema_version,
            "feature_names": self.feature_names,
            "metrics": self.metrics,
            "params": self.params,
            "training": self.training,
            "lightgbm_version": lightgbm.__version__,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        atomic_write_bytes(folder / MANIFEST, lambda tmp: _write_text(tmp, json.dumps(manifest, indent=2)))
        return folder

    @classmethod
    def load(cls, folder: Path | str, schema: FeatureSchema | None = None) -> RankerModel:
        """Load a saved model; with ``schema``, check it first (SchemaMismatchError naming the difference)."""
        import lightgbm

        folder = Path(folder)
        mpath = folder / MANIFEST
        if not mpath.exists():
            raise SV6DError(f"{folder}: no {MANIFEST}; not a saved ranker model")
        manifest = json.loads(mpath.read_text())
        if schema is not None:
            check_schema(
                manifest["feature_schema_version"], manifest["feature_names"], schema, where=str(folder)
            )
        booster = lightgbm.Booster(model_file=str(folder / MODEL_FILE))
        return cls(
            booster=booster,
            schema_version=manifest["feature_schema_version"],
            feature_names=list(manifest["feature_names"]),
            metrics=manifest.get("metrics", {}),
            params=manifest.get("params", {}),
            training=manifest.get("training", {}),
            model_id=folder.name,
            saved_at=manifest.get("saved_at"),
        )


def check_schema(version: str, names: Sequence[str], schema: FeatureSchema, where: str) -> None:
    """Raise SchemaMismatchError unless ``version`` matches and every name exists in ``schema``."""
    problems = []
    if version != schema.version:
        problems.append(f"feature schema version {version!r} != current {schema.version!r}")
    missing = [n for n in names if n not in set(schema.names)]
    if missing:
        problems.append(f"features not in the current schema: {', '.join(missing)}")
    if problems:
        raise SchemaMismatchError(f"{where}: " + "; ".join(problems))


def train_ranker(
    features: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    schema: FeatureSchema,
    feature_names: Sequence[str] | None = None,
    valid_fraction: float = 0.2,
    num_boost_round: int = 300,
    early_stopping_rounds: int = 30,
    params: dict[str, Any] | None = None,
    seed: int = 7,
) -> RankerModel:
    """Train lambdarank on rows grouped by request; early stopping on a split of whole requests.

    ``groups`` holds one request id per row (rows of a request must be contiguous). Requests without any
    positive label carry no ranking signal and are dropped. ``metrics`` records the best iteration and its
    validation NDCG@10.
    """
    import lightgbm

    names = list(feature_names) if feature_names is not None else list(schema.names)
    col = {n: i for i, n in enumerate(schema.names)}
    x = features[:, [col[n] for n in names]]
    labels = np.asarray(labels, dtype=np.float64)
    _, starts, counts = np.unique(groups, return_index=True, return_counts=True)
    order = np.argsort(starts)
    starts, counts = starts[order], counts[order]
    has_pos = np.array([labels[s : s + c].max() > 0 for s, c in zip(starts, counts, strict=True)])
    starts, counts = starts[has_pos], counts[has_pos]
    if len(starts) < 2:
        raise SV6DError(f"training needs at least 2 requests with a positive label, got {len(starts)}")
    rng = np.random.default_rng(seed)
    is_valid = rng.random(len(starts)) < valid_fraction
    if is_valid.all() or not is_valid.any():
        is_valid[:] = False
        is_valid[0] = True

    def rows(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.concatenate([np.arange(s, s + c) for s, c in zip(starts[mask], counts[mask], strict=True)])
        return idx, counts[mask]

    tr_idx, tr_groups = rows(~is_valid)
    va_idx, va_groups = rows(is_valid)
    threads = 1 if len(tr_idx) < SINGLE_THREAD_ROWS else 0
    p = {**DEFAULT_PARAMS, "num_threads": threads, **(params or {}), "seed": seed}
    dtrain = lightgbm.Dataset(
        x[tr_idx], labels[tr_idx], group=tr_groups, feature_name=names, free_raw_data=False
    )
    dvalid = lightgbm.Dataset(x[va_idx], labels[va_idx], group=va_groups, reference=dtrain)
    t0 = time.perf_counter()
    booster = lightgbm.train(
        p,
        dtrain,
        num_boost_round=num_boost_round,
        valid_sets=[dvalid],
        valid_names=["valid"],
        callbacks=[lightgbm.early_stopping(early_stopping_rounds, verbose=False)],
    )
    metrics = {
        "best_iteration": int(booster.best_iteration),
        "valid_ndcg_at_10": float(booster.best_score["valid"]["ndcg@10"]),
        "train_rows": len(tr_idx),
        "valid_rows": len(va_idx),
        "train_requests": len(tr_groups),
        "valid_requests": len(va_groups),
        "train_seconds": time.perf_counter() - t0,
    }
    return RankerModel(booster, schema.version, names, metrics, p)
