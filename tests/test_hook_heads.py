"""The hook's own heads: LevelHeads (hook heads apart from the video and shot heads), the evidence
backbone's packaged hook heads (trained by ``sv6d train-hook-heads``) and the fingerprint they were
trained on."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from encoder.contrastive.heads import MLP, ContrastiveHeads, load_heads
from encoder.evidence.backbone import EvidenceBackbone
from encoder.evidence.default_heads import HOOK_HEADS_DIR, default_evidence_heads, trained_fingerprint
from encoder.evidence.features import FEATURE_SIZES
from encoder.heads import FixedLayoutHeads, LevelHeads, project_window
from sv6d.dimensions import DIMENSIONS
from sv6d.errors import ConfigError


def _random_heads(fingerprint: str, dim: int = 64, seed: int = 0) -> ContrastiveHeads:
    rng = np.random.default_rng(seed)
    video = {
        d: MLP(
            rng.standard_normal((FEATURE_SIZES[d], 16)).astype(np.float32),
            np.zeros(16, np.float32),
            rng.standard_normal((16, dim)).astype(np.float32),
            np.zeros(dim, np.float32),
        )
        for d in DIMENSIONS
    }
    manifest = {"backbone": {"name": "evidence", "fingerprint": fingerprint}}
    return ContrastiveHeads(dim, video, {}, f"contrastive-test-{seed}", manifest)


def test_level_heads_project_the_hook_apart_and_round_trip(tmp_path: Path) -> None:
    base, hook = FixedLayoutHeads(64), _random_heads("f" * 16)
    heads = LevelHeads(base, hook)
    assert heads.version == f"{base.version}+hook:{hook.version}"
    x = np.random.default_rng(1).random((3, FEATURE_SIZES[DIMENSIONS[0]])).astype(np.float32)
    d = DIMENSIONS[0]
    np.testing.assert_allclose(project_window(heads, "hook", d, x), hook.project(d, x))
    np.testing.assert_allclose(project_window(heads, "video", d, x), base.project(d, x))
    np.testing.assert_allclose(project_window(heads, "segment", d, x), base.project(d, x))
    heads.save(tmp_path / "h")
    again = load_heads(tmp_path / "h")
    assert isinstance(again, LevelHeads)
    assert again.version == heads.version
    np.testing.assert_allclose(project_window(again, "hook", d, x), hook.project(d, x), atol=1e-6)
    with pytest.raises(ConfigError, match="must agree"):
        LevelHeads(FixedLayoutHeads(32), hook)


def test_heads_trained_on_another_fingerprint_are_refused() -> None:
    from encoder.pipeline import Encoder

    stale = _random_heads("0123456789abcdef")
    with pytest.raises(ConfigError, match="trained on backbone fingerprint 0123456789abcdef"):
        Encoder(heads=stale)
    Encoder(heads=_random_heads(EvidenceBackbone().fingerprint()))  # the right one is taken


def test_packaged_hook_heads_match_the_evidence_backbone() -> None:
    """The shipped hook heads were trained on this very evidence: any change to the evidence (layout,
    constants, version) changes the fingerprint, and `sv6d train-hook-heads` must be run again."""
    assert (HOOK_HEADS_DIR / "heads.json").is_file(), "no packaged hook heads: run sv6d train-hook-heads"
    fingerprint = EvidenceBackbone().fingerprint()
    assert trained_fingerprint(HOOK_HEADS_DIR) == fingerprint
    heads = default_evidence_heads(64, fingerprint)
    assert isinstance(heads, LevelHeads)
    manifest = json.loads((HOOK_HEADS_DIR / "heads.json").read_text())
    data = manifest["data"]
    assert data["validation_sources"]
    assert data["train_sources"]
    assert manifest["command"].startswith("sv6d train-hook-heads")
    # trained on the training side only: no held-out source of the benchmark split
    from sv6d.hookbench import load_split

    split = load_split()
    assert not set(data["train_sources"]) & set(split.heldout)
    assert not set(data["validation_sources"]) & set(split.heldout)
    # the validation sources chose the number of epochs, then the heads were trained on them too
    assert set(data["validation_sources"]) <= set(data["train_sources"])
    assert manifest["selection"]["epochs"] == manifest["joint"]["best_epoch"] >= 1
    assert (HOOK_HEADS_DIR / "heads.npz").stat().st_size < 2_000_000
    # the opening-style model was trained with them, on the same data, and is part of their version
    assert heads.style is not None
    assert heads.version.endswith("+" + heads.style.version)
    assert manifest["style"] == heads.style.version
    assert heads.style.manifest["data"] == data
    assert heads.style.manifest["trained_with"] == manifest["version"]
    from sv6d.hookbench import STYLES

    assert set(heads.style.labels) >= set(STYLES)  # every listed opening style, and the generated ones
    from encoder.style import STYLE_MODEL

    assert (HOOK_HEADS_DIR / STYLE_MODEL).stat().st_size < 2_500_000


def test_stale_packaged_heads_fall_back_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="sv6d train-hook-heads"):
        heads = default_evidence_heads(64, "not-the-fingerprint")
    assert isinstance(heads, FixedLayoutHeads)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(default_evidence_heads(32, "anything"), FixedLayoutHeads)  # other sizes: no heads


def test_a_folder_of_hook_heads_loads_as_the_backbones_default_does() -> None:
    """``--heads DIR`` with hook heads (sv6d train-hook-heads --out DIR): the hook through them, the video and
    shots through the fixed layout, so a candidate set of hook heads can be tried without replacing the
    packaged one; the packaged folder loaded this way encodes exactly as the default."""
    from encoder.pipeline import Encoder

    loaded = load_heads(HOOK_HEADS_DIR)
    assert isinstance(loaded, LevelHeads)
    assert isinstance(loaded.base, FixedLayoutHeads)
    default = default_evidence_heads(64, EvidenceBackbone().fingerprint())
    assert loaded.version == default.version
    assert Encoder(heads=loaded).heads.version == Encoder().heads.version
