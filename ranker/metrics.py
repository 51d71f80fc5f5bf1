"""Offline ranking metrics per user, bootstrap intervals over users, paired randomization tests.

Binary relevance. For a user with relevant set R and ranked list L:
NDCG@k = Σ_{i<k, L_i∈R} 1/log2(i+2) / Σ_{i<min(k,|R|)} 1/log2(i+2); Recall@k = |L[:k] ∩ R| / |R|;
AP = Σ_{i: L_i∈R} precision@(i+1) / |R| (relevant items never ranked count as misses). These are the
definitions of ranx's ``ndcg@k``, ``recall@k`` and ``map``, which the tests check against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def per_user_metrics(
    ranked: Sequence[str], relevant: set[str], ks: Sequence[int] = (10, 50)
) -> dict[str, float]:
    """NDCG@10, Recall@k for each k, and AP for one user."""
    hits = np.array([v in relevant for v in ranked], dtype=np.float64)
    n_rel = len(relevant)
    if n_rel == 0:
        raise ValueError("a user without relevant items has no ranking metrics")
    disc = 1.0 / np.log2(np.arange(2, len(hits) + 2))
    out: dict[str, float] = {}
    k = 10
    ideal = (1.0 / np.log2(np.arange(2, min(k, n_rel) + 2))).sum()
    out["ndcg_at_10"] = float((hits[:k] * disc[:k]).sum() / ideal)
    for kk in ks:
        out[f"recall_at_{kk}"] = float(hits[:kk].sum() / n_rel)
    prec = np.cumsum(hits) / np.arange(1, len(hits) + 1) if len(hits) else np.zeros(0)
    out["map"] = float((prec * hits).sum() / n_rel)
    return out


def bootstrap_ci(
    values: np.ndarray, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over users."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    means = values[idx].mean(axis=1)
    return (float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2)))


def coverage(top_lists: Sequence[Sequence[str]], catalog_size: int) -> float:
    """Share of the catalog that appears in at least one user's list."""
    return len({v for lst in top_lists for v in lst}) / max(catalog_size, 1)


def coverage_ci(
    top_lists: Sequence[Sequence[str]],
    catalog_size: int,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Bias-corrected bootstrap interval of item coverage: resample users, recompute the union.

    Coverage is a union, not a mean: a with-replacement resample holds only ~63% distinct users, so every
    replicate's union is smaller than the observed one and the plain percentile interval lies below the point
    estimate. The interval is the percentile interval shifted by the bootstrap estimate of that bias,
    ``[q_lo − b, q_hi − b]`` with ``b = mean(replicates) − observed``, clipped to [0, 1].
    """
    if not top_lists:
        return (float("nan"), float("nan"))
    import scipy.sparse as sp

    vocab: dict[str, int] = {}
    rows, cols = [], []
    for u, lst in enumerate(top_lists):
        for v in set(lst):
            rows.append(u)
            cols.append(vocab.setdefault(v, len(vocab)))
    n = len(top_lists)
    incidence = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, max(len(vocab), 1)))
    rng = np.random.default_rng(seed)
    # Column b of ``weights`` counts how often each user was drawn in resample b.
    draws = rng.integers(0, n, size=(n_boot, n))
    weights = np.zeros((n, n_boot))
    np.add.at(weights, (draws, np.arange(n_boot)[:, None]), 1.0)
    reps = np.asarray((incidence.T @ weights) > 0).sum(axis=0) / max(catalog_size, 1)
    observed = len(vocab) / max(catalog_size, 1)
    bias = float(reps.mean()) - observed
    lo = float(np.quantile(reps, alpha / 2)) - bias
    hi = float(np.quantile(reps, 1 - alpha / 2)) - bias
    return (max(0.0, lo), min(1.0, hi))


def paired_randomization_test(a: np.ndarray, b: np.ndarray, n_perm: int = 10_000, seed: int = 0) -> float:
    """Two-sided p-value that paired per-user scores ``a`` and ``b`` have the same mean (sign flipping)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if len(d) == 0:
        return float("nan")
    observed = abs(d.mean())
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_perm, len(d)))
    null = np.abs((signs * d).mean(axis=1))
    # The +1 counts the observed assignment itself, so p is never exactly 0.
    return float((np.sum(null >= observed - 1e-12) + 1) / (n_perm + 1))


def evaluate_runs(
    runs: Mapping[str, Mapping[str, Sequence[str]]],
    qrels: Mapping[str, set[str]],
    catalog_size: int,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, dict[str, object]], dict[str, dict[str, np.ndarray]]]:
    """Metrics with 95% intervals per system, plus per-user arrays (same user order for every system).

    ``runs[system][user]`` is the ranked list; ``qrels[user]`` the relevant set. Users without relevant items
    are skipped; a user missing from a run counts as an empty list.
    """
    users = sorted(u for u, rel in qrels.items() if rel)
    summary: dict[str, dict[str, object]] = {}
    per_user: dict[str, dict[str, np.ndarray]] = {}
    for name, run in runs.items():
        rows = [per_user_metrics(list(run.get(u, [])), qrels[u]) for u in users]
        arrays = {m: np.array([r[m] for r in rows]) for m in (rows[0] if rows else {})}
        per_user[name] = arrays
        res: dict[str, object] = {"n_users": len(users)}
        for m, arr in arrays.items():
            res[m] = float(arr.mean())
            res[f"{m}_ci"] = list(bootstrap_ci(arr, n_boot=n_boot, seed=seed))
        tops = [list(run.get(u, []))[:10] for u in users]
        res["coverage_at_10"] = coverage(tops, catalog_size)
        res["coverage_at_10_ci"] = list(coverage_ci(tops, catalog_size, n_boot=n_boot, seed=seed))
        summary[name] = res
    return summary, per_user


def _cluster_sums(values: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _, inv = np.unique(np.asarray(clusters), return_inverse=True)
    sums = np.bincount(inv, weights=np.asarray(values, dtype=np.float64))
    counts = np.bincount(inv).astype(np.float64)
    return sums, counts


def cluster_bootstrap_means(
    columns: Sequence[np.ndarray], clusters: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> np.ndarray:
    """(n_boot, len(columns)) bootstrap replicates of each column's mean, resampling whole clusters.

    Pooled over test windows a user contributes one row per window; resampling users (the clusters) with all
    their rows keeps the rows of one user together, as the independence the interval assumes is between users.
    Every column sees the same resamples, so differences and ratios of the replicates are paired.
    """
    if not len(clusters):
        return np.full((n_boot, len(columns)), np.nan)
    rng = np.random.default_rng(seed)
    per = [_cluster_sums(c, clusters) for c in columns]
    n_clusters = len(per[0][0])
    idx = rng.integers(0, n_clusters, size=(n_boot, n_clusters))
    counts = per[0][1][idx].sum(axis=1)
    return np.stack([s[idx].sum(axis=1) / counts for s, _ in per], axis=1)


def cluster_bootstrap_ci(
    values: np.ndarray, clusters: np.ndarray, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of the mean over rows, resampling clusters (users) with all their rows."""
    if not len(values):
        return (float("nan"), float("nan"))
    reps = cluster_bootstrap_means([values], clusters, n_boot, seed)[:, 0]
    return (float(np.quantile(reps, alpha / 2)), float(np.quantile(reps, 1 - alpha / 2)))


def clustered_randomization_test(
    a: np.ndarray, b: np.ndarray, clusters: np.ndarray, n_perm: int = 10_000, seed: int = 0
) -> float:
    """Two-sided sign-flip test of equal means of paired rows, flipping each cluster's rows together.

    With one row per cluster it is the paired test above (up to the order of the random draws).
    """
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if len(d) == 0:
        return float("nan")
    sums, _ = _cluster_sums(d, clusters)
    observed = abs(sums.sum() / len(d))
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_perm, len(sums)))
    null = np.abs((signs * sums).sum(axis=1) / len(d))
    return float((np.sum(null >= observed - 1e-12) + 1) / (n_perm + 1))
