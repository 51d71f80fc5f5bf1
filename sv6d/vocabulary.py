"""The controlled, versioned tag vocabulary (loaded from ``vocabulary.toml``)."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from sv6d.dimensions import Dimension
from sv6d.errors import VocabularyError

VOCABULARY_PATH = Path(__file__).with_name("vocabulary.toml")


@dataclass(frozen=True)
class LabelSpec:
    label: str
    dimension: Dimension
    definition: str
    evidence: tuple[str, ...]
    kind: Literal["window", "event"] = "window"


@dataclass(frozen=True)
class Vocabulary:
    version: int
    event_halfwidth_s: float
    labels: dict[str, LabelSpec]

    def spec(self, label: str, dimension: Dimension | str | None = None) -> LabelSpec:
        """The spec of ``label``; raises VocabularyError naming valid labels when unknown or misplaced."""
        spec = self.labels.get(label)
        if spec is None:
            scope = Dimension.parse(dimension) if dimension is not None else None
            valid = ", ".join(sorted(s.label for s in self.labels.values() if scope in (None, s.dimension)))
            where = f" in dimension {scope.value!r}" if scope is not None else ""
            raise VocabularyError(f"unknown tag label {label!r}{where}; valid labels: {valid}")
        if dimension is not None and spec.dimension != Dimension.parse(dimension):
            raise VocabularyError(
                f"tag label {label!r} belongs to dimension {spec.dimension.value!r}, not {str(dimension)!r}"
            )
        return spec

    def for_dimension(self, dimension: Dimension | str) -> list[LabelSpec]:
        dim = Dimension.parse(dimension)
        return [s for s in self.labels.values() if s.dimension == dim]

    def missing_evidence(self, label: str, evidence: Mapping[str, object]) -> list[str]:
        """Required evidence keys absent from ``evidence`` or not finite numbers."""
        missing = []
        for key in self.spec(label).evidence:
            value = evidence.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                missing.append(key)
        return missing


def load_vocabulary(path: Path | str = VOCABULARY_PATH) -> Vocabulary:
    """Read and check a vocabulary file."""
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    labels: dict[str, LabelSpec] = {}
    for label, body in raw.get("labels", {}).items():
        try:
            dim = Dimension.parse(body["dimension"])
        except (KeyError, ValueError) as exc:
            raise VocabularyError(f"{path}: label {label!r}: {exc}") from None
        evidence = tuple(body.get("evidence", ()))
        if not evidence:
            raise VocabularyError(f"{path}: label {label!r} names no evidence; every label must")
        kind = body.get("kind", "window")
        if kind not in ("window", "event"):
            raise VocabularyError(f"{path}: label {label!r}: kind must be 'window' or 'event', got {kind!r}")
        labels[label] = LabelSpec(label, dim, str(body["definition"]), evidence, kind)
    return Vocabulary(int(raw["version"]), float(raw.get("event_halfwidth_s", 0.1)), labels)


@lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    return load_vocabulary()
