"""Frame preprocessing for Qwen-VL-family checkpoints, without torchvision.

transformers' Qwen video processors need torchvision, which is missing (CPU) here, so this module does the
same three steps itself: resize to the patch grid (``smart_resize``), rescale + normalise with the
checkpoint's ``preprocessor_config.json`` statistics, and patchify into ``pixel_values_videos`` rows in the
library's exact order (temporal patch, merged row block, merged column block, merge row, merge column; each
row flattened as channel, time, y, x). ``tests/test_vlm_preprocess.py`` compares it with the library's
processor where torchvision is importable.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sv6d.errors import ConfigError

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
RESIZE_CHUNK = 4  # frames resized at once


@dataclass(frozen=True)
class PreprocessConfig:
    """Patch geometry and normalisation of one checkpoint (from its config + preprocessor_config.json)."""

    patch_size: int
    temporal_patch_size: int
    merge_size: int
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    min_pixels: int
    max_pixels: int
    # Qwen3-VL budgets pixels over the whole clip (t * h * w); Qwen2/2.5 per frame.
    budget_over_time: bool = False

    @property
    def factor(self) -> int:
        """H and W must be multiples of this: 28 for Qwen2/2.5 (patch 14), 32 for Qwen3 (patch 16)."""
        return self.patch_size * self.merge_size

    def key(self) -> dict:
        return {
            "patch": self.patch_size,
            "tpatch": self.temporal_patch_size,
            "merge": self.merge_size,
            "mean": list(self.image_mean),
            "std": list(self.image_std),
            "min_pixels": self.min_pixels,
            "max_pixels": self.max_pixels,
            "budget_over_time": self.budget_over_time,
        }


def load_preprocess_config(
    checkpoint: Path, vision_config: dict, model_type: str, max_pixels: int | None = None
) -> PreprocessConfig:
    """Read patch sizes from the model's vision config and mean/std from ``preprocessor_config.json``."""
    raw: dict = {}
    for name in ("preprocessor_config.json", "video_preprocessor_config.json"):
        path = checkpoint / name
        if path.is_file():
            raw = {**raw, **json.loads(path.read_text())}
    patch = int(vision_config.get("patch_size", raw.get("patch_size", 14)))
    tpatch = int(vision_config.get("temporal_patch_size", raw.get("temporal_patch_size", 2)))
    merge = int(vision_config.get("spatial_merge_size", raw.get("merge_size", 2)))
    qwen3 = model_type == "qwen3_vl"
    mean = tuple(raw.get("image_mean", (0.5, 0.5, 0.5) if qwen3 else CLIP_MEAN))
    std = tuple(raw.get("image_std", (0.5, 0.5, 0.5) if qwen3 else CLIP_STD))
    size = raw.get("size") or {}
    factor = patch * merge
    min_px = int(raw.get("min_pixels", size.get("shortest_edge", 4 * factor * factor)))
    max_px = int(max_pixels or raw.get("max_pixels", size.get("longest_edge", 448 * 448)))
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ConfigError(f"{checkpoint}: preprocessor image_mean/image_std must be 3 values, std > 0")
    # An explicit ``max_pixels`` is a per-frame cap for every family (what users mean by "448 px"); the
    # checkpoint's own Qwen3 setting budgets the whole clip, as the library's processor does.
    over_time = qwen3 and max_pixels is None
    return PreprocessConfig(patch, tpatch, merge, mean, std, min_px, max_px, budget_over_time=over_time)  # type: ignore[arg-type]


def smart_resize(height: int, width: int, cfg: PreprocessConfig, num_frames: int = 1) -> tuple[int, int]:
    """Target (H, W): multiples of ``cfg.factor``, aspect kept, pixels within [min_pixels, max_pixels].

    Same arithmetic as transformers' ``smart_resize`` of the Qwen2-VL (per frame) and Qwen3-VL (per clip)
    processors, so token counts match the library's.
    """
    f = cfg.factor
    if min(height, width) <= 0:
        raise ConfigError(f"frame size {height}x{width} is empty")
    if max(height, width) / min(height, width) > 200:
        raise ConfigError(f"frame aspect ratio {width}x{height} exceeds 200")
    t = 1
    if cfg.budget_over_time:
        if height < f or width < f:
            scale = max(f / height, f / width)
            height, width = int(height * scale), int(width * scale)
        t = max(
            cfg.temporal_patch_size, round(num_frames / cfg.temporal_patch_size) * cfg.temporal_patch_size
        )
    h_bar = max(f, round(height / f) * f)
    w_bar = max(f, round(width / f) * f)
    scale_t = num_frames if cfg.budget_over_time else 1
    if t * h_bar * w_bar > cfg.max_pixels:
        beta = math.sqrt((scale_t * height * width) / cfg.max_pixels)
        h_bar = max(f, math.floor(height / beta / f) * f)
        w_bar = max(f, math.floor(width / beta / f) * f)
    elif t * h_bar * w_bar < cfg.min_pixels:
        beta = math.sqrt(cfg.min_pixels / (scale_t * height * width))
        h_bar = math.ceil(height * beta / f) * f
        w_bar = math.ceil(width * beta / f) * f
    return h_bar, w_bar


@dataclass
class PatchifiedVideo:
    """``pixel_values`` (t*h*w, C*tp*p*p) float32, grid (t, h, w), and the times of each temporal patch."""

    pixel_values: np.ndarray
    grid_thw: tuple[int, int, int]
    patch_times_s: np.ndarray  # (t, tp) sample times of the frames inside each temporal patch
    tokens_per_patch: int  # LLM tokens per temporal patch after the spatial merge


def preprocess_frames(frames: np.ndarray, times_s: np.ndarray, cfg: PreprocessConfig) -> PatchifiedVideo:
    """Resize, normalise and patchify ``frames`` (N, H, W, 3) uint8 RGB sampled at ``times_s``."""
    import torch
    import torch.nn.functional as F

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ConfigError(f"frames must be (N, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}")
    if len(frames) == 0 or len(times_s) != len(frames):
        raise ConfigError(
            f"need >= 1 frame with one time each, got {len(frames)} frames, {len(times_s)} times"
        )
    n, height, width, _ = frames.shape
    tp = cfg.temporal_patch_size
    # The library pads the clip to a multiple of the temporal patch by repeating the last frame.
    pad = -n % tp
    times = np.asarray(times_s, dtype=np.float64)
    if pad:
        frames = np.concatenate([frames, np.repeat(frames[-1:], pad, axis=0)])
        times = np.concatenate([times, np.repeat(times[-1:], pad)])
    rh, rw = smart_resize(height, width, cfg, num_frames=n)
    chunks = []
    # Frames arrive at their decoded size (up to 1080p): resized a few at a time, so that the float copy of
    # a whole clip at full size is never held.
    for start in range(0, len(frames), RESIZE_CHUNK):
        part = torch.from_numpy(np.ascontiguousarray(frames[start : start + RESIZE_CHUNK]))
        part = part.permute(0, 3, 1, 2).contiguous()
        if (rh, rw) != (height, width):
            # Bicubic with antialias on the uint8 frames, as torchvision resizes uint8 tensors (the library's
            # video processor): its uint8 kernel, 7x faster than the float one on 720p frames here.
            part = F.interpolate(part, size=(rh, rw), mode="bicubic", antialias=True, align_corners=False)
        chunks.append(part.float())
    video = torch.cat(chunks)
    mean = torch.tensor(cfg.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(cfg.image_std).view(1, 3, 1, 1)
    video = (video / 255.0 - mean) / std
    p, m = cfg.patch_size, cfg.merge_size
    t, gh, gw = video.shape[0] // tp, rh // p, rw // p
    patches = video.view(t, tp, 3, gh // m, m, p, gw // m, m, p)
    patches = patches.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)
    flat = patches.reshape(t * gh * gw, 3 * tp * p * p)
    return PatchifiedVideo(
        pixel_values=flat.numpy().astype(np.float32),
        grid_thw=(t, gh, gw),
        patch_times_s=times.reshape(t, tp),
        tokens_per_patch=(gh // m) * (gw // m),
    )


def sample_indices(times_s: np.ndarray, fps: float, max_frames: int) -> np.ndarray:
    """Indices of the frames nearest a ``fps`` grid from t=0, at most ``max_frames`` (uniformly thinned)."""
    times = np.asarray(times_s, dtype=np.float64)
    if len(times) == 0:
        return np.zeros(0, dtype=np.int64)
    if fps <= 0 or max_frames <= 0:
        raise ConfigError(f"fps ({fps}) and max_frames ({max_frames}) must be positive")
    grid = np.arange(times[0], times[-1] + 1e-9, 1.0 / fps)
    idx = np.unique(np.abs(times[None, :] - grid[:, None]).argmin(axis=1))
    if len(idx) > max_frames:
        keep = np.linspace(0, len(idx) - 1, max_frames).round().astype(np.int64)
        idx = idx[np.unique(keep)]
    return idx.astype(np.int64)


def patch_step_s(patch_times_s: np.ndarray, fps: float) -> float:
    """Seconds from one temporal patch to the next, as sampled: ``temporal_patch / fps`` while the video
    fits in ``max_frames`` at ``fps``, longer once its frames are spread over a longer video. What
    Qwen2.5-VL's ``second_per_grid_ts`` and the energy curve's rate must say."""
    tp = patch_times_s.shape[1]
    starts = patch_times_s[:, 0]
    if len(starts) > 1 and starts[-1] > starts[0]:
        return float((starts[-1] - starts[0]) / (len(starts) - 1))
    return tp / fps
