"""Standard recommendation baselines, fitted on likes strictly before a cutoff: the bar the ranker must clear.

Every baseline gives a score to every catalog item for a user (``score_users``), so the experiment can use it
two ways on the same users and relevance as the LightGBM systems: re-ranking the shared candidate set, and
ranking the whole catalogue known at the cutoff (items with any event before it), seen items excluded.

- ``pop_decay``: Σ over likes of the item of 0.5^(age / ``pop_half_life_days``); the same for every user.
- ``itemknn``: implicit's ``CosineRecommender`` (cosine between items' binary like columns, ``knn_k``
  neighbours kept per item); a user's score for item i is Σ_j w_uj · sim(j, i) with time-decayed history
  weights w_uj = Σ over u's likes of j of 0.5^(age / ``knn_half_life_days``).
- ``ease``: EASE (Steck 2019) on the binary like matrix: P = (XᵀX + λI)⁻¹, B = −P / diag(P), diag(B) = 0,
  scores X_u B. Items without likes have zero columns in B, so it is solved over liked items only.
- ``als``: implicit's ``AlternatingLeastSquares`` on confidence ``1 + als_alpha`` for liked cells.
- ``bpr``: implicit's ``BayesianPersonalizedRanking`` on the binary like matrix.

Ties (every item of a user without likes before the cutoff scores 0) fall back to the ``pop_decay`` order,
then to catalog position, so every baseline serves new users like popularity does. Hyperparameters come from
the experiment's ``[baselines]`` table and are fixed before a run: they are never chosen on the test windows
(BPR's defaults in particular are untuned, and it lands near popularity on KuaiRand).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from sv6d.errors import ConfigError

BASELINES = ("pop_decay", "itemknn", "ease", "als", "bpr")


@dataclass(frozen=True)
class BaselineConfig:
    """Fixed hyperparameters of the baselines (see the module docstring)."""

    pop_half_life_days: float = 1.0
    knn_k: int = 50
    knn_half_life_days: float = 0.5
    ease_lambda: float = 50.0
    als_factors: int = 64
    als_regularization: float = 0.05
    als_iterations: int = 15
    als_alpha: float = 10.0
    bpr_factors: int = 64
    bpr_learning_rate: float = 0.01
    bpr_regularization: float = 0.01
    bpr_iterations: int = 100

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> BaselineConfig:
        valid = {f.name: f.type for f in fields(cls)}
        bad = sorted(set(raw) - set(valid))
        if bad:
            raise ConfigError(f"unknown baseline setting(s) {', '.join(bad)}; valid: {', '.join(valid)}")
        values: dict[str, Any] = {k: (int(v) if valid[k] == "int" else float(v)) for k, v in raw.items()}
        return cls(**values)


@dataclass
class LikeData:
    """Likes before ``as_of`` as (users × catalog) matrices: binary, and time-decayed for two half-lives."""

    user_index: dict[str, int]
    binary: sp.csr_matrix  # 1 where the user liked the item
    decayed_knn: sp.csr_matrix  # Σ 0.5^(age / knn_half_life_days)
    item_pop: np.ndarray  # (N,) Σ 0.5^(age / pop_half_life_days)


def like_data(
    events: pl.DataFrame,
    video_index: Mapping[str, int],
    n_items: int,
    user_ids: Sequence[str],
    as_of: datetime,
    cfg: BaselineConfig,
) -> LikeData:
    """Likes strictly before ``as_of`` of ``user_ids`` on catalog items (popularity counts every user)."""
    uidx = {u: k for k, u in enumerate(user_ids)}
    age = (pl.lit(as_of) - pl.col("ts")).dt.total_milliseconds() / 86_400_000.0
    lk = (
        events.filter((pl.col("ts") < as_of) & pl.col("like").fill_null(False))
        .select(
            pl.col("user_id").replace_strict(uidx, default=-1, return_dtype=pl.Int64).alias("u"),
            pl.col("video_id")
            .replace_strict(dict(video_index), default=-1, return_dtype=pl.Int64)
            .alias("i"),
            age.alias("age"),
        )
        .filter(pl.col("i") >= 0)
    )
    i_all = lk["i"].to_numpy()
    age_all = lk["age"].to_numpy()
    pop = np.bincount(i_all, weights=0.5 ** (age_all / cfg.pop_half_life_days), minlength=n_items)
    mine = lk.filter(pl.col("u") >= 0)
    u, i, a = mine["u"].to_numpy(), mine["i"].to_numpy(), mine["age"].to_numpy()
    shape = (len(user_ids), n_items)
    binary = sp.csr_matrix((np.ones(len(u)), (u, i)), shape=shape, dtype=np.float32)
    binary.data[:] = 1.0  # duplicates summed above: a like is a like
    decayed = sp.csr_matrix((0.5 ** (a / cfg.knn_half_life_days), (u, i)), shape=shape, dtype=np.float32)
    return LikeData(uidx, binary, decayed, pop.astype(np.float64))


def _ease_scores(binary: sp.csr_matrix, rows: np.ndarray, lam: float) -> np.ndarray:
    n = binary.shape[1]
    liked = np.flatnonzero(np.asarray(binary.sum(axis=0)).ravel() > 0)
    out = np.zeros((len(rows), n))
    if not len(liked):
        return out
    x = binary[:, liked]
    g = np.asarray((x.T @ x).todense(), dtype=np.float64)
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    out[:, liked] = np.asarray(x[rows] @ b)
    return out


def _threadpool_limit() -> Any:
    from threadpoolctl import threadpool_limits

    # implicit asks for one BLAS thread (its matrix products run in its own threads).
    return threadpool_limits(1, "blas")


def score_users(
    name: str, data: LikeData, users: Sequence[str], cfg: BaselineConfig, seed: int = 0
) -> np.ndarray:
    """(len(users), N) scores of baseline ``name``; users without likes before the cutoff score 0 (but for
    ``pop_decay``, which scores every user alike)."""
    known = np.array([u in data.user_index for u in users], dtype=bool)
    rows = np.array([data.user_index.get(u, 0) for u in users], dtype=np.int64)
    if name == "pop_decay":
        return np.tile(data.item_pop, (len(users), 1))
    if name == "itemknn":
        from implicit.nearest_neighbours import CosineRecommender
        from implicit.utils import ParameterWarning

        knn = CosineRecommender(K=cfg.knn_k, num_threads=1)
        with warnings.catch_warnings():
            # implicit converts internally through COO and warns about its own conversion.
            warnings.simplefilter("ignore", category=ParameterWarning)
            knn.fit(data.binary, show_progress=False)
        out = np.asarray((data.decayed_knn[rows] @ knn.similarity).todense(), dtype=np.float64)
    elif name == "ease":
        out = _ease_scores(data.binary, rows, cfg.ease_lambda)
    elif name in ("als", "bpr"):
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        model: Any
        if name == "als":
            model = AlternatingLeastSquares(
                factors=cfg.als_factors,
                regularization=cfg.als_regularization,
                iterations=cfg.als_iterations,
                random_state=seed,
                num_threads=1,
            )
            conf = data.binary.copy()
            conf.data = 1.0 + cfg.als_alpha * conf.data
        else:
            model = BayesianPersonalizedRanking(
                factors=cfg.bpr_factors,
                learning_rate=cfg.bpr_learning_rate,
                regularization=cfg.bpr_regularization,
                iterations=cfg.bpr_iterations,
                random_state=seed,
                num_threads=1,
            )
            conf = data.binary
        with _threadpool_limit():
            model.fit(conf.astype(np.float32), show_progress=False)
        out = np.asarray(model.user_factors[rows] @ model.item_factors.T, dtype=np.float64)
    else:
        raise ConfigError(f"unknown baseline {name!r}; valid: {', '.join(BASELINES)}")
    out[~known] = 0.0
    return out


def rank_items(scores: np.ndarray, allowed: np.ndarray, tie_break: np.ndarray, depth: int) -> np.ndarray:
    """Positions in ``allowed`` ordered by score, ties by ``tie_break`` (higher first), then position."""
    allowed = np.asarray(allowed, dtype=np.int64)
    order = np.lexsort((allowed, -tie_break[allowed], -scores[allowed]))
    return allowed[order[:depth]]
