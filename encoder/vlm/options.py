"""The VLM backbone's options in one typed, JSON-able object (what an encoder spec carries for ``vlm``).

``VLMOptions.from_mapping`` builds it from plain options (CLI flags, a spec's JSON, ``get_backbone`` keyword
arguments) and refuses unknown keys and bad values with a ``ConfigError`` naming the valid ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sv6d.errors import ConfigError

DType = Literal["auto", "bfloat16", "float16", "float32"]
DTYPES: tuple[str, ...] = ("auto", "bfloat16", "float16", "float32")

# Defaults: 2 fps up to 32 frames (16 s at full rate, then spread evenly over longer videos), 448 px frames.
DEFAULT_FPS = 2.0
DEFAULT_MAX_FRAMES = 32
DEFAULT_RESOLUTION = 448
NO_CHECKPOINT = "VLM options: checkpoint is required (a local Qwen-VL-family checkpoint folder)"


@dataclass(frozen=True)
class VLMOptions:
    """How the VLM backbone samples, sizes and runs a video.

    ``checkpoint``: a local Qwen-VL-family ``save_pretrained`` folder. ``fps``: frames per second given to the
    model; a video longer than ``max_frames / fps`` gets ``max_frames`` frames spread evenly over its whole
    length (the model is told the real spacing). ``resolution``: frame size as the side of a square: each
    frame is resized, aspect kept and sides on the patch grid, to at most ``resolution²`` pixels (the
    processor's ``max_pixels``); None keeps the checkpoint's own ``preprocessor_config.json`` budget.
    ``dtype``: ``auto`` is bf16 on CUDA, float32 on CPU. ``device``: ``cuda``, ``cuda:1``, ``cpu``; None picks
    CUDA when present. ``batch_size``: videos per forward pass (None: 8 on CUDA, 4 on CPU).
    ``generate_tags``: also ask the model for vocabulary tags as JSON (validated; a second, generating pass).
    """

    checkpoint: str
    fps: float = DEFAULT_FPS
    max_frames: int = DEFAULT_MAX_FRAMES
    resolution: int | None = DEFAULT_RESOLUTION
    dtype: DType = "auto"
    device: str | None = None
    batch_size: int | None = None
    generate_tags: bool = False
    max_new_tokens: int = 512

    def __post_init__(self) -> None:
        if not str(self.checkpoint).strip():
            raise ConfigError(NO_CHECKPOINT)
        if not self.fps > 0:
            raise ConfigError(f"VLM options: fps must be > 0, got {self.fps}")
        if self.max_frames < 2:
            raise ConfigError(f"VLM options: max_frames must be >= 2, got {self.max_frames}")
        if self.resolution is not None and self.resolution < 56:
            raise ConfigError(
                f"VLM options: resolution must be >= 56 px (two merged patches), got {self.resolution}"
            )
        if self.dtype not in DTYPES:
            raise ConfigError(f"VLM options: unknown dtype {self.dtype!r}; valid: {', '.join(DTYPES)}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"VLM options: batch_size must be >= 1, got {self.batch_size}")
        if self.max_new_tokens < 1:
            raise ConfigError(f"VLM options: max_new_tokens must be >= 1, got {self.max_new_tokens}")

    @property
    def max_pixels(self) -> int | None:
        """The per-frame pixel budget, ``resolution²`` (None: the checkpoint's own)."""
        return None if self.resolution is None else self.resolution * self.resolution

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> VLMOptions:
        """Options from plain keys (a spec's JSON, CLI flags); an unknown key is a ConfigError naming the
        valid ones."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise ConfigError(f"unknown VLM option(s) {', '.join(unknown)}; valid: {', '.join(names)}")
        values = dict(options)
        if values.get("checkpoint") is None:
            raise ConfigError(NO_CHECKPOINT)
        values["checkpoint"] = str(values["checkpoint"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able keys; ``from_mapping(to_dict())`` gives the same options back."""
        return dataclasses.asdict(self)
