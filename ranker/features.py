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
from ranker.candidates import CHANNELS, NEIGHBOUR_CHANNELS, CandidateSet
from ranker.context import RankingContext, Request
from sv6d.dimensions import DIMENSIONS
from sv6d.record_io import atomic_write_bytes

FEATURE_SCHEMA_VERSION = "1"

# Feature groups: experiments choose which a model may use (e.g. "engagement only" drops structure and tags).
STRUCTURE_GROUPS = frozenset({"structure", "tags"})
ENGAGEMENT_GROUPS = frozenset({"engagement", "creator", "user", "context", "channel"})


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
            feats += [(f"{what}_{d}", "structure") for d in dims]
        feats += [(f"tag_overlap_{d}", "tags") for d in dims]
        for prefix, group in (("v", "engagement"), ("c", "creator"), ("u", "user")):
            for wname, _ in cfg.windows:
                feats.append((f"{prefix}_{wname}_plays_log", group))
                feats += [(f"{prefix}_{wname}_{s}", group) for s in SIGNALS]
        feats += [("covisit_log", "engagement"), ("age_days", "context"), ("duration_s", "context")]
        for c in CHANNELS:
            # Neighbour and hook channels exist only through structure: they belong to that group.
            group = "structure" if c in NEIGHBOUR_CHANNELS or c == "hook" else "channel"
            feats.append((f"ch_{c}", group))
        return cls(FEATURE_SCHEMA_VERSION, tuple(n for n, _ in feats), tuple(g for _, g in feats))

    def select(self, groups: frozenset[str] | set[str]) -> list[str]:
        """Names of the features in ``groups``."""
        return [n for n, g in zip(self.names, self.groups, strict=True) if g in groups]


def _sims(block: np.ndarray | None, cand: np.ndarray, profile: np.ndarray | None) -> np.ndarray:
    n = len(cand)
    if block is None or profile is None:
        return np.full((n, 6), np.nan, dtype=np.float32)
    sims = np.einsum("nkd,kd->nk", block[cand], profile)
    # A zero profile row (no engaged video) has no direction: its similarity is unknown, not 0.
    known = np.linalg.norm(profile, axis=1) > 0
    sims[:, ~known] = np.nan
    return sims.astype(np.float32)


def assemble_features(
    ctx: RankingContext, req: Request, cands: CandidateSet, schema: FeatureSchema | None = None
) -> np.ndarray:
    """The (n_candidates, n_features) float32 matrix of ``schema`` (NaN = missing) for one request."""
    schema = schema or FeatureSchema.for_config(ctx.config)
    cat = ctx.catalog
    pos = cands.positions
    n = len(pos)
    cols: dict[str, np.ndarray] = {}
    dims = [d.value for d in DIMENSIONS]
    seed_v = None if req.seed is None or cat.video is None else cat.video[req.seed]
    seed_h = None if req.seed is None or cat.hook is None else cat.hook[req.seed]
    for what, block, prof in (
        ("sim_pos_video", cat.video, req.pos_video),
        ("sim_neg_video", cat.video, req.neg_video),
        ("sim_pos_hook", cat.hook, req.pos_hook),
        ("sim_seed_video", cat.video, seed_v),
        ("sim_seed_hook", cat.hook, seed_h),
    ):
        s = _sims(block, pos, prof)
        for j, d in enumerate(dims):
            cols[f"{what}_{d}"] = s[:, j]
    if cat.tags is not None and req.tag_pos is not None:
        ct = cat.tags[pos].astype(np.float32)
        for j, d in enumerate(dims):
            m = cat.tag_dims == j
            num = ct[:, m] @ req.tag_pos[m]
            den = ct[:, m].sum(axis=1)
            # Share of the candidate's tags in this dimension that the user's positives carry (weighted).
            cols[f"tag_overlap_{d}"] = np.divide(
                num, den, out=np.full(n, np.nan, dtype=np.float32), where=den > 0
            )
    for name, j in zip(ctx.video_agg_names, range(len(ctx.video_agg_names)), strict=True):
        v = ctx.video_agg[pos, j]
        cols[name + "_log" if name.endswith("_plays") else name] = (
            np.log1p(v) if name.endswith("_plays") else v
        )
    if len(ctx.creator_agg_names):
        ci = cat.creator_idx[pos]
        has = ci >= 0
        for j, name in enumerate(ctx.creator_agg_names):
            v = np.full(n, np.nan, dtype=np.float32)
            v[has] = ctx.creator_agg[ci[has], j]
            cols[name + "_log" if name.endswith("_plays") else name] = (
                np.log1p(v) if name.endswith("_plays") else v
            )
    for j, name in enumerate(ctx.user_agg_names):
        u = req.user_features[j] if j < len(req.user_features) else np.nan
        u = np.log1p(u) if name.endswith("_plays") else u
        cols[name + "_log" if name.endswith("_plays") else name] = np.full(n, u, dtype=np.float32)
    if len(req.recent_positives):
        cov = np.asarray(ctx.covisit[pos][:, req.recent_positives].sum(axis=1)).ravel()
        cols["covisit_log"] = np.log1p(cov).astype(np.float32)
    upload = ctx.upload_time_s()[pos]
    cols["age_days"] = ((ctx.as_of_s - upload) / 86400.0).astype(np.float32)
    assert cat.duration_s is not None
    cols["duration_s"] = cat.duration_s[pos].astype(np.float32)
    for j, c in enumerate(CHANNELS):
        cols[f"ch_{c}"] = cands.channels[:, j].astype(np.float32)
    out = np.full((n, len(schema.names)), np.nan, dtype=np.float32)
    for k, name in enumerate(schema.names):
        col = cols.get(name)
        if col is not None:
            out[:, k] = col
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
