"""One chooser: ``open_index`` picks the backend from a URL-like location and refuses conflicting settings.

Location forms:
- ``None`` or a plain path or ``faiss://<path>``: FAISS in the data directory (files under ``<dir>/index``);
- ``qdrant::memory:``: Qdrant in-process, in memory;
- ``qdrant+path://<dir>``: Qdrant in-process, persisted in ``<dir>``;
- ``http://host:6333`` / ``https://...``: a Qdrant server or cluster (``api_key=`` optional).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from indexer.base import VectorIndex
from indexer.qdrant_backend import QDRANT_CONFIG_FIELDS
from sv6d.errors import ConfigError
from sv6d.settings import resolve_data_dir

INDEX_SUBDIR = "index"
FAISS_OPTIONS = frozenset({"search_params", "rerank_factor", "use_gpu"})
# Every QdrantConfig field (cluster, consistency, on-disk, quantization, HNSW) is an open_index option too.
QDRANT_OPTIONS = frozenset({"api_key", "collection", "timeout", "config"}) | QDRANT_CONFIG_FIELDS


def index_dir(data_dir: str | Path | None) -> Path:
    """Where the FAISS files of a data directory live."""
    return resolve_data_dir(data_dir) / INDEX_SUBDIR


def open_index(
    location: str | None = None,
    data_dir: str | Path | None = None,
    recipe: str | None = None,
    *,
    read_only: bool = False,
    **options: Any,
) -> VectorIndex:
    """Open (or create) an index. ``recipe``: a FAISS factory string (FAISS only; default: the stored
    index's recipe, else ``Flat``).

    FAISS options: ``search_params`` ({"nprobe", "efSearch"}), ``rerank_factor``, ``use_gpu``.
    Qdrant options: ``api_key``, ``collection``, ``shard_number``, ``replication_factor``,
    ``write_consistency_factor``, ``on_disk``, ``timeout``. Conflicts raise ConfigError naming both settings.
    """
    unknown = set(options) - FAISS_OPTIONS - QDRANT_OPTIONS
    if unknown:
        valid = ", ".join(sorted(FAISS_OPTIONS | QDRANT_OPTIONS))
        raise ConfigError(f"unknown index option(s) {sorted(unknown)}; valid options: {valid}")
    loc = (location or "").strip()
    qdrant: dict[str, Any] | None = None
    faiss_dir: str | Path | None = None
    if loc == "qdrant::memory:" or loc == ":memory:":
        qdrant = {"location": ":memory:"}
    elif loc.startswith("qdrant+path://"):
        qdrant = {"path": loc.removeprefix("qdrant+path://")}
        if not qdrant["path"]:
            raise ConfigError(f"location {location!r} names no directory after qdrant+path://")
    elif loc.startswith(("http://", "https://")):
        qdrant = {"url": loc}
    elif loc.startswith("faiss://"):
        faiss_dir = loc.removeprefix("faiss://")
    elif "://" in loc:
        raise ConfigError(
            f"unknown index location {location!r}; use a path, faiss://<dir>, qdrant::memory:, "
            "qdrant+path://<dir> or http(s)://host:6333"
        )
    elif loc:
        faiss_dir = loc

    if qdrant is not None:
        if recipe is not None and recipe != "Flat":
            raise ConfigError(f"FAISS recipe {recipe!r} conflicts with the Qdrant location {location!r}")
        if data_dir is not None:
            raise ConfigError(f"data_dir {str(data_dir)!r} conflicts with the Qdrant location {location!r}")
        wrong = set(options) & (FAISS_OPTIONS - QDRANT_OPTIONS)
        if wrong:
            raise ConfigError(
                f"FAISS option(s) {sorted(wrong)} conflict with the Qdrant location {location!r}"
            )
        if read_only:
            raise ConfigError(
                f"read_only applies to FAISS data directories, not the Qdrant location {location!r}"
            )
        from indexer.qdrant_backend import QdrantIndex

        return QdrantIndex(**qdrant, **options)

    wrong = set(options) & QDRANT_OPTIONS
    if wrong:
        raise ConfigError(
            f"Qdrant option(s) {sorted(wrong)} conflict with a FAISS data directory {location!r}"
        )
    if faiss_dir is not None and data_dir is not None and Path(faiss_dir) != Path(data_dir):
        raise ConfigError(
            f"location {location!r} conflicts with data_dir {str(data_dir)!r}: give one of them"
        )
    from indexer.faiss_backend import FaissIndex

    return FaissIndex(index_dir(faiss_dir or data_dir), recipe, read_only=read_only, **options)
