"""SV6D records as parquet through polars: one row per record, nested tags and segments.

The file carries ``schema_version`` both as a column and in the parquet key-value metadata. Reading a file
from another version goes through ``MIGRATIONS`` (one step per version) or fails with SchemaVersionError;
it never yields records of the wrong shape.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from sv6d.errors import SchemaVersionError
from sv6d.record import SCHEMA_VERSION, EncoderInfo, Segment, SV6DRecord, Tag

METADATA_KEY = "sv6d.schema_version"

TAG_STRUCT = pl.Struct(
    {
        "dimension": pl.String,
        "label": pl.String,
        "start_s": pl.Float64,
        "end_s": pl.Float64,
        "confidence": pl.Float64,
        "evidence": pl.String,  # JSON object: evidence values are heterogeneous
    }
)
SEGMENT_STRUCT = pl.Struct({"start_s": pl.Float64, "end_s": pl.Float64, "vectors": pl.List(pl.Float32)})

RECORD_SCHEMA: dict[str, pl.DataType] = {
    "schema_version": pl.Int32(),
    "video_id": pl.String(),
    "source": pl.String(),
    "duration_s": pl.Float64(),
    "fps": pl.Float64(),
    "width": pl.Int32(),
    "height": pl.Int32(),
    "title": pl.String(),
    "caption": pl.String(),
    "hashtags": pl.List(pl.String),
    "creator": pl.String(),
    "created_at": pl.Datetime("us", "UTC"),
    "encoder_name": pl.String(),
    "encoder_version": pl.String(),
    "head_version": pl.String(),
    "encoder_fingerprint": pl.String(),
    "dim": pl.Int32(),
    "hook_start_s": pl.Float64(),
    "hook_end_s": pl.Float64(),
    "video": pl.List(pl.Float32),  # flattened (6, dim), row-major in DIMENSIONS order
    "hook": pl.List(pl.Float32),
    "segments": pl.List(SEGMENT_STRUCT),
    "tags": pl.List(TAG_STRUCT),
    "energy": pl.List(pl.Float32),
    "energy_hz": pl.Float64(),
    "hook_style": pl.String(),  # JSON object style -> probability ("{}" without one)
}

# MIGRATIONS[v] turns a frame of version v into version v + 1.
MIGRATIONS: dict[int, Callable[[pl.DataFrame], pl.DataFrame]] = {}


def records_to_frame(records: Sequence[SV6DRecord]) -> pl.DataFrame:
    """Records as one polars frame with ``RECORD_SCHEMA``."""
    rows = []
    for r in records:
        rows.append(
            {
                "schema_version": r.schema_version,
                "video_id": r.video_id,
                "source": r.source,
                "duration_s": r.duration_s,
                "fps": r.fps,
                "width": r.width,
                "height": r.height,
                "title": r.title,
                "caption": r.caption,
                "hashtags": list(r.hashtags),
                "creator": r.creator,
                "created_at": r.created_at,
                "encoder_name": r.encoder.name,
                "encoder_version": r.encoder.version,
                "head_version": r.encoder.head_version,
                "encoder_fingerprint": r.encoder.fingerprint,
                "dim": r.dim,
                "hook_start_s": r.hook_window[0],
                "hook_end_s": r.hook_window[1],
                "video": r.video.ravel().tolist(),
                "hook": r.hook.ravel().tolist(),
                "segments": [
                    {"start_s": s.start_s, "end_s": s.end_s, "vectors": s.vectors.ravel().tolist()}
                    for s in r.segments
                ],
                "tags": [
                    {
                        "dimension": t.dimension.value,
                        "label": t.label,
                        "start_s": t.start_s,
                        "end_s": t.end_s,
                        "confidence": t.confidence,
                        "evidence": json.dumps(t.evidence, sort_keys=True),
                    }
                    for t in r.tags
                ],
                "energy": list(r.energy),
                "energy_hz": r.energy_hz,
                "hook_style": json.dumps(r.hook_style),
            }
        )
    return pl.DataFrame(rows, schema=RECORD_SCHEMA)


def frame_to_records(df: pl.DataFrame) -> list[SV6DRecord]:
    """Inverse of ``records_to_frame``; migrates older versions first."""
    df = migrate(df)
    out = []
    for row in df.iter_rows(named=True):
        d = int(row["dim"])
        out.append(
            SV6DRecord(
                schema_version=row["schema_version"],
                video_id=row["video_id"],
                source=row["source"],
                duration_s=row["duration_s"],
                fps=row["fps"],
                width=row["width"],
                height=row["height"],
                title=row["title"],
                caption=row["caption"],
                hashtags=row["hashtags"] or [],
                creator=row["creator"],
                created_at=row["created_at"],
                encoder=EncoderInfo(
                    name=row["encoder_name"],
                    version=row["encoder_version"],
                    head_version=row["head_version"],
                    fingerprint=row["encoder_fingerprint"] or "",
                ),
                hook_window=(row["hook_start_s"], row["hook_end_s"]),
                video=np.asarray(row["video"], dtype=np.float32).reshape(6, d),
                hook=np.asarray(row["hook"], dtype=np.float32).reshape(6, d),
                segments=[
                    Segment(
                        start_s=s["start_s"],
                        end_s=s["end_s"],
                        vectors=np.asarray(s["vectors"], dtype=np.float32).reshape(6, d),
                    )
                    for s in row["segments"] or []
                ],
                tags=[
                    Tag(
                        dimension=t["dimension"],
                        label=t["label"],
                        start_s=t["start_s"],
                        end_s=t["end_s"],
                        confidence=t["confidence"],
                        evidence=json.loads(t["evidence"]),
                    )
                    for t in row["tags"] or []
                ],
                energy=row["energy"] or [],
                energy_hz=row["energy_hz"] or 0.0,
                # files written before the profile existed have no such column: an empty profile
                hook_style=json.loads(row.get("hook_style") or "{}"),
            )
        )
    return out


def migrate(df: pl.DataFrame) -> pl.DataFrame:
    """Bring a frame to ``SCHEMA_VERSION`` or raise SchemaVersionError saying why it cannot."""
    if "schema_version" not in df.columns:
        raise SchemaVersionError("data has no schema_version column: not an SV6D record table")
    versions = df["schema_version"].unique().to_list()
    if len(versions) > 1:
        raise SchemaVersionError(f"data mixes schema versions {sorted(versions)}")
    if not versions:
        return df
    version = int(versions[0])
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"data was written with schema version {version}, newer than this code's {SCHEMA_VERSION}: "
            "upgrade sv6d to read it"
        )
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise SchemaVersionError(
                f"data was written with schema version {version}; no migration to {SCHEMA_VERSION} exists: "
                "re-encode the videos"
            )
        df = step(df)
        version += 1
    return df


def atomic_write_bytes(path: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(tmp)`` then rename over ``path``; readers see the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        tmp.unlink(missing_ok=True)


def write_records(path: Path | str, records: Sequence[SV6DRecord]) -> None:
    """Write records to one parquet file atomically."""
    df = records_to_frame(records)

    def _write(tmp: Path) -> None:
        df.write_parquet(tmp, metadata={METADATA_KEY: str(SCHEMA_VERSION)})

    atomic_write_bytes(Path(path), _write)


def read_records(path: Path | str) -> list[SV6DRecord]:
    """Read a parquet file of records, migrating or refusing other schema versions."""
    path = Path(path)
    meta = pl.read_parquet_metadata(path)
    if METADATA_KEY in meta and int(meta[METADATA_KEY]) > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path}: written with schema version {meta[METADATA_KEY]}, newer than {SCHEMA_VERSION}"
        )
    try:
        return frame_to_records(pl.read_parquet(path))
    except SchemaVersionError as exc:
        raise SchemaVersionError(f"{path}: {exc}") from None

