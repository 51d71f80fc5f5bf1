"""Trained ranker models of one data directory: ``<data_dir>/models/<model id>/`` (``RankerModel`` folders).

A model id is ``<UTC time to the microsecond>-schema<version>-<random>``, so ids sort by age and the newest is
the last. ``save_model`` writes into a hidden temporary folder and renames it into place: a reader (the API
loading "the newest model") sees a complete model folder or none.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from ranker.model import MANIFEST, RankerModel

MODELS_DIR = "models"
_TMP_PREFIX = ".tmp-"


def models_dir(data_dir: Path | str) -> Path:
    """Where a data directory keeps its trained models."""
    return Path(data_dir) / MODELS_DIR


def new_model_id(schema_version: str, now: datetime | None = None) -> str:
    t = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{t:%Y%m%dT%H%M%S%f}Z-schema{schema_version}-{uuid.uuid4().hex[:6]}"


def save_model(model: RankerModel, data_dir: Path | str) -> Path:
    """Save ``model`` as a new model of ``data_dir`` (atomically: a rename of a complete folder)."""
    root = models_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    model_id = new_model_id(model.schema_version)
    tmp = root / f"{_TMP_PREFIX}{model_id}"
    try:
        model.save(tmp)
        final = root / model_id
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    model.model_id = model_id
    return final


def list_models(data_dir: Path | str) -> list[Path]:
    """Saved model folders, oldest first (temporary and incomplete folders are left out)."""
    root = models_dir(data_dir)
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file()
    )


def latest_model(data_dir: Path | str) -> Path | None:
    """The newest saved model folder, or None when there is none."""
    found = list_models(data_dir)
    return found[-1] if found else None
