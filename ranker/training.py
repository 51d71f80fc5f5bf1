"""Train the serving model from what a deployment logged: its events and, when present, its feature log.

Two sources of training requests, both labelled by likes:

- *snapshots*: the context is rebuilt as of ``snapshots`` cut-offs (quantiles of the event times); each user
  who likes something after a cut-off (and before the next) is one request whose candidates and features come
  from ``generate_candidates`` and ``assemble_features`` exactly as serving computes them;
- *the feature log* (``FeatureLogger`` rows written by the API): each logged request whose schema version is
  the serving one is a request as it was served; a candidate is positive when its user liked it within
  ``label_horizon_days`` after the request.

The model reads every feature of the serving schema except the collaborative group (the collaborative channels
are off in serving, so those columns would be constant there); serving's candidates (``SERVING_CANDIDATES``)
add the ``cold`` channel (new videos by their cold-start prior, ``ranker.cold``) to the default quotas.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ranker.aggregates import AggregateConfig
from ranker.candidates import COLD_CHANNEL, CandidateConfig
from ranker.catalog import ItemCatalog
from ranker.context import NeighbourSource, build_context
from ranker.features import COLLAB_GROUPS, FeatureSchema, read_feature_log
from ranker.model import RankerModel, train_ranker
from sv6d.errors import SV6DError

FEATURE_LOG_DIR = "feature_log"
# The candidates serving (and training for serving) generate: the defaults plus the cold channel.
SERVING_CANDIDATES = CandidateConfig(quotas={**CandidateConfig().quotas, COLD_CHANNEL: 50})


def serving_schema() -> FeatureSchema:
    """The feature schema the API computes (the default aggregate windows)."""
    return FeatureSchema.for_config(AggregateConfig())


def serving_features(schema: FeatureSchema) -> list[str]:
    """The features a served model reads: all but the collaborative group."""
    return schema.select(set(schema.groups) - COLLAB_GROUPS)


@dataclass(frozen=True)
class TrainConfig:
    snapshots: int = 3
    max_users_per_snapshot: int | None = 2000
    label_horizon_days: float = 7.0
    num_boost_round: int = 300
    seed: int = 7


def _likes(events: pl.DataFrame, start: datetime, end: datetime | None) -> dict[str, set[str]]:
    f = (pl.col("ts") >= start) & pl.col("like").fill_null(False)
    if end is not None:
        f = f & (pl.col("ts") < end)
    sub = events.filter(f).select("user_id", "video_id")
    return {str(u): set(g["video_id"].to_list()) for (u,), g in sub.group_by("user_id")}


def feature_log_rows(
    log: pl.DataFrame, events: pl.DataFrame, schema: FeatureSchema, horizon_days: float, group_offset: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, group ids) of the logged requests of ``schema``'s version that have a user."""
    empty = np.zeros((0, len(schema.names)), np.float32), np.zeros(0), np.zeros(0, np.int64)
    if log.height == 0 or "schema_version" not in log.columns:
        return empty
    log = log.filter((pl.col("schema_version") == schema.version) & pl.col("user_id").is_not_null())
    if log.height == 0 or not set(schema.names) <= set(log.columns):
        return empty
    likes = events.filter(pl.col("like").fill_null(False)).select(
        "user_id", "video_id", pl.col("ts").alias("like_ts")
    )
    horizon = timedelta(days=horizon_days)
    labelled = (
        log.with_row_index("_row")
        .join(likes, on=["user_id", "video_id"], how="left")
        .with_columns(
            ((pl.col("like_ts") > pl.col("ts")) & (pl.col("like_ts") <= pl.col("ts") + horizon))
            .fill_null(False)
            .alias("_pos")
        )
        .group_by("_row", maintain_order=True)
        .agg(pl.col("_pos").any())
        .sort("_row")
    )
    log = log.with_columns(labelled["_pos"].alias("_pos")).sort("request_id", maintain_order=True)
    x = log.select(list(schema.names)).cast(pl.Float32).fill_null(np.nan).to_numpy().astype(np.float32)
    y = log["_pos"].cast(pl.Float64).to_numpy()
    codes = log["request_id"].cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
    return x, y, codes + group_offset


def train_from_logs(
    events: pl.DataFrame,
    catalog: ItemCatalog,
    neighbours: NeighbourSource | None = None,
    feature_log: pl.DataFrame | None = None,
    config: TrainConfig | None = None,
    log: Callable[[str], None] | None = None,
) -> RankerModel:
    """A lambdarank model of the serving schema trained on ``events`` (and the ``feature_log`` rows)."""
    from ranker.experiment import training_rows

    cfg = config or TrainConfig()
    say = log or (lambda _m: None)
    schema = serving_schema()
    events = events.filter(pl.col("video_id").is_in(catalog.video_ids))
    if events.height == 0:
        raise SV6DError("no events on stored videos: post engagement to /v1/events before training")
    ts = events["ts"].sort()
    cutoffs = [ts[int(len(ts) * (i + 1) / (cfg.snapshots + 1))] for i in range(cfg.snapshots)]
    bounds: list[datetime | None] = [*cutoffs[1:], None]
    xs, ys, gs = [], [], []
    offset = 0
    rng = np.random.default_rng(cfg.seed)
    for cut, end in zip(cutoffs, bounds, strict=True):
        ctx = build_context(events, catalog, cut, AggregateConfig(), neighbours)
        labels = _likes(events, cut, end)
        users = sorted(u for u in labels if u in ctx.users.index)
        if cfg.max_users_per_snapshot is not None and len(users) > cfg.max_users_per_snapshot:
            users = sorted(rng.choice(users, size=cfg.max_users_per_snapshot, replace=False).tolist())
        x, y, g = training_rows(ctx, labels, users, SERVING_CANDIDATES, schema, offset)
        offset += len(users)
        xs.append(x)
        ys.append(y)
        gs.append(g)
        say(f"snapshot {cut:%Y-%m-%d %H:%M}: {len(users)} requests, {len(y)} rows, {int(y.sum())} positives")
    n_logged = 0
    if feature_log is not None and feature_log.height:
        x, y, g = feature_log_rows(feature_log, events, schema, cfg.label_horizon_days, offset)
        n_logged = len(np.unique(g))
        xs.append(x)
        ys.append(y)
        gs.append(g)
        say(f"feature log: {n_logged} requests, {len(y)} rows, {int(y.sum())} positives")
    x_all, y_all, g_all = np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)
    model = train_ranker(
        x_all,
        y_all,
        g_all,
        schema,
        serving_features(schema),
        num_boost_round=cfg.num_boost_round,
        seed=cfg.seed,
    )
    model.training = {
        "events": events.height,
        "users": int(events["user_id"].n_unique()),
        "videos": len(catalog),
        "events_from": str(ts[0]),
        "events_to": str(ts[-1]),
        "snapshots": [str(c) for c in cutoffs],
        "feature_log_requests": n_logged,
        "config": asdict(cfg),
    }
    return model


def train_data_dir(
    data_dir: Path | str, config: TrainConfig | None = None, log: Callable[[str], None] | None = None
) -> tuple[RankerModel, Path]:
    """Train on a data directory's index, events and feature log; save under ``<data_dir>/models``."""
    from indexer import open_index
    from ranker.candidates import IndexNeighbours
    from ranker.events import EventStore
    from ranker.registry import save_model

    data_dir = Path(data_dir)
    with open_index(None, data_dir=data_dir, read_only=True) as index:
        ids = sorted(index.video_ids())
        if not ids:
            raise SV6DError(f"{data_dir}: the index is empty; ingest videos first")
        catalog = ItemCatalog.from_records([index.get(v) for v in ids])
        events = EventStore(data_dir).read()
        flog = read_feature_log(data_dir / FEATURE_LOG_DIR)
        # The neighbour channels query the data directory's own index, as serving does.
        model = train_from_logs(events, catalog, IndexNeighbours(index), flog, config, log)
    return model, save_model(model, data_dir)


def describe(model: RankerModel) -> dict[str, Any]:
    """What a response or a CLI line says about a model."""
    return {
        "id": model.model_id,
        "feature_schema_version": model.schema_version,
        "saved_at": model.saved_at,
        "valid_ndcg_at_10": model.metrics.get("valid_ndcg_at_10"),
        "trained_on_events": model.training.get("events"),
    }
