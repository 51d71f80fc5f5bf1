"""Frame preprocessing: patch grid, normalisation, patch order; compared with the library where possible."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from encoder.vlm.preprocess import PreprocessConfig, preprocess_frames, sample_indices, smart_resize
from sv6d.errors import ConfigError

QWEN2 = PreprocessConfig(
    14, 2, 2, (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711), 56 * 56, 448 * 448
)
QWEN3 = PreprocessConfig(
    16, 2, 2, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 128 * 32 * 32, 16 * 448 * 448, budget_over_time=True
)


def _torchvision_usable() -> bool:
    if importlib.util.find_spec("torchvision") is None:
        return False
    try:
        import torchvision  # noqa: F401
    except Exception:
        return False
    return True


@pytest.mark.parametrize(("cfg", "factor"), [(QWEN2, 28), (QWEN3, 32)])
def test_grid_is_a_multiple_of_the_patch_factor(cfg, factor):
    for h, w in [(360, 640), (1920, 1080), (90, 160), (31, 500)]:
        rh, rw = smart_resize(h, w, cfg, num_frames=16)
        assert rh % factor == 0
        assert rw % factor == 0
        assert rh >= factor
        assert rw >= factor


def test_qwen2_pixel_budget_and_aspect():
    rh, rw = smart_resize(1080, 1920, QWEN2)
    assert rh * rw <= QWEN2.max_pixels
    assert abs(rw / rh - 16 / 9) < 0.15


def test_patch_order_matches_the_library_layout(rng):
    frames = rng.integers(0, 255, (4, 56, 84, 3), dtype=np.uint8)
    out = preprocess_frames(frames, np.arange(4) * 0.5, QWEN2)
    assert out.grid_thw == (2, 4, 6)
    assert out.pixel_values.shape == (2 * 4 * 6, 3 * 2 * 14 * 14)
    assert out.tokens_per_patch == 6
    # Row 0: temporal patch 0, merged block (0, 0), merge position (0, 0) = pixels [0:14, 0:14] of
    # frames 0-1; row 1: merge position (0, 1) = pixels [0:14, 14:28].
    norm = (frames / 255.0 - np.array(QWEN2.image_mean)) / np.array(QWEN2.image_std)
    row0 = norm[0:2, 0:14, 0:14].transpose(3, 0, 1, 2).reshape(-1)
    row1 = norm[0:2, 0:14, 14:28].transpose(3, 0, 1, 2).reshape(-1)
    np.testing.assert_allclose(out.pixel_values[0], row0, atol=1e-5)
    np.testing.assert_allclose(out.pixel_values[1], row1, atol=1e-5)
    # Row 2 is merge position (1, 0): pixels [14:28, 0:14].
    row2 = norm[0:2, 14:28, 0:14].transpose(3, 0, 1, 2).reshape(-1)
    np.testing.assert_allclose(out.pixel_values[2], row2, atol=1e-5)


def test_odd_frame_count_repeats_the_last_frame(rng):
    frames = rng.integers(0, 255, (3, 56, 56, 3), dtype=np.uint8)
    out = preprocess_frames(frames, np.array([0.0, 0.5, 1.0]), QWEN2)
    assert out.grid_thw[0] == 2
    np.testing.assert_array_equal(out.patch_times_s, [[0.0, 0.5], [1.0, 1.0]])


def test_bad_frames_are_rejected():
    with pytest.raises(ConfigError, match=r"must be \(N, H, W, 3\) uint8"):
        preprocess_frames(np.zeros((2, 8, 8), dtype=np.uint8), np.zeros(2), QWEN2)
    with pytest.raises(ConfigError, match="one time each"):
        preprocess_frames(np.zeros((2, 8, 8, 3), dtype=np.uint8), np.zeros(3), QWEN2)


def test_sample_indices_follow_fps_and_cap():
    times = np.arange(80) / 20.0  # 4 s at 20 fps
    idx = sample_indices(times, fps=2.0, max_frames=32)
    np.testing.assert_allclose(times[idx], [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5])
    assert len(sample_indices(times, fps=20.0, max_frames=16)) == 16


@pytest.mark.skipif(
    not _torchvision_usable(), reason="torchvision is absent here (CPU torch); run on a GPU box"
)
def test_matches_the_library_video_processor(rng):
    import torch
    from transformers import Qwen2VLVideoProcessor

    frames = rng.integers(0, 255, (4, 90, 160, 3), dtype=np.uint8)
    lib = Qwen2VLVideoProcessor(min_pixels=QWEN2.min_pixels, max_pixels=QWEN2.max_pixels)
    ref = lib(
        videos=[torch.from_numpy(frames).permute(0, 3, 1, 2)],
        return_tensors="np",
        cap_pixels_per_frame=False,
        do_sample_frames=False,
    )
    ours = preprocess_frames(frames, np.arange(4) * 0.5, QWEN2)
    assert tuple(ref["video_grid_thw"][0]) == ours.grid_thw
    # Resize kernels differ by at most a grey level (uint8 rounding), i.e. ~0.03 after normalisation.
    np.testing.assert_allclose(ref["pixel_values_videos"], ours.pixel_values, atol=0.06)


@pytest.mark.parametrize("cfg", [QWEN2, QWEN3], ids=["qwen2", "qwen3"])
def test_matches_the_library_image_processor_on_real_720p_frames(cfg, shared_data):
    """transformers' PIL Qwen2-VL image processor (no torchvision needed) on decoded 720p frames: a frame is
    a clip of one temporal patch (the frame repeated), so ours must give the same grid and, up to the two
    resize kernels' rounding, the same pixels."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from encoder.decode import DecodeConfig, decode

    frames = decode(
        shared_data / "videos" / "testvideo.mp4",
        DecodeConfig(
            sample_fps=0.5, max_frames=4, analysis_max_side=None, audio=False, skip_loop_filter=False
        ),
    ).frames
    per_frame = PreprocessConfig(**{**cfg.__dict__, "max_pixels": 448 * 448, "budget_over_time": False})
    lib = Qwen2VLImageProcessorPil(
        patch_size=cfg.patch_size,
        merge_size=cfg.merge_size,
        temporal_patch_size=cfg.temporal_patch_size,
        image_mean=list(cfg.image_mean),
        image_std=list(cfg.image_std),
        size={"shortest_edge": cfg.min_pixels, "longest_edge": 448 * 448},
    )
    grey = np.repeat(np.array(cfg.image_std), cfg.temporal_patch_size * cfg.patch_size**2) * 255
    for frame in frames:
        ref = lib(images=[frame], return_tensors="np")
        ours = preprocess_frames(np.stack([frame, frame]), np.zeros(2), per_frame)
        assert tuple(ref["image_grid_thw"][0]) == ours.grid_thw
        levels = np.abs(ref["pixel_values"] - ours.pixel_values) * grey
        assert levels.mean() < 0.05  # measured 0.001-0.002 grey levels on this video
        assert levels.max() <= 2.01
