"""Engagement events: one schema (polars), parquet storage, loaders for our events and for KuaiRand.

Unknown values are nulls, never zeros: a KuaiRand row with ``duration_ms == 0`` has an unknown duration, and
a source that does not log shares has ``share = null``, which the aggregates leave out of the denominators.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from sv6d.errors import SV6DError
from sv6d.record_io import atomic_write_bytes


class EventDataError(SV6DError, ValueError):
    """Engagement data that is missing or does not match the event schema."""


EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "user_id": pl.String(),
    "video_id": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "play_time_s": pl.Float64(),
    "video_duration_s": pl.Float64(),
    "click": pl.Boolean(),
    "like": pl.Boolean(),
    "share": pl.Boolean(),
    "comment": pl.Boolean(),
    "follow": pl.Boolean(),
    "hate": pl.Boolean(),
    "profile_visit": pl.Boolean(),
}
REQUIRED_COLUMNS = ("event_id", "user_id", "video_id", "ts")
EVENTS_FILE = "events.parquet"


def empty_events() -> pl.DataFrame:
    """A frame with the event schema and no rows."""
    return pl.DataFrame(schema=EVENT_SCHEMA)


def conform_events(df: pl.DataFrame, source: str = "events") -> pl.DataFrame:
    """Cast ``df`` to ``EVENT_SCHEMA``: optional columns absent become nulls; required ones must exist.

    ``ts`` may be a datetime (naive is taken as UTC) or epoch milliseconds.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise EventDataError(f"{source}: missing required column(s) {', '.join(missing)}")
    extra = sorted(set(df.columns) - set(EVENT_SCHEMA))
    if extra:
        raise EventDataError(
            f"{source}: unknown column(s) {', '.join(extra)}; expected {', '.join(EVENT_SCHEMA)}"
        )
    ts = df.schema["ts"]
    if ts.is_integer():
        df = df.with_columns(pl.from_epoch("ts", time_unit="ms"))
    elif isinstance(ts, pl.Datetime) and ts.time_zone is None:
        df = df.with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    elif not isinstance(ts, pl.Datetime):
        raise EventDataError(f"{source}: column ts has type {ts}; expected a datetime or epoch milliseconds")
    cols = []
    for name, dtype in EVENT_SCHEMA.items():
        if name in df.columns:
            expr = pl.col(name)
            if name == "ts":
                expr = expr.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
            cols.append(expr.cast(dtype).alias(name))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    out = df.select(cols)
    nulls = out.select(pl.col(list(REQUIRED_COLUMNS)).null_count()).row(0)
    if any(nulls):
        raise EventDataError(
            f"{source}: null values in required columns {dict(zip(REQUIRED_COLUMNS, nulls, strict=True))}"
        )
    return out


class EventStore:
    """Events of one data directory, stored as ``<data_dir>/events/events.parquet``.

    ``append`` is idempotent by ``event_id`` (a replayed batch adds nothing) and atomic (readers see the old
    file or the new one). One file keeps reads simple; at the sizes an offline log reaches here, rewriting it
    on append costs less than managing shards.
    """

    def __init__(self, data_dir: Path | str) -> None:
        self.path = Path(data_dir) / "events" / EVENTS_FILE

    def read(self) -> pl.DataFrame:
        """All stored events (an empty frame when none were stored)."""
        if not self.path.exists():
            return empty_events()
        return pl.read_parquet(self.path)

    def scan(self) -> pl.LazyFrame:
        """A lazy scan of the stored events."""
        if not self.path.exists():
            return empty_events().lazy()
        return pl.scan_parquet(self.path)

    def append(self, df: pl.DataFrame) -> int:
        """Add events whose ``event_id`` is new; returns how many were added."""
        new = conform_events(df, source="appended events").unique(
            "event_id", keep="first", maintain_order=True
        )
        old = self.read()
        new = new.join(old.select("event_id"), on="event_id", how="anti")
        if new.height == 0:
            return 0
        merged = pl.concat([old, new]).sort("ts", maintain_order=True)
        atomic_write_bytes(self.path, lambda tmp: merged.write_parquet(tmp))
        return new.height


def load_events(path: Path | str) -> pl.DataFrame:
    """Load our events from a parquet file or an ``EventStore`` data directory."""
    p = Path(path)
    if p.is_dir():
        p = p / "events" / EVENTS_FILE
    if not p.exists():
        raise EventDataError(f"events file {p} does not exist")
    return conform_events(pl.read_parquet(p), source=str(p))


KUAIRAND_COLUMNS = (
    "user_id",
    "video_id",
    "time_ms",
    "is_click",
    "is_follow",
    "is_comment",
    "is_forward",
    "play_time_ms",
    "duration_ms",
    "is_profile_enter",
    "label",
)


def load_kuairand(path: Path | str) -> pl.DataFrame:
    """Load the KuaiRand like/hate subset (tab-separated) as events.

    ``time_ms`` is epoch milliseconds in UTC (its ``timestamp`` column is the same instant printed in UTC; the
    ``date``/``hourmin`` columns are Beijing local time and are not used). ``label`` 1 is a like and 0 a hate,
    so both ``like`` and ``hate`` are known on every row. ``duration_ms == 0`` means unknown (null).
    KuaiRand does not log shares apart from forwards: ``share`` holds ``is_forward``. Exact duplicate rows
    (same user, video and millisecond) collapse into one event.
    """
    p = Path(path)
    if not p.exists():
        raise EventDataError(f"KuaiRand file {p} does not exist")
    raw = pl.read_csv(p, separator="\t")
    missing = [c for c in KUAIRAND_COLUMNS if c not in raw.columns]
    if missing:
        raise EventDataError(f"{p}: not a KuaiRand interaction file, missing column(s) {', '.join(missing)}")
    df = raw.select(
        pl.format("kr:{}:{}:{}", "user_id", "video_id", "time_ms").alias("event_id"),
        pl.col("user_id").cast(pl.String),
        pl.col("video_id").cast(pl.String),
        pl.from_epoch("time_ms", time_unit="ms").dt.replace_time_zone("UTC").alias("ts"),
        (pl.col("play_time_ms") / 1000.0).alias("play_time_s"),
        pl.when(pl.col("duration_ms") > 0).then(pl.col("duration_ms") / 1000.0).alias("video_duration_s"),
        pl.col("is_click").cast(pl.Boolean).alias("click"),
        (pl.col("label") == 1).alias("like"),
        pl.col("is_forward").cast(pl.Boolean).alias("share"),
        pl.col("is_comment").cast(pl.Boolean).alias("comment"),
        pl.col("is_follow").cast(pl.Boolean).alias("follow"),
        (pl.col("label") == 0).alias("hate"),
        pl.col("is_profile_enter").cast(pl.Boolean).alias("profile_visit"),
    )
    df = df.unique("event_id", keep="first", maintain_order=True).sort("ts", maintain_order=True)
    return conform_events(df, source=str(p))
