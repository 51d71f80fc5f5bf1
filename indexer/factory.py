"""One chooser: ``open_index`` picks the backend from a URL-like location and refuses conflicting settings.

Location forms:
- ``None`` or a plain path or ``faiss://<path>``: FAISS in the data directory (files under ``<dir>/index``);
- ``qdrant::memory:``: Qdrant in-process, in memory (qdrant-client's local mode: for tests and small sets);
- ``qdrant+path://<dir>``: Qdrant in-process, persisted in ``<dir>``: the embedded engine (Qdrant Edge),
  unless ``<dir>`` already holds a store of qdrant-client's local mode, which is opened as it is (with a
  warning above :data:`LOCAL_MODE_MAX_POINTS` videos). The choice is logged;
- ``qdrant+edge://<dir>``: the embedded engine, always; ``qdrant+local://<dir>``: local mode, always;
- ``http://host:6333`` / ``https://...``: a Qdrant server or cluster (``api_key=`` optional).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from indexer.base import VectorIndex
from indexer.qdrant_backend import QDRANT_CONFIG_FIELDS
from sv6d.errors import ConfigError
from sv6d.settings import resolve_data_dir

log = logging.getLogger(__name__)

INDEX_SUBDIR = "index"
FAISS_OPTIONS = frozenset({"search_params", "rerank_factor", "use_gpu"})
# Every QdrantConfig field (cluster, consistency, on-disk, quantization, HNSW) is an open_index option too.
QDRANT_OPTIONS = frozenset({"api_key", "collection", "timeout", "config"}) | QDRANT_CONFIG_FIELDS
# The embedded engine: one shard per directory (no collection), no client (no key, no timeout).
EDGE_OPTIONS = frozenset({"config", "fusion", "indexing_threshold_kb"}) | QDRANT_CONFIG_FIELDS
#: Above this many points qdrant-client's local mode (a scan in Python) warns that it is not made for the
#: size; in-process Qdrant uses the embedded engine by default for new stores for that reason.
LOCAL_MODE_MAX_POINTS = 20_000


def is_local_mode_store(directory: str | Path) -> bool:
    """Whether ``directory`` holds a store written by qdrant-client's local mode."""
    return (Path(directory) / "meta.json").is_file() and (Path(directory) / "collection").is_dir()


def _in_process_path(directory: str) -> tuple[str, str]:
    """``("local" | "edge", why)`` for ``qdrant+path://<directory>``."""
    if is_local_mode_store(directory):
        return "local", "it holds a store of qdrant-client's local mode"
    return "edge", "the embedded engine is the default for in-process Qdrant on disk"


def index_dir(data_dir: str | Path | None) -> Path:
    """Where the FAISS files of a data directory live: ``<dir>/index``, or the folder of the generation its
    manifest (``sv6d.datadir``) names as current after an upgrade."""
    from sv6d.datadir import index_dir as current_index_dir

    return current_index_dir(resolve_data_dir(data_dir))


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
    ``write_consistency_factor``, ``on_disk``, ``timeout``. Embedded engine (``qdrant+edge://``) options: the
    ``QdrantConfig`` fields that are not about a cluster, ``config``, ``fusion``, ``indexing_threshold_kb``.
    Conflicts raise ConfigError naming both settings.
    """
    unknown = set(options) - FAISS_OPTIONS - QDRANT_OPTIONS - EDGE_OPTIONS
    if unknown:
        valid = ", ".join(sorted(FAISS_OPTIONS | QDRANT_OPTIONS | EDGE_OPTIONS))
        raise ConfigError(f"unknown index option(s) {sorted(unknown)}; valid options: {valid}")
    loc = (location or "").strip()
    qdrant: dict[str, Any] | None = None
    edge: str | None = None
    faiss_dir: str | Path | None = None
    if loc == "qdrant::memory:" or loc == ":memory:":
        qdrant = {"location": ":memory:"}
    elif loc.startswith(("qdrant+path://", "qdrant+edge://", "qdrant+local://")):
        scheme, directory = loc.split("://", 1)
        if not directory:
            raise ConfigError(f"location {location!r} names no directory after {scheme}://")
        engine = scheme.removeprefix("qdrant+")
        if engine == "path":
            engine, why = _in_process_path(directory)
            log.info(
                "%s: %s (%s)",
                location,
                "Qdrant Edge" if engine == "edge" else "qdrant-client local mode",
                why,
            )
        if engine == "edge":
            edge = directory
        else:
            qdrant = {"path": directory}
    elif loc.startswith(("http://", "https://")):
        qdrant = {"url": loc}
    elif loc.startswith("faiss://"):
        faiss_dir = loc.removeprefix("faiss://")
    elif "://" in loc:
        raise ConfigError(
            f"unknown index location {location!r}; use a path, faiss://<dir>, qdrant::memory:, "
            "qdrant+path://<dir>, qdrant+edge://<dir>, qdrant+local://<dir> or http(s)://host:6333"
        )
    elif loc:
        faiss_dir = loc

    if edge is not None:
        _refuse_for_qdrant(location, recipe, data_dir, read_only, "the embedded engine")
        wrong = set(options) - EDGE_OPTIONS
        if wrong:
            raise ConfigError(
                f"option(s) {sorted(wrong)} do not apply to the embedded Qdrant engine at {location!r}; "
                f"valid options: {', '.join(sorted(EDGE_OPTIONS))}"
            )
        from indexer.qdrant_edge_backend import EdgeIndex

        return EdgeIndex(edge, **options)

    if qdrant is not None:
        _refuse_for_qdrant(location, recipe, data_dir, read_only, "the Qdrant location")
        wrong = set(options) & (FAISS_OPTIONS - QDRANT_OPTIONS)
        if wrong:
            raise ConfigError(
                f"FAISS option(s) {sorted(wrong)} conflict with the Qdrant location {location!r}"
            )
        wrong = set(options) - QDRANT_OPTIONS
        if wrong:
            raise ConfigError(
                f"option(s) {sorted(wrong)} apply to the embedded engine only, not {location!r}"
            )
        from indexer.qdrant_backend import QdrantIndex

        ix = QdrantIndex(**qdrant, **options)
        if "path" in qdrant and ix.count() > LOCAL_MODE_MAX_POINTS:
            warnings.warn(
                f"{location}: qdrant-client's local mode scans {ix.count()} videos in Python on every query "
                f"(made for up to {LOCAL_MODE_MAX_POINTS}); copy them into the embedded engine "
                "(qdrant+edge://<new dir>) for HNSW and payload indexes",
                stacklevel=2,
            )
        return ix

    wrong = set(options) - FAISS_OPTIONS
    if wrong:
        # Every option that is not FAISS's is a Qdrant (or embedded engine) one.
        raise ConfigError(
            f"Qdrant option(s) {sorted(wrong)} conflict with a FAISS data directory {location!r}"
        )
    if faiss_dir is not None and data_dir is not None and Path(faiss_dir) != Path(data_dir):
        raise ConfigError(
            f"location {location!r} conflicts with data_dir {str(data_dir)!r}: give one of them"
        )
    from indexer.faiss_backend import FaissIndex

    return FaissIndex(index_dir(faiss_dir or data_dir), recipe, read_only=read_only, **options)


def _refuse_for_qdrant(
    location: str | None, recipe: str | None, data_dir: str | Path | None, read_only: bool, what: str
) -> None:
    """Settings of a FAISS data directory that a Qdrant location cannot take."""
    if recipe is not None and recipe != "Flat":
        raise ConfigError(f"FAISS recipe {recipe!r} conflicts with {what} {location!r}")
    if data_dir is not None:
        raise ConfigError(f"data_dir {str(data_dir)!r} conflicts with {what} {location!r}")
    if read_only:
        raise ConfigError(f"read_only applies to FAISS data directories, not {what} {location!r}")
