"""Contrastive heads: cache round trip, training improves retrieval, save/load, text side, re-projection."""

from __future__ import annotations

import numpy as np
import pytest

from encoder.contrastive.cache import FeatureCache
from encoder.contrastive.corpus import FACTORS, generated_corpus
from encoder.contrastive.evaluate import retrieval_metrics
from encoder.types import BackboneOutput, WindowFeatures
from sv6d.dimensions import DIMENSIONS, Dimension
from sv6d.errors import ConfigError, NotFoundError


def _synthetic(n: int, seed: int, f: int = 24):
    """Labelled features: a label-dependent direction in 3 of f coordinates, buried in larger noise."""
    rng = np.random.default_rng(seed)
    out = {}
    for d, options in FACTORS.items():
        labels = [str(rng.choice(options)) for _ in range(n)]
        centres = {o: rng.normal(0, 1, 3) for o in options}
        x = rng.normal(0, 2.0, (n, f)).astype(np.float32)
        x[:, :3] += np.stack([centres[lab] for lab in labels]) * 2.0
        out[d] = (x, labels)
    return out


@pytest.fixture(scope="module")
def trained():
    from encoder.contrastive.train import TrainConfig, train_heads

    train, val, test = _synthetic(120, 0), _synthetic(40, 1), _synthetic(40, 2)
    # Same label centres across splits: rebuild val/test from the train generator's centres.
    rng = np.random.default_rng(0)
    full = _synthetic(200, 0)
    idx = rng.permutation(200)
    split = {
        k: {d: (full[d][0][ix], [full[d][1][i] for i in ix]) for d in DIMENSIONS}
        for k, ix in (("train", idx[:120]), ("val", idx[120:160]), ("test", idx[160:]))
    }
    del train, val, test
    cfg = TrainConfig(dim=16, hidden=32, epochs=30, batch_size=32, patience=8, seed=3)
    heads = train_heads(split["train"], split["val"], cfg, progress=False)
    return heads, split


@pytest.mark.slow
def test_heads_improve_retrieval_on_held_out(trained):
    heads, split = trained
    for d in DIMENSIONS:
        x, labels = split["test"][d]
        mu, sd = split["train"][d][0].mean(0), split["train"][d][0].std(0)
        before = retrieval_metrics((x - mu) / sd, labels)["map"]
        after = retrieval_metrics(heads.project(d, x), labels)["map"]
        assert after > before, d
    assert heads.dim == 16
    out = heads.project(Dimension.EDITING, split["test"][Dimension.EDITING][0])
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert heads.manifest["metrics"]["editing"]["temperature"] > 0


@pytest.mark.slow
def test_save_load_round_trip(trained, tmp_path):
    from encoder.contrastive.heads import ContrastiveHeads, load_heads
    from encoder.heads import Heads

    heads, split = trained
    heads.save(tmp_path)
    back = load_heads(tmp_path)
    assert isinstance(back, ContrastiveHeads)
    assert isinstance(back, Heads)
    assert back.version == heads.version
    x = split["test"][Dimension.CAMERA][0]
    np.testing.assert_allclose(
        back.project(Dimension.CAMERA, x), heads.project(Dimension.CAMERA, x), atol=1e-6
    )
    with pytest.raises(ValueError, match=r"camera features must have shape \(n, 24\)"):
        back.project(Dimension.CAMERA, x[:, :5])
    with pytest.raises(ConfigError, match="cannot read contrastive heads"):
        ContrastiveHeads.load(tmp_path / "missing")


@pytest.mark.slow
def test_feature_cache_round_trip_and_reproject(trained, tmp_path):
    from encoder.contrastive.workflow import reproject
    from sv6d.record_io import read_records

    heads, _ = trained
    rng = np.random.default_rng(0)

    def wf(a, b):
        return WindowFeatures(a, b, {d: rng.normal(size=24).astype(np.float32) for d in DIMENSIONS})

    out = BackboneOutput(wf(0, 6), wf(0, 3), [wf(0, 2), wf(2, 6)], [], [0.0, 1.0], 1.0)
    cache = FeatureCache(tmp_path / "cache", "abc123")
    meta = {"duration_s": 6.0, "fps": 4.0, "width": 128, "height": 72, "hook_window": [0, 3]}
    cache.put("vid-1", out, meta)
    assert "vid-1" in cache
    back, meta_back = cache.get("vid-1")
    assert meta_back == meta
    np.testing.assert_array_equal(
        back.segments[1].features[Dimension.SUBJECT], out.segments[1].features["subject"]
    )
    assert list(cache.video_ids()) == ["vid-1"]
    with pytest.raises(NotFoundError, match="no features for video 'nope'"):
        cache.get("nope")
    records = reproject(cache, heads, tmp_path / "records.parquet")
    stored = read_records(tmp_path / "records.parquet")
    assert stored[0].encoder.head_version == heads.version
    assert stored[0].encoder.fingerprint == "abc123"
    assert stored[0].video.shape == (6, 16)
    assert len(stored[0].segments) == 2
    np.testing.assert_allclose(stored[0].hook, records[0].hook, atol=1e-6)


@pytest.mark.slow
def test_real_text_side_retrieves_by_definition():
    """MiniLM text side on the generated corpus through the evidence backbone: text queries find videos."""
    from encoder.backbone import get_backbone
    from encoder.contrastive.evaluate import evaluate_heads
    from encoder.contrastive.train import TrainConfig, train_heads

    corpus = generated_corpus(45, seed=5, seconds=4.0)
    bb = get_backbone("evidence")
    feats = [bb.encode(g.decoded, [], g.shots, (0.0, 3.0)).video.features for g in corpus]

    def lab(sl):
        return {
            d: (np.stack([feats[i][d] for i in sl]), [corpus[i].labels[d] for i in sl]) for d in DIMENSIONS
        }

    tr, va, te = lab(range(27)), lab(range(27, 36)), lab(range(36, 45))
    heads = train_heads(tr, va, TrainConfig(dim=16, hidden=32, epochs=10, seed=0), progress=False)
    result = evaluate_heads(heads, tr, te)
    assert set(result["dimensions"]) == {d.value for d in DIMENSIONS}
    # Chance for a 2-3-way label is ~0.33-0.5; the aligned text side must beat it clearly.
    assert result["text_to_video_recall_at_10"] > 0.6
    q = heads.project_text(Dimension.DISSEMINATION, ["a text overlay in the first seconds"])
    assert q.shape == (1, 16)
