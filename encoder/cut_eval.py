"""Scoring detected transitions against ground truth (``<video>.truth.json``) by time.

Truth frame numbers are on the nominal frame-rate timeline (``frame / fps`` seconds), so everything is
compared in seconds. A hard cut matches a true cut within ``cut_tolerance_frames`` frames; a gradual
transition (fade or dissolve) matches a true gradual one when their spans overlap. Matching is one-to-one
per class (Hungarian assignment), and a prediction of the wrong class never matches: a cut reported at a fade
is one false positive and one miss.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from encoder.transitions import TransitionConfig, detect_transitions
from encoder.types import Transition
from sv6d.errors import SV6DError
from sv6d.tag_metrics import PrecisionRecall

PEER_DETECTORS: tuple[str, ...] = ("ContentDetector", "AdaptiveDetector", "HistogramDetector")


@dataclass(frozen=True)
class Truth:
    fps: float
    cuts_s: list[float]
    gradual_s: list[tuple[float, float]]
    gradual_kinds: tuple[str, ...] = ()  # one per span when the file names them (from_black, dissolve, ...)

    def without(self, kind: str) -> Truth:
        """The same truth less its gradual transitions of ``kind`` (e.g. ``"dissolve"``)."""
        keep = [i for i, k in enumerate(self.gradual_kinds) if k != kind]
        if not self.gradual_kinds:
            return self
        return Truth(
            self.fps,
            self.cuts_s,
            [self.gradual_s[i] for i in keep],
            tuple(self.gradual_kinds[i] for i in keep),
        )


@dataclass(frozen=True)
class CutScore(PrecisionRecall):
    tp: int
    fp: int
    fn: int

    def __add__(self, other: CutScore) -> CutScore:
        return CutScore(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def as_dict(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def load_truth(path: str | Path) -> Truth:
    """Read ``<video>.truth.json``: ``{"fps", "cuts": [frame...], "fades": [{"start", "end", "kind"}...]}``
    (``kind`` optional: from_black, to_black, dissolve, ...)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
        fps = float(data["fps"])
        cuts = [float(f) / fps for f in data.get("cuts", [])]
        fades = data.get("fades", [])
        spans = [(float(f["start"]) / fps, float(f["end"]) / fps) for f in fades]
        kinds = tuple(str(f.get("kind", "fade")) for f in fades)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SV6DError(f"{p}: not a readable truth file ({exc})") from exc
    return Truth(fps=fps, cuts_s=cuts, gradual_s=spans, gradual_kinds=kinds)


def load_peer(path: str | Path, fps: float) -> list[Transition]:
    """A PySceneDetect reference output ``{"cuts": [frame...]}`` as cut transitions (frame / fps seconds)."""
    p = Path(path)
    try:
        frames = json.loads(p.read_text())["cuts"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SV6DError(f"{p}: not a readable detector output ({exc})") from exc
    return [Transition("cut", float(f) / fps, float(f) / fps, 0.0) for f in frames]


def _match_count(allowed: np.ndarray, preference: np.ndarray) -> int:
    if allowed.size == 0 or not allowed.any():
        return 0
    from scipy.optimize import linear_sum_assignment

    # Any allowed pair is worth 1; ``preference`` (in [0, 1)) only breaks ties between equal-sized matchings.
    weight = np.where(allowed, 1.0 + 1e-3 * preference, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return int(allowed[rows, cols].sum())


def score_transitions(
    predicted: list[Transition], truth: Truth, cut_tolerance_frames: float = 2.0
) -> CutScore:
    """TP/FP/FN of predicted transitions against the truth; cuts and gradual transitions are scored together
    but only match their own class."""
    tol = cut_tolerance_frames / truth.fps + 1e-6
    half = 0.5 / truth.fps  # a frame lasts 1/fps: spans touching within half a frame overlap
    pred_cuts = [t.start_s for t in predicted if t.kind == "cut"]
    pred_grad = [(t.start_s, t.end_s) for t in predicted if t.kind != "cut"]

    dist = np.abs(np.subtract.outer(np.asarray(pred_cuts), np.asarray(truth.cuts_s))).reshape(
        len(pred_cuts), len(truth.cuts_s)
    )
    tp_cuts = _match_count(dist <= tol, 1.0 - np.clip(dist / tol, 0, 1) if dist.size else dist)

    ov = np.zeros((len(pred_grad), len(truth.gradual_s)))
    for i, (a, b) in enumerate(pred_grad):
        for j, (c, d) in enumerate(truth.gradual_s):
            ov[i, j] = min(b, d) - max(a, c) + 2 * half
    longest = max([b - a + 2 * half for a, b in pred_grad + truth.gradual_s], default=1.0)
    tp_grad = _match_count(ov > 0, np.clip(ov / longest, 0, 0.999))

    tp = tp_cuts + tp_grad
    return CutScore(
        tp=tp, fp=len(pred_cuts) + len(pred_grad) - tp, fn=len(truth.cuts_s) + len(truth.gradual_s) - tp
    )


def golden_videos(goldens_dir: str | Path) -> list[str]:
    """Names of the videos that have a ``<video>.truth.json`` in ``goldens_dir``."""
    return sorted(p.name[: -len(".truth.json")] for p in Path(goldens_dir).glob("*.truth.json"))


def evaluate_cuts(
    videos_dir: str | Path, goldens_dir: str | Path, config: TransitionConfig | None = None
) -> dict:
    """Run the decoder and the transition detector on every video with a truth file and score it, beside
    PySceneDetect's reference outputs. Returns the ``sv6d eval-cuts --json`` document."""
    from encoder.decode import DecodeConfig, decode

    vdir, gdir = Path(videos_dir), Path(goldens_dir)
    if not gdir.is_dir():
        raise SV6DError(f"{gdir}: goldens folder not found")
    names = golden_videos(gdir)
    if not names:
        raise SV6DError(f"{gdir}: no <video>.truth.json files")
    files = []
    total = CutScore(0, 0, 0)
    peer_totals: dict[str, CutScore] = {}
    for name in names:
        truth = load_truth(gdir / f"{name}.truth.json")
        decoded = decode(vdir / name, DecodeConfig(min_duration_s=0.0))
        predicted = detect_transitions(decoded, config)
        s = score_transitions(predicted, truth)
        total = total + s
        peers = {}
        for det in PEER_DETECTORS:
            pp = gdir / f"{name}.{det}.default.json"
            if pp.is_file():
                ps = score_transitions(load_peer(pp, truth.fps), truth)
                peers[det] = ps.as_dict()
                peer_totals[det] = peer_totals.get(det, CutScore(0, 0, 0)) + ps
        files.append(
            {
                "file": name,
                **s.as_dict(),
                "predicted": [
                    {"kind": t.kind, "start_s": round(t.start_s, 4), "end_s": round(t.end_s, 4)}
                    for t in predicted
                ],
                "peers": peers,
            }
        )
    return {
        "files": files,
        "f1": round(total.f1, 4),
        "precision": round(total.precision, 4),
        "recall": round(total.recall, 4),
        "peers": {k: v.as_dict() for k, v in peer_totals.items()},
    }
