"""Our metrics against ranx (an independent implementation) on the same runs; CI and randomization test."""

from __future__ import annotations

import numpy as np
import pytest
from ranx import Qrels, Run, evaluate

from ranker.metrics import bootstrap_ci, evaluate_runs, paired_randomization_test, per_user_metrics


def _random_runs(seed: int = 0) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    rng = np.random.default_rng(seed)
    items = [f"i{j}" for j in range(300)]
    run, qrels = {}, {}
    for u in range(60):
        ranked = list(rng.choice(items, size=int(rng.integers(5, 120)), replace=False))
        rel = set(rng.choice(items, size=int(rng.integers(1, 25)), replace=False))
        rel |= set(ranked[: int(rng.integers(0, 3))])
        run[f"u{u}"], qrels[f"u{u}"] = ranked, rel
    return run, qrels


def ranx_scores(run: dict[str, list[str]], qrels: dict[str, set[str]]) -> dict[str, float]:
    q = Qrels({u: {v: 1 for v in rel} for u, rel in qrels.items()})
    r = Run({u: {v: float(len(lst) - i) for i, v in enumerate(lst)} for u, lst in run.items()})
    return evaluate(q, r, ["ndcg@10", "recall@10", "recall@50", "map"])


@pytest.mark.slow
def test_metrics_match_ranx() -> None:
    run, qrels = _random_runs()
    summary, _per_user = evaluate_runs({"sys": run}, qrels, catalog_size=300, n_boot=50)
    ref = ranx_scores(run, qrels)
    assert summary["sys"]["ndcg_at_10"] == pytest.approx(ref["ndcg@10"], abs=1e-9)
    assert summary["sys"]["recall_at_10"] == pytest.approx(ref["recall@10"], abs=1e-9)
    assert summary["sys"]["recall_at_50"] == pytest.approx(ref["recall@50"], abs=1e-9)
    assert summary["sys"]["map"] == pytest.approx(ref["map"], abs=1e-9)
    lo, hi = summary["sys"]["ndcg_at_10_ci"]
    assert lo <= summary["sys"]["ndcg_at_10"] <= hi
    assert 0 < summary["sys"]["coverage_at_10"] <= 1


def test_per_user_edge_cases() -> None:
    m = per_user_metrics(["a", "b", "c"], {"a"})
    assert m["ndcg_at_10"] == pytest.approx(1.0)
    assert m["map"] == pytest.approx(1.0)
    m = per_user_metrics([], {"a"})
    assert m["ndcg_at_10"] == 0.0
    assert m["recall_at_50"] == 0.0
    with pytest.raises(ValueError, match="without relevant items"):
        per_user_metrics(["a"], set())


def test_randomization_test_and_bootstrap() -> None:
    rng = np.random.default_rng(1)
    a = rng.random(200)
    assert paired_randomization_test(a, a + 0.2, n_perm=2000) < 0.01
    assert paired_randomization_test(a, a[::-1].copy(), n_perm=2000) > 0.05
    lo, hi = bootstrap_ci(a)
    assert lo < a.mean() < hi
    assert hi - lo < 0.2


def test_coverage_interval_contains_the_point_estimate() -> None:
    from ranker.metrics import coverage, coverage_ci

    rng = np.random.default_rng(4)
    items = [f"i{j}" for j in range(2000)]
    # Long-tailed lists: most items reach one user only, where the plain bootstrap is most biased.
    tops = [list(rng.choice(items, size=10, replace=False, p=_zipf(len(items)))) for _ in range(150)]
    point = coverage(tops, len(items))
    lo, hi = coverage_ci(tops, len(items), n_boot=500)
    assert lo < point < hi
    # Wider than nothing, narrower than the whole range: it measures the spread between user samples.
    assert 0.0 < hi - lo < 0.5 * point
    assert np.isnan(coverage_ci([], 10)).all()


def _zipf(n: int) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1)
    return w / w.sum()
