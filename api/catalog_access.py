"""Catalog reads the index interface does not offer yet: list stored ids, find videos by hook tags.

``VectorIndex`` has no listing call; until it has one, this module reads the FAISS backend's committed
catalog snapshot (immutable polars frames) or scrolls the Qdrant collection. Both are read-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from indexer.base import VectorIndex


def _faiss_catalog(index: VectorIndex) -> Any | None:
    snap = getattr(index, "_snap", None)
    return getattr(snap, "catalog", None)


def list_video_ids(index: VectorIndex, offset: int = 0, limit: int = 100) -> tuple[list[str], int]:
    """(ids in insertion order from ``offset``, total count)."""
    lister = getattr(index, "video_ids", None)
    if callable(lister):
        ids = list(lister())
        return ids[offset : offset + limit], len(ids)
    catalog = _faiss_catalog(index)
    if catalog is not None:
        videos = catalog.videos
        return videos["video_id"].slice(offset, limit).to_list(), videos.height
    client = getattr(index, "client", None)
    if client is not None:
        points, _ = client.scroll(
            index.collection,  # type: ignore[attr-defined]
            limit=offset + limit,
            with_payload=["video_id"],
            with_vectors=False,
        )
        ids = [p.payload["video_id"] for p in points]
        return ids[offset:], index.count()
    raise NotImplementedError(f"{type(index).__name__} cannot list its videos")


def videos_with_hook_labels(index: VectorIndex, labels: Sequence[str], limit: int = 200) -> list[str]:
    """Ids of stored videos carrying any of ``labels`` inside their hook window (most matches first)."""
    if not labels:
        return []
    catalog = _faiss_catalog(index)
    if catalog is not None:
        tags = catalog.tags.filter(pl.col("label").is_in(list(labels)))
        hooks = catalog.videos.select("iid", "video_id", "hook_start_s", "hook_end_s")
        hits = (
            tags.join(hooks, on="iid")
            .filter((pl.col("start_s") < pl.col("hook_end_s")) & (pl.col("end_s") > pl.col("hook_start_s")))
            .group_by("video_id")
            .agg(pl.col("label").n_unique().alias("n"))
            .sort(["n", "video_id"], descending=[True, False])
            .head(limit)
        )
        return list(hits["video_id"].to_list())
    # Other backends: read records one by one (bounded; Qdrant payloads hold tags without hook windows).
    found: list[str] = []
    ids, _ = list_video_ids(index, 0, 10_000)
    for vid in ids:
        if len(found) >= limit:
            break
        rec = index.get(vid)
        h0, h1 = rec.hook_window
        if any(t.label in labels and t.start_s < h1 and t.end_s > h0 for t in rec.tags):
            found.append(vid)
    return found
