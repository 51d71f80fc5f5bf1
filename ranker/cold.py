"""Cold-start prior: a video's expected engagement from its SV6D record alone.

A ridge regression from the record (the six per-dimension video vectors, the tag indicators, log duration;
columns standardised) to the video's smoothed like rate over all history (``v_<widest window>_like``), fitted
as of the context's time on the platform's own videos that have a record and at least ``MIN_TRAIN_PLAYS``
plays. Its prediction for every video of the catalog is the feature ``cold_prior`` and orders the ``cold``
candidate channel (videos with fewer than ``COLD_MAX_PLAYS`` plays, already uploaded, best prior first).

Without video content (KuaiRand) there is nothing to fit on: the prior is missing (NaN) and the channel empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ranker.catalog import ItemCatalog
    from ranker.context import RankingContext

# A video with fewer plays than this (all history, decayed) is "cold": its own aggregates say little.
COLD_MAX_PLAYS = 5.0
# The prior is fitted on videos with at least this many plays (their like rate is mostly their own).
MIN_TRAIN_PLAYS = 5.0
# Fewer training videos than this: no prior (NaN), rather than a fit on noise.
MIN_TRAIN_VIDEOS = 10
# Ridge strength on standardised columns, fixed (not tuned on any test window): the record has hundreds of
# columns and a platform may have only tens of warm videos.
RIDGE_ALPHA = 30.0


def record_design(catalog: ItemCatalog) -> np.ndarray | None:
    """(N, D) float64 columns of each video's record, or None when the catalog has no content."""
    if catalog.video_flat is None:
        return None
    parts = [np.asarray(catalog.video_flat, dtype=np.float64)]
    if catalog.tags is not None:
        parts.append(np.asarray(catalog.tags, dtype=np.float64))
    if catalog.duration_s is not None:
        parts.append(np.log1p(np.nan_to_num(np.asarray(catalog.duration_s, dtype=np.float64)))[:, None])
    return np.concatenate(parts, axis=1)


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float = RIDGE_ALPHA) -> tuple[np.ndarray, ...]:
    """(mean, scale, weights, intercept) of a ridge fit on standardised columns (constant columns dropped)."""
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd[sd == 0] = np.inf  # a constant column contributes nothing
    z = (x - mu) / sd
    y0 = float(y.mean())
    n, d = z.shape
    if d > n:  # the dual form: an n×n system instead of d×d
        w = z.T @ np.linalg.solve(z @ z.T + alpha * np.eye(n), y - y0)
    else:
        w = np.linalg.solve(z.T @ z + alpha * np.eye(d), z.T @ (y - y0))
    return mu, sd, w, np.array(y0)


def predict_ridge(x: np.ndarray, fit: tuple[np.ndarray, ...]) -> np.ndarray:
    mu, sd, w, y0 = fit
    return np.asarray(((x - mu) / sd) @ w + float(y0), dtype=np.float64)


def _column(ctx: RankingContext, suffix: str) -> np.ndarray:
    """The widest window's video aggregate ``v_<window>_<suffix>`` (NaN when unknown)."""
    wname = ctx.config.windows[-1][0]
    names = ctx.video_agg_names
    name = f"v_{wname}_{suffix}"
    if name not in names:
        return np.full(len(ctx.catalog), np.nan)
    return ctx.video_agg[:, names.index(name)].astype(np.float64)


def cold_prior(ctx: RankingContext) -> np.ndarray:
    """(N,) expected like rate of every video from its record, as of ``ctx.as_of`` (NaN: no prior)."""
    n = len(ctx.catalog)
    x = record_design(ctx.catalog)
    if x is None:
        return np.full(n, np.nan)
    plays = np.nan_to_num(_column(ctx, "plays"), nan=0.0)
    like = _column(ctx, "like")
    train = (plays >= MIN_TRAIN_PLAYS) & ~np.isnan(like)
    if train.sum() < MIN_TRAIN_VIDEOS:
        return np.full(n, np.nan)
    return predict_ridge(x, fit_ridge(x[train], like[train]))


def cold_order(ctx: RankingContext) -> np.ndarray:
    """Positions of cold videos already uploaded at ``ctx.as_of``, highest prior first (none without one)."""
    prior = ctx.cold_prior()
    plays = np.nan_to_num(_column(ctx, "plays"), nan=0.0)
    up = ctx.catalog.created_at_s
    uploaded = np.ones(len(prior), dtype=bool) if up is None else ~(up > ctx.as_of_s)
    idx = np.flatnonzero((plays < COLD_MAX_PLAYS) & uploaded & ~np.isnan(prior))
    return idx[np.lexsort((idx, -prior[idx]))]
