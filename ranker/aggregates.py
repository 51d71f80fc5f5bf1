"""Engagement aggregates "as of" a timestamp: only events strictly before ``as_of`` count.

Rates are Bayesian-smoothed with a Beta prior whose mean is the global rate over the same window and whose
strength is ``prior_strength`` pseudo-events::

    rate = (Σ w·x + α·p) / (Σ w + α),   α = prior_strength,   p = Σ_all w·x / Σ_all w

so an item with few events sits near the global mean and moves towards its own rate as evidence grows.
Each event's weight decays with its age: ``w = 0.5 ** (age_days / half_life_days)``. Signals whose value is
null for an event (unknown duration, a source that does not log shares) are left out of both sums.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import polars as pl
import scipy.sparse as sp

from ranker.catalog import ItemCatalog

SIGNALS = ("watch_ratio", "completion", "like", "share", "comment", "hate")
# A play that reaches this share of the video counts as completed.
COMPLETION_THRESHOLD = 0.95


@dataclass(frozen=True)
class AggregateConfig:
    """Smoothing and windows. ``windows`` maps a name to a length in days (None = all history)."""

    half_life_days: float = 7.0
    prior_strength: float = 20.0
    windows: tuple[tuple[str, float | None], ...] = (("7d", 7.0), ("all", None))
    user_prior_strength: float = 5.0


def _with_signals(events: pl.LazyFrame, as_of: datetime, half_life_days: float) -> pl.LazyFrame:
    ratio = pl.col("play_time_s") / pl.col("video_duration_s")
    age = (pl.lit(as_of).cast(pl.Datetime("us", "UTC")) - pl.col("ts")).dt.total_microseconds() / 86_400e6
    return events.filter(pl.col("ts") < as_of).with_columns(
        age.alias("age_days"),
        (0.5 ** (age / half_life_days)).alias("w"),
        ratio.clip(0.0, 1.0).alias("watch_ratio"),
        (ratio >= COMPLETION_THRESHOLD).cast(pl.Float64).alias("completion"),
        *[pl.col(s).cast(pl.Float64) for s in ("like", "share", "comment", "hate")],
    )


def rate_aggregates(
    events: pl.DataFrame | pl.LazyFrame,
    key: str,
    as_of: datetime,
    config: AggregateConfig | None = None,
    prefix: str = "",
    prior_strength: float | None = None,
) -> pl.DataFrame:
    """Per ``key`` (video_id, creator, user_id): decayed play counts and smoothed rates for each window.

    Columns: ``key``, ``{prefix}{window}_plays`` and ``{prefix}{window}_{signal}`` for each signal,
    ``{prefix}first_seen_s`` / ``{prefix}last_seen_s`` (epoch seconds).
    """
    cfg = config or AggregateConfig()
    alpha = cfg.prior_strength if prior_strength is None else prior_strength
    lf = _with_signals(events.lazy(), as_of, cfg.half_life_days)
    parts: list[pl.DataFrame] = []
    base = lf.group_by(key).agg(
        (pl.col("ts").min().dt.epoch("ms") / 1000.0).alias(f"{prefix}first_seen_s"),
        (pl.col("ts").max().dt.epoch("ms") / 1000.0).alias(f"{prefix}last_seen_s"),
    )
    out = base.collect()
    for wname, days in cfg.windows:
        wl = lf if days is None else lf.filter(pl.col("age_days") <= days)
        sums = wl.group_by(key).agg(
            pl.col("w").sum().alias(f"{prefix}{wname}_plays"),
            *[(pl.col("w") * pl.col(s)).sum().alias(f"_n_{s}") for s in SIGNALS],
            *[pl.col("w").filter(pl.col(s).is_not_null()).sum().alias(f"_d_{s}") for s in SIGNALS],
        )
        collected = sums.collect()
        rates = []
        for s in SIGNALS:
            num = float(collected[f"_n_{s}"].sum())
            den = float(collected[f"_d_{s}"].sum())
            if not den:
                # No event in the window knows this signal: the rate is unknown, not zero.
                rates.append(pl.lit(None, dtype=pl.Float64).alias(f"{prefix}{wname}_{s}"))
                continue
            prior = num / den
            rates.append(
                ((pl.col(f"_n_{s}") + alpha * prior) / (pl.col(f"_d_{s}") + alpha)).alias(
                    f"{prefix}{wname}_{s}"
                )
            )
        parts.append(collected.select(key, f"{prefix}{wname}_plays", *rates))
    for p in parts:
        out = out.join(p, on=key, how="left")
    return out.sort(key)


def video_aggregates(
    events: pl.DataFrame | pl.LazyFrame, as_of: datetime, config: AggregateConfig | None = None
) -> pl.DataFrame:
    """Per video, as of ``as_of``: columns ``v_<window>_<signal>``, ``v_<window>_plays``, first/last seen."""
    return rate_aggregates(events, "video_id", as_of, config, prefix="v_")


def creator_aggregates(
    events: pl.DataFrame | pl.LazyFrame,
    video_creators: pl.DataFrame,
    as_of: datetime,
    config: AggregateConfig | None = None,
) -> pl.DataFrame:
    """Per creator (``video_creators``: video_id, creator) as of ``as_of``: ``c_<window>_<signal>``."""
    lf = events.lazy().join(video_creators.lazy().filter(pl.col("creator").is_not_null()), on="video_id")
    return rate_aggregates(lf, "creator", as_of, config, prefix="c_")


def user_aggregates(
    events: pl.DataFrame | pl.LazyFrame, as_of: datetime, config: AggregateConfig | None = None
) -> pl.DataFrame:
    """Per user, as of ``as_of``: activity and smoothed rates, columns ``u_<window>_<signal>``."""
    cfg = config or AggregateConfig()
    return rate_aggregates(events, "user_id", as_of, cfg, prefix="u_", prior_strength=cfg.user_prior_strength)


def _flag(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64).fill_null(0.0) > 0


POSITIVE = _flag("like") | _flag("share") | _flag("follow")
NEGATIVE = _flag("hate")


@dataclass
class UserState:
    """What the ranker knows about users as of a time: profiles, seen/negative items, recent positives.

    ``pos_video[u]`` is the per-dimension normalised, recency-weighted mean of the video vectors of user u's
    positive events (like, share or follow); ``neg_video`` the same over negatives (hate). Rows of users
    without such events are zero. ``tag_pos[u]`` holds the weighted frequency of each tag label in positives.
    """

    user_ids: list[str]
    seen: list[np.ndarray]  # catalog positions with any event before as_of
    negatives: list[np.ndarray]
    recent_positives: list[np.ndarray]  # most recent first
    positive_matrix: sp.csr_matrix  # (U, N) decayed positive weights
    pos_video: np.ndarray | None = None  # (U, 6, d)
    neg_video: np.ndarray | None = None
    pos_hook: np.ndarray | None = None
    tag_pos: np.ndarray | None = None  # (U, L)
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {u: i for i, u in enumerate(self.user_ids)}


def _normalised_profile(weights: sp.csr_matrix, block: np.ndarray) -> np.ndarray:
    n, six, d = block.shape
    prof = np.asarray(weights @ block.reshape(n, six * d), dtype=np.float32).reshape(-1, six, d)
    norms = np.linalg.norm(prof, axis=2, keepdims=True)
    return np.divide(prof, norms, out=np.zeros_like(prof), where=norms > 0)


def user_state(
    events: pl.DataFrame | pl.LazyFrame,
    catalog: ItemCatalog,
    as_of: datetime,
    config: AggregateConfig | None = None,
    max_recent: int = 20,
) -> UserState:
    """Build ``UserState`` from events strictly before ``as_of`` (events on unknown videos are ignored)."""
    cfg = config or AggregateConfig()
    lf = _with_signals(events.lazy(), as_of, cfg.half_life_days)
    ev = (
        lf.select("user_id", "video_id", "ts", "w", POSITIVE.alias("pos"), NEGATIVE.alias("neg"))
        .collect()
        .with_columns(
            pl.col("video_id").replace_strict(catalog.index, default=-1, return_dtype=pl.Int64).alias("i")
        )
        .filter(pl.col("i") >= 0)
        .sort(["user_id", "ts"], descending=[False, True])
    )
    per = ev.group_by("user_id", maintain_order=True).agg(
        pl.col("i").unique(maintain_order=True).alias("seen"),
        pl.col("i").filter(pl.col("neg")).unique(maintain_order=True).alias("negatives"),
        pl.col("i").filter(pl.col("pos")).unique(maintain_order=True).head(max_recent).alias("recent"),
    )
    users = per["user_id"].to_list()
    uidx = {u: k for k, u in enumerate(users)}
    pos = ev.filter(pl.col("pos"))
    rows = pos["user_id"].replace_strict(uidx, return_dtype=pl.Int64).to_numpy()
    mat = sp.csr_matrix(
        (pos["w"].to_numpy(), (rows, pos["i"].to_numpy())), shape=(len(users), len(catalog)), dtype=np.float32
    )
    state = UserState(
        user_ids=users,
        seen=[np.asarray(x, dtype=np.int64) for x in per["seen"].to_list()],
        negatives=[np.asarray(x, dtype=np.int64) for x in per["negatives"].to_list()],
        recent_positives=[np.asarray(x, dtype=np.int64) for x in per["recent"].to_list()],
        positive_matrix=mat,
    )
    if catalog.video is not None:
        neg = ev.filter(pl.col("neg"))
        nrows = neg["user_id"].replace_strict(uidx, return_dtype=pl.Int64).to_numpy()
        nmat = sp.csr_matrix(
            (neg["w"].to_numpy(), (nrows, neg["i"].to_numpy())), shape=mat.shape, dtype=np.float32
        )
        state.pos_video = _normalised_profile(mat, catalog.video)
        state.neg_video = _normalised_profile(nmat, catalog.video)
        if catalog.hook is not None:
            state.pos_hook = _normalised_profile(mat, catalog.hook)
    if catalog.tags is not None:
        tot = np.asarray(mat.sum(axis=1)).ravel()
        freq = np.asarray(mat @ catalog.tags.astype(np.float32))
        state.tag_pos = np.divide(freq, tot[:, None], out=np.zeros_like(freq), where=tot[:, None] > 0)
    return state


def covisitation(state: UserState, min_count: float = 0.0) -> sp.csr_matrix:
    """Item-item co-engagement (N, N): Σ over users of the product of their decayed positive weights.

    Built from ``state`` so it sees only events before the state's ``as_of``; the diagonal is zeroed.
    """
    m = (state.positive_matrix > 0).astype(np.float32)
    c = (m.T @ m).tocsr()
    c.setdiag(0)
    if min_count > 0:
        c.data[c.data < min_count] = 0
    c.eliminate_zeros()
    return c
