"""The every-frame picture evidence (encoder.evidence.picture) on frames built to show each property, and the
hook heads' contrast input (encoder.heads.hook_head_input)."""

from __future__ import annotations

import numpy as np
import pytest


def _moving_texture(n: int, h: int = 48, w: int = 64, step: int = 2, seed: int = 0) -> np.ndarray:
    """(n, h, w, 3) uint8: a smooth random texture panning ``step`` px a frame."""
    import cv2

    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.uniform(0, 255, (h, w + n * step)).astype(np.float32), (0, 0), 2.0)
    frames = np.stack([big[:, i * step : i * step + w] for i in range(n)])
    return np.repeat(np.clip(frames, 0, 255).astype(np.uint8)[..., None], 3, axis=3)


def test_the_track_is_the_same_whatever_the_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    from encoder.evidence import picture

    thumbs = _moving_texture(23)
    whole = picture.picture_track(thumbs)
    monkeypatch.setattr(picture, "CHUNK", 5)
    chunked = picture.picture_track(thumbs)
    for name in ("grad_x", "grad_y", "regions", "col_edges", "row_edges", "blend", "span", "hist_sim"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-5, atol=1e-4)
    assert len(whole) == 23
    assert whole.regions.shape == (23, picture.GRID**2)
    assert np.isnan(whole.blend[0])
    assert np.isnan(whole.blend[-1])
    assert np.isfinite(whole.blend[1:-1]).all()


def test_a_blended_in_between_frame_is_the_mean_of_its_neighbours() -> None:
    from encoder.evidence.picture import picture_track

    real = _moving_texture(9, step=6)
    blended = real.copy()
    blended[4] = ((real[3].astype(np.float32) + real[5]) / 2).round().astype(np.uint8)
    t_real, t_blend = picture_track(real), picture_track(blended)
    ratio_real = t_real.blend[4] / t_real.span[4]
    ratio_blend = t_blend.blend[4] / t_blend.span[4]
    assert ratio_blend < 0.05 < 0.35 < ratio_real, (ratio_blend, ratio_real)


def test_colour_continuity_and_a_seam() -> None:
    from encoder.evidence.picture import picture_track

    left = _moving_texture(6, w=32, seed=1)
    right = 255 - _moving_texture(6, w=32, seed=2)
    split = np.concatenate([left, right], axis=2)
    split[:, :, 32:] //= 3  # the right picture darker: a hard vertical edge at x = 32 in every row
    track = picture_track(split)
    assert int(np.argmax(track.col_edges.mean(axis=0))) == 31
    flat = np.zeros((3, 16, 16, 3), np.uint8)
    flat[1:] = 255
    sim = picture_track(flat).hist_sim
    assert sim[0] == 1.0
    assert sim[1] == 0.0
    assert sim[2] == 1.0


def test_hook_heads_compare_the_hook_with_its_video() -> None:
    """The packaged hook heads take the hook beside its difference from the whole video, built in one place
    for training and encoding; without the video's features they refuse rather than guess."""
    from encoder.evidence.backbone import EvidenceBackbone
    from encoder.evidence.default_heads import HOOK_HEADS_DIM, default_evidence_heads
    from encoder.evidence.features import FEATURE_SIZES
    from encoder.heads import HOOK_AND_CONTRAST, LevelHeads, hook_head_input
    from sv6d.dimensions import Dimension
    from sv6d.errors import ConfigError

    hook, video = np.array([[1.0, 2.0]]), np.array([[0.5, 2.0]])
    np.testing.assert_array_equal(hook_head_input(hook, video), [[1.0, 2.0, 0.5, 0.0]])

    heads = default_evidence_heads(HOOK_HEADS_DIM, EvidenceBackbone().fingerprint())
    assert isinstance(heads, LevelHeads)
    assert heads.hook_input == HOOK_AND_CONTRAST
    d = Dimension.EDITING
    rng = np.random.default_rng(0)
    h, v = rng.uniform(0, 1, (1, FEATURE_SIZES[d])), rng.uniform(0, 1, (1, FEATURE_SIZES[d]))
    same = heads.project_level("hook", d, h, h)
    other = heads.project_level("hook", d, h, v)
    assert same.shape == (1, HOOK_HEADS_DIM)
    assert not np.allclose(same, other)
    with pytest.raises(ConfigError, match="whole video"):
        heads.project_level("hook", d, h)
