"""Catalog reads for the API through the index's public interface: paged ids, videos by hook tags."""

from __future__ import annotations

from collections.abc import Sequence

from indexer.base import VectorIndex


def list_video_ids(index: VectorIndex, offset: int = 0, limit: int = 100) -> tuple[list[str], int]:
    """(ids in ascending order from ``offset``, total count)."""
    return index.video_ids(offset, limit), index.count()


def videos_with_hook_labels(index: VectorIndex, labels: Sequence[str], limit: int = 200) -> list[str]:
    """Ids of videos carrying any of ``labels`` inside their hook window, most labels matched first."""
    wanted = set(labels)
    if not wanted:
        return []
    matches: list[tuple[int, str]] = []
    for vid in index.video_ids():
        n = len({label for _dim, label in index.hook_tags_of(vid)} & wanted)
        if n:
            matches.append((-n, vid))
    return [vid for _n, vid in sorted(matches)[:limit]]
