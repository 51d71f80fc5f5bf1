"""The VLM backbone: a local Qwen-VL-family checkpoint (Leum-VL-8B class) read out in one pass per video.

Loads Qwen2-VL, Qwen2.5-VL or Qwen3-VL checkpoints from a local folder through transformers' Auto classes,
offline by construction (``local_files_only=True`` and ``HF_HUB_OFFLINE``). Frames are preprocessed here
(``encoder.vlm.preprocess``) and read out as described in ``encoder.vlm.readout``. bf16 + batched videos +
SDPA (flash attention 2 when installed) on CUDA, float32 on CPU; ``HAS_CUDA`` picks the default device.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from encoder.types import BackboneOutput, DecodedVideo, Shot, Transition, WindowFeatures
from encoder.vlm.preprocess import (
    PatchifiedVideo,
    PreprocessConfig,
    load_preprocess_config,
    preprocess_frames,
    sample_indices,
)
from encoder.vlm.readout import (
    DIMENSION_QUERIES,
    LAYER_FRACTION,
    PROMPT,
    READOUT_VERSION,
    Layout,
    LayoutBuilder,
    Window,
    pool_window,
    window_patches,
)
from sv6d.errors import ConfigError
from sv6d.record import Tag

SUPPORTED_MODEL_TYPES: tuple[str, ...] = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
VERSION = "vlm-1"


def _cuda_available() -> bool:
    try:
        return bool(torch.cuda.is_available())
    except Exception as exc:  # a broken driver must not break CPU use
        warnings.warn(f"CUDA check failed ({exc}); the VLM backbone falls back to CPU", stacklevel=2)
        return False


HAS_CUDA: bool = _cuda_available()


def _flash_attention_installed() -> bool:
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return False
    return True


def read_model_type(checkpoint: Path) -> str:
    """The checkpoint's ``model_type``; ConfigError naming the supported ones when it is anything else."""
    cfg_path = checkpoint / "config.json"
    if not checkpoint.is_dir():
        raise ConfigError(f"VLM checkpoint {checkpoint}: not a directory")
    if not cfg_path.is_file():
        raise ConfigError(f"VLM checkpoint {checkpoint}: no config.json (expected a save_pretrained folder)")
    try:
        model_type = json.loads(cfg_path.read_text()).get("model_type")
    except json.JSONDecodeError as exc:
        raise ConfigError(f"VLM checkpoint {checkpoint}: config.json is not valid JSON ({exc})") from None
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ConfigError(
            f"VLM checkpoint {checkpoint}: model_type {model_type!r} is not supported; "
            f"supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    return str(model_type)


@dataclass
class _Prepared:
    patched: PatchifiedVideo
    layout: Layout
    windows: list[Window]


class VLMBackbone:
    """A Qwen-VL-family checkpoint as an SV6D backbone (``encoder.backbone.Backbone``).

    ``feature_dim`` is 3 × the text hidden size (mean, delta and query blocks; see ``encoder.vlm.readout``).
    """

    name = "vlm"
    version = VERSION

    def __init__(
        self,
        checkpoint: str | Path,
        fps: float = 2.0,
        max_frames: int = 32,
        max_pixels: int | None = 448 * 448,
        device: str | None = None,
        dtype: str | torch.dtype | None = None,
        generate_tags: bool = False,
        batch_size: int | None = None,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModelForImageTextToText, AutoTokenizer

        self.checkpoint = Path(checkpoint).expanduser().resolve()
        self.model_type = read_model_type(self.checkpoint)
        if fps <= 0 or max_frames < 2:
            raise ConfigError(f"VLM backbone: fps ({fps}) must be > 0 and max_frames ({max_frames}) >= 2")
        self.fps, self.max_frames, self.generate_tags = float(fps), int(max_frames), generate_tags
        self.device = torch.device(device or ("cuda" if HAS_CUDA else "cpu"))
        if dtype is None:
            self.dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        else:
            self.dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        self.batch_size = batch_size or (8 if self.device.type == "cuda" else 1)
        attn = "sdpa"
        if self.device.type == "cuda" and _flash_attention_installed():
            attn = "flash_attention_2"
        tokenizer: Any = AutoTokenizer.from_pretrained(self.checkpoint, local_files_only=True)
        model: Any = AutoModelForImageTextToText.from_pretrained(
            self.checkpoint, local_files_only=True, dtype=self.dtype, attn_implementation=attn
        )
        self.tokenizer, self.model = tokenizer, model.to(self.device).eval()
        cfg = self.model.config
        vision = cfg.vision_config.to_dict()
        self.preprocess_config: PreprocessConfig = load_preprocess_config(
            self.checkpoint, vision, self.model_type, max_pixels
        )
        self.num_layers = int(cfg.text_config.num_hidden_layers)
        self.hidden_size = int(cfg.text_config.hidden_size)
        self.feature_dim = 3 * self.hidden_size
        special = {
            t: int(self.tokenizer.convert_tokens_to_ids(t))
            for t in ("<|im_start|>", "<|vision_start|>", "<|vision_end|>", "<|video_pad|>")
        }
        if special["<|video_pad|>"] != cfg.video_token_id:
            raise ConfigError(
                f"VLM checkpoint {self.checkpoint}: tokenizer's <|video_pad|> id {special['<|video_pad|>']} "
                f"differs from config video_token_id {cfg.video_token_id}"
            )
        self._builder = LayoutBuilder(
            lambda s: list(self.tokenizer(s, add_special_tokens=False)["input_ids"]),
            special,
            per_patch_timestamps=self.model_type == "qwen3_vl",
        )
        self._pad_id = int(self.tokenizer.pad_token_id or 0)
        self._fingerprint = self._make_fingerprint()

    # ------------------------------------------------------------------ identity
    def _make_fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update((self.checkpoint / "config.json").read_bytes())
        for f in sorted(self.checkpoint.glob("*.safetensors")):
            # Name, size and the safetensors header identify weights without hashing gigabytes.
            with open(f, "rb") as fh:
                n = int.from_bytes(fh.read(8), "little")
                h.update(f.name.encode() + str(f.stat().st_size).encode() + fh.read(min(n, 1 << 20)))
        settings = {
            "version": VERSION,
            "readout": READOUT_VERSION,
            "fps": self.fps,
            "max_frames": self.max_frames,
            "preprocess": self.preprocess_config.key(),
            "prompt": PROMPT,
            "queries": {d.value: q for d, q in DIMENSION_QUERIES.items()},
            "layers": {d.value: f for d, f in LAYER_FRACTION.items()},
        }
        h.update(json.dumps(settings, sort_keys=True).encode())
        return h.hexdigest()[:16]

    def fingerprint(self) -> str:
        """Hash of the checkpoint (config + weight headers) and every preprocessing/read-out setting."""
        return self._fingerprint

    def default_heads(self, dim: int = 64, seed: int = 0):  # type: ignore[no-untyped-def]
        """Untrained heads (``encoder.vlm.heads.RandomProjectionHeads``, version ``untrained-projection-…``).

        What ``Encoder`` uses when no heads are given; train real ones with ``sv6d train-heads``.
        """
        from encoder.vlm.heads import RandomProjectionHeads
        from sv6d.dimensions import DIMENSIONS

        return RandomProjectionHeads(dict.fromkeys(DIMENSIONS, self.feature_dim), dim=dim, seed=seed)

    # ------------------------------------------------------------------ preparation
    def _prepare(
        self,
        decoded: DecodedVideo,
        shots: list[Shot],
        hook_window: tuple[float, float],
        text: str | None,
    ) -> _Prepared:
        idx = sample_indices(decoded.times_s, self.fps, self.max_frames)
        if len(idx) == 0:
            raise ConfigError(f"{decoded.info.path}: no frames to encode")
        patched = preprocess_frames(decoded.frames[idx], decoded.times_s[idx], self.preprocess_config)
        pt = patched.patch_times_s
        duration = max(float(decoded.info.duration_s), float(pt[-1, -1]) + 1e-3)
        windows = [Window("video", 0.0, duration, list(range(len(pt))))]
        h0, h1 = hook_window
        windows.append(Window("hook", h0, h1, window_patches(pt, h0, h1)))
        for i, s in enumerate(shots):
            windows.append(Window(f"shot:{i}", s.start_s, s.end_s, window_patches(pt, s.start_s, s.end_s)))
        _, gh, gw = patched.grid_thw
        layout = self._builder.build((gh, gw), patched.tokens_per_patch, pt.mean(axis=1), windows, text)
        return _Prepared(patched, layout, windows)

    def _model_inputs(self, batch: Sequence[_Prepared]) -> dict[str, Any]:
        length = max(len(p.layout.input_ids) for p in batch)
        ids = torch.full((len(batch), length), self._pad_id, dtype=torch.long)
        types = torch.zeros((len(batch), length), dtype=torch.int)
        mask = torch.zeros((len(batch), length), dtype=torch.long)
        # Right padding: under causal attention, pads after a sequence cannot change its states.
        for i, p in enumerate(batch):
            n = len(p.layout.input_ids)
            ids[i, :n] = torch.tensor(p.layout.input_ids)
            types[i, :n] = torch.tensor(p.layout.mm_token_type_ids, dtype=torch.int)
            mask[i, :n] = 1
        pixels = np.concatenate([p.patched.pixel_values for p in batch])
        rows = [r for p in batch for r in p.layout.grid_rows]
        inputs: dict[str, Any] = {
            "input_ids": ids.to(self.device),
            "attention_mask": mask.to(self.device),
            "mm_token_type_ids": types.to(self.device),
            "pixel_values_videos": torch.from_numpy(pixels).to(self.device, self.dtype),
            "video_grid_thw": torch.tensor(rows, dtype=torch.long, device=self.device),
        }
        if self.model_type == "qwen2_5_vl":
            tp = self.preprocess_config.temporal_patch_size
            inputs["second_per_grid_ts"] = torch.full((len(rows),), tp / self.fps, device=self.device)
        return inputs

    @torch.inference_mode()
    def _forward(self, batch: Sequence[_Prepared]) -> tuple:
        out = self.model.model(**self._model_inputs(batch), output_hidden_states=True, use_cache=False)
        return out.hidden_states

    # ------------------------------------------------------------------ public
    def encode(
        self,
        decoded: DecodedVideo,
        transitions: list[Transition],
        shots: list[Shot],
        hook_window: tuple[float, float],
        text: str | None = None,
    ) -> BackboneOutput:
        """Raw (3H,) features per dimension for the video, the hook and each shot, from one forward pass."""
        return self.encode_batch([(decoded, shots, hook_window, text)])[0]

    def encode_batch(
        self, items: Sequence[tuple[DecodedVideo, list[Shot], tuple[float, float], str | None]]
    ) -> list[BackboneOutput]:
        """Encode several videos, ``batch_size`` per forward pass (one pass covers all levels of a video)."""
        results: list[BackboneOutput] = []
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            prepared = [self._prepare(d, shots, hook, text) for d, shots, hook, text in chunk]
            hidden = self._forward(prepared)
            for b, (p, (decoded, _, _, _)) in enumerate(zip(prepared, chunk, strict=True)):
                results.append(self._output(hidden, b, p, decoded))
        return results

    def _output(self, hidden: tuple, b: int, p: _Prepared, decoded: DecodedVideo) -> BackboneOutput:
        feats = {w.key: pool_window(hidden, b, p.layout, w, self.num_layers) for w in p.windows}
        by_key = {w.key: w for w in p.windows}

        def wf(key: str) -> WindowFeatures:
            w = by_key[key]
            return WindowFeatures(w.start_s, w.end_s, feats[key])

        segments = [wf(w.key) for w in p.windows if w.key.startswith("shot:")]
        energy = self._energy(hidden, b, p.layout)
        tags: list[Tag] = []
        if self.generate_tags:
            from encoder.vlm.tags_json import generate_tags

            tags, _ = generate_tags(self, decoded)
        tp = self.preprocess_config.temporal_patch_size
        return BackboneOutput(
            video=wf("video"),
            hook=wf("hook"),
            segments=segments,
            tags=tags,
            energy=energy,
            energy_hz=self.fps / tp,
        )

    def _energy(self, hidden: tuple, b: int, layout: Layout) -> list[float]:
        """Change of the final-layer patch means, scaled to [0, 1]: a cheap narrative energy curve."""
        hs = hidden[self.num_layers][b]
        means = torch.stack([hs[a:e].float().mean(dim=0) for a, e in layout.patch_spans])
        change = torch.zeros(len(means))
        if len(means) > 1:
            change[1:] = (means[1:] - means[:-1]).norm(dim=1).cpu()
        top = float(change.max())
        return (change / top).tolist() if top > 0 else change.tolist()
