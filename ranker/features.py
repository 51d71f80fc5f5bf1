"""The one feature schema, shared by training and serving through ``assemble_features``.

A feature that cannot be computed (no vectors for a KuaiRand video, a user without positives, an unknown
duration) is NaN, which LightGBM treats as missing; it is never filled with a made-up zero. The schema's
names depend on the aggregate windows, so ``FeatureSchema.for_config`` builds them; ``FEATURE_SCHEMA_VERSION``
changes whenever a feature's meaning changes, and a saved model refuses a schema that differs from its own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from ranker.aggregates import SIGNALS, AggregateConfig
from ranker.candidates import CHANNELS, COLD_CHANNEL, COLLAB_CHANNELS, NEIGHBOUR_CHANNELS, CandidateSet
from ranker.context import RankingContext, Request
from sv6d.dimensions import DIMENSIONS
from sv6d.record_io import atomic_write_bytes

# 2: the collaborative channels (ch_itemknn, ch_als) and scores (knn_score, als_score), group "collab".
# 3: the cold-start prior (cold_prior) and the cold channel (ch_cold), group "cold".
FEATURE_SCHEMA_VERSION = "3"

# Feature groups: experiments choose which a model may use (e.g. "engagement only" drops structure and tags).
STRUCTURE_GROUPS = frozenset({"structure", "tags"})
ENGAGEMENT_GROUPS = frozenset({"engagement", "creator", "user", "context", "channel"})
# Collaborative-filtering channels and scores (item-kNN, ALS): a group of their own, so that the systems
# defined before it (engagement only, every feature but these) keep their exact feature lists.
COLLAB_GROUPS = frozenset({"collab"})
# The cold-start prior and its channel (ranker.cold): a group of their own for the same reason.
COLD_GROUPS = frozenset({"cold"})


def similarity_features(what: str) -> list[str]:
    """The six per-dimension columns of one similarity (``sim_pos_video`` etc.), in ``DIMENSIONS`` order."""
    return [f"{what}_{d.value}" for d in DIMENSIONS]


def plays_feature(prefix: str, window: str) -> str:
    """The log plays column of ``prefix`` (``v`` video, ``c`` creator, ``u`` user) over one aggregate
    window."""
    return f"{prefix}_{window}_plays_log"


@dataclass(frozen=True)
class FeatureSchema:
    """Named features (in column order) with their groups, and the schema version."""

    version: str
    names: tuple[str, ...]
    groups: tuple[str, ...]

    @classmethod
    def for_config(cls, config: AggregateConfig | None = None) -> FeatureSchema:
        cfg = config or AggregateConfig()
        feats: list[tuple[str, str]] = []
        dims = [d.value for d in DIMENSIONS]
        for what in ("sim_pos_video", "sim_neg_video", "sim_pos_hook", "sim_seed_video", "sim_seed_hook"):
            feats += [(name, "structure") for name in similarity_features(what)]
        feats += [(f"tag_overlap_{d}", "tags") for d in dims]
        for prefix, group in (("v", "engagement"), ("c", "creator"), ("u", "user")):
            for wname, _ in cfg.windows:
                feats.append((plays_feature(prefix, wname), group))
                feats += [(f"{prefix}_{wname}_{s}", group) for s in SIGNALS]
        feats += [("covisit_log", "engagement"), ("age_days", "context"), ("duration_s", "context")]
        for c in CHANNELS:
            # Neighbour and hook channels exist only through structure: they belong to that group.
            group = "structure" if c in NEIGHBOUR_CHANNELS or c == "hook" else "channel"
            if c in COLLAB_CHANNELS:
                group = "collab"
            elif c == COLD_CHANNEL:
                group = "cold"
            feats.append((f"ch_{c}", group))
        feats += [("knn_score", "collab"), ("als_score", "collab"), ("cold_prior", "cold")]
        return cls(FEATURE_SCHEMA_VERSION, tuple(n for n, _ in feats), tuple(g for _, g in feats))

    def select(self, groups: frozenset[str] | set[str]) -> list[str]:
        """Names of the features in ``groups``."""
        return [n for n, g in zip(self.names, self.groups, strict=True) if g in groups]


@dataclass
class _Plan:
    """Where each block of a context's arrays lands in a schema's columns (-1: not in the schema)."""

    sims: dict[str, np.ndarray]  # "sim_pos_video" etc. → (6,) columns
    tag_cols: np.ndarray  # (6,)
    tag_masks: list[np.ndarray]  # per dimension, the tag columns of that dimension
    video_cols: np.ndarray  # (Fv,) destination of each ctx.video_agg column
    video_table: np.ndarray  # (N, Fv) the context's video aggregates, plays already log1p
    creator_cols: np.ndarray
    creator_table: np.ndarray  # (C + 1, Fc), the last row NaN (no creator)
    user_cols: np.ndarray
    user_log: np.ndarray  # (Fu,) bool: plays columns (log1p)
    covisit_col: int
    knn_col: int
    als_col: int
    cold_col: int
    age_col: int
    duration_col: int
    channel_cols: np.ndarray  # (len(CHANNELS),)


def _log_plays(table: np.ndarray, names: list[str]) -> np.ndarray:
    out = table.astype(np.float32, copy=True)
    for j, n in enumerate(names):
        if n.endswith("_plays"):
            out[:, j] = np.log1p(out[:, j])
    return out


def _plan(ctx: RankingContext, schema: FeatureSchema) -> _Plan:
    cache = ctx.cache.setdefault("feature_plans", {})
    plan = cache.get(schema.names)
    if plan is not None:
        return plan
    col = {n: i for i, n in enumerate(schema.names)}
    dims = [d.value for d in DIMENSIONS]

    def cols(names: list[str]) -> np.ndarray:
        return np.array([col.get(n, -1) for n in names], dtype=np.int64)

    def out_name(n: str) -> str:
        return n + "_log" if n.endswith("_plays") else n

    cat = ctx.catalog
    creator_table = np.full((len(ctx.creator_agg) + 1, len(ctx.creator_agg_names)), np.nan, dtype=np.float32)
    if len(ctx.creator_agg_names):
        creator_table[:-1] = _log_plays(ctx.creator_agg, ctx.creator_agg_names)
    plan = _Plan(
        sims={
            what: cols([f"{what}_{d}" for d in dims])
            for what in ("sim_pos_video", "sim_neg_video", "sim_pos_hook", "sim_seed_video", "sim_seed_hook")
        },
        tag_cols=cols([f"tag_overlap_{d}" for d in dims]),
        tag_masks=[np.flatnonzero(cat.tag_dims == j) for j in range(len(dims))],
        video_cols=cols([out_name(n) for n in ctx.video_agg_names]),
        video_table=_log_plays(ctx.video_agg, ctx.video_agg_names),
        creator_cols=cols([out_name(n) for n in ctx.creator_agg_names]),
        creator_table=creator_table,
        user_cols=cols([out_name(n) for n in ctx.user_agg_names]),
        user_log=np.array([n.endswith("_plays") for n in ctx.user_agg_names], dtype=bool),
        covisit_col=col.get("covisit_log", -1),
        knn_col=col.get("knn_score", -1),
        als_col=col.get("als_score", -1),
        cold_col=col.get("cold_prior", -1),
        age_col=col.get("age_days", -1),
        duration_col=col.get("duration_s", -1),
        channel_cols=cols([f"ch_{c}" for c in CHANNELS]),
    )
    cache[schema.names] = plan
    return plan


def _put(out: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
    """``out[:, cols] = values`` for the columns that are in the schema (cols >= 0)."""
    keep = cols >= 0
    if keep.all():
        out[:, cols] = values
    elif keep.any():
        out[:, cols[keep]] = values[:, keep]


def _similarities(
    block: np.ndarray | None, cand: np.ndarray, profiles: dict[str, np.ndarray | None]
) -> dict[str, np.ndarray]:
    """(n, 6) per-dimension cosine of each candidate to each known profile (one batched product)."""
    known = {k: p for k, p in profiles.items() if p is not None}
    if block is None or not known:
        return {}
    stacked = np.stack(list(known.values())).astype(np.float32)  # (P, 6, d)
    # (6, n, d) @ (6, d, P) → (6, n, P): one BLAS call per dimension, not one per profile.
    sims = np.matmul(block[cand].transpose(1, 0, 2), stacked.transpose(1, 2, 0))
    out = {}
    for p, (name, prof) in enumerate(known.items()):
        s = np.ascontiguousarray(sims[:, :, p].T)
        # A zero profile row (no engaged video) has no direction: its similarity is unknown, not 0.
        s[:, np.linalg.norm(prof, axis=1) == 0] = np.nan
        out[name] = s
    return out


def assemble_features(
    ctx: RankingContext, req: Request, cands: CandidateSet, schema: FeatureSchema | None = None
) -> np.ndarray:
    """The (n_candidates, n_features) float32 matrix of ``schema`` (NaN = missing) for one request."""
    schema = schema or FeatureSchema.for_config(ctx.config)
    plan = _plan(ctx, schema)
    cat = ctx.catalog
    pos = cands.positions
    n = len(pos)
    out = np.full((n, len(schema.names)), np.nan, dtype=np.float32)
    if n == 0:
        return out
    seed_v = None if req.seed is None or cat.video is None else cat.video[req.seed]
    seed_h = None if req.seed is None or cat.hook is None else cat.hook[req.seed]
    sims = _similarities(
        cat.video,
        pos,
        {"sim_pos_video": req.pos_video, "sim_neg_video": req.neg_video, "sim_seed_video": seed_v},
    )
    sims.update(_similarities(cat.hook, pos, {"sim_pos_hook": req.pos_hook, "sim_seed_hook": seed_h}))
    for what, s in sims.items():
        _put(out, plan.sims[what], s)
    if cat.tags is not None and req.tag_pos is not None:
        ct = cat.tags[pos].astype(np.float32)
        overlap = np.full((n, len(plan.tag_masks)), np.nan, dtype=np.float32)
        for j, m in enumerate(plan.tag_masks):
            num = ct[:, m] @ req.tag_pos[m]
            den = ct[:, m].sum(axis=1)
            # Share of the candidate's tags in this dimension that the user's positives carry (weighted).
            np.divide(num, den, out=overlap[:, j], where=den > 0)
        _put(out, plan.tag_cols, overlap)
    _put(out, plan.video_cols, plan.video_table[pos])
    if len(plan.creator_cols):
        _put(out, plan.creator_cols, plan.creator_table[cat.creator_idx[pos]])
    if len(plan.user_cols):
        u = np.full(len(plan.user_cols), np.nan, dtype=np.float32)
        n_user = min(len(u), len(req.user_features))
        u[:n_user] = req.user_features[:n_user]
        u[plan.user_log] = np.log1p(u[plan.user_log])
        _put(out, plan.user_cols, np.broadcast_to(u, (n, len(u))))
    if len(req.recent_positives) and plan.covisit_col >= 0:
        out[:, plan.covisit_col] = np.log1p(ctx.covisit_scores(req)[pos])
    if len(req.recent_positives) and plan.knn_col >= 0:
        out[:, plan.knn_col] = ctx.collab_scores(req, "itemknn")[pos]
    if len(req.recent_positives) and plan.als_col >= 0:
        out[:, plan.als_col] = ctx.collab_scores(req, "als")[pos]
    if plan.cold_col >= 0 and cat.video is not None:
        out[:, plan.cold_col] = ctx.cold_prior()[pos]
    if plan.age_col >= 0:
        out[:, plan.age_col] = (ctx.as_of_s - ctx.upload_time_s()[pos]) / 86400.0
    assert cat.duration_s is not None
    if plan.duration_col >= 0:
        out[:, plan.duration_col] = cat.duration_s[pos]
    _put(out, plan.channel_cols, cands.channels.astype(np.float32))
    return out


class FeatureLogger:
    """Logs the features each served candidate had, one parquet part per request batch, atomically.

    Rows: request_id, ts, user_id, video_id, rank (0-based position served, null when not served), score,
    schema_version, then one column per feature (null = missing). ``read_feature_log`` loads them back for
    training sets built from logs.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def log(
        self,
        schema: FeatureSchema,
        user_id: str | None,
        video_ids: list[str],
        features: np.ndarray,
        scores: np.ndarray,
        served_rank: np.ndarray,
        request_id: str | None = None,
    ) -> str:
        """Write one request's candidates; returns the request id."""
        rid = request_id or uuid.uuid4().hex
        now = datetime.now(UTC)
        n = len(video_ids)
        df = pl.DataFrame(
            {
                "request_id": [rid] * n,
                "ts": [now] * n,
                "user_id": [user_id] * n,
                "video_id": video_ids,
                "rank": [None if r < 0 else int(r) for r in served_rank],
                "score": scores.astype(np.float64),
                "schema_version": [schema.version] * n,
            },
            schema_overrides={"user_id": pl.String, "rank": pl.Int32},
        )
        feats = pl.DataFrame(features, schema=list(schema.names), orient="row").fill_nan(None)
        df = pl.concat([df, feats], how="horizontal")
        path = self.directory / f"part-{now:%Y%m%dT%H%M%S%f}-{rid[:8]}.parquet"
        atomic_write_bytes(path, lambda tmp: df.write_parquet(tmp))
        return rid


def read_feature_log(directory: Path | str) -> pl.DataFrame:
    """All logged rows under ``directory`` (empty frame when nothing was logged)."""
    files = sorted(Path(directory).glob("part-*.parquet"))
    if not files:
        return pl.DataFrame()
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")
