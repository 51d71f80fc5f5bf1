"""The opening-style model (encoder.style): a classifier over all six dimensions' hook evidence, saved beside
the hook heads, giving each record a ``hook_style`` profile that the hook search blends in."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from encoder.evidence.features import FEATURE_SIZES
from encoder.heads import FixedLayoutHeads, LevelHeads, style_profile
from encoder.style import STYLE_MANIFEST, STYLE_MODEL, StyleModel, train_style_model
from encoder.types import WindowFeatures
from sv6d.dimensions import DIMENSIONS, Dimension
from sv6d.errors import ConfigError
from sv6d.record import SV6DRecord, style_similarity
from sv6d.record_io import read_records, records_to_frame, write_records

CAMERA, EDITING = Dimension.CAMERA, Dimension.EDITING


def _rows(n: int, seed: int = 0) -> list[tuple[str, dict[Dimension, np.ndarray]]]:
    """Hooks whose style is a conjunction across two dimensions: a camera jump with no cut is a punch-in,
    a cut with no camera jump a jump cut, both a montage, neither a static opening."""
    rng = np.random.default_rng(seed)
    names = {(1, 0): "punch_in", (0, 1): "jump_cuts", (1, 1): "montage", (0, 0): "static"}
    rows = []
    for _ in range(n):
        jump, cut = int(rng.integers(2)), int(rng.integers(2))
        f = {d: rng.normal(0, 0.3, 2 * FEATURE_SIZES[d]) for d in DIMENSIONS}
        f[CAMERA][0] += 2.0 * jump
        f[EDITING][0] += 2.0 * cut
        rows.append((names[(jump, cut)], f))
    return rows


@pytest.fixture(scope="module")
def model() -> StyleModel:
    return train_style_model(_rows(400))


def test_the_style_model_reads_conjunctions_across_dimensions(model: StyleModel) -> None:
    assert model.labels == ("jump_cuts", "montage", "punch_in", "static")
    test = _rows(200, seed=1)
    p = model.probabilities({d: np.stack([f[d] for _, f in test]) for d in DIMENSIONS})
    assert p.shape == (200, 4)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    accuracy = np.mean([model.labels[i] == lab for i, (lab, _) in zip(p.argmax(axis=1), test, strict=True)])
    assert accuracy > 0.95
    profile = model.profile(test[0][1])
    assert list(profile) == list(model.labels)
    assert max(profile, key=lambda k: profile[k]) == test[0][0]


def test_the_style_model_is_deterministic_and_round_trips(model: StyleModel, tmp_path: Path) -> None:
    assert train_style_model(_rows(400)).version == model.version
    model.save(tmp_path)
    assert (tmp_path / STYLE_MODEL).read_bytes()[:2] == b"\x1f\x8b"  # gzipped LightGBM text
    again = StyleModel.load(tmp_path)
    assert again is not None
    assert again.version == model.version
    assert again.labels == model.labels
    # the version names the saved text itself (not LightGBM's re-serialisation of it, which may change)
    saved = gzip.decompress((tmp_path / STYLE_MODEL).read_bytes())
    assert again.version == "style-" + hashlib.sha256(saved).hexdigest()[:10]
    x = _rows(5, seed=2)
    for _, f in x:
        assert again.profile(f) == model.profile(f)
    assert StyleModel.load(tmp_path / "nothing") is None
    manifest = json.loads((tmp_path / STYLE_MANIFEST).read_text())
    manifest["version"] = "style-0000000000"
    (tmp_path / STYLE_MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="is not the model its manifest names"):
        StyleModel.load(tmp_path)
    (tmp_path / STYLE_MODEL).write_bytes(b"not gzip")
    with pytest.raises(ConfigError, match="cannot read the style model"):
        StyleModel.load(tmp_path)


def test_a_style_model_refuses_features_of_another_layout(model: StyleModel) -> None:
    short = {d: np.zeros((1, 3)) for d in DIMENSIONS}
    with pytest.raises(ConfigError, match="train the hook heads again"):
        model.profile(short)
    with pytest.raises(ConfigError, match="at least two styles"):
        train_style_model([("only", f) for _, f in _rows(20)])


def test_level_heads_carry_the_style_model(model: StyleModel, tmp_path: Path) -> None:
    base, hook = FixedLayoutHeads(64), FixedLayoutHeads(64)
    plain, styled = LevelHeads(base, hook), LevelHeads(base, hook, model)
    assert styled.version == f"{plain.version}+{model.version}"
    _, f = _rows(1, seed=3)[0]
    video = {d: np.zeros(FEATURE_SIZES[d], np.float32) for d in DIMENSIONS}
    window = WindowFeatures(0.0, 3.0, {d: f[d][: FEATURE_SIZES[d]].astype(np.float32) for d in DIMENSIONS})
    whole = WindowFeatures(0.0, 8.0, video)
    assert style_profile(plain, window, whole) == {}
    assert style_profile(base, window, whole) == {}
    profile = style_profile(styled, window, whole)
    assert set(profile) == set(model.labels)
    assert sum(profile.values()) == pytest.approx(1.0, abs=1e-3)
    styled.save(tmp_path / "h")
    again = LevelHeads.load(tmp_path / "h")
    assert again.version == styled.version
    assert style_profile(again, window, whole) == profile


def test_style_similarity() -> None:
    """The cosine of centred log probabilities (floored at STYLE_FLOOR): 1 for the same profile, -1 for a
    mirrored one, 0 against nothing or a uniform profile; a style one profile lacks counts as the floor."""
    p = {"a": 0.7, "b": 0.2, "c": 0.1}
    assert style_similarity(p, p) == pytest.approx(1.0)
    near, far = {"a": 0.5, "b": 0.3, "c": 0.2}, {"a": 0.1, "b": 0.2, "c": 0.7}
    assert style_similarity(p, far) < style_similarity(p, near)
    assert style_similarity({"a": 0.9, "b": 0.1}, {"a": 0.1, "b": 0.9}) == pytest.approx(-1.0)
    assert style_similarity(p, {}) == 0.0
    assert style_similarity(p, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}) == 0.0
    assert style_similarity({"a": 1.0}, {"a": 1.0, "b": 0.0}) == pytest.approx(1.0)


def test_records_keep_their_profile_and_older_files_read_without_one(tmp_path: Path) -> None:
    from indexer.synthetic import make_records

    good = make_records(1, 8, seed=1)[0].model_dump()
    for bad in (float("nan"), -0.1, 1.5):
        with pytest.raises(ValueError, match=r"hook_style holds probabilities in \[0, 1\]"):
            SV6DRecord.model_validate({**good, "hook_style": {"caption_hook": bad}})

    records = make_records(3, 8, seed=1)
    records[0] = records[0].model_copy(update={"hook_style": {"caption_hook": 0.75, "montage": 0.25}})
    path = tmp_path / "r.parquet"
    write_records(path, records)
    back = read_records(path)
    assert back[0].hook_style == {"caption_hook": 0.75, "montage": 0.25}
    assert back[1].hook_style == {}
    # a file written before the profile existed has no such column
    old = tmp_path / "old.parquet"
    records_to_frame(records).drop("hook_style").write_parquet(old)
    assert [r.hook_style for r in read_records(old)] == [{}, {}, {}]
    assert "hook_style" in pl.read_parquet(path).columns


def test_a_hit_deleted_during_the_blend_counts_as_having_no_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer may delete a hit between the vector search and the profile lookup: the search still
    answers, that hit with style 0 (no profile), instead of failing with not-found."""
    from indexer import open_index
    from indexer.synthetic import make_records
    from sv6d.errors import NotFoundError

    records = [
        r.model_copy(update={"hook_style": {"montage": 0.6, "jump_cuts": 0.4}}) for r in make_records(12, 8)
    ]
    with open_index(data_dir=tmp_path / "data") as index:
        index.upsert(records)
        gone = index.similar_hooks(records[0].video_id, k=3, style=0.0)[1].video_id
        stored = index.hook_style_of

        def vanished(video_id: str) -> dict[str, float]:
            if video_id == gone:
                raise NotFoundError(f"video_id {video_id!r} is not in the index")
            return stored(video_id)

        monkeypatch.setattr(index, "hook_style_of", vanished)
        hits = index.similar_hooks(records[0].video_id, k=11)  # every other video
        assert {h.video_id: h.style for h in hits}[gone] == 0.0
        assert [h.video_id for h in hits].index(gone) > 1  # second by the vectors; pushed down by style 0
        assert all(h.style == pytest.approx(1.0) for h in hits if h.video_id != gone)
