"""Workflows that span layers (encoder → indexer): used by the CLI commands and the demo.

They live in the CLI layer because only it may import every package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from encoder.batch import BatchResult
    from indexer.base import VectorIndex
    from sv6d.record import SV6DRecord

UPSERT_BATCH = 256


def records_dir(data_dir: Path) -> Path:
    return data_dir / "records"


def encode_paths(
    paths: Iterable[str | Path],
    data_dir: Path,
    workers: int = 2,
    encoder_options: dict[str, Any] | None = None,
    retry_failed: bool = False,
    on_progress: Callable[[str, str], None] | None = None,
    out_dir: Path | None = None,
) -> BatchResult:
    """Encode into ``DATA_DIR/records`` (or ``out_dir``), resumably."""
    from encoder.batch import encode_batch

    return encode_batch(
        paths,
        out_dir or records_dir(data_dir),
        workers=workers,
        encoder_options=encoder_options,
        retry_failed=retry_failed,
        on_progress=on_progress,
    )


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
    encoder_options: dict[str, Any] | None = None,
    on_progress: Callable[[str, str], None] | None = None,
) -> BatchResult:
    """Encode then upsert into the index: the records encoded now (new videos, and videos encoded again by
    a changed encoder, whose index entries are replaced), and records encoded earlier but never indexed (a
    crash between the two steps), so a re-run repairs an interrupted ingest."""
    from indexer import open_index

    result = encode_paths(paths, data_dir, workers, encoder_options, on_progress=on_progress)
    encoded = {e["video_id"] for e in result.encoded}
    with open_index(location, data_dir=data_dir, recipe=recipe) as index:
        index_records(index, records_not_indexed(index, records_dir(data_dir), encoded), only_missing=False)
    return result


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
