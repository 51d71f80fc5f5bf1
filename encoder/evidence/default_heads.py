"""The evidence backbone's default heads: the fixed layout for the video and its shots, and the hook heads
trained on real footage re-cut into known openings (``HOOK_HEADS_DIR``, rebuilt by
``sv6d train-hook-heads``; its manifest names the data, command, seeds and backbone fingerprint).

Hook heads trained on another backbone fingerprint are stale (the evidence changed since): they are not used,
with a warning, and the hook falls back to the fixed layout until they are trained again.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from encoder.heads import FixedLayoutHeads, Heads

HOOK_HEADS_DIR = Path(__file__).parent / "hook_heads"
HOOK_HEADS_DIM = 64


def trained_fingerprint(directory: str | Path) -> str | None:
    """The backbone fingerprint saved heads were trained on (None when the manifest does not say)."""
    try:
        manifest = json.loads((Path(directory) / "heads.json").read_text())
    except (OSError, ValueError):
        return None
    backbone = manifest.get("backbone") or {}
    return backbone.get("fingerprint") if isinstance(backbone, dict) else None


def default_evidence_heads(dim: int, fingerprint: str) -> Heads:
    """``LevelHeads(fixed layout, trained hook heads)`` when the packaged hook heads fit ``dim`` and the
    backbone ``fingerprint``; else the fixed layout alone."""
    base = FixedLayoutHeads(dim=dim)
    if dim != HOOK_HEADS_DIM or not (HOOK_HEADS_DIR / "heads.json").is_file():
        return base
    trained = trained_fingerprint(HOOK_HEADS_DIR)
    if trained != fingerprint:
        warnings.warn(
            f"the packaged hook heads were trained on evidence fingerprint {trained}, this backbone is "
            f"{fingerprint}: hooks use the fixed layout until `sv6d train-hook-heads` rebuilds them",
            stacklevel=2,
        )
        return base
    from encoder.contrastive.heads import load_heads

    return load_heads(HOOK_HEADS_DIR)  # hook heads load with the fixed layout for the video and shots
