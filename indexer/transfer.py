"""Copy every record of one index into another, in batches: between backends and between machines.

Uses: moving a qdrant-client local-mode store into the embedded engine (``qdrant+local://`` to
``qdrant+edge://``), pushing an embedded shard's videos to a Qdrant server or cluster collection (the
destination a ``QdrantIndex`` opened by URL), or loading FAISS data into Qdrant. Records travel whole (vectors
of every level, segments, tags, metadata), so the destination rebuilds its own layout and payload indexes.
"""

from __future__ import annotations

from collections.abc import Iterator

from indexer.base import VectorIndex
from indexer.query import QueryError
from sv6d.record import SV6DRecord

DEFAULT_BATCH = 256


def iter_records(src: VectorIndex, batch_size: int = DEFAULT_BATCH) -> Iterator[list[SV6DRecord]]:
    """The records of ``src`` in id order, ``batch_size`` at a time (ids listed once, at the start)."""
    if batch_size < 1:
        raise QueryError(f"batch_size must be >= 1, got {batch_size}")
    ids = src.video_ids()
    for s in range(0, len(ids), batch_size):
        yield [src.get(v) for v in ids[s : s + batch_size]]


def copy_index(src: VectorIndex, dst: VectorIndex, batch_size: int = DEFAULT_BATCH) -> int:
    """Upsert every record of ``src`` into ``dst`` (each batch applied as ``dst.upsert`` applies one);
    returns how many were copied. Videos already in ``dst`` are replaced, others kept."""
    copied = 0
    for batch in iter_records(src, batch_size):
        copied += dst.upsert(batch)
    return copied
