"""Qdrant's own engine in-process: an Edge shard (``qdrant-edge-py``, beta) behind ``VectorIndex``.

Qdrant Edge is the server's segment, HNSW, payload-index, quantization and WAL code as a Python extension.
Unlike qdrant-client's local mode (a brute-force scan in Python) it builds HNSW graphs and payload indexes.

Layout: the point layout of :mod:`indexer.qdrant_layout` (the same named vectors, payloads and payload
indexes as the server backend), in one shard instead of two collections: video points carry the ``video_*``
and ``hook_*`` vectors, segment points the ``segment_*`` vectors, and a ``kind`` payload field (indexed)
tells them apart. One shard because a batch must be one engine operation to be atomic: the engine's WAL
replays an operation wholly or not at all.

Writes: a batch is one ``upsert_points`` operation holding the video points, the segment points and, for
segments a replaced video no longer has, vector-less ``stale`` points under the old ids (an upsert replaces
a point whole, so their vectors disappear in the same operation). The stale points are deleted right after;
if the process dies in between they are invisible to searches and counts, and the next writer removes them.
``delete`` is one delete-by-filter on ``video_id``. The WAL is on, so an acknowledged batch survives SIGKILL.
The engine flushes only when asked: every ``FLUSH_EVERY_POINTS`` points written, and around ``optimize``,
the segments are written and the WAL truncated.

Processes: the engine locks its WAL, so one process opens a shard at a time (a second one fails with
``Can't init WAL: WouldBlock``); a ``WRITER.lock`` beside the shard turns that into a clear error first.
Readers share the writer's ``EdgeIndex`` from threads: every call holds a shared lock and every write an
exclusive one, so no call overlaps a batch (``get``, two engine calls, included) and a reader sees whole
batches.

Exactness: ``exact_search=True`` scans every point (``SearchParams(exact=True)``); otherwise segments below
the indexing threshold are scanned and indexed ones searched by HNSW (``hnsw_ef``), which is approximate;
a query under a broad filter searches without it and filters the nearest points it finds
(``POST_FILTER_FROM_SHARE``, :meth:`EdgeIndex._plan`).
Either way the hits returned are re-scored exactly by :class:`VectorIndex`. ``fusion="formula"`` searches the
six per-dimension vectors (one prefetch each, all points) and fuses ``Σ w_d · score_d`` with an engine
formula instead of one concatenated query: exact, kept for comparison (``bench/search.py``), slower.

Snapshots (Qdrant's Edge synchronization pattern; the engine has no one-call sync):
``EdgeIndex.from_snapshot`` seeds a new store from a shard snapshot archive (``EdgeShard.unpack_snapshot``
then ``load``), and ``update_from_snapshot`` applies a newer full or partial one to an open store
(``EdgeShard.update_from_snapshot``; a server sends a partial one for the ``snapshot_manifest`` it is
given). A snapshot seeds a store only when its shard has this layout (the 21 named vectors of
:func:`indexer.qdrant_layout.vector_names` for the video, hook and segment levels); a shard of the server
backend's two collections has not, and is refused with the vectors it lacks. The engine (0.9.0) cannot
write a snapshot: ``write_snapshot`` archives the flushed shard's files (segments and config, no WAL) as a
tar, which ``unpack_snapshot`` and ``update_from_snapshot`` read (tested in
``tests/test_index_qdrant_edge_snapshot.py``). A server packs each segment in its own snapshot format; no
server could run here, so no server archive was read.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from indexer.base import VectorIndex
from indexer.catalog import WriterLock
from indexer.hits import Candidate, CandidateBatch, hook_style_from_json
from indexer.qdrant_backend import QdrantConfig
from indexer.qdrant_layout import (
    PAYLOAD_INDEXES,
    SCROLL_PAGE,
    FilterSpec,
    candidate_fields,
    candidate_of,
    filter_spec,
    hook_tags_from_json,
    point_id,
    record_of,
    record_points,
    vector_names,
)
from indexer.query import Filters, Level, check_batch, check_page, not_found
from sv6d.dimensions import DIMENSIONS
from sv6d.errors import ConfigError, SV6DError
from sv6d.record import SV6DRecord

log = logging.getLogger(__name__)

SHARD_SUBDIR = "shard"
Fusion = Literal["concat", "formula"]
FUSIONS: tuple[str, ...] = ("concat", "formula")
#: QdrantConfig fields that only a server or cluster uses; the embedded engine refuses them.
CLUSTER_ONLY = frozenset(
    {"shard_number", "replication_factor", "write_consistency_factor", "read_consistency"}
)
LEVEL_KIND = {"video": "video", "hook": "video", "segment": "segment"}
#: The engine's filtered HNSW walk loses recall when a filter passes a large share of the points: its beam
#: holds only points that pass. Measured (100,000 videos of 6 x 128, ef 128, tag filters): a filter on 1%,
#: 3% or 10% of the videos keeps recall@10 >= 0.998 as it is, while 20%, 30% and 50% fall to 0.68, 0.80 and
#: 0.89. A query whose filter passes at least this share s of the level's points (the engine's estimate from
#: its payload indexes) is post-filtered instead (:meth:`EdgeIndex._plan`): one HNSW search without the
#: filter for the ids of the nearest ``POST_FILTER_MARGIN * n / s`` points, ranked by their int8 scores, with
#: the beam ``ef / sqrt(s)``, then an exact search of those ids under the filter. Measured at 300,000 videos
#: (30% filter, ef 256): the beam ef gave recall 0.956 against 0.985 unfiltered, 1.5 ef 0.980, 2 ef 0.988;
#: ef / sqrt(0.3) = 1.8 ef gives 0.983 at 1.7-1.9x the unfiltered p50. Widening the engine's filtered beam to
#: ``ef / s`` gave the recall too, at 2-2.7x (numbers in infra/README.md).
POST_FILTER_FROM_SHARE = 0.15
#: Points the unfiltered search returns, in multiples of ``n / share`` (the expected depth of the n-th passing
#: point). At 2 a query finds fewer than n passing points only when the filter is far rarer near the query
#: than overall; such a query is searched again with the filter and a beam widened to ``ef / share``.
POST_FILTER_MARGIN = 2.0
#: Points written between two flushes. The engine runs no background flush: until a flush its WAL holds every
#: operation (~15 KB a video of 6 x 128, the record JSON and every vector), so a long ingest would keep all of
#: it twice on disk; a flush writes the segments and truncates the WAL (measured: 308 -> 62 MB after 20,000
#: videos, in 0.6 s).
FLUSH_EVERY_POINTS = 20_000


class FilterPlan(NamedTuple):
    """How a filtered query is searched (:meth:`EdgeIndex._plan`): the filter's estimated share of the
    level's points (None: no filter, exact search or the formula plan: nothing to plan), the HNSW beam (None:
    the engine's), and for a post-filtered query the unfiltered depth and the beam of its fallback."""

    share: float | None
    hnsw_ef: int | None
    depth: int | None
    fallback_ef: int | None = None


def is_edge_store(directory: str | Path) -> bool:
    """Whether ``directory`` holds an Edge shard written by this backend."""
    return (Path(directory) / SHARD_SUBDIR / "edge_config.json").is_file()


class _ReadWriteLock:
    """Many readers or one writer (threads of one process). A waiting writer goes before new readers; a
    thread that already reads may read again (nested calls) without waiting."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writers_waiting = 0
        self._writing = False
        self._depth = threading.local()

    @contextmanager
    def read(self) -> Iterator[None]:
        depth = getattr(self._depth, "n", 0)
        if depth == 0:
            with self._cond:
                self._cond.wait_for(lambda: not self._writing and self._writers_waiting == 0)
                self._readers += 1
        self._depth.n = depth + 1
        try:
            yield
        finally:
            self._depth.n = depth
            if depth == 0:
                with self._cond:
                    self._readers -= 1
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            self._cond.wait_for(lambda: not self._writing and self._readers == 0)
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


def edge_filter(spec: FilterSpec, *extra: Any) -> Any:
    """A ``qdrant_edge.Filter`` from the neutral form plus extra ``must`` conditions (None when empty)."""
    import qdrant_edge as qe

    def condition(c: Any) -> Any:
        if c.value is not None:
            return qe.FieldCondition(c.key, match=qe.MatchValue(c.value))
        if c.any is not None:
            return qe.FieldCondition(c.key, match=qe.MatchAny(list(c.any)))
        if c.after is not None:
            return qe.FieldCondition(c.key, range=qe.RangeDateTime(gt=c.after.isoformat()))
        return qe.FieldCondition(c.key, range=qe.RangeFloat(gte=c.gte, lte=c.lte))

    must = [condition(c) for c in spec.must] + list(extra)
    must_not = [condition(c) for c in spec.must_not]
    if not must and not must_not:
        return None
    return qe.Filter(must=must or None, must_not=must_not or None)


def shard_vector_sizes(shard_dir: str | Path) -> dict[str, int]:
    """Named vector sizes of the shard in ``shard_dir`` (from the ``edge_config.json`` the engine writes)."""
    data = json.loads((Path(shard_dir) / "edge_config.json").read_text())
    return {name: int(v["size"]) for name, v in (data.get("vectors") or {}).items()}


def check_shard_layout(shard_dir: str | Path) -> int:
    """The per-dimension size ``d`` of a shard in this backend's layout; a ``ConfigError`` naming the vectors
    that are missing or of the wrong size otherwise (e.g. a shard of the server backend's video collection,
    which has no segment vectors)."""
    sizes = shard_vector_sizes(shard_dir)
    all_size = sizes.get("video_all", 0)
    d = all_size // len(DIMENSIONS)
    want = {
        name: len(DIMENSIONS) * d if name.endswith("_all") else d
        for level in ("video", "hook", "segment")
        for name in vector_names(level)
    }
    missing = sorted(n for n in want if n not in sizes)
    wrong = sorted(n for n in want if n in sizes and sizes[n] != want[n])
    if d < 1 or all_size % len(DIMENSIONS) or missing or wrong:
        found = ", ".join(f"{n}[{v}]" for n, v in sorted(sizes.items())) or "none"
        problems = []
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if wrong:
            problems.append(f"wrong size {', '.join(wrong)}")
        if d < 1 or all_size % len(DIMENSIONS):
            problems.append(f"video_all must be 6 x d long, got {all_size}")
        raise ConfigError(
            f"the snapshot's shard is not in the qdrant+edge layout ({'; '.join(problems)}); it has "
            f"{found}. Seed from a shard of a collection holding the video, hook and segment points in one "
            "collection (the Edge layout), not from the server backend's two collections"
        )
    return d


def write_shard_snapshot(shard_dir: str | Path, path: str | Path) -> Path:
    """Archive a flushed, idle shard directory as a snapshot tar at ``path`` (written to a temporary file
    beside it, then renamed): its segments and ``edge_config.json``; not the WAL, whose operations a flush
    has applied to the segments (a seeded shard starts a fresh one)."""
    shard_dir, path = Path(shard_dir), Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w") as tar:
            for entry in sorted(shard_dir.iterdir()):
                if entry.name != "wal":
                    tar.add(entry, entry.name)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _kind(kind: str) -> Any:
    import qdrant_edge as qe

    return qe.FieldCondition("kind", match=qe.MatchValue(kind))


class EdgeIndex(VectorIndex):
    """Qdrant Edge backend in ``path`` (the shard in ``path/shard``, created on the first write).

    Settings: a :class:`QdrantConfig` (``config=``) and/or keywords of its fields (on-disk, int8
    quantization, HNSW, ``exact_search``); cluster-only fields are refused. ``fusion``: ``"concat"`` (one
    query on the concatenated vector, the default) or ``"formula"`` (see the module docstring).
    ``indexing_threshold_kb``: segments with more vector data than this get an HNSW graph when
    :meth:`optimize` runs (None: the engine's default, 10,000 KB); set when the shard is created.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        config: QdrantConfig | Mapping[str, Any] | None = None,
        fusion: Fusion = "concat",
        indexing_threshold_kb: int | None = None,
        **settings: Any,
    ) -> None:
        self.config = QdrantConfig.parse(config, **settings)
        cluster = sorted(f for f in CLUSTER_ONLY if getattr(self.config, f) is not None)
        if cluster:
            raise ConfigError(
                f"Qdrant setting(s) {cluster} only apply to a server or cluster, not to qdrant+edge"
            )
        if fusion not in FUSIONS:
            raise ConfigError(f"unknown fusion {fusion!r}; valid: {', '.join(FUSIONS)}")
        self.fusion: Fusion = fusion
        #: Query time: False searches an int8 shard's original vectors instead of its quantized copies.
        self.use_quantized = True
        if indexing_threshold_kb is not None and indexing_threshold_kb < 1:
            raise ConfigError(f"indexing_threshold_kb must be >= 1, got {indexing_threshold_kb}")
        self.indexing_threshold_kb = indexing_threshold_kb
        self.directory = Path(path)
        self._lock: WriterLock | None = WriterLock(
            self.directory,
            hint="the embedded Qdrant engine opens a shard in one process at a time: "
            "stop the other process or share its index",
        )
        self._rw = _ReadWriteLock()
        self._shard: Any = None
        self._dim: int | None = None
        # Videos stored, kept up to date by the writes (None: count them on the next ``count``). Every search
        # asks ``count`` first, and the engine's exact filtered count reads every video point (~15 ms at
        # 200,000 videos, more than an HNSW search).
        self._videos: int | None = None
        self._unflushed = 0
        try:
            if is_edge_store(self.directory):
                self._load()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ schema

    @property
    def dim(self) -> int | None:
        return self._dim

    @property
    def exact(self) -> bool:
        return not (self.config.quantization != "none" and not self.config.rescore)

    def _edge_config(self, d: int) -> Any:
        import qdrant_edge as qe

        cfg = self.config
        quantization = None
        if cfg.quantization == "int8":
            quantization = qe.ScalarQuantizationConfig(
                qe.ScalarType.Int8, quantile=cfg.quantile, always_ram=cfg.always_ram
            )
        # Searches use the concatenations; the six per-dimension vectors are only scanned (the formula plan
        # prefetches every point), so they get no graph (m=0): 3 HNSW builds per shard instead of 21. For the
        # same reason they are memory-mapped from disk (not held in RAM) and not quantized: int8 applies to
        # the concatenations only (per-vector quantization), which are what HNSW and rescoring read.
        no_graph = qe.HnswIndexConfig(m=0, ef_construct=cfg.hnsw_ef_construct, full_scan_threshold=10_000)
        vectors = {
            name: qe.EdgeVectorParams(
                size=len(DIMENSIONS) * d if name.endswith("_all") else d,
                distance=qe.Distance.Dot,
                on_disk=cfg.on_disk if name.endswith("_all") else True,
                hnsw_config=None if name.endswith("_all") else no_graph,
                quantization_config=quantization if name.endswith("_all") else None,
            )
            for level in ("video", "hook", "segment")
            for name in vector_names(level)
        }
        return qe.EdgeConfig(
            vectors=vectors,
            on_disk_payload=cfg.on_disk_payload,
            # full_scan_threshold (KB of vectors per segment) is the server's default.
            hnsw_config=qe.HnswIndexConfig(
                m=cfg.hnsw_m, ef_construct=cfg.hnsw_ef_construct, full_scan_threshold=10_000
            ),
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=self.indexing_threshold_kb),
            wal_enabled=True,
        )

    def _load(self) -> None:
        import qdrant_edge as qe

        try:
            self._shard = qe.EdgeShard.load(str(self.directory / SHARD_SUBDIR))
        except Exception as exc:
            if "WouldBlock" in str(exc):
                raise ConfigError(
                    f"{self.directory}: the Qdrant Edge shard is open in another process (its WAL is locked)"
                ) from None
            raise
        self._dim = self._read_config() // len(DIMENSIONS)
        self._videos = None
        self._ensure_payload_indexes()
        # Stale points a killed writer left between its upsert and their deletion: invisible, now removed.
        self._shard.update(qe.UpdateOperation.delete_points_by_filter(qe.Filter(must=[_kind("stale")])))

    def _read_config(self) -> int:
        import json

        data = json.loads((self.directory / SHARD_SUBDIR / "edge_config.json").read_text())
        return int(data["vectors"]["video_all"]["size"])

    def _ensure_shard(self, d: int) -> None:
        import qdrant_edge as qe

        if self._shard is not None:
            return
        self._shard = qe.EdgeShard.create(str(self.directory / SHARD_SUBDIR), self._edge_config(d))
        self._dim = d
        self._ensure_payload_indexes()

    def _ensure_payload_indexes(self) -> None:
        """A payload index on every filter field and ``kind`` (also those a writer killed right after
        creating the shard did not get to)."""
        import qdrant_edge as qe

        schema = {
            "keyword": qe.PayloadSchemaType.Keyword,
            "float": qe.PayloadSchemaType.Float,
            "datetime": qe.PayloadSchemaType.Datetime,
        }
        have = set(self._shard.info().payload_schema)
        for field_name, kind in {**PAYLOAD_INDEXES, "kind": "keyword"}.items():
            if field_name not in have:
                self._shard.update(qe.UpdateOperation.create_field_index(field_name, schema[kind]))

    def optimize(self) -> bool:
        """Build HNSW graphs and merge segments now (the engine runs no background optimizer); True if it
        changed anything. Searches keep answering meanwhile (the engine swaps segments in when built);
        writes wait. Flushes before and after: the replaced segments' files go and the WAL is truncated (on
        disk, the shard halves: measured 185 -> 94 MB for 5,000 videos of 6 x 128). The engine needs free
        disk for the segments it writes (about twice those it merges); without it the error says so and the
        shard stays as it was."""
        with self._rw.read():
            if self._shard is None:
                return False
            self._flush()  # the WAL's copy of the points goes first: the optimizer needs the disk
            try:
                changed = bool(self._shard.optimize())
            except Exception as exc:
                if "Not enough space" not in str(exc):
                    raise
                raise SV6DError(
                    f"{self.directory}: not enough free disk to optimize the Qdrant Edge shard (the engine "
                    f"writes the merged segments beside the old ones: {exc}); free space on that disk or "
                    "move the store; searches and writes go on without the graphs"
                ) from None
            self._flush()
            return changed

    def close(self) -> None:
        if self._shard is not None:
            self._shard.close()
            self._shard = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # ------------------------------------------------------------------ snapshots

    @classmethod
    def from_snapshot(cls, snapshot: str | Path, path: str | Path, **kwargs: Any) -> EdgeIndex:
        """A new store in ``path`` seeded from a shard snapshot archive (a server shard's
        ``GET /collections/<c>/shards/<id>/snapshot``, or :meth:`write_snapshot`), opened with ``kwargs``
        (as the constructor's). The shard is unpacked and checked in a temporary directory inside ``path``
        and moved into place only when it has this backend's layout; ``path`` must hold no store yet."""
        import qdrant_edge as qe

        snapshot = Path(snapshot)
        if not snapshot.is_file():
            raise ConfigError(f"snapshot {snapshot} is not a file")
        ix = cls(path, **kwargs)
        try:
            with ix._rw.write():
                if ix._shard is not None:
                    raise ConfigError(
                        f"{ix.directory} already holds a Qdrant Edge store: apply a newer snapshot with "
                        "update_from_snapshot, or seed an empty directory"
                    )
                staging = Path(tempfile.mkdtemp(dir=ix.directory, prefix=".seed-"))
                try:
                    shard_dir = staging / SHARD_SUBDIR
                    qe.EdgeShard.unpack_snapshot(str(snapshot), str(shard_dir))
                    # Loading derives the config from the segments when the archive has none (a server's),
                    # and writes it: the layout check reads it.
                    qe.EdgeShard.load(str(shard_dir)).close()
                    check_shard_layout(shard_dir)
                    os.replace(shard_dir, ix.directory / SHARD_SUBDIR)
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
                ix._load()
        except BaseException:
            ix.close()
            raise
        return ix

    def write_snapshot(self, path: str | Path) -> Path:
        """Flush and archive this shard as a snapshot at ``path`` (see :func:`write_shard_snapshot`); writes
        and ``optimize`` wait meanwhile."""
        with self._rw.write():
            if self._shard is None:
                raise ConfigError(f"{self.directory} holds no shard yet: nothing to snapshot")
            self._shard.flush()
            return write_shard_snapshot(self.directory / SHARD_SUBDIR, path)

    def snapshot_manifest(self) -> Any:
        """The shard's segments and file versions, which a server takes to build a partial snapshot of what
        changed (``POST /collections/<c>/shards/<id>/snapshot/partial/create``)."""
        with self._rw.read():
            if self._shard is None:
                raise ConfigError(f"{self.directory} holds no shard yet")
            return self._shard.snapshot_manifest()

    def update_from_snapshot(self, snapshot: str | Path) -> None:
        """Apply a newer full or partial snapshot of the shard this store was seeded from (the engine's
        ``update_from_snapshot``: segments the snapshot lacks are dropped, changed files replaced). Reads and
        writes wait meanwhile; the layout is checked again afterwards."""
        snapshot = Path(snapshot)
        if not snapshot.is_file():
            raise ConfigError(f"snapshot {snapshot} is not a file")
        with self._rw.write():
            if self._shard is None:
                raise ConfigError(
                    f"{self.directory} holds no shard yet: seed it with EdgeIndex.from_snapshot"
                )
            self._shard.update_from_snapshot(str(snapshot), str(self.directory))
            self._dim = check_shard_layout(self.directory / SHARD_SUBDIR)
            self._videos = None
            self._ensure_payload_indexes()

    # ------------------------------------------------------------------ writes

    def upsert(self, records: Sequence[SV6DRecord]) -> int:
        """Insert or replace records by video id in one engine operation (old segments included)."""
        import qdrant_edge as qe

        records = list(records)
        with self._rw.write():
            d = check_batch(records, self._dim)
            if not records:
                return 0
            self._ensure_shard(d)
            parts = []
            for r in records:
                video, segs = record_points(r)
                parts.append((video, "video"))
                parts.extend((s, "segment") for s in segs)
            written = {p.id for p, _ in parts}
            stored = self._points_of([r.video_id for r in records])
            stale = [(pid, vid) for pid, vid in stored if pid not in written]
            existing = {vid for pid, vid in stored if pid == point_id(vid)}
            points = [qe.Point(p.id, p.vectors, {**p.payload, "kind": kind}) for p, kind in parts]
            points.extend(qe.Point(pid, {}, {"video_id": vid, "kind": "stale"}) for pid, vid in stale)
            self._shard.update(qe.UpdateOperation.upsert_points(points))
            if self._videos is not None:
                self._videos += len(records) - len(existing)
            if stale:
                self._shard.update(qe.UpdateOperation.delete_points([pid for pid, _ in stale]))
            self._unflushed += len(points)
            if self._unflushed >= FLUSH_EVERY_POINTS:
                self._flush()
        return len(records)

    def _flush(self) -> None:
        """Write the segments and truncate the WAL (``FLUSH_EVERY_POINTS``)."""
        self._shard.flush()
        self._unflushed = 0

    def _points_of(self, video_ids: list[str]) -> list[tuple[str, str]]:
        """(point id, video id) of every stored point of these videos."""
        import qdrant_edge as qe

        flt = qe.Filter(must=[qe.FieldCondition("video_id", match=qe.MatchAny(video_ids))])
        # Ids come back as UUID objects: compare them as the strings point_id makes.
        return [(str(p.id), str((p.payload or {})["video_id"])) for p in self._scroll(flt, ["video_id"])]

    def _scroll(self, flt: Any, payload: list[str], vectors: list[str] | None = None) -> Iterator[Any]:
        import qdrant_edge as qe

        offset = None
        while True:
            batch, offset = self._shard.scroll(
                qe.ScrollRequest(
                    offset=offset,
                    limit=SCROLL_PAGE,
                    filter=flt,
                    with_payload=payload,
                    with_vector=vectors or False,
                )
            )
            yield from batch
            if offset is None:
                return

    def delete(self, video_ids: Iterable[str]) -> int:
        import qdrant_edge as qe

        ids = list(dict.fromkeys(video_ids))
        with self._rw.write():
            if not ids or self._shard is None:
                return 0
            found = [
                str((p.payload or {})["video_id"])
                for p in self._shard.retrieve([point_id(v) for v in ids], ["video_id"], False)
            ]
            if not found:
                return 0
            flt = qe.Filter(must=[qe.FieldCondition("video_id", match=qe.MatchAny(found))])
            self._shard.update(qe.UpdateOperation.delete_points_by_filter(flt))
            if self._videos is not None:
                self._videos -= len(found)
        return len(found)

    # ------------------------------------------------------------------ reads

    def count(self) -> int:
        import qdrant_edge as qe

        with self._rw.read():
            if self._shard is None:
                return 0
            if self._videos is None:
                # Under the read lock no write runs, so the count and the cache agree.
                self._videos = int(
                    self._shard.count(qe.CountRequest(exact=True, filter=qe.Filter(must=[_kind("video")])))
                )
            return self._videos

    def contains(self, video_id: str) -> bool:
        with self._rw.read():
            return self._shard is not None and bool(self._shard.retrieve([point_id(video_id)], False, False))

    def video_ids(self, offset: int = 0, limit: int | None = None) -> list[str]:
        """Stored ids in ascending order (a payload-only scroll of the video points, sorted here)."""
        import qdrant_edge as qe

        offset, limit = check_page(offset, limit)
        with self._rw.read():
            if self._shard is None:
                return []
            flt = qe.Filter(must=[_kind("video")])
            ids = sorted(str((p.payload or {})["video_id"]) for p in self._scroll(flt, ["video_id"]))
        return ids[offset:] if limit is None else ids[offset : offset + limit]

    def _record_jsons(self, video_ids: Sequence[str]) -> dict[str, str]:
        """video_id -> stored record JSON (no vectors, no segments) of those stored, in one retrieve."""
        with self._rw.read():
            if self._shard is None or not video_ids:
                return {}
            pts = self._shard.retrieve([point_id(v) for v in video_ids], ["video_id", "record"], False)
        return {str(p.payload["video_id"]): str(p.payload["record"]) for p in pts if p.payload}

    def _record_json(self, video_id: str) -> str:
        found = self._record_jsons([video_id]).get(video_id)
        if found is None:
            raise not_found(video_id)
        return found

    def hook_tags_of(self, video_id: str) -> frozenset[tuple[str, str]]:
        return hook_tags_from_json(self._record_json(video_id))

    def hook_style_of(self, video_id: str) -> dict[str, float]:
        return hook_style_from_json(self._record_json(video_id))

    def hook_styles_of(self, video_ids: Sequence[str]) -> list[dict[str, float]]:
        found = self._record_jsons(video_ids)
        return [hook_style_from_json(found[v]) if v in found else {} for v in video_ids]

    def get(self, video_id: str) -> SV6DRecord:
        import qdrant_edge as qe

        with self._rw.read():
            if self._shard is None or self._dim is None:
                raise not_found(video_id)
            pts = self._shard.retrieve([point_id(video_id)], ["record"], ["video_all", "hook_all"])
            if not pts:
                raise not_found(video_id)
            flt = qe.Filter(
                must=[qe.FieldCondition("video_id", match=qe.MatchValue(video_id)), _kind("segment")]
            )
            segs = list(self._scroll(flt, ["seg_index", "start_s", "end_s"], ["segment_all"]))
            d = self._dim
        vec = pts[0].vector or {}
        rows = [(s.payload or {}, (s.vector or {})["segment_all"]) for s in segs]
        return record_of((pts[0].payload or {})["record"], vec["video_all"], vec["hook_all"], rows, d)

    def _search_params(self, hnsw_ef: int | None = None, rescore: bool = True) -> Any:
        """The engine's search parameters; ``hnsw_ef`` overrides the configured beam (:meth:`_plan`);
        ``rescore=False``: quantized scores only, whatever the configuration says."""
        import qdrant_edge as qe

        cfg = self.config
        quant = None
        if cfg.quantization != "none":
            quant = qe.QuantizationSearchParams(
                ignore=not self.use_quantized,
                rescore=cfg.rescore and rescore,
                oversampling=cfg.oversampling,
            )
        return qe.SearchParams(hnsw_ef=hnsw_ef or cfg.hnsw_ef, exact=cfg.exact_search, quantization=quant)

    def _plan(self, level: Level, spec: FilterSpec, n: int) -> FilterPlan:
        """How ``n`` candidates of ``level`` under the filter ``spec`` (excluded ids apart) are searched: with
        the filter, or, for a broad filter on an HNSW search, post-filtered (``POST_FILTER_FROM_SHARE``). Two
        estimates from the payload indexes (microseconds each), none without a filter or with exact search."""
        import qdrant_edge as qe

        cfg = self.config
        ef = cfg.hnsw_ef or cfg.hnsw_ef_construct
        if not spec or cfg.exact_search or self.fusion != "concat":
            return FilterPlan(None, cfg.hnsw_ef, None)
        kind = _kind(LEVEL_KIND[level])
        total = self._shard.count(qe.CountRequest(exact=False, filter=qe.Filter(must=[kind])))
        passing = self._shard.count(qe.CountRequest(exact=False, filter=edge_filter(spec, kind)))
        share = passing / total if total else 1.0
        if not POST_FILTER_FROM_SHARE <= share < 1:
            return FilterPlan(share, cfg.hnsw_ef, None)
        depth = math.ceil(POST_FILTER_MARGIN * n / share)
        return FilterPlan(share, max(math.ceil(ef / math.sqrt(share)), depth), depth, math.ceil(ef / share))

    def _request(
        self, level: Level, qvec: np.ndarray, n: int, flt: Any, hnsw_ef: int | None = None, fetch: bool = True
    ) -> Any:
        """One engine query: the concatenated vector, or per-dimension prefetches fused by a formula.
        ``fetch=False``: point ids only (no payload, no vector), ranked by quantized scores when the store
        has them (no rescoring: the caller scores the ids exactly)."""
        import qdrant_edge as qe

        using = f"{level}_all"
        common: dict[str, Any] = {
            "limit": n,
            "with_payload": candidate_fields(level) if fetch else False,
            "with_vector": [using] if fetch else False,
            "params": self._search_params(hnsw_ef, rescore=fetch),
        }
        if self.fusion == "concat":
            return qe.QueryRequest(query=qe.Query.Nearest(qvec.tolist(), using=using), filter=flt, **common)
        d = self._dim or 0
        block = qvec.reshape(len(DIMENSIONS), d)
        # Every point of the level in each prefetch, so that each has all its scores: exact, and O(6n).
        every = max(self._count_kind(LEVEL_KIND[level]), 1)
        # The rows of qvec are w_d · q_d: each prefetch scores w_d · cos(q_d, x_d), the formula sums them.
        prefetches = [
            qe.Prefetch(
                limit=every,
                query=qe.Query.Nearest(block[i].tolist(), using=f"{level}_{dim.value}"),
                filter=flt,
                params=self._search_params(hnsw_ef),
            )
            for i, dim in enumerate(DIMENSIONS)
            if block[i].any()
        ]
        terms = [qe.Expression.Variable(f"$score[{j}]") for j in range(len(prefetches))]
        return qe.QueryRequest(prefetches=prefetches, query=qe.Formula(qe.Expression.Sum(terms)), **common)

    def _count_kind(self, kind: str) -> int:
        import qdrant_edge as qe

        return int(self._shard.count(qe.CountRequest(exact=True, filter=qe.Filter(must=[_kind(kind)]))))

    def _candidates(
        self, level: Level, qvec: np.ndarray, n: int, filters: Filters, exclude: frozenset[str]
    ) -> list[Candidate]:
        return self._candidate_batches(level, qvec[None], n, filters, [exclude])[0].candidates()

    def _candidate_batches(
        self, level: Level, qvecs: np.ndarray, n: int, filters: Filters, excludes: Sequence[frozenset[str]]
    ) -> list[CandidateBatch]:
        """All queries of a batch in one ``query_batch`` call (the engine plans them together); two calls
        for a broad filter (:meth:`_plan`)."""
        with self._rw.read():
            if self._shard is None or self._dim is None:
                return [CandidateBatch.of([], 0) for _ in qvecs]
            d = self._dim
            plan = self._plan(level, filter_spec(filters), n)
            if plan.depth is None:
                results = self._query_batch(level, qvecs, n, filters, excludes, plan.hnsw_ef)
            else:
                results = self._post_filtered(level, qvecs, n, filters, excludes, plan)
        using = f"{level}_all"
        return [
            CandidateBatch.of(
                [candidate_of(level, p.payload or {}, (p.vector or {})[using], d) for p in pts], d
            )
            for pts in results
        ]

    def _query_batch(
        self,
        level: Level,
        qvecs: np.ndarray,
        n: int,
        filters: Filters,
        excludes: Sequence[frozenset[str]],
        hnsw_ef: int | None,
    ) -> list[Any]:
        import qdrant_edge as qe

        requests = [
            self._request(level, q, n, edge_filter(filter_spec(filters, ex)), hnsw_ef)
            for q, ex in zip(qvecs, excludes, strict=True)
        ]
        return list(self._shard.query_batch(qe.QueryBatchRequest(requests)))

    def _post_filtered(
        self,
        level: Level,
        qvecs: np.ndarray,
        n: int,
        filters: Filters,
        excludes: Sequence[frozenset[str]],
        plan: FilterPlan,
    ) -> list[Any]:
        """A broad filter's queries: the nearest ``plan.depth`` points without the filter (ids only, beam
        ``plan.hnsw_ef``), then an exact search of those under the filter (original vectors); a query that
        found fewer than ``n`` of them while more points exist is searched with the filter and the widened
        beam (``plan.fallback_ef``)."""
        import qdrant_edge as qe

        depth = plan.depth
        assert depth is not None  # a post-filter plan has its depth (_candidate_batches checks)
        unfiltered = [
            self._request(level, q, depth, edge_filter(filter_spec(Filters(), ex)), plan.hnsw_ef, fetch=False)
            for q, ex in zip(qvecs, excludes, strict=True)
        ]
        nearest = self._shard.query_batch(qe.QueryBatchRequest(unfiltered))
        using = f"{level}_all"
        exact = qe.SearchParams(exact=True, quantization=qe.QuantizationSearchParams(ignore=True))
        among = [
            qe.QueryRequest(
                query=qe.Query.Nearest(q.tolist(), using=using),
                filter=edge_filter(filter_spec(filters, ex), qe.HasIdCondition({p.id for p in pts})),
                limit=n,
                with_payload=candidate_fields(level),
                with_vector=[using],
                params=exact,
            )
            for q, ex, pts in zip(qvecs, excludes, nearest, strict=True)
        ]
        results = list(self._shard.query_batch(qe.QueryBatchRequest(among)))
        pairs = enumerate(zip(results, nearest, strict=True))
        short = [i for i, (r, pts) in pairs if len(r) < n and len(pts) >= depth]
        if short:
            again = self._query_batch(
                level, qvecs[short], n, filters, [excludes[i] for i in short], plan.fallback_ef
            )
            for i, r in zip(short, again, strict=True):
                results[i] = r
        return results
