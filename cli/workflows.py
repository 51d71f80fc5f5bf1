"""Workflows that span layers (encoder → indexer): used by the CLI commands and the demo.

They live in the CLI layer because only it may import every package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from encoder.batch import BatchResult
    from encoder.spec import EncoderSpec
    from indexer.base import VectorIndex
    from sv6d.record import SV6DRecord

UPSERT_BATCH = 256


def records_dir(data_dir: Path) -> Path:
    """The data directory's current record shards (``sv6d.datadir``)."""
    from sv6d.datadir import records_dir as current

    return current(data_dir)


def encode_paths(
    paths: Iterable[str | Path],
    data_dir: Path,
    workers: int = 2,
    spec: EncoderSpec | None = None,
    retry_failed: bool = False,
    on_progress: Callable[[str, str], None] | None = None,
    out_dir: Path | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    on_records: Callable[[list[SV6DRecord]], None] | None = None,
    commit_every: int | None = None,
    commit_interval_s: float | None = None,
    videos_per_task: int = 1,
    runtime: dict[str, Any] | None = None,
) -> BatchResult:
    """Encode into the data directory's records (or ``out_dir``), resumably, with the data directory's
    encoder (``encoder.spec.spec_for_data_dir``: the one it records; ``spec`` when it records none, which is
    then recorded; a different ``spec`` is refused) keeping backbone features in its feature store. With
    ``out_dir`` the data directory is not involved: ``spec`` (or the default) encodes, keeping no features.
    ``engine``: ``local`` (processes here) or ``ray``. ``on_records``: streaming commits (``Committer``).
    ``videos_per_task``: videos a local worker encodes together (the VLM's batches); ``runtime``: settings
    that change how, not what, the encoder computes (``Encoder.from_spec``'s runtime keywords)."""
    from encoder.batch import DEFAULT_COMMIT_EVERY, DEFAULT_COMMIT_INTERVAL_S, encode_batch, spec_options
    from encoder.spec import EncoderSpec, spec_for_data_dir
    from sv6d.datadir import features_dir
    from sv6d.errors import ConfigError

    if out_dir is None:
        spec = spec_for_data_dir(data_dir, spec)
        options = spec_options(spec, features_dir(data_dir))
    else:
        options = spec_options(spec or EncoderSpec())
    options.update(runtime or {})
    kwargs: dict[str, Any] = {
        "workers": workers,
        "encoder_options": options,
        "retry_failed": retry_failed,
        "on_progress": on_progress,
        "on_records": on_records,
        "commit_every": commit_every or DEFAULT_COMMIT_EVERY,
        "commit_interval_s": commit_interval_s or DEFAULT_COMMIT_INTERVAL_S,
    }
    target = out_dir or records_dir(data_dir)
    if engine == "ray":
        from encoder.ray_engine import encode_batch_ray

        return encode_batch_ray(paths, target, ray_address=ray_address, **kwargs)
    if engine != "local":
        raise ConfigError(f"unknown engine {engine!r}; valid engines: local, ray")
    if ray_address is not None:
        raise ConfigError("a Ray address only applies to the ray engine")
    return encode_batch(paths, target, videos_per_task=videos_per_task, **kwargs)


def stored_records(shard_dir: Path) -> list[SV6DRecord]:
    from encoder.batch import ShardStore

    return ShardStore(shard_dir).read_all()


def index_records(index: VectorIndex, records: list[SV6DRecord], only_missing: bool = True) -> int:
    """Upsert records in batches (each batch atomic); with ``only_missing``, skip ids the index has.
    Records without ``created_at`` are stored with the ingest time (``with_ingest_time``)."""
    from sv6d.record import with_ingest_time

    todo = with_ingest_time([r for r in records if not (only_missing and index.contains(r.video_id))])
    for start in range(0, len(todo), UPSERT_BATCH):
        index.upsert(todo[start : start + UPSERT_BATCH])
    return len(todo)


def ingest(
    paths: Iterable[str | Path],
    data_dir: Path,
    location: str | None = None,
    recipe: str | None = None,
    workers: int = 2,
    spec: EncoderSpec | None = None,
    on_progress: Callable[[str, str], None] | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    commit_every: int | None = None,
    commit_interval_s: float | None = None,
    videos_per_task: int = 1,
    runtime: dict[str, Any] | None = None,
) -> BatchResult:
    """Encode and index as one stream: stored records the index lacks (a run killed between encoding and
    indexing) are indexed first, then newly encoded records are upserted in batches while encoding goes on
    (every ``commit_every`` videos or ``commit_interval_s`` seconds), so a long ingest is searchable as it
    goes and a kill costs the index at most the batch in flight; the re-run repairs it."""
    from indexer import open_index

    with open_index(location, data_dir=data_dir, recipe=recipe) as index:
        index_missing(index, records_dir(data_dir))
        return encode_paths(
            paths,
            data_dir,
            workers,
            spec,
            on_progress=on_progress,
            engine=engine,
            ray_address=ray_address,
            on_records=lambda records: _upsert(index, records),
            commit_every=commit_every,
            commit_interval_s=commit_interval_s,
            videos_per_task=videos_per_task,
            runtime=runtime,
        )


def _upsert(index: VectorIndex, records: list[SV6DRecord]) -> None:
    index_records(index, records, only_missing=False)


def index_missing(index: VectorIndex, shard_dir: Path) -> int:
    """Index the stored records the index lacks, ``UPSERT_BATCH`` at a time (memory stays one batch)."""
    from encoder.batch import ShardStore

    store = ShardStore(shard_dir)
    stored = sorted({s.video_id for s in store.latest().values()} - set(index.video_ids()))
    for start in range(0, len(stored), UPSERT_BATCH):
        index_records(index, store.read_all(stored[start : start + UPSERT_BATCH]), only_missing=False)
    return len(stored)


def records_not_indexed(
    index: VectorIndex, shard_dir: Path, also: set[str] | None = None
) -> list[SV6DRecord]:
    """Stored records the index lacks (new ones, or left out by a crash between encoding and indexing),
    and the stored records of the ids in ``also`` (e.g. encoded again) whether the index has them or not.

    Ids are compared first from a light column read; only the wanted records are read in full."""
    from encoder.batch import ShardStore

    store = ShardStore(shard_dir)
    stored = {s.video_id for s in store.latest().values()}
    wanted = (stored - set(index.video_ids())) | (stored & (also or set()))
    return store.read_all(wanted) if wanted else []


def find_record(data_dir: Path, video_id: str, location: str | None = None) -> SV6DRecord:
    """A stored record by id: from the index when it has it, else from the record shards."""
    from indexer import open_index
    from sv6d.errors import NotFoundError

    index_err: Exception | None = None
    try:
        with open_index(location, data_dir=data_dir, read_only=True) as index:
            if index.contains(video_id):
                return index.get(video_id)
    except Exception as exc:  # no index yet: fall back to the shards
        index_err = exc
    for record in stored_records(records_dir(data_dir)):
        if record.video_id == video_id:
            return record
    hint = f" (index: {index_err})" if index_err else ""
    raise NotFoundError(f"no stored video with id {video_id!r} in {data_dir}{hint}")
