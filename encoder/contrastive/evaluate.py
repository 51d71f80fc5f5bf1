"""Retrieval metrics for heads: per-dimension recall@10 and mAP by label, and text-to-video recall@10."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sv6d.dimensions import DIMENSIONS

if TYPE_CHECKING:
    from encoder.contrastive.heads import ContrastiveHeads
    from encoder.contrastive.train import LabelledFeatures


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _rank_metrics(scores: np.ndarray, relevant: np.ndarray, k: int) -> tuple[float, float]:
    order = np.argsort(-scores, kind="stable")
    rel = relevant[order]
    n_rel = int(rel.sum())
    if n_rel == 0:
        return float("nan"), float("nan")
    recall = rel[:k].sum() / min(k, n_rel)
    hits = np.cumsum(rel)
    ap = float((hits[rel] / (np.flatnonzero(rel) + 1)).mean())
    return float(recall), ap


def retrieval_metrics(embeddings: np.ndarray, labels: list[str], k: int = 10) -> dict[str, float]:
    """Each video queries all others; relevant = same label. Mean recall@k (of min(k, #relevant)) and mAP."""
    e = _unit(np.asarray(embeddings, dtype=np.float64))
    lab = np.asarray(labels)
    sims = e @ e.T
    recalls, aps = [], []
    for i in range(len(e)):
        mask = np.arange(len(e)) != i
        r, ap = _rank_metrics(sims[i, mask], lab[mask] == lab[i], k)
        if not np.isnan(r):
            recalls.append(r)
            aps.append(ap)
    return {
        "recall_at_10": float(np.mean(recalls)) if recalls else 0.0,
        "map": float(np.mean(aps)) if aps else 0.0,
    }


def evaluate_heads(
    heads: ContrastiveHeads, train: LabelledFeatures, test: LabelledFeatures, k: int = 10
) -> dict:
    """Metrics on held-out ``test`` before (standardised raw features) and after the heads, and text→video.

    "Before" standardises raw features with the training set's mean/std (cosine on raw features would be
    dominated by a few large, uninformative coordinates).
    """
    from encoder.contrastive.text import label_text

    result: dict = {"dimensions": {}}
    text_recalls = []
    for d in DIMENSIONS:
        x_tr, _ = train[d]
        x, labels = test[d]
        z = (x - x_tr.mean(axis=0)) / (x_tr.std(axis=0) + 1e-4)
        before = retrieval_metrics(z, labels, k)
        emb = heads.project(d, x)
        after = retrieval_metrics(emb, labels, k)
        result["dimensions"][d.value] = {
            "recall_at_10_before": round(before["recall_at_10"], 4),
            "recall_at_10_after": round(after["recall_at_10"], 4),
            "map_before": round(before["map"], 4),
            "map_after": round(after["map"], 4),
        }
        if d in heads.text_heads:
            # "none" (no informative tag in the window) has no sentence worth querying with.
            names = sorted(set(labels) - {"none"})
            q = heads.project_text(d, [label_text(n) for n in names])
            lab = np.asarray(labels)
            for qi, name in enumerate(names):
                r, _ = _rank_metrics(emb @ q[qi], lab == name, k)
                text_recalls.append(r)
    result["text_to_video_recall_at_10"] = round(float(np.nanmean(text_recalls)), 4) if text_recalls else None
    return result
