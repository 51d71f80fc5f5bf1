"""Indexer: FAISS (embedded default) and Qdrant behind one interface, with a parquet catalog.

``open_index`` chooses the backend; the backends load their heavy libraries (faiss, qdrant-client) lazily.
"""

from indexer.base import (
    LEVELS,
    MAX_K,
    Filters,
    Hit,
    Level,
    QueryError,
    SharedTag,
    TagFilter,
    VectorIndex,
    parse_weights,
)
from indexer.factory import INDEX_SUBDIR, index_dir, open_index

__all__ = [
    "INDEX_SUBDIR",
    "LEVELS",
    "MAX_K",
    "Filters",
    "Hit",
    "Level",
    "QueryError",
    "SharedTag",
    "TagFilter",
    "VectorIndex",
    "index_dir",
    "open_index",
    "parse_weights",
]
