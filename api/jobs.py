"""Ingest jobs: a durable queue in SQLite (``DATA_DIR/jobs/jobs.sqlite``) and one background worker thread.

Durability: every state change is one committed SQLite transaction (WAL journal, ``synchronous=FULL``), so a
crash leaves each job in its last committed state. On start, ``JobStore.recover`` re-queues jobs that were
``running`` when the service stopped (up to ``max_attempts`` in all) and marks the rest ``failed`` with the
reason; queued jobs are picked up again. No job is lost silently.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from sv6d.errors import ConflictError, NotFoundError, SV6DError, VideoInputError
from sv6d.record import SV6DRecord

log = logging.getLogger("api.jobs")

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JOB_STATES: tuple[JobState, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
JobKind = Literal["upload", "path"]
_COLUMNS = (
    "id, kind, source, video_id, title, state, progress, stage, error, attempts, created_at, updated_at, "
    "result_video_id, replace_existing, cancel_requested"
)
#: Columns added after the first release, with their definitions (added to older queues on open).
_ADDED_COLUMNS = {
    "replace_existing": "INTEGER NOT NULL DEFAULT 0",
    "cancel_requested": "INTEGER NOT NULL DEFAULT 0",
}


@dataclass
class Job:
    id: str
    kind: JobKind
    source: str
    video_id: str | None
    title: str | None
    state: JobState
    progress: float
    stage: str
    error: str | None
    attempts: int
    created_at: float
    updated_at: float
    result_video_id: str | None
    replace_existing: bool = False
    cancel_requested: bool = False


def _job(row: tuple[Any, ...]) -> Job:
    job = Job(*row)
    job.replace_existing = bool(job.replace_existing)
    job.cancel_requested = bool(job.cancel_requested)
    return job


def discard_upload(job: Job) -> None:
    """Delete the service's copy of an upload (kept as the video's media only when its ingest succeeded)."""
    if job.kind == "upload":
        Path(job.source).unlink(missing_ok=True)


class EncoderLike(Protocol):
    def encode_file(self, path: str, video_id: str | None = None, title: str | None = None) -> SV6DRecord: ...


class JobStore:
    """Jobs in one SQLite file; safe to call from the request threads and the worker thread."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.uploads = directory / "uploads"
        self.uploads.mkdir(exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(directory / "jobs.sqlite", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, source TEXT NOT NULL, "
            "video_id TEXT, title TEXT, state TEXT NOT NULL, progress REAL NOT NULL, stage TEXT NOT NULL, "
            "error TEXT, attempts INTEGER NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL, "
            "result_video_id TEXT)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created_at)")
        have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name, definition in _ADDED_COLUMNS.items():
            if name not in have:  # a queue written by an older version
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {definition}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create(
        self,
        kind: JobKind,
        source: str,
        video_id: str | None,
        title: str | None,
        job_id: str,
        replace: bool = False,
    ) -> Job:
        """Queue a job. ``replace``: a video already stored under ``video_id`` may be replaced."""
        now = time.time()
        job = Job(
            job_id, kind, source, video_id, title, "queued", 0.0, "queued", None, 0, now, now, None, replace
        )
        with self._lock:
            self._db.execute(
                f"INSERT INTO jobs ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)",
                (
                    job.id,
                    kind,
                    source,
                    video_id,
                    title,
                    "queued",
                    0.0,
                    "queued",
                    None,
                    0,
                    now,
                    now,
                    None,
                    replace,
                ),
            )
        return job

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def get(self, job_id: str) -> Job:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"job {job_id!r} does not exist")
        return _job(row)

    def list_jobs(
        self, state: JobState | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[Job], int]:
        """(jobs newest first from ``offset``, total), all of them or those in ``state``."""
        where, args = ("WHERE state = ?", (state,)) if state is not None else ("", ())
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs {where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
            (total,) = self._db.execute(f"SELECT COUNT(*) FROM jobs {where}", args).fetchone()
        return [_job(r) for r in rows], int(total)

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state (every state named, 0 included)."""
        with self._lock:
            found = dict(self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
        return {state: int(found.get(state, 0)) for state in JOB_STATES}

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job now, or ask a running one to stop before it stores anything (the worker ends
        it as ``cancelled`` at its next step). ConflictError for a job that has already finished."""
        with self._lock:
            now = time.time()
            queued = self._db.execute(
                "UPDATE jobs SET state='cancelled', stage='cancelled', updated_at=? "
                "WHERE id=? AND state='queued'",
                (now, job_id),
            ).rowcount
            self._db.execute(
                "UPDATE jobs SET cancel_requested=1, stage='cancelling', updated_at=? "
                "WHERE id=? AND state='running' AND cancel_requested=0",
                (now, job_id),
            )
            row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"job {job_id!r} does not exist")
        job = _job(row)
        if not queued and job.state != "running":
            raise ConflictError(
                f"job {job_id!r} is already {job.state}: only queued or running jobs can be cancelled"
            )
        return job

    def cancel_requested(self, job_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def update(self, job_id: str, **fields: Any) -> None:
        fields["updated_at"] = time.time()
        names = ", ".join(f"{k} = ?" for k in fields)
        with self._lock:
            self._db.execute(f"UPDATE jobs SET {names} WHERE id = ?", (*fields.values(), job_id))

    def claim_next(self) -> Job | None:
        """Mark the oldest queued job running (attempts + 1) and return it, atomically."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    f"SELECT {_COLUMNS} FROM jobs WHERE state = 'queued' ORDER BY created_at LIMIT 1"
                ).fetchone()
                if row is None:
                    self._db.execute("COMMIT")
                    return None
                job = _job(row)
                job.state, job.attempts, job.stage = "running", job.attempts + 1, "starting"
                self._db.execute(
                    "UPDATE jobs SET state='running', attempts=?, stage='starting', updated_at=? WHERE id=?",
                    (job.attempts, time.time(), job.id),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return job

    def queue_length(self) -> int:
        with self._lock:
            (n,) = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
            ).fetchone()
        return int(n)

    def recover(self, max_attempts: int) -> tuple[int, int]:
        """After a restart: re-queue interrupted jobs with attempts left, fail the rest."""
        with self._lock:
            now = time.time()
            self._db.execute(
                "UPDATE jobs SET state='cancelled', stage='cancelled', updated_at=? "
                "WHERE state='running' AND cancel_requested=1",
                (now,),
            )
            cur = self._db.execute(
                "UPDATE jobs SET state='queued', stage='requeued after restart', progress=0, updated_at=? "
                "WHERE state='running' AND attempts < ?",
                (now, max_attempts),
            )
            requeued = cur.rowcount
            cur = self._db.execute(
                "UPDATE jobs SET state='failed', stage='failed', updated_at=?, error=? WHERE state='running'",
                (now, f"interrupted by a service restart; gave up after {max_attempts} attempt(s)"),
            )
        return requeued, cur.rowcount


class JobWorker:
    """One thread that runs queued jobs: probe (duration limit) → encode → upsert under the write lock."""

    def __init__(
        self,
        store: JobStore,
        encoder: Callable[[], EncoderLike],
        write: Callable[[SV6DRecord, bool], None],
        max_duration_s: float,
        probe: Callable[[str], float] | None = None,
        shown_source: Callable[[str], str] | None = None,
    ) -> None:
        self.store = store
        self._encoder_factory = encoder
        self._write = write
        self.max_duration_s = max_duration_s
        self._probe = probe or _probe_duration
        self._shown_source = shown_source or (lambda source: source)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.idle = threading.Event()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sv6d-ingest", daemon=True)
            self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            job = self.store.claim_next()
            if job is None:
                self.idle.set()
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            self.idle.clear()
            self.run_one(job)

    def run_one(self, job: Job) -> None:
        """Run one claimed job to a terminal state; every failure is recorded with its reason."""
        try:
            self.store.update(job.id, stage="probing", progress=0.05)
            duration = self._probe(job.source)
            if duration > self.max_duration_s:
                raise VideoInputError(
                    job.source,
                    f"duration {duration:.1f} s exceeds the limit of {self.max_duration_s:.0f} s",
                )
            if self._cancelled(job):
                return
            self.store.update(job.id, stage="encoding", progress=0.2)
            record = self._encoder_factory().encode_file(job.source, video_id=job.video_id, title=job.title)
            if self._cancelled(job):
                return
            self.store.update(job.id, stage="indexing", progress=0.9)
            # A job without a video id names the video by its content: storing it again is the same video.
            self._write(record, job.replace_existing or job.video_id is None)
            self.store.update(
                job.id, state="succeeded", stage="done", progress=1.0, result_video_id=record.video_id
            )
        except SV6DError as exc:
            self._fail(job, str(exc))
        except Exception as exc:
            log.exception("ingest job %s failed", job.id)
            self._fail(job, f"{type(exc).__name__}: {exc}")

    def _cancelled(self, job: Job) -> bool:
        """Whether the job was cancelled while running; if so it ends here, having stored nothing."""
        if not self.store.cancel_requested(job.id):
            return False
        discard_upload(job)
        self.store.update(job.id, state="cancelled", stage="cancelled")
        return True

    def _fail(self, job: Job, reason: str) -> None:
        discard_upload(job)
        # Paths are the server's file layout: say "upload", or the path relative to its media root.
        reason = reason.replace(job.source, self._shown_source(job.source))
        self.store.update(job.id, state="failed", stage="failed", error=reason)


def _probe_duration(path: str) -> float:
    from encoder.decode import probe

    return float(probe(path).duration_s)
