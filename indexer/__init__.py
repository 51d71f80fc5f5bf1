"""Indexer: FAISS (embedded default) and Qdrant behind one interface, with a parquet catalog.

``open_index`` chooses the backend; the backends load their heavy libraries (faiss, qdrant-client) lazily.
"""

from indexer.base import VectorIndex
from indexer.factory import INDEX_SUBDIR, index_dir, open_index
from indexer.hits import Hit, SharedTag
from indexer.query import (
    DEFAULT_HOOK_WEIGHTS,
    LEVELS,
    MAX_K,
    Filters,
    Level,
    QueryError,
    TagFilter,
    Weights,
)

__all__ = [
    "DEFAULT_HOOK_WEIGHTS",
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
    "Weights",
    "index_dir",
    "open_index",
]
