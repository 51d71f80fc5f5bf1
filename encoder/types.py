"""Data passed between the encoder's stages: decode → transitions/shots → backbone → heads → record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from sv6d.dimensions import Dimension
from sv6d.record import Tag


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video, corrected for rotation and non-square pixels."""

    path: str
    duration_s: float
    fps: float  # nominal (average) frame rate; frame numbers in goldens are on this timeline
    width: int  # display width (after sample aspect ratio and rotation)
    height: int  # display height
    rotation: int  # degrees, as applied to produce the display frame
    codec: str
    has_audio: bool
    variable_frame_rate: bool = False


@dataclass
class DecodedVideo:
    """A decoded video, ready for analysis.

    ``frames`` are sampled at the analysis rate (a few fps) at analysis resolution, display-oriented RGB;
    ``thumbs`` hold *every* decoded frame, small, for transition detection (cuts need every frame).
    """

    info: VideoInfo
    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    times_s: np.ndarray  # (N,) float64 presentation times of ``frames``
    thumbs: np.ndarray  # (M, h, w, 3) uint8 RGB, every decoded frame
    thumb_times_s: np.ndarray  # (M,) float64
    audio: np.ndarray | None = None  # mono float32 in [-1, 1]
    sample_rate: int | None = None


@dataclass(frozen=True)
class Transition:
    """A shot change. A hard cut has start_s == end_s == the time of the first frame of the new shot."""

    kind: Literal["cut", "fade", "dissolve"]
    start_s: float
    end_s: float
    score: float  # detector strength (content delta for cuts, luma swing for fades)
    evidence: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Shot:
    start_s: float
    end_s: float


@dataclass
class WindowFeatures:
    """Raw backbone features for one time window: one vector per dimension (sizes may differ)."""

    start_s: float
    end_s: float
    features: dict[Dimension, np.ndarray]


@dataclass
class BackboneOutput:
    """Everything a backbone measures about one video, before the projection heads."""

    video: WindowFeatures
    hook: WindowFeatures
    segments: list[WindowFeatures]
    tags: list[Tag]
    energy: list[float] = field(default_factory=list)
    energy_hz: float = 0.0
