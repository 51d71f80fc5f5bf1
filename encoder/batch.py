"""Resumable batch encoding into parquet shards.

Layout under ``<out_dir>`` (normally ``<data_dir>/records``)::

    parts/<key>.parquet     one finished record each, written atomically the moment it is done
    shard-<n>.parquet       parts compacted into larger shards at the end of a run
    failures.parquet        file, error, at — one row per failed input (rewritten atomically)
    content-ids.parquet     source, size, mtime_ns, video_id — the content ids already verified, so that a
                            resume hashes only files whose size or mtime changed (rewritten atomically)

A killed run loses at most the videos being encoded at that moment: every finished record is already a
part file. The next run reads the ``source`` of every shard and part (and the failures table) and skips
those inputs, then compacts. Workers are separate processes, each building its encoder once.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import re
import sys
import time
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl

from sv6d.errors import SV6DError, VideoInputError
from sv6d.record import SV6DRecord
from sv6d.record_io import atomic_write_bytes, frame_to_records, read_records, write_records

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp"}
)
FAILURE_SCHEMA = {"file": pl.String(), "error": pl.String(), "at": pl.Datetime("us", "UTC")}
DEFAULT_SHARD_SIZE = 256
# The encoder's default video id: "v" + 20 hex digits of a hash of the file's head and size.
CONTENT_ID = re.compile(r"v[0-9a-f]{20}")
CONTENT_ID_SCHEMA = {
    "source": pl.String(),
    "size": pl.Int64(),
    "mtime_ns": pl.Int64(),
    "video_id": pl.String(),
}
# A file whose mtime is this close to the moment its id was verified may still be being written in the same
# clock tick ("racy git"): its id is not remembered, so the next resume hashes it again.
RACY_MTIME_NS = 2_000_000_000
# Linux prctl option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1
# How often a worker checks that its parent is alive (the fallback of PR_SET_PDEATHSIG).
PARENT_POLL_S = 1.0
# Streaming commits: finished records are handed on (e.g. to the index) every this many videos...
DEFAULT_COMMIT_EVERY = 32
# ...or this many seconds after the oldest uncommitted one finished, whichever comes first.
DEFAULT_COMMIT_INTERVAL_S = 10.0


class StoredRecord(NamedTuple):
    """What a resume needs of a stored record (the columns of that name)."""

    source: str
    video_id: str
    encoder_fingerprint: str | None
    head_version: str | None
    hook_end_s: float
    duration_s: float


@dataclass(frozen=True)
class EncoderIdentity:
    """What decides whether a stored record is this encoder's: its backbone's fingerprint (the backbone,
    its version and every constant that changes values), its heads' version and its hook window."""

    fingerprint: str
    head_version: str
    hook_s: float

    def made(self, stored: StoredRecord) -> bool:
        """Whether ``stored`` came from this encoder (its hook window is ``[0, min(hook_s, duration)]``)."""
        return (
            stored.encoder_fingerprint == self.fingerprint
            and stored.head_version == self.head_version
            and abs(stored.hook_end_s - min(self.hook_s, stored.duration_s)) < 1e-6
        )


def collect_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders (recursively, video extensions only) and list files (one path per line, # comments).

    A path that does not exist is an error naming it: a typo should not silently encode nothing.
    """
    out: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            out.extend(
                sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS)
            )
        elif p.is_file() and p.suffix.lower() in {".txt", ".list", ".lst"}:
            for line in p.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    q = Path(line).expanduser()
                    out.append(q if q.is_absolute() else (p.parent / q))
        elif p.exists():
            out.append(p)
        else:
            raise VideoInputError(p, "no such file or directory")
    seen: set[str] = set()
    unique = []
    for f in out:
        key = source_key(f)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def source_key(path: str | Path) -> str:
    """The identity of an input for resuming: its absolute path (symlinks resolved)."""
    return str(Path(path).expanduser().resolve())


@dataclass
class BatchResult:
    encoded: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"encoded": self.encoded, "failed": self.failed, "skipped": self.skipped}


class Committer:
    """Hands finished records on in batches while a run goes on: every ``every`` records, or once the oldest
    waiting record has waited ``interval_s`` seconds, and at the end (``flush``). Both engines use it to
    stream records into the index, so a long run is searchable as it goes and holds at most one batch."""

    def __init__(
        self,
        commit: Callable[[list[SV6DRecord]], None] | None,
        every: int = DEFAULT_COMMIT_EVERY,
        interval_s: float = DEFAULT_COMMIT_INTERVAL_S,
    ) -> None:
        if every < 1 or interval_s <= 0:
            raise ValueError(f"commit every {every} records / {interval_s} s: both must be positive")
        self._commit = commit
        self.every = every
        self.interval_s = interval_s
        self._pending: list[SV6DRecord] = []
        self._since: float | None = None
        self.batches = 0

    def add(self, record: SV6DRecord) -> None:
        if self._commit is None:
            return
        if not self._pending:
            self._since = time.monotonic()
        self._pending.append(record)
        if len(self._pending) >= self.every:
            self.flush()
        else:
            self.tick()

    def time_left(self) -> float | None:
        """Seconds until the waiting records are due (None: nothing waits)."""
        if not self._pending or self._since is None:
            return None
        return max(0.0, self._since + self.interval_s - time.monotonic())

    def tick(self) -> None:
        """Commit the waiting records when they have waited long enough."""
        left = self.time_left()
        if left is not None and left <= 0:
            self.flush()

    def flush(self) -> None:
        if self._pending and self._commit is not None:
            batch, self._pending, self._since = self._pending, [], None
            self._commit(batch)
            self.batches += 1


class ShardStore:
    """The shard folder: finished parts, compacted shards and the failures table."""

    def __init__(self, out_dir: str | Path) -> None:
        self.root = Path(out_dir)
        self.parts = self.root / "parts"
        self.failures_path = self.root / "failures.parquet"
        self.content_ids_path = self.root / "content-ids.parquet"

    def shard_files(self) -> list[Path]:
        return sorted(self.root.glob("shard-*.parquet"))

    def part_files(self) -> list[Path]:
        return sorted(self.parts.glob("*.parquet")) if self.parts.is_dir() else []

    def record_files(self) -> list[Path]:
        return self.shard_files() + self.part_files()

    def latest(self) -> dict[str, StoredRecord]:
        """source → its newest stored record's id and encoder, from a few light columns."""
        latest: dict[str, StoredRecord] = {}
        for f in self.record_files():  # oldest first, so a newer record of the same source wins
            df = pl.read_parquet(f, columns=list(StoredRecord._fields))
            for row in df.iter_rows():
                latest[row[0]] = StoredRecord(*row)
        return latest

    def done_sources(self, encoder: str | EncoderIdentity | None = None) -> set[str]:
        """Inputs whose newest stored record is up to date: when the record's id is a content id (the
        encoder's default, ``CONTENT_ID``), the file at that path still has that content; and, when
        ``encoder`` is given, the record came from that encoder (a fingerprint: that backbone; an
        ``EncoderIdentity``: that backbone, heads and hook window). A file replaced in place, or a new
        encoder, is redone.

        Checking the content means hashing the head of every file, which on a large folder is most of a
        resume's time. So, like make and rsync, a file whose size and mtime are those recorded when its id
        was last verified is taken as unchanged; only changed (or never verified) files are hashed."""
        latest = self.latest()
        if not latest:
            return set()
        from encoder.pipeline import default_video_id

        verified = self._content_ids()
        remembered: dict[str, tuple[int, int, str]] = {}
        done = set()
        for source, stored in latest.items():
            vid = stored.video_id
            if isinstance(encoder, str) and stored.encoder_fingerprint != encoder:
                continue
            if isinstance(encoder, EncoderIdentity) and not encoder.made(stored):
                continue
            if not CONTENT_ID.fullmatch(vid):
                done.add(source)  # an id chosen by the caller says nothing about the content: trust the path
                continue
            try:
                before = os.stat(source)
                stamp = (before.st_size, before.st_mtime_ns)
                if verified.get(source) == (*stamp, vid):
                    same = True
                else:
                    same = default_video_id(source) == vid
                    after = os.stat(source)
                    if (after.st_size, after.st_mtime_ns) != stamp:
                        continue  # written to while hashed: not done, and not remembered
            except (OSError, SV6DError):  # gone or unreadable: not done (its error is reported on encoding)
                continue
            if same:
                done.add(source)
                if time.time_ns() - stamp[1] > RACY_MTIME_NS:
                    remembered[source] = (*stamp, vid)
        if remembered != verified:
            self._write_content_ids(remembered)
        return done

    def _content_ids(self) -> dict[str, tuple[int, int, str]]:
        """source → (size, mtime_ns, video_id) verified by an earlier run; empty when absent or unreadable
        (it is only a cache: losing it costs one hash per file)."""
        try:
            df = pl.read_parquet(self.content_ids_path)
        except (OSError, pl.exceptions.PolarsError):
            return {}
        return {
            s: (size, mtime, vid) for s, size, mtime, vid in df.select(list(CONTENT_ID_SCHEMA)).iter_rows()
        }

    def _write_content_ids(self, entries: dict[str, tuple[int, int, str]]) -> None:
        rows = [(s, *v) for s, v in sorted(entries.items())]
        df = pl.DataFrame(rows, schema=CONTENT_ID_SCHEMA, orient="row")
        atomic_write_bytes(self.content_ids_path, lambda tmp: df.write_parquet(tmp))

    def failures(self) -> pl.DataFrame:
        if self.failures_path.exists():
            return pl.read_parquet(self.failures_path)
        return pl.DataFrame(schema=FAILURE_SCHEMA)

    def add_failure(self, file: str, error: str) -> None:
        old = self.failures().filter(pl.col("file") != file)
        row = pl.DataFrame(
            {"file": [file], "error": [error], "at": [datetime.now(UTC)]}, schema=FAILURE_SCHEMA
        )
        df = pl.concat([old, row])
        atomic_write_bytes(self.failures_path, lambda tmp: df.write_parquet(tmp))

    def clear_failure(self, file: str) -> None:
        if self.failures_path.exists():
            df = self.failures().filter(pl.col("file") != file)
            atomic_write_bytes(self.failures_path, lambda tmp: df.write_parquet(tmp))

    def write_part(self, record: SV6DRecord) -> Path:
        name = hashlib.sha1(record.source.encode()).hexdigest()[:20] + ".parquet"
        path = self.parts / name
        write_records(path, [record])
        return path

    def compact(self, shard_size: int = DEFAULT_SHARD_SIZE) -> None:
        """Fold part files into new shards. Each shard is written before its parts are removed, and a
        record present in both for a moment is read once (``read_all`` dedups by source)."""
        parts = self.part_files()
        if not parts:
            return
        next_index = len(self.shard_files())
        for start in range(0, len(parts), shard_size):
            chunk = parts[start : start + shard_size]
            records = [r for p in chunk for r in read_records(p)]
            while (self.root / f"shard-{next_index:05d}.parquet").exists():
                next_index += 1
            write_records(self.root / f"shard-{next_index:05d}.parquet", records)
            next_index += 1
            for p in chunk:
                p.unlink(missing_ok=True)

    def read_all(self, video_ids: Collection[str] | None = None) -> list[SV6DRecord]:
        """Every stored record once per source: the newest (shards in order, then parts); with
        ``video_ids``, only those, and only their rows are turned into records."""
        newest = {(source, stored.video_id) for source, stored in self.latest().items()}
        if video_ids is not None:
            wanted = set(video_ids)
            newest = {(s, v) for s, v in newest if v in wanted}
        ids = sorted({v for _s, v in newest})
        out: dict[str, SV6DRecord] = {}
        for f in self.record_files():
            df = pl.read_parquet(f).filter(pl.col("video_id").is_in(ids))
            for r in frame_to_records(df) if df.height else []:
                if (r.source, r.video_id) in newest:
                    out[r.source] = r
        return list(out.values())


# ----------------------------------------------------------------------------------------------- workers
_WORKER_ENCODER: Any = None
_WORKER_SETUP_ERROR: str | None = None


class EncoderSetupError(SV6DError):
    """The encoder could not be built from the options (bad checkpoint, missing heads...): nothing can be
    encoded, so the batch stops instead of recording every file as failed."""


def spec_options(spec: Any, feature_store: str | Path | None = None, **runtime: Any) -> dict[str, Any]:
    """The picklable options ``build_encoder`` takes for an ``encoder.spec.EncoderSpec`` (what the CLI, the
    pool and the Ray engine pass around)."""
    options: dict[str, Any] = {"spec": spec.to_json(), **runtime}
    if feature_store is not None:
        options["feature_store"] = str(feature_store)
    return options


def build_encoder(**options: Any) -> Any:
    """An ``encoder.pipeline.Encoder`` from plain, picklable options, through ``Encoder.from_spec``.

    Keys: ``spec`` (an ``EncoderSpec`` or its JSON data), ``feature_store`` (a feature store root), and the
    runtime options of ``Encoder.from_spec`` (``overlap``, ``opencv_threads``). Without ``spec``, the flat
    keys ``backbone`` (name), ``backbone_options`` (dict, e.g. ``{"checkpoint": DIR}``), ``heads_dir``,
    ``hook_s`` and ``dim`` make one.
    """
    from encoder.pipeline import Encoder
    from encoder.spec import EncoderSpec

    opts = dict(options)
    feature_store = opts.pop("feature_store", None)
    spec = opts.pop("spec", None)
    if spec is None:
        backbone = {"name": opts.pop("backbone", "evidence"), **opts.pop("backbone_options", {})}
        flat = {k: opts.pop(k) for k in ("hook_s", "dim") if k in opts}
        heads_dir = opts.pop("heads_dir", None)
        heads = str(Path(heads_dir).expanduser().resolve()) if heads_dir is not None else None
        spec = EncoderSpec.from_json({"backbone": backbone, "heads": heads, **flat}, where="encoder options")
    return Encoder.from_spec(spec, feature_store=feature_store, **opts)


def die_with_parent(parent: int | None = None) -> None:
    """Make this process end when the process that started it ends, however that one ends (SIGKILL too).

    On Linux the kernel sends SIGKILL on the parent's death (``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon
    thread also polls the parent id and exits the process when it changes (the parent died and the process
    was re-parented), which covers other systems. ``parent``: the pid of the process that started this one
    (pass it: a parent that died while this process was starting up, before this call, is only seen by
    comparing with it).
    """
    import threading

    parent = os.getppid() if parent is None else parent
    if not isinstance(parent, int):
        raise TypeError(f"die_with_parent: parent must be a process id, not {type(parent).__name__}")
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl: the thread below covers it
            pass
    if os.getppid() != parent:  # pragma: no cover - the parent died before prctl ran
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _init_worker(encoder_options: dict[str, Any], parent: int | None = None, devices: Any = None) -> None:
    """A pool worker's initializer: tie its life to ``parent``'s, then build its encoder."""
    die_with_parent(parent)
    _build_worker_encoder(encoder_options, devices)


def _build_worker_encoder(encoder_options: dict[str, Any], devices: Any = None) -> None:
    """Build this worker's encoder. ``devices``: a queue of device names, one taken per worker (one model per
    GPU), or None."""
    if devices is not None:
        encoder_options = {**encoder_options, "device": devices.get()}
    # One thread per library inside each worker: the processes are the parallelism.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - cv2 is a dependency
        pass
    global _WORKER_ENCODER, _WORKER_SETUP_ERROR
    # An exception escaping an initializer kills the worker and breaks the pool without its message, so it is
    # kept and raised with the first task instead.
    try:
        _WORKER_ENCODER = build_encoder(**encoder_options)
    except Exception as exc:
        _WORKER_SETUP_ERROR = _describe(exc)


def _encode_many_in_worker(paths: list[str]) -> list[SV6DRecord | str]:
    """Encode ``paths`` together (the VLM batches them through the model): each its record, or the
    description of what failed it."""
    if _WORKER_SETUP_ERROR is not None:
        raise EncoderSetupError(f"cannot build the encoder: {_WORKER_SETUP_ERROR}")
    assert _WORKER_ENCODER is not None, "worker not initialised"
    results = _WORKER_ENCODER.encode_files(paths)
    return [_describe(r) if isinstance(r, BaseException) else r for r in results]


def worker_devices(encoder_options: dict[str, Any], workers: int) -> list[str] | None:
    """The device of each worker when the VLM backbone runs on a machine with GPUs and no device was
    chosen: one worker per GPU (at most), each holding its own model on its own GPU. None otherwise."""
    spec = encoder_options.get("spec")
    if spec is not None:
        name = spec.backbone.name if hasattr(spec, "backbone") else (spec.get("backbone") or {}).get("name")
    else:
        name = encoder_options.get("backbone")
    if name != "vlm" or encoder_options.get("device"):
        return None
    from encoder.vlm.backbone import cuda_device_count

    count = cuda_device_count()
    return [f"cuda:{i}" for i in range(min(workers, count))] if count else None


def _worker_identity() -> EncoderIdentity:
    if _WORKER_SETUP_ERROR is not None:
        raise EncoderSetupError(f"cannot build the encoder: {_WORKER_SETUP_ERROR}")
    assert _WORKER_ENCODER is not None, "worker not initialised"
    return encoder_identity(_WORKER_ENCODER)


def encoder_identity(encoder: Any) -> EncoderIdentity:
    """The ``EncoderIdentity`` of an ``encoder.pipeline.Encoder``."""
    info = encoder.info
    return EncoderIdentity(info.fingerprint, info.head_version, float(encoder.hook_s))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SV6DError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def encode_batch(
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    workers: int = 2,
    encoder_options: dict[str, Any] | None = None,
    retry_failed: bool = False,
    shard_size: int = DEFAULT_SHARD_SIZE,
    on_progress: Callable[[str, str], None] | None = None,
    fingerprint: str | None = None,
    on_records: Callable[[list[SV6DRecord]], None] | None = None,
    commit_every: int = DEFAULT_COMMIT_EVERY,
    commit_interval_s: float = DEFAULT_COMMIT_INTERVAL_S,
    videos_per_task: int = 1,
) -> BatchResult:
    """Encode every input not already done; record failures and go on; compact parts into shards.

    ``videos_per_task``: videos a worker encodes together (``Encoder.encode_files``: the VLM backbone puts
    them through the model in batches). With the VLM on GPUs and no device chosen, there is one worker per
    GPU, each with its own model on its own GPU (``worker_devices``).

    Done means a stored record made from the file's current content by this encoder: the same backbone
    fingerprint, heads version and hook window (``EncoderIdentity``; a worker reports it, so this process
    never loads a model). Anything else is encoded again and its new record supersedes the old one: a
    changed encoder (an upgrade, other heads, another hook window) re-encodes what it would now encode
    differently. ``fingerprint``: compare the backbone fingerprint only, with this one.

    ``on_progress(file, status)`` is called once per input with status "encoded", "failed" or "skipped".
    ``on_records(records)`` receives the newly encoded records in batches while the run goes on (every
    ``commit_every`` records or ``commit_interval_s`` seconds; see ``Committer``), each batch after its
    records were stored as parts. Workers end with this process, however it ends (``die_with_parent``).
    """
    committer = Committer(on_records, commit_every, commit_interval_s)
    store = ShardStore(out_dir)
    store.root.mkdir(parents=True, exist_ok=True)
    files = collect_inputs(inputs)
    options = dict(encoder_options or {})
    ctx = mp.get_context("spawn")
    width = max(1, workers)
    devices = worker_devices(options, width)
    if devices is not None:
        width = len(devices)
    per_task = max(1, videos_per_task)

    def new_pool() -> ProcessPoolExecutor:
        queue_of_devices = None
        if devices is not None:
            queue_of_devices = ctx.Queue()
            for d in devices[:width]:
                queue_of_devices.put(d)
        return ProcessPoolExecutor(
            max_workers=width,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(options, os.getpid(), queue_of_devices),
        )

    pool: ProcessPoolExecutor | None = None
    try:
        encoder: str | EncoderIdentity | None = fingerprint
        if encoder is None and files and store.record_files():
            # Stored records are only done if this encoder made them: ask a worker what it is (it builds the
            # encoder anyway, and a model is loaded in the workers only)
            pool = new_pool()
            encoder = pool.submit(_worker_identity).result()
        result, queue = plan_batch(store, files, encoder, retry_failed, on_progress)
    except BaseException:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        raise
    if pool is not None and not queue:
        pool.shutdown()
    while queue:
        # A worker that dies (a crash in a native decoder, the OOM killer) breaks the whole pool, and the
        # pool cannot say which file killed it. The files in flight go back to the queue and are retried
        # one at a time, so that only the culprit is recorded as failed.
        with pool if pool is not None else new_pool() as pool:
            in_flight: dict[Future[list[SV6DRecord | str]], list[str]] = {}
            suspects: list[str] = []
            while queue or in_flight:
                while queue and len(in_flight) < 2 * width:
                    chunk, queue = queue[:per_task], queue[per_task:]
                    in_flight[pool.submit(_encode_many_in_worker, chunk)] = chunk
                suspects = _drain(
                    in_flight,
                    store,
                    result,
                    on_progress,
                    blame=width == 1 and per_task == 1,
                    committer=committer,
                )
                if suspects:
                    break
        pool = None
        if suspects:
            queue = suspects + queue
            width = per_task = 1
    committer.flush()
    store.compact(shard_size)
    return result


def plan_batch(
    store: ShardStore,
    files: list[Path],
    encoder: str | EncoderIdentity | None,
    retry_failed: bool,
    on_progress: Callable[[str, str], None] | None,
) -> tuple[BatchResult, list[str]]:
    """The result so far (the inputs skipped: done by ``encoder``, or failed before unless ``retry_failed``)
    and the inputs to encode, in order."""
    done = store.done_sources(encoder)
    failed_before = set(store.failures()["file"].to_list())
    result = BatchResult()
    todo: list[str] = []
    for f in files:  # (collect_inputs lists each source once)
        key = source_key(f)
        if key in done or (key in failed_before and not retry_failed):
            result.skipped.append(key)
            if on_progress:
                on_progress(key, "skipped")
        else:
            todo.append(key)
    return result, todo


def _drain(
    in_flight: dict[Future[list[SV6DRecord | str]], list[str]],
    store: ShardStore,
    result: BatchResult,
    on_progress: Callable[[str, str], None] | None,
    blame: bool,
    committer: Committer | None = None,
) -> list[str]:
    """Collect at least one finished task (one or more files), waiting for one or until the committer's
    waiting records are due. When the pool broke, returns the files that were in flight (to retry), or, with
    ``blame`` (a single file in flight), records that file as failed."""
    timeout = committer.time_left() if committer is not None else None
    finished, _ = wait(list(in_flight), timeout=timeout, return_when=FIRST_COMPLETED)
    if committer is not None:
        committer.tick()
    broken = False
    for fut in finished:
        paths = in_flight.pop(fut)
        try:
            outcomes = fut.result()
        except EncoderSetupError:
            for other in in_flight:
                other.cancel()
            raise
        except BrokenProcessPool:
            broken = True
            if blame:
                for path in paths:
                    record_failure(
                        store, result, on_progress, path, "the worker process died while encoding this file"
                    )
            else:
                in_flight[fut] = paths
            continue
        except Exception as exc:
            outcomes = [_describe(exc)] * len(paths)
        for path, outcome in zip(paths, outcomes, strict=True):
            if isinstance(outcome, str):
                record_failure(store, result, on_progress, path, outcome)
                continue
            store.write_part(outcome)
            store.clear_failure(path)
            result.encoded.append({"file": path, "video_id": outcome.video_id})
            if on_progress:
                on_progress(path, "encoded")
            if committer is not None:
                committer.add(outcome)
    if not broken:
        return []
    suspects = [p for paths in in_flight.values() for p in paths]
    in_flight.clear()
    return suspects


def record_failure(
    store: ShardStore,
    result: BatchResult,
    on_progress: Callable[[str, str], None] | None,
    path: str,
    error: str,
) -> None:
    """Store a failed input in the failures table and the batch result (both engines use this)."""
    store.add_failure(path, error)
    result.failed.append({"file": path, "error": error})
    if on_progress:
        on_progress(path, "failed")
