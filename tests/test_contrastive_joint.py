"""Heads trained together (``TrainConfig.joint_weights``) on the weighted similarity a search ranks by, each
head still reading only its own dimension's features; clipped inputs; the text side that follows the video
space without moving it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encoder.contrastive.evaluate import retrieval_metrics
from sv6d.dimensions import DIMENSIONS, Dimension
from sv6d.errors import ConfigError

STYLES = ["jump_cuts", "fade_from_black", "flash_open", "slow_push_in"]
WEIGHTS = {"subject": 0.0, "editing": 2.0}  # the others weigh 1; subject is trained on its own


def _openings(n: int, seed: int) -> tuple[dict, list[str]]:
    """One style per clip, the same in every dimension; each dimension sees it in 3 of its 12 inputs (its own
    centres), under noise, so that no dimension alone tells every style apart."""
    rng = np.random.default_rng(seed)
    labels = [STYLES[i % len(STYLES)] for i in range(n)]
    centres = np.random.default_rng(99).normal(0, 1.2, (len(DIMENSIONS), len(STYLES), 3))
    out = {}
    for k, d in enumerate(DIMENSIONS):
        x = rng.normal(0, 1.0, (n, 12)).astype(np.float32)
        x[:, :3] += np.stack([centres[k, STYLES.index(s)] for s in labels])
        out[d] = (x, labels)
    return out, labels


def _config(**kw):  # type: ignore[no-untyped-def]
    from encoder.contrastive.train import TrainConfig

    base = dict(dim=8, hidden=16, epochs=25, batch_size=32, patience=25, seed=1, hard_negatives=0)
    base.update(input_dropout=0.1, input_clip=2.5, joint_weights=WEIGHTS)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def joint():
    from encoder.contrastive.train import train_heads

    train, _ = _openings(160, 0)
    val, _ = _openings(48, 1)
    return train_heads(train, val, _config(), progress=False)


def _weighted(heads, data) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Concatenated sqrt(w_d / sum w)-scaled unit vectors: their dot product is the weighted mean cosine."""
    w = {d: WEIGHTS.get(d.value, 1.0) for d in DIMENSIONS}
    total = sum(w.values())
    return np.concatenate([np.sqrt(w[d] / total) * heads.project(d, data[d][0]) for d in DIMENSIONS], axis=1)


def test_joint_heads_rank_held_out_openings_by_the_weighted_similarity(joint) -> None:
    test, labels = _openings(80, 2)
    raw = np.concatenate([test[d][0] for d in DIMENSIONS], axis=1)
    before = retrieval_metrics((raw - raw.mean(0)) / raw.std(0), labels)["map"]
    after = retrieval_metrics(_weighted(joint, test), labels)["map"]
    assert after > before + 0.1, (before, after)
    manifest = joint.manifest
    assert manifest["joint"]["weights"] == {d.value: WEIGHTS.get(d.value, 1.0) for d in DIMENSIONS}
    assert 0 < manifest["joint"]["val_map"] <= 1
    # every head reads its own dimension's inputs only, and the dimension weighted 0 was trained on its own
    assert all(joint.input_size(d) == 12 for d in DIMENSIONS)
    alone = retrieval_metrics(joint.project(Dimension.SUBJECT, test[Dimension.SUBJECT][0]), labels)["map"]
    assert alone > 0.4, alone  # chance is about 0.25 for four styles


def test_clipped_inputs_are_saved_and_applied(joint, tmp_path: Path) -> None:
    from encoder.contrastive.heads import ContrastiveHeads

    test, _ = _openings(8, 3)
    joint.save(tmp_path)
    again = ContrastiveHeads.load(tmp_path)
    for d in DIMENSIONS:
        np.testing.assert_array_equal(again.project(d, test[d][0]), joint.project(d, test[d][0]))
    head = again.video_heads[Dimension.CAMERA]
    assert float(head.clip) == 2.5
    x = test[Dimension.CAMERA][0][:1].copy()
    far = x.copy()
    far[0, 5] = head.mean[5] + 50 * head.std[5]  # an outlier input counts as 2.5 standard deviations
    at_clip = x.copy()
    at_clip[0, 5] = head.mean[5] + 2.5 * head.std[5]
    np.testing.assert_allclose(again.project(Dimension.CAMERA, far), again.project(Dimension.CAMERA, at_clip))


def test_the_text_side_follows_the_video_space_without_moving_it() -> None:
    from encoder.contrastive.train import train_heads

    train, _ = _openings(64, 4)
    val, _ = _openings(24, 5)
    quiet = train_heads(train, val, _config(epochs=4, patience=4, text_weight=0.0), progress=False)
    loud = train_heads(train, val, _config(epochs=4, patience=4, text_weight=2.0), progress=False)
    for d in DIMENSIONS:  # the same video heads (to float rounding), other text heads
        np.testing.assert_allclose(quiet.video_heads[d].w1, loud.video_heads[d].w1, atol=1e-4)
        assert np.abs(quiet.text_heads[d].w1 - loud.text_heads[d].w1).max() > 1e-2


def test_joint_training_needs_one_label_per_clip_in_every_dimension() -> None:
    from encoder.contrastive.train import train_heads

    train, labels = _openings(16, 6)
    x, _ = train[Dimension.CAMERA]
    train[Dimension.CAMERA] = (x, list(reversed(labels)))
    with pytest.raises(ConfigError, match="same label"):
        train_heads(train, _openings(8, 7)[0], _config(epochs=1), progress=False)
    with pytest.raises(ConfigError, match="joint weights"):
        train_heads(*(_openings(16, 6)[0], _openings(8, 7)[0]), _config(joint_weights={"camera": -1}))


def test_a_refit_keeps_the_last_epoch() -> None:
    """``select_epoch=False`` (the refit on all the data for a number of epochs chosen before): the heads of
    the last epoch, whatever the validation score did."""
    from encoder.contrastive.train import train_heads

    train, _ = _openings(64, 8)
    val, _ = _openings(24, 9)
    heads = train_heads(train, val, _config(epochs=5, patience=1, select_epoch=False), progress=False)
    assert heads.manifest["joint"]["best_epoch"] == 5
    assert all(m["best_epoch"] == 5 for m in heads.manifest["metrics"].values())
