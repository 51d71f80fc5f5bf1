"""The VLM backbone: a local Qwen-VL-family checkpoint (Leum-VL-8B class) read out in one pass per video.

Loads Qwen2-VL, Qwen2.5-VL or Qwen3-VL checkpoints from a local folder through transformers' Auto classes,
offline by construction (``local_files_only=True`` and ``HF_HUB_OFFLINE``), weights straight onto the device
(a device map, with accelerate). Options live in one ``encoder.vlm.options.VLMOptions``. The encoder decodes
the video for this backbone at its own rate, frame cap and full resolution (``decode_config``); frames are
resized and patchified here (``encoder.vlm.preprocess``, checked against the library's processors), put in
the checkpoint's chat turn (``encoder.vlm.chat``) and read out as ``encoder.vlm.readout`` describes, with
the real seconds between temporal patches (long videos are spread out). Records keep the editing tags the
pipeline measured from the transitions (as the evidence backbone emits them), plus, when asked, the
model's own tags validated against the vocabulary. bf16 + batched videos + SDPA (flash attention 2 when
installed) on CUDA, float32 on CPU; ``HAS_CUDA`` picks the default device.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from encoder.decode import DecodeConfig
from encoder.types import BackboneOutput, DecodedVideo, Shot, Transition, WindowFeatures
from encoder.vlm.chat import video_turn
from encoder.vlm.options import VLMOptions
from encoder.vlm.preprocess import (
    PatchifiedVideo,
    PreprocessConfig,
    load_preprocess_config,
    patch_step_s,
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
VERSION = "vlm-2"


def _cuda_available() -> bool:
    try:
        return bool(torch.cuda.is_available())
    except Exception as exc:  # a broken driver must not break CPU use
        warnings.warn(f"CUDA check failed ({exc}); the VLM backbone falls back to CPU", stacklevel=2)
        return False


HAS_CUDA: bool = _cuda_available()


def cuda_device_count() -> int:
    """GPUs this process can use (0 without CUDA)."""
    return int(torch.cuda.device_count()) if HAS_CUDA else 0


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


class VideoItem(NamedTuple):
    """One video for ``VLMBackbone.encode_batch``: what ``Backbone.encode`` takes."""

    decoded: DecodedVideo
    transitions: list[Transition]
    shots: list[Shot]
    hook_window: tuple[float, float]
    text: str | None = None


@dataclass
class _Prepared:
    patched: PatchifiedVideo
    layout: Layout
    windows: list[Window]
    step_s: float  # seconds from one temporal patch to the next


def weight_files(checkpoint: Path) -> list[Path]:
    """The checkpoint's weight files (``*.safetensors``, ``*.bin``), sorted."""
    return sorted(checkpoint.glob("*.safetensors")) + sorted(checkpoint.glob("*.bin"))


def _weights_fingerprint(checkpoint: Path, h: Any) -> None:
    """Feed ``h`` what identifies the weights without reading gigabytes: each safetensors file's name, size
    and header (tensor names, dtypes, shapes, offsets); each ``.bin`` file's name, size and last MiB (a torch
    zip's central directory, which holds a CRC-32 of every tensor's bytes; the first MiB too for the old
    pickle format); and the shard index files."""
    files = weight_files(checkpoint) + sorted(checkpoint.glob("*.index.json"))
    for f in files:
        size = f.stat().st_size
        h.update(f.name.encode() + str(size).encode())
        with open(f, "rb") as fh:
            if f.suffix == ".safetensors":
                n = int.from_bytes(fh.read(8), "little")
                h.update(fh.read(min(n, 1 << 20)))
            elif f.suffix == ".bin":
                h.update(fh.read(1 << 20))
                fh.seek(max(0, size - (1 << 20)))
                h.update(fh.read())
            else:
                h.update(fh.read())


# Files that decide the token ids and the chat turn: part of the fingerprint.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.json",
    "chat_template.jinja",
)


class VLMBackbone:
    """A Qwen-VL-family checkpoint as an SV6D backbone (``encoder.backbone.Backbone``).

    Built from ``VLMOptions`` (``options=``) or from the same keys as keyword arguments
    (``VLMBackbone(checkpoint, fps=2.0, ...)``, what ``get_backbone("vlm", ...)`` passes). ``model``: an
    already-built model of the checkpoint's config (the benchmark builds real-size random-weight models on
    the GPU instead of writing 16 GB to disk); normally None, and the weights are loaded from the folder
    straight onto the device. ``feature_dim`` is 3 × the text hidden size (mean, delta and query blocks;
    see ``encoder.vlm.readout``).
    """

    name = "vlm"
    version = VERSION

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        *,
        options: VLMOptions | None = None,
        model: Any = None,
        **settings: Any,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModelForImageTextToText, AutoTokenizer

        if options is None:
            options = VLMOptions.from_mapping({"checkpoint": checkpoint, **settings})
        elif checkpoint is not None or settings:
            raise ConfigError("VLMBackbone: pass options=VLMOptions(...) or keyword settings, not both")
        self.options = options
        self.checkpoint = Path(options.checkpoint).expanduser().resolve()
        self.model_type = read_model_type(self.checkpoint)
        self.fps, self.max_frames = float(options.fps), int(options.max_frames)
        self.generate_tags = options.generate_tags
        self.device = torch.device(options.device or ("cuda" if HAS_CUDA else "cpu"))
        if options.dtype == "auto":
            self.dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        else:
            self.dtype = getattr(torch, options.dtype)
        self.batch_size = options.batch_size or (8 if self.device.type == "cuda" else 4)
        attn = "sdpa"
        if self.device.type == "cuda" and _flash_attention_installed():
            attn = "flash_attention_2"
        tokenizer: Any = AutoTokenizer.from_pretrained(self.checkpoint, local_files_only=True)
        if model is None:
            if not weight_files(self.checkpoint):
                raise ConfigError(
                    f"VLM checkpoint {self.checkpoint}: no weights (*.safetensors or *.bin) in it"
                )
            model = AutoModelForImageTextToText.from_pretrained(
                self.checkpoint, local_files_only=True, dtype=self.dtype, attn_implementation=attn,
                **_straight_to(self.device),
            )  # fmt: skip
        here = _model_device(model)
        if here.type != self.device.type or self.device.index not in (None, here.index):
            model = model.to(self.device)
        self.tokenizer, self.model = tokenizer, model.eval()
        cfg = self.model.config
        vision = cfg.vision_config.to_dict()
        self.preprocess_config: PreprocessConfig = load_preprocess_config(
            self.checkpoint, vision, self.model_type, options.max_pixels
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
            self._tokenize, special, per_patch_timestamps=self.model_type == "qwen3_vl"
        )
        self.turn = video_turn(self.checkpoint, self.tokenizer)
        self._pad_id = int(self.tokenizer.pad_token_id or 0)
        self._fingerprint = self._make_fingerprint()

    def _tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # ------------------------------------------------------------------ identity
    def _make_fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update((self.checkpoint / "config.json").read_bytes())
        _weights_fingerprint(self.checkpoint, h)
        for name in TOKENIZER_FILES:
            if (self.checkpoint / name).is_file():
                h.update(name.encode() + (self.checkpoint / name).read_bytes())
        settings = {
            "version": VERSION,
            "readout": READOUT_VERSION,
            "fps": self.fps,
            "max_frames": self.max_frames,
            "preprocess": self.preprocess_config.key(),
            "prompt": PROMPT,
            "turn": self.turn.key(),
            "queries": {d.value: q for d, q in DIMENSION_QUERIES.items()},
            "layers": {d.value: f for d, f in LAYER_FRACTION.items()},
        }
        h.update(json.dumps(settings, sort_keys=True).encode())
        return h.hexdigest()[:16]

    def fingerprint(self) -> str:
        """Hash of the checkpoint (config, weight headers, tokenizer and chat template) and every
        sampling, preprocessing and read-out setting (not the dtype or device, which only round)."""
        return self._fingerprint

    def decode_config(self) -> DecodeConfig:
        """How the encoder decodes a video for this backbone: frames at the model's own rate and cap, at
        their full size (up to 1080p; the model's processor resizes them, as the library's does from the
        decoded video), deblocked, no audio. Transitions still come from every frame's thumbnail."""
        return DecodeConfig(
            sample_fps=self.fps,
            max_frames=self.max_frames,
            analysis_max_side=None,
            audio=False,
            skip_loop_filter=False,
        )

    def default_heads(self, dim: int = 64, seed: int = 0):  # type: ignore[no-untyped-def]
        """Untrained heads (``encoder.vlm.heads.RandomProjectionHeads``, version ``untrained-projection-…``).

        What ``Encoder`` uses when no heads are given; train real ones with ``sv6d train-heads``.
        """
        from encoder.vlm.heads import RandomProjectionHeads
        from sv6d.dimensions import DIMENSIONS

        return RandomProjectionHeads(dict.fromkeys(DIMENSIONS, self.feature_dim), dim=dim, seed=seed)

    def sample(self, decoded: DecodedVideo) -> PatchifiedVideo:
        """The video's frames as the model sees them: sampled at ``fps`` (spread over a long video), resized
        and patchified."""
        idx = sample_indices(decoded.times_s, self.fps, self.max_frames)
        if len(idx) == 0:
            raise ConfigError(f"{decoded.info.path}: no frames to encode")
        return preprocess_frames(decoded.frames[idx], decoded.times_s[idx], self.preprocess_config)

    def turn_ids(self, prompt: str) -> tuple[list[int], list[int]]:
        """Token ids of the chat turn before and after the video, around ``prompt``."""
        before, after = self.turn.render(prompt)
        return self._tokenize(before), self._tokenize(after)

    # ------------------------------------------------------------------ preparation
    def _prepare(
        self,
        decoded: DecodedVideo,
        shots: list[Shot],
        hook_window: tuple[float, float],
        text: str | None,
    ) -> _Prepared:
        patched = self.sample(decoded)
        pt = patched.patch_times_s
        duration = max(float(decoded.info.duration_s), float(pt[-1, -1]) + 1e-3)
        windows = [Window("video", 0.0, duration, list(range(len(pt))))]
        h0, h1 = hook_window
        windows.append(Window("hook", h0, h1, window_patches(pt, h0, h1)))
        for i, s in enumerate(shots):
            windows.append(Window(f"shot:{i}", s.start_s, s.end_s, window_patches(pt, s.start_s, s.end_s)))
        _, gh, gw = patched.grid_thw
        prompt = PROMPT + (f" Title: {text.strip()}" if text and text.strip() else "")
        before, after = self.turn_ids(prompt)
        layout = self._builder.build(
            (gh, gw), patched.tokens_per_patch, pt.mean(axis=1), windows, before, after
        )
        return _Prepared(patched, layout, windows, patch_step_s(pt, self.fps))

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
        steps = [p.step_s for p in batch for _ in p.layout.grid_rows]
        inputs: dict[str, Any] = {
            "input_ids": ids.to(self.device),
            "attention_mask": mask.to(self.device),
            "mm_token_type_ids": types.to(self.device),
            "pixel_values_videos": torch.from_numpy(pixels).to(self.device, self.dtype),
            "video_grid_thw": torch.tensor(rows, dtype=torch.long, device=self.device),
        }
        if self.model_type == "qwen2_5_vl":
            # The real seconds per temporal patch of each video (longer than temporal_patch / fps once a long
            # video's frames are spread out), so the model's time positions match the clock.
            inputs["second_per_grid_ts"] = torch.tensor(steps, dtype=torch.float32, device=self.device)
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
        return self.encode_batch([VideoItem(decoded, transitions, shots, hook_window, text)])[0]

    def encode_batch(self, items: Sequence[VideoItem]) -> list[BackboneOutput]:
        """Encode several videos, ``batch_size`` per forward pass (one pass covers all levels of a video)."""
        results: list[BackboneOutput] = []
        for start in range(0, len(items), self.batch_size):
            chunk = [VideoItem(*it) for it in items[start : start + self.batch_size]]
            prepared = [self._prepare(it.decoded, it.shots, it.hook_window, it.text) for it in chunk]
            hidden = self._forward(prepared)
            for b, (p, item) in enumerate(zip(prepared, chunk, strict=True)):
                results.append(self._output(hidden, b, p, item))
        return results

    def _output(self, hidden: tuple, b: int, p: _Prepared, item: VideoItem) -> BackboneOutput:
        feats = {w.key: pool_window(hidden, b, p.layout, w, self.num_layers) for w in p.windows}
        by_key = {w.key: w for w in p.windows}

        def wf(key: str) -> WindowFeatures:
            w = by_key[key]
            return WindowFeatures(w.start_s, w.end_s, feats[key])

        segments = [wf(w.key) for w in p.windows if w.key.startswith("shot:")]
        energy = self._energy(hidden, b, p.layout)
        tags = measured_tags(item)
        if self.generate_tags:
            from encoder.vlm.tags_json import generate_tags

            generated, _ = generate_tags(self, item.decoded, self.options.max_new_tokens)
            tags = sorted(tags + generated, key=lambda t: (t.start_s, t.dimension.value, t.label))
        return BackboneOutput(
            video=wf("video"),
            hook=wf("hook"),
            segments=segments,
            tags=tags,
            energy=energy,
            energy_hz=1.0 / p.step_s,
        )

    def _energy(self, hidden: tuple, b: int, layout: Layout) -> list[float]:
        """Change of the final-layer patch means, scaled to [0, 1]: a cheap narrative energy curve, one value
        per temporal patch (``energy_hz`` = patches per second, as sampled)."""
        hs = hidden[self.num_layers][b]
        means = torch.stack([hs[a:e].float().mean(dim=0) for a, e in layout.patch_spans])
        change = torch.zeros(len(means))
        if len(means) > 1:
            change[1:] = (means[1:] - means[:-1]).norm(dim=1).cpu()
        top = float(change.max())
        return (change / top).tolist() if top > 0 else change.tolist()


def measured_tags(item: VideoItem) -> list[Tag]:
    """The editing tags the pipeline measured (cuts, fades, dissolves, rhythm, long takes), emitted exactly
    as the evidence backbone emits them, so tag filters answer the same on a VLM data directory."""
    from encoder.evidence.editing import fades, measure_cuts
    from encoder.evidence.tagging import transition_tags

    d = item.decoded
    duration = float(d.info.duration_s)
    shots = item.shots or [Shot(0.0, duration)]
    thumbs, thumb_times = d.thumbs, d.thumb_times_s

    def luma_at(t: float) -> float:
        if len(thumb_times) == 0:
            return 0.0
        rgb = thumbs[int(np.argmin(np.abs(thumb_times - t)))].astype(np.float32)
        return float((rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).mean()) / 255.0

    cuts = measure_cuts(item.transitions, thumbs, thumb_times)
    tags = transition_tags(cuts, fades(item.transitions), shots, duration, item.hook_window, luma_at)
    return sorted(tags, key=lambda t: (t.start_s, t.dimension.value, t.label))


def _straight_to(device: torch.device) -> dict[str, Any]:
    """``from_pretrained`` arguments that put the weights on ``device`` as they are read (no full copy in
    host memory first): a device map, which needs ``accelerate`` (the ``gpu`` extra). On CPU, or without
    accelerate (a warning), the weights are read into host memory (and then moved)."""
    if device.type == "cpu":
        return {}
    if importlib.util.find_spec("accelerate") is None:
        warnings.warn(
            "accelerate is not installed: the VLM weights are read into host memory, then moved to "
            f"{device} (install the gpu extra to load them straight onto it)",
            stacklevel=3,
        )
        return {}
    return {"device_map": {"": str(device)}}


def _model_device(model: Any) -> torch.device:
    return next(model.parameters()).device
