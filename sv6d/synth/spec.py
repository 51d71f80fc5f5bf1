"""The specification of a generated video: shots, camera moves, transitions, overlays, audio, palette.

A ``VideoSpec`` holds every decision; rendering (``sv6d.synth.render``) and the ground truth
(``sv6d.synth.truth``) are pure functions of it. All times are on the frame grid (multiples of 1/fps) so that
"the first frame of the new shot" is exactly the spec's cut time.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Move = Literal["static", "pan_left", "pan_right", "tilt_up", "tilt_down", "push_in", "pull_out"]
MOVES: tuple[Move, ...] = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down", "push_in", "pull_out")
TextureKind = Literal["noise", "blobs", "stripes", "cells"]
TEXTURES: tuple[TextureKind, ...] = ("noise", "blobs", "stripes", "cells")
AudioKind = Literal["burst", "kick", "hat", "speech", "hum", "pad", "impact", "swell"]
Orientation = Literal["landscape", "portrait"]

# Caption band geometry, shared by the renderer and the effective-statistics model below.
BAND_HEIGHT_FRAC = 0.16
BAND_DARKEN = 0.3  # pixels under a dark band keep this share of their value
FLASH_DECAY_S = 0.25


class Palette(BaseModel):
    """An HSV colour ramp: value runs from ``v_lo`` to ``v_hi`` over the texture; hue varies a little."""

    model_config = ConfigDict(frozen=True)

    hue: float = Field(ge=0, le=1)
    hue_spread: float = Field(ge=0, le=0.5)
    sat: float = Field(ge=0, le=1)
    v_lo: float = Field(ge=0, le=1)
    v_hi: float = Field(ge=0, le=1)

    def stats(self) -> tuple[float, float, float]:
        """(mean luma, mean HSV saturation, mean (R - B)), all on a 0..1 scale, of this palette's pixels."""
        return _palette_stats(self.hue, self.hue_spread, self.sat, self.v_lo, self.v_hi)


@lru_cache(maxsize=4096)
def _palette_stats(
    hue: float, spread: float, sat: float, v_lo: float, v_hi: float
) -> tuple[float, float, float]:
    import cv2

    # Textures are histogram-equalised, so a uniform field sample gives the palette's pixel statistics
    # independently of the texture's layout.
    n = 4096
    field = (np.arange(n) + 0.5) / n
    field2 = np.random.default_rng(0).random(n)
    hsv = np.stack(
        [((hue + spread * (field2 - 0.5)) % 1.0) * 360.0, np.full(n, sat), v_lo + (v_hi - v_lo) * field],
        axis=1,
    ).astype(np.float32)[None]
    rgb = np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return pixel_stats(rgb)


def pixel_stats(rgb: np.ndarray) -> tuple[float, float, float]:
    """(mean luma, mean HSV saturation, mean (R - B)) of uint8 RGB pixels, on a 0..1 scale (BT.601 luma)."""
    import cv2

    img = np.ascontiguousarray(rgb.reshape(-1, 1, 3))
    f = img.astype(np.float32) / 255.0
    luma = float((0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]).mean())
    sat = float(cv2.cvtColor(img, cv2.COLOR_RGB2HSV)[..., 1].mean() / 255.0)
    warmth = float((f[..., 0] - f[..., 2]).mean())
    return luma, sat, warmth


class ShotSpec(BaseModel):
    """One shot over ``[start_s, end_s)``: a textured image seen through a moving virtual camera.

    ``speed`` is in frame widths (pans) or frame heights (tilts) per second, or the log-zoom per second.
    ``phase_s`` is the shot's local time at ``start_s``; local time runs at ``time_scale`` (a loop ending
    replays the first shot backwards, so the video's last frame is its first).
    ``card_text`` makes the shot a flat card of the palette's colour with that text (an end card).
    """

    model_config = ConfigDict(frozen=True)

    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    texture: TextureKind = "noise"
    texture_seed: int = 0
    palette: Palette
    move: Move = "static"
    speed: float = Field(default=0.0, ge=0)
    phase_s: float = Field(default=0.0, ge=0)
    time_scale: Literal[1, -1] = 1  # -1 plays the shot backwards (the reversed replay of a loop ending)
    card_text: str | None = None
    source_shot: int | None = None  # index of the shot this one replays (loop endings), else None

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s


class TransitionSpec(BaseModel):
    """The change from shot ``i`` to shot ``i + 1`` at their shared boundary ``at_s``.

    ``cut``: hard cut. ``dissolve``: a cross-fade whose ramp is centred on ``at_s`` and lasts ``span_s``.
    ``flash``: a hard cut whose first frame is white, the white decaying over ``span_s``.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["cut", "dissolve", "flash"]
    at_s: float = Field(ge=0)
    span_s: float = Field(default=0.0, ge=0)


class FadeSpec(BaseModel):
    """A fade from black at the start (``in``) or to black at the end (``out``): ramp ``[ramp_start_s,
    ramp_end_s)``; before an ``in`` ramp and after an ``out`` ramp the frame is black."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["in", "out"]
    ramp_start_s: float = Field(ge=0)
    ramp_end_s: float = Field(gt=0)


class OverlaySpec(BaseModel):
    """A caption band with text shown on frames in ``[start_s, end_s)``; ``band_y`` is the band's top, as a
    fraction of the frame height."""

    model_config = ConfigDict(frozen=True)

    text: str
    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    band_y: float = Field(ge=0, le=1)


class AudioEvent(BaseModel):
    """A synthesised sound over ``[start_s, start_s + dur_s)`` at an RMS level of ``level_db`` dBFS."""

    model_config = ConfigDict(frozen=True)

    kind: AudioKind
    start_s: float = Field(ge=0)
    dur_s: float = Field(gt=0)
    level_db: float = Field(le=0)
    freq: float = 220.0
    seed: int = 0


class VideoSpec(BaseModel):
    """Everything needed to render one video and to compute its ground truth."""

    model_config = ConfigDict(frozen=True)

    video_id: str
    archetype: str
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    fps: int = Field(gt=0)
    duration_s: float = Field(gt=0)
    sample_rate: int = 22050
    shots: list[ShotSpec]
    transitions: list[TransitionSpec]
    fades: list[FadeSpec] = Field(default_factory=list)
    overlays: list[OverlaySpec] = Field(default_factory=list)
    audio: list[AudioEvent] = Field(default_factory=list)
    ending: Literal["plain", "end_card", "fade_out", "loop"] = "plain"

    @property
    def orientation(self) -> Orientation:
        return "portrait" if self.height > self.width else "landscape"

    @property
    def n_frames(self) -> int:
        return round(self.duration_s * self.fps)
