"""The tag metric: predicted vs true tags matched by temporal IoU, per dimension, label and overall.

Per video and per (dimension, label), predictions and truths are paired one-to-one by the Hungarian
algorithm (``scipy.optimize.linear_sum_assignment``) maximising total temporal IoU; a pair counts as a true
positive when its IoU >= ``iou_threshold`` (0.5). Unpaired or under-threshold predictions are false positives,
unpaired or under-threshold truths false negatives. Tags of different labels never match.

``labels`` restricts scoring to a set of labels on both sides. The generated corpus's truth covers only the
labels its generator controls exactly (``sv6d.synth.TRUTH_LABELS``), so score it with those: a prediction of a
label the truth never covers (``face_present``, ``energy_peak``...) is then neither right nor wrong.

Empty sets: precision is 1.0 when nothing was predicted, recall is 1.0 when nothing was true (nothing to find,
nothing wrongly claimed), and F1 is the harmonic mean of the two (so 1.0 when both sides are empty, 0.0 when
one side is empty and the other is not).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from sv6d.dimensions import DIMENSIONS, Dimension

IOU_THRESHOLD = 0.5


class TagLike(Protocol):
    """Anything with a dimension, a label and a window (``sv6d.record.Tag``, ``sv6d.synth.TruthTag``)."""

    @property
    def dimension(self) -> Any: ...
    @property
    def label(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...


class PrecisionRecall:
    """Precision, recall and F1 from ``tp``, ``fp``, ``fn`` (empty sets score 1: nothing to find or miss)."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Counts(PrecisionRecall):
    """True positives, false positives and false negatives, with the scores they give."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Counts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    def to_json(self) -> dict[str, float | int]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


@dataclass
class TagMetrics:
    """Micro-averaged counts overall, per dimension (all six, always present) and per label."""

    overall: Counts = field(default_factory=Counts)
    dimensions: dict[str, Counts] = field(default_factory=lambda: {d.value: Counts() for d in DIMENSIONS})
    labels: dict[str, Counts] = field(default_factory=dict)
    iou_threshold: float = IOU_THRESHOLD

    def to_json(self) -> dict[str, Any]:
        """``{"overall": {precision, recall, f1, tp, fp, fn}, "dimensions": {...}, "labels": {...}}``."""
        return {
            "overall": self.overall.to_json(),
            "dimensions": {k: v.to_json() for k, v in self.dimensions.items()},
            "labels": {k: v.to_json() for k, v in sorted(self.labels.items())},
            "iou_threshold": self.iou_threshold,
        }


def temporal_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """IoU of two closed time windows; two identical instants (zero length) have IoU 1."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    if union <= 0:
        return 1.0 if a == b else 0.0
    return inter / union


def match_windows(
    predicted: Sequence[tuple[float, float]],
    truth: Sequence[tuple[float, float]],
    iou_threshold: float = IOU_THRESHOLD,
) -> Counts:
    """Match one label's windows one-to-one by maximal total IoU; pairs under the threshold don't count."""
    if not predicted or not truth:
        return Counts(0, len(predicted), len(truth))
    from scipy.optimize import linear_sum_assignment

    iou = np.array([[temporal_iou(p, t) for t in truth] for p in predicted], dtype=np.float64)
    # Pairs under the threshold are worth nothing, so the assignment maximises the number of valid matches
    # first (weight 1 each) and their IoU second.
    weight = np.where(iou >= iou_threshold, 1.0 + iou, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    tp = int(np.count_nonzero(weight[rows, cols] > 0))
    return Counts(tp, len(predicted) - tp, len(truth) - tp)


def _dim(value: Any) -> str:
    return Dimension.parse(value).value


def evaluate_tags(
    predicted: Sequence[Iterable[TagLike]],
    truth: Sequence[Iterable[TagLike]],
    labels: set[str] | frozenset[str] | None = None,
    iou_threshold: float = IOU_THRESHOLD,
) -> TagMetrics:
    """Score predicted tags against true tags, one list per video (``predicted[i]`` goes with ``truth[i]``).

    Only labels in ``labels`` are scored when given (both sides are filtered). See the module docstring for
    the matching rule and the definitions on empty sets.
    """
    if len(predicted) != len(truth):
        raise ValueError(
            f"predicted and truth must list the same videos: got {len(predicted)} and {len(truth)} lists"
        )
    metrics = TagMetrics(iou_threshold=iou_threshold)
    for pred_tags, true_tags in zip(predicted, truth, strict=True):
        groups: dict[tuple[str, str], tuple[list[tuple[float, float]], list[tuple[float, float]]]] = (
            defaultdict(lambda: ([], []))
        )
        for side, tags in ((0, pred_tags), (1, true_tags)):
            for tag in tags:
                if labels is not None and tag.label not in labels:
                    continue
                groups[(_dim(tag.dimension), tag.label)][side].append((float(tag.start_s), float(tag.end_s)))
        for (dim, label), (pred_w, true_w) in groups.items():
            counts = match_windows(pred_w, true_w, iou_threshold)
            metrics.overall.add(counts)
            metrics.dimensions[dim].add(counts)
            metrics.labels.setdefault(label, Counts()).add(counts)
    return metrics
