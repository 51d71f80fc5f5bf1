"""The catalog beside an index: metadata, tags and segments as parquet (polars), plus the manifest.

Tables (rows keyed by an int64 ``iid`` per video and ``sid`` per segment, the ids the FAISS index holds):
- ``videos``: iid, video_id, duration_s, orientation, created_ts (UTC epoch seconds), creator, hook window,
  and ``record``, the record's JSON without its vectors (the vectors live in the index files);
- ``tags``: iid, dimension, label, start_s, end_s;
- ``segments``: sid, iid, seg_index, start_s, end_s.

The manifest (``MANIFEST.json``) names the one generation of index and catalog files that belong together;
it is written last, by an atomic rename, so a reader sees the previous generation or the new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from sv6d.errors import ConfigError
from sv6d.record import SV6DRecord
from sv6d.record_io import atomic_write_bytes

MANIFEST_NAME = "MANIFEST.json"
LOCK_NAME = "WRITER.lock"
MANIFEST_VERSION = 1
_GEN_RE = re.compile(r"\.g(\d{8})\.")

VIDEOS_SCHEMA: dict[str, Any] = {
    "iid": pl.Int64,
    "video_id": pl.String,
    "duration_s": pl.Float64,
    "orientation": pl.String,
    "created_ts": pl.Float64,
    "creator": pl.String,
    "hook_start_s": pl.Float64,
    "hook_end_s": pl.Float64,
    "record": pl.String,
}
TAGS_SCHEMA: dict[str, Any] = {
    "iid": pl.Int64,
    "dimension": pl.String,
    "label": pl.String,
    "start_s": pl.Float64,
    "end_s": pl.Float64,
}
SEGMENTS_SCHEMA: dict[str, Any] = {
    "sid": pl.Int64,
    "iid": pl.Int64,
    "seg_index": pl.Int32,
    "start_s": pl.Float64,
    "end_s": pl.Float64,
}


def _record_json(r: SV6DRecord) -> str:
    return r.model_dump_json(exclude={"video", "hook", "segments"})


@dataclass(frozen=True)
class Catalog:
    """An immutable snapshot; ``apply`` returns the next one. Rows of ``videos`` are in increasing iid."""

    videos: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=VIDEOS_SCHEMA))
    tags: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=TAGS_SCHEMA))
    segments: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SEGMENTS_SCHEMA))

    def __len__(self) -> int:
        return self.videos.height

    def iids_of(self, video_ids: Iterable[str]) -> np.ndarray:
        ids = list(video_ids)
        if not ids:
            return np.zeros(0, dtype=np.int64)
        return self.videos.filter(pl.col("video_id").is_in(ids))["iid"].to_numpy().astype(np.int64)

    def sids_of_iids(self, iids: np.ndarray) -> np.ndarray:
        return self.segments.filter(pl.col("iid").is_in(iids.tolist()))["sid"].to_numpy().astype(np.int64)

    def row(self, video_id: str) -> dict[str, Any] | None:
        rows = self.videos.filter(pl.col("video_id") == video_id)
        return rows.row(0, named=True) if rows.height else None

    def apply(
        self, records: Sequence[SV6DRecord], first_iid: int, first_sid: int, removed: Iterable[str]
    ) -> tuple[Catalog, np.ndarray, np.ndarray]:
        """Remove ``removed`` and the batch's ids, append the batch with fresh iids/sids.

        Returns the new catalog, the new iids (one per record) and the new sids (all segments, in order)."""
        drop = set(removed) | {r.video_id for r in records}
        old_iids = self.iids_of(drop)
        videos = self.videos.filter(~pl.col("iid").is_in(old_iids.tolist()))
        tags = self.tags.filter(~pl.col("iid").is_in(old_iids.tolist()))
        segments = self.segments.filter(~pl.col("iid").is_in(old_iids.tolist()))
        iids = np.arange(first_iid, first_iid + len(records), dtype=np.int64)
        vrows, trows, srows = [], [], []
        sid = first_sid
        for iid, r in zip(iids.tolist(), records, strict=True):
            vrows.append(
                {
                    "iid": iid,
                    "video_id": r.video_id,
                    "duration_s": r.duration_s,
                    "orientation": r.orientation,
                    "created_ts": r.created_at.timestamp() if r.created_at is not None else None,
                    "creator": r.creator,
                    "hook_start_s": r.hook_window[0],
                    "hook_end_s": r.hook_window[1],
                    "record": _record_json(r),
                }
            )
            trows += [
                {
                    "iid": iid,
                    "dimension": t.dimension.value,
                    "label": t.label,
                    "start_s": t.start_s,
                    "end_s": t.end_s,
                }
                for t in r.tags
            ]
            for j, s in enumerate(r.segments):
                srows.append({"sid": sid, "iid": iid, "seg_index": j, "start_s": s.start_s, "end_s": s.end_s})
                sid += 1
        new = Catalog(
            pl.concat([videos, pl.DataFrame(vrows, schema=VIDEOS_SCHEMA)]),
            pl.concat([tags, pl.DataFrame(trows, schema=TAGS_SCHEMA)]),
            pl.concat([segments, pl.DataFrame(srows, schema=SEGMENTS_SCHEMA)]),
        )
        return new, iids, np.arange(first_sid, sid, dtype=np.int64)

    def matching_videos(self, filters: Any, exclude: Iterable[str] = ()) -> pl.DataFrame | None:
        """Rows of ``videos`` passing ``filters`` (an ``indexer.base.Filters``), or None when unrestricted."""
        exclude = list(exclude)
        if filters.is_empty and not exclude:
            return None
        expr = pl.lit(True)
        if filters.min_duration_s is not None:
            expr &= pl.col("duration_s") >= filters.min_duration_s
        if filters.max_duration_s is not None:
            expr &= pl.col("duration_s") <= filters.max_duration_s
        if filters.orientation is not None:
            expr &= pl.col("orientation") == filters.orientation
        if filters.created_after is not None:
            expr &= pl.col("created_ts") > filters.created_after.timestamp()
        if filters.creator is not None:
            expr &= pl.col("creator") == filters.creator
        if exclude:
            expr &= ~pl.col("video_id").is_in(exclude)
        rows = self.videos.filter(expr)
        for t in filters.tags:
            having = self.tags.filter(
                (pl.col("dimension") == t.dimension.value) & (pl.col("label") == t.label)
            )
            rows = rows.filter(pl.col("iid").is_in(having["iid"].unique().to_list()))
        return rows

    # ------------------------------------------------------------------ files

    def write(self, directory: Path, generation: int) -> dict[str, str]:
        names = {}
        for table in ("videos", "tags", "segments"):
            name = f"{table}.g{generation:08d}.parquet"
            frame: pl.DataFrame = getattr(self, table)
            atomic_write_bytes(directory / name, lambda tmp, f=frame: f.write_parquet(tmp))  # type: ignore[misc]
            names[table] = name
        return names

    @classmethod
    def read(cls, directory: Path, files: dict[str, str]) -> Catalog:
        return cls(
            pl.read_parquet(directory / files["videos"]),
            pl.read_parquet(directory / files["tags"]),
            pl.read_parquet(directory / files["segments"]),
        )


# ---------------------------------------------------------------------- manifest


@dataclass
class Manifest:
    """What one committed generation consists of."""

    generation: int = 0
    dim: int | None = None
    recipe: str = "Flat"
    encoder: str | None = None
    head_version: str | None = None
    next_iid: int = 0
    next_sid: int = 0
    files: dict[str, str] = field(default_factory=dict)
    manifest_version: int = MANIFEST_VERSION

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=1, sort_keys=True)


def read_manifest(directory: Path) -> Manifest | None:
    path = directory / MANIFEST_NAME
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    version = raw.get("manifest_version")
    if version != MANIFEST_VERSION:
        raise ConfigError(
            f"{path}: manifest version {version!r} is not {MANIFEST_VERSION}; rebuild the index"
        )
    return Manifest(**raw)


def write_manifest(directory: Path, manifest: Manifest) -> None:
    data = manifest.to_json().encode()

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    atomic_write_bytes(directory / MANIFEST_NAME, write)


def generation_of(name: str) -> int | None:
    m = _GEN_RE.search(name)
    return int(m.group(1)) if m else None


def clean_leftovers(directory: Path, keep: Iterable[str]) -> list[str]:
    """Remove files no manifest in ``keep`` names: temp files and other generations' files."""
    keep = set(keep) | {MANIFEST_NAME, LOCK_NAME}
    removed = []
    for p in directory.iterdir():
        if (
            p.is_file()
            and p.name not in keep
            and (p.name.endswith(".tmp") or generation_of(p.name) is not None)
        ):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
            removed.append(p.name)
    return removed


class WriterLock:
    """One writer per data directory: an exclusive, non-blocking ``flock`` held until ``release``."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / LOCK_NAME
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise ConfigError(
                f"{directory}: another process holds the writer lock {self.path.name}; "
                "open it read-only (read_only=True) or stop the other writer"
            ) from None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
