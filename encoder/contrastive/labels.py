"""Training labels per dimension from the generated corpus's ground truth (``sv6d.synth`` manifest tags).

SupCon needs one class per sample and dimension; a video carries many true tags per dimension. The class of a
sample (a whole video, or its hook window) in dimension d is its **dominant label**: among d's true tags
overlapping the window, the label covering most of the window (union of its tag windows, clipped), ties broken
by the rarer label in the corpus, then by name. Two refinements keep the classes informative:

- a label present in (almost) every sample of the corpus (``UBIQUITOUS`` share, e.g. ``no_person`` on the
  generated corpus, where nobody appears) says nothing and is ignored;
- a dimension left with fewer than two classes (subject, on the generated corpus) falls back to the **hook
  archetype** as its class, so its head still learns the hook structure.

A sample without any informative tag in d gets the class ``"none"``. Labels depend only on the truth, never on
features, so the same rule serves training, validation and evaluation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sv6d.dimensions import DIMENSIONS, Dimension

UBIQUITOUS = 0.95
NONE = "none"


class TruthLike(Protocol):
    dimension: str
    label: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class LabelSource:
    """What labels are computed from: a sample's true tags, its window and the video's hook archetype."""

    truth: Sequence[TruthLike]
    start_s: float
    end_s: float
    archetype: str


def coverage(
    truth: Iterable[TruthLike], dimension: Dimension, start_s: float, end_s: float
) -> dict[str, float]:
    """Seconds of ``[start_s, end_s]`` covered by each label of ``dimension`` (union of its tag windows)."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for t in truth:
        if t.dimension != dimension.value:
            continue
        a, b = max(start_s, t.start_s), min(end_s, t.end_s)
        if b > a:
            spans.setdefault(t.label, []).append((a, b))
    out: dict[str, float] = {}
    for label, parts in spans.items():
        total, cur_a, cur_b = 0.0, None, None
        for a, b in sorted(parts):
            if cur_b is None or a > cur_b:
                if cur_b is not None and cur_a is not None:
                    total += cur_b - cur_a
                cur_a, cur_b = a, b
            else:
                cur_b = max(cur_b, b)
        if cur_a is not None and cur_b is not None:
            total += cur_b - cur_a
        out[label] = total
    return out


def assign_labels(sources: Sequence[LabelSource]) -> list[dict[Dimension, str]]:
    """The class of every sample in every dimension (see the module docstring); same order as ``sources``."""
    covers = [{d: coverage(s.truth, d, s.start_s, s.end_s) for d in DIMENSIONS} for s in sources]
    out: list[dict[Dimension, str]] = [{} for _ in sources]
    n = max(len(sources), 1)
    for d in DIMENSIONS:
        present = Counter(label for c in covers for label in c[d])
        ignored = {lab for lab, k in present.items() if k / n >= UBIQUITOUS}
        chosen = []
        for c in covers:
            options = [(-sec, present[lab], lab) for lab, sec in c[d].items() if lab not in ignored]
            chosen.append(min(options)[2] if options else NONE)
        if len(set(chosen)) < 2:
            chosen = [s.archetype for s in sources]
        for i, lab in enumerate(chosen):
            out[i][d] = lab
    return out
