"""Where stored data lives: ``--data-dir``, else ``SV6D_DATA_DIR``, else ``./data``."""

from __future__ import annotations

import os
from pathlib import Path


def resolve_data_dir(option: str | Path | None = None) -> Path:
    if option:
        return Path(option).expanduser()
    env = os.environ.get("SV6D_DATA_DIR")
    return Path(env).expanduser() if env else Path("data")
