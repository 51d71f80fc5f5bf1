"""A data directory's manifest (``DATA_DIR/sv6d.json``): which records, index and feature store are current,
and the encoder spec that made them.

Absent, a data directory is what it always was: ``records/``, ``index/``, ``features/`` and no recorded
encoder. ``sv6d upgrade`` builds a new generation beside the current one (``gen-<n>/records``,
``gen-<n>/index``) and switches to it by rewriting this file (temp + fsync + rename: the commit point), so a
reader resolving the folders sees the old generation or the new one, never half of each; a crash before the
rename leaves the old manifest, hence the old index, in force.

This module sits in the core layer: the encoder spec is kept as plain JSON data here (``encoder.spec``
parses it), so the indexer can resolve its folder without importing the encoder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sv6d.errors import ConfigError
from sv6d.record_io import atomic_write_bytes
from sv6d.settings import resolve_data_dir

MANIFEST_NAME = "sv6d.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class DataDirManifest:
    """The current generation of a data directory. Paths are relative to the data directory."""

    generation: int = 0
    records: str = "records"
    index: str = "index"
    features: str = "features"
    #: The ``encoder.spec.EncoderSpec`` (as JSON data) whose records the current generation holds.
    encoder: dict[str, Any] | None = None
    manifest_version: int = MANIFEST_VERSION
    #: Folders of earlier generations kept after a switch (readers that opened them before the switch).
    previous: list[str] = field(default_factory=list)


def manifest_path(data_dir: str | Path | None) -> Path:
    return resolve_data_dir(data_dir) / MANIFEST_NAME


def read_data_manifest(data_dir: str | Path | None) -> DataDirManifest:
    """The data directory's manifest; the defaults when it has none. A damaged one is a ConfigError."""
    path = manifest_path(data_dir)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return DataDirManifest()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the data directory manifest ({exc})") from None
    if not isinstance(raw, dict) or raw.get("manifest_version") != MANIFEST_VERSION:
        raise ConfigError(f"{path}: not a data directory manifest of version {MANIFEST_VERSION}")
    known = set(DataDirManifest.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{path}: unknown field(s) {sorted(unknown)} in the data directory manifest")
    folders = [raw.get(k, k) for k in ("records", "index", "features")] + list(raw.get("previous", []))
    for value in folders:
        if not isinstance(value, str) or Path(value).is_absolute() or ".." in Path(value).parts:
            raise ConfigError(f"{path}: {value!r} must be a folder inside the data directory")
    return DataDirManifest(**raw)


def write_data_manifest(data_dir: str | Path | None, manifest: DataDirManifest) -> None:
    """Replace the manifest atomically (the commit point of a generation switch)."""
    path = manifest_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = json.dumps(asdict(manifest), indent=2, sort_keys=True).encode()

    def write(tmp: Path) -> None:
        tmp.write_bytes(blob)

    atomic_write_bytes(path, write)


def records_dir(data_dir: str | Path | None) -> Path:
    """The current generation's record shards."""
    return resolve_data_dir(data_dir) / read_data_manifest(data_dir).records


def index_dir(data_dir: str | Path | None) -> Path:
    """The current generation's FAISS index folder."""
    return resolve_data_dir(data_dir) / read_data_manifest(data_dir).index


def features_dir(data_dir: str | Path | None) -> Path:
    """The feature store (backbone outputs keyed by content id and fingerprint; shared by generations)."""
    return resolve_data_dir(data_dir) / read_data_manifest(data_dir).features
