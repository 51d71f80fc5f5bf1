"""Default heads of the VLM backbone: untrained seeded random projections, a ``Heads`` with a round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from encoder.contrastive.heads import load_heads
from encoder.heads import FixedLayoutHeads, Heads
from encoder.vlm.heads import RandomProjectionHeads
from sv6d.dimensions import DIMENSIONS, Dimension
from sv6d.errors import ConfigError


def _sizes(f: int = 48) -> dict[Dimension, int]:
    return dict.fromkeys(DIMENSIONS, f)


def test_random_projection_heads_are_heads_with_unit_rows_and_an_untrained_version():
    heads = RandomProjectionHeads(_sizes(), dim=16, seed=3)
    assert isinstance(heads, Heads)
    assert heads.version == "untrained-projection-1-s3"
    x = np.random.default_rng(0).normal(size=(5, 48)).astype(np.float32)
    out = heads.project(Dimension.CAMERA, x)
    assert out.shape == (5, 16)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_dimensions_get_different_projections_and_seeds_differ():
    x = np.random.default_rng(1).normal(size=(3, 48))
    a = RandomProjectionHeads(_sizes(), dim=16, seed=0)
    b = RandomProjectionHeads(_sizes(), dim=16, seed=1)
    assert not np.allclose(a.project(Dimension.SUBJECT, x), a.project(Dimension.EDITING, x))
    assert not np.allclose(a.project(Dimension.SUBJECT, x), b.project(Dimension.SUBJECT, x))


def test_projection_keeps_angles_when_input_is_smaller_than_dim():
    heads = RandomProjectionHeads(_sizes(8), dim=32)
    x = np.random.default_rng(2).normal(size=(6, 8))
    z = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    out = heads.project(Dimension.NARRATIVE, x)
    np.testing.assert_allclose(out @ out.T, z @ z.T, atol=1e-5)


def test_save_load_round_trip_through_load_heads(tmp_path):
    heads = RandomProjectionHeads(_sizes(), dim=16, seed=5)
    heads.save(tmp_path)
    manifest = json.loads((tmp_path / "heads.json").read_text())
    assert manifest["type"] == "RandomProjectionHeads"
    assert manifest["trained"] is False
    back = load_heads(tmp_path)
    assert isinstance(back, RandomProjectionHeads)
    assert back.version == heads.version
    x = np.random.default_rng(3).normal(size=(4, 48))
    for d in DIMENSIONS:
        np.testing.assert_array_equal(back.project(d, x), heads.project(d, x))


def test_load_heads_dispatches_fixed_layout_and_refuses_unknown_types(tmp_path):
    FixedLayoutHeads(dim=16).save(tmp_path / "fixed")
    assert isinstance(load_heads(tmp_path / "fixed"), FixedLayoutHeads)
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "heads.json").write_text(json.dumps({"type": "Mystery"}))
    with pytest.raises(ConfigError, match="unknown heads type 'Mystery'"):
        load_heads(tmp_path / "odd")
    with pytest.raises(ConfigError, match="cannot read heads manifest"):
        load_heads(tmp_path / "absent")


def test_bad_inputs_are_refused():
    heads = RandomProjectionHeads(_sizes(), dim=16)
    with pytest.raises(ValueError, match=r"camera features must have shape \(n, 48\)"):
        heads.project(Dimension.CAMERA, np.zeros((2, 7)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        heads.project(Dimension.CAMERA, np.full((1, 48), np.nan))
    with pytest.raises(ConfigError, match="lack input sizes"):
        RandomProjectionHeads({Dimension.CAMERA: 4}, dim=16)
    with pytest.raises(ConfigError, match="dim must be >= 2"):
        RandomProjectionHeads(_sizes(), dim=1)
