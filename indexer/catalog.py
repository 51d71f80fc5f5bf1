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
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from sv6d.errors import ConfigError
from sv6d.record import SCHEMA_VERSION, EncoderInfo, SV6DRecord
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
    """An immutable snapshot; ``apply`` returns the next one.

    Rows of ``videos``, ``tags`` and ``segments`` are in increasing iid (fresh iids are always larger than
    the stored ones, and filtering keeps order), which the lookups below rely on: by id through a dict,
    by iid through ``searchsorted`` — no scan of a frame per call.
    """

    videos: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=VIDEOS_SCHEMA))
    tags: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=TAGS_SCHEMA))
    segments: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SEGMENTS_SCHEMA))

    def __len__(self) -> int:
        return self.videos.height

    # ------------------------------------------------------------------ cached lookups

    @cached_property
    def iid_of(self) -> dict[str, int]:
        """video_id -> iid."""
        return dict(zip(self.videos["video_id"].to_list(), self.videos["iid"].to_list(), strict=True))

    @cached_property
    def v_iids(self) -> np.ndarray:
        return self.videos["iid"].to_numpy().astype(np.int64)

    @cached_property
    def tag_iids(self) -> np.ndarray:
        return self.tags["iid"].to_numpy().astype(np.int64)

    @cached_property
    def seg_iids(self) -> np.ndarray:
        return self.segments["iid"].to_numpy().astype(np.int64)

    @cached_property
    def sorted_ids(self) -> pl.Series:
        """Every video id in ascending order (the stable order of ``video_ids``)."""
        return self.videos["video_id"].sort()

    @cached_property
    def _hook_tags_memo(self) -> dict[int, frozenset[tuple[str, str]]]:
        return {}

    @cached_property
    def _filter_memo(self) -> dict[Any, np.ndarray]:
        return {}

    def position(self, video_id: str) -> int | None:
        """Row of ``video_id`` in ``videos`` (None when absent)."""
        iid = self.iid_of.get(video_id)
        return None if iid is None else int(np.searchsorted(self.v_iids, iid))

    def iids_of(self, video_ids: Iterable[str]) -> np.ndarray:
        get = self.iid_of.get
        found = [i for i in (get(v) for v in video_ids) if i is not None]
        return np.asarray(found, dtype=np.int64)

    def sids_of_iids(self, iids: np.ndarray) -> np.ndarray:
        return self.segments["sid"].to_numpy().astype(np.int64)[np.isin(self.seg_iids, iids)]

    def row(self, video_id: str) -> dict[str, Any] | None:
        pos = self.position(video_id)
        return None if pos is None else self.videos.row(pos, named=True)

    def segment_rows(self, iid: int) -> pl.DataFrame:
        """The segments of one video (in seg_index order, as stored)."""
        lo, hi = np.searchsorted(self.seg_iids, [iid, iid + 1])
        return self.segments.slice(int(lo), int(hi - lo))

    def hook_tags(self, video_id: str) -> frozenset[tuple[str, str]] | None:
        """(dimension, label) of the tags overlapping the video's hook window; None when absent."""
        pos = self.position(video_id)
        if pos is None:
            return None
        iid = int(self.v_iids[pos])
        memo = self._hook_tags_memo
        hit = memo.get(iid)
        if hit is None:
            h0, h1 = self.videos.row(pos)[6:8]
            lo, hi = np.searchsorted(self.tag_iids, [iid, iid + 1])
            rows = self.tags.slice(int(lo), int(hi - lo))
            hit = frozenset(
                (d, lab)
                for d, lab, s0, s1 in rows.select("dimension", "label", "start_s", "end_s").iter_rows()
                if s0 < h1 and s1 > h0
            )
            memo[iid] = hit
        return hit

    # ------------------------------------------------------------------ changes

    @staticmethod
    def part_of(records: Sequence[SV6DRecord], first_iid: int, first_sid: int) -> Catalog:
        """The rows of ``records`` alone, with fresh iids from ``first_iid`` and sids from ``first_sid``."""
        vrows: list[dict[str, Any]] = []
        trows: list[dict[str, Any]] = []
        srows: list[dict[str, Any]] = []
        sid = first_sid
        for iid, r in enumerate(records, start=first_iid):
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
        return Catalog(
            pl.DataFrame(vrows, schema=VIDEOS_SCHEMA),
            pl.DataFrame(trows, schema=TAGS_SCHEMA),
            pl.DataFrame(srows, schema=SEGMENTS_SCHEMA),
        )

    @staticmethod
    def part_of_columns(
        video_ids: Sequence[str],
        first_iid: int,
        *,
        encoder: EncoderInfo,
        source: Sequence[str],
        duration_s: np.ndarray,
        fps: np.ndarray,
        width: np.ndarray,
        height: np.ndarray,
        hook_window: np.ndarray,
        creator: Sequence[str | None],
        created_ts: np.ndarray,
    ) -> Catalog:
        """The ``videos`` rows of a bulk load (no tags, no segments), built column-wise: the same rows and
        record JSON that ``part_of`` gives for the equivalent records, without one pydantic object per row.

        Inputs are validated by the caller; ``created_ts`` is UTC epoch seconds (NaN: no date)."""
        n = len(video_ids)
        frame = pl.DataFrame(
            {
                "iid": np.arange(first_iid, first_iid + n, dtype=np.int64),
                "video_id": pl.Series(video_ids, dtype=pl.String),
                "duration_s": np.asarray(duration_s, dtype=np.float64),
                "fps": np.asarray(fps, dtype=np.float64),
                "width": np.asarray(width, dtype=np.int64),
                "height": np.asarray(height, dtype=np.int64),
                "created_ts": np.asarray(created_ts, dtype=np.float64),
                "creator": pl.Series(creator, dtype=pl.String),
                "hook_start_s": np.asarray(hook_window[:, 0], dtype=np.float64),
                "hook_end_s": np.asarray(hook_window[:, 1], dtype=np.float64),
                "source": pl.Series(source, dtype=pl.String),
            }
        ).with_columns(pl.col("created_ts").fill_nan(None))
        # The record JSON (what ``get`` rebuilds a record from): SV6DRecord's fields that are not defaults;
        # a datetime given as epoch seconds parses back to the same UTC instant.
        enc = pl.struct(*(pl.lit(v, dtype=pl.String).alias(k) for k, v in encoder.model_dump().items()))
        record = pl.struct(
            pl.lit(SCHEMA_VERSION).alias("schema_version"),
            "video_id",
            "source",
            "duration_s",
            "fps",
            "width",
            "height",
            "creator",
            pl.col("created_ts").alias("created_at"),
            enc.alias("encoder"),
            pl.concat_list("hook_start_s", "hook_end_s").alias("hook_window"),
        ).struct.json_encode()
        orientation = (
            pl.when(pl.col("height") > pl.col("width"))
            .then(pl.lit("portrait"))
            .when(pl.col("width") > pl.col("height"))
            .then(pl.lit("landscape"))
            .otherwise(pl.lit("square"))
        )
        videos = frame.select(
            "iid",
            "video_id",
            "duration_s",
            orientation.alias("orientation"),
            "created_ts",
            "creator",
            "hook_start_s",
            "hook_end_s",
            record.alias("record"),
        )
        return Catalog(
            videos.cast(VIDEOS_SCHEMA),  # type: ignore[arg-type]
            pl.DataFrame(schema=TAGS_SCHEMA),
            pl.DataFrame(schema=SEGMENTS_SCHEMA),
        )

    def without(self, iids: np.ndarray) -> Catalog:
        """This catalog less the videos ``iids`` (their tags and segments too)."""
        if iids.size == 0:
            return self
        gone = iids.astype(np.int64).tolist()
        return Catalog(
            self.videos.filter(~pl.col("iid").is_in(gone)),
            self.tags.filter(~pl.col("iid").is_in(gone)),
            self.segments.filter(~pl.col("iid").is_in(gone)),
        )

    def extended(self, part: Catalog) -> Catalog:
        """This catalog followed by ``part`` (whose iids are all larger)."""
        return Catalog(
            pl.concat([self.videos, part.videos], rechunk=False),
            pl.concat([self.tags, part.tags], rechunk=False),
            pl.concat([self.segments, part.segments], rechunk=False),
        )

    def apply(
        self, records: Sequence[SV6DRecord], first_iid: int, first_sid: int, removed: Iterable[str]
    ) -> tuple[Catalog, np.ndarray, np.ndarray]:
        """Remove ``removed`` and the batch's ids, append the batch with fresh iids/sids.

        Returns the new catalog, the new iids (one per record) and the new sids (all segments, in order)."""
        drop = set(removed) | {r.video_id for r in records}
        part = Catalog.part_of(records, first_iid, first_sid)
        new = self.without(self.iids_of(drop)).extended(part)
        return new, part.v_iids, part.segments["sid"].to_numpy().astype(np.int64)

    def matching_videos(self, filters: Any, exclude: Iterable[str] = ()) -> pl.DataFrame | None:
        """Rows of ``videos`` passing ``filters`` (an ``indexer.base.Filters``), or None when unrestricted."""
        exclude = list(exclude)
        if filters.is_empty and not exclude:
            return None
        rows = self.videos.filter(self._filter_expr(filters))
        if exclude:
            rows = rows.filter(~pl.col("video_id").is_in(exclude))
        return rows

    def matching_positions(self, filters: Any) -> np.ndarray | None:
        """Row positions in ``videos`` passing ``filters``, memoised per snapshot; None when unrestricted."""
        if filters.is_empty:
            return None
        memo = self._filter_memo
        pos = memo.get(filters)
        if pos is None:
            mask = self.videos.select(self._filter_expr(filters).alias("m"))["m"].to_numpy()
            pos = np.flatnonzero(mask)
            if len(memo) > 256:  # a bounded memo: filters repeat, but not without limit
                memo.clear()
            memo[filters] = pos
        return pos

    def _filter_expr(self, filters: Any) -> pl.Expr:
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
        for t in filters.tags:
            having = self.tags.filter(
                (pl.col("dimension") == t.dimension.value) & (pl.col("label") == t.label)
            )
            expr &= pl.col("iid").is_in(having["iid"].unique().to_list())
        return expr.fill_null(False)

    # ------------------------------------------------------------------ files

    def write(self, directory: Path, generation: int, *, skip_empty: bool = False) -> dict[str, str]:
        """Write the three tables as generation ``generation``'s files; returns {key: file name}."""
        names = {}
        for table in TABLES:
            name = f"{table}.g{generation:08d}.parquet"
            frame: pl.DataFrame = getattr(self, table)
            if skip_empty and frame.height == 0:
                continue
            atomic_write_bytes(directory / name, lambda tmp, f=frame: f.write_parquet(tmp))  # type: ignore[misc]
            names[f"{table}.g{generation:08d}"] = name
        return names

    @classmethod
    def read(cls, directory: Path, files: dict[str, str], *, apply_removed: bool = True) -> Catalog:
        """The catalog a manifest's files describe: the parts in generation order, less the removed iids
        (unless ``apply_removed`` is False)."""
        parts = {t: sorted(part_files(files, t), key=generation_key) for t in TABLES}
        frames = []
        for table, schema in zip(TABLES, (VIDEOS_SCHEMA, TAGS_SCHEMA, SEGMENTS_SCHEMA), strict=True):
            dfs = [pl.read_parquet(directory / name) for name in parts[table]]
            frames.append(pl.concat(dfs) if dfs else pl.DataFrame(schema=schema))
        catalog = cls(*frames)
        return catalog.without(removed_iids(directory, files)) if apply_removed else catalog


TABLES = ("videos", "tags", "segments")


def generation_key(name: str) -> int:
    """Sort key of a generation file name."""
    return generation_of(name) or 0


def part_files(files: dict[str, str], prefix: str, suffix: str = ".parquet") -> list[str]:
    """File names in ``files`` of the form ``<prefix>.gNNNNNNNN<suffix>``."""
    pat = re.compile(rf"^{re.escape(prefix)}\.g\d{{8}}{re.escape(suffix)}$")
    return [v for v in files.values() if pat.match(v)]


def removed_iids(directory: Path, files: dict[str, str]) -> np.ndarray:
    """Union of the iids that removal files (``removed.gN.npy``) of a manifest name."""
    arrays = [np.load(directory / name) for name in part_files(files, "removed", ".npy")]
    return np.concatenate(arrays).astype(np.int64) if arrays else np.zeros(0, dtype=np.int64)


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
    #: 1: one full index file (and, for ANN recipes, one vectors file) per level and one file per table;
    #: 2: append-only parts (``<table>.gN.parquet``, ``vectors_<level>.gN.npy``, ``removed.gN.npy``).
    layout: int = 1
    #: Rows the parts still hold but removal files hide (compaction rewrites them away).
    dead_rows: int = 0
    #: The hook level is the video level (every stored hook equals its video's vectors, as in a bulk load
    #: without hooks): no hook files are written and both levels share one index in memory.
    hook_is_video: bool = False

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

    def __init__(
        self, directory: Path, hint: str = "open it read-only (read_only=True) or stop the other writer"
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / LOCK_NAME
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise ConfigError(
                f"{directory}: another process holds the writer lock {self.path.name}; {hint}"
            ) from None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
