"""A generated corpus with known per-dimension labels, built from numpy frames (no video files needed).

Each video draws one factor per dimension, named with vocabulary labels so the text side can use their
definitions: subject (a skin-toned blob = face_present, else no_person), aesthetics (warm_palette,
cool_palette, low_key), camera (static, pan_left, pan_right: a textured background that moves),
editing (fast_rhythm: a cut every 0.5 s, long_take: one shot), narrative (cold_open: a white flash in the
first second, build_up: brightness ramps up), dissemination (text_overlay: a bright band with glyph-like
stripes in the hook, else none). Noise and random offsets make videos with equal labels differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from encoder.types import DecodedVideo, Shot, VideoInfo
from sv6d.dimensions import Dimension

FACTORS: dict[Dimension, tuple[str, ...]] = {
    Dimension.SUBJECT: ("face_present", "no_person"),
    Dimension.AESTHETICS: ("warm_palette", "cool_palette", "low_key"),
    Dimension.CAMERA: ("static", "pan_left", "pan_right"),
    Dimension.EDITING: ("fast_rhythm", "long_take"),
    Dimension.NARRATIVE: ("cold_open", "build_up"),
    Dimension.DISSEMINATION: ("text_overlay", "no_overlay"),
}

_PALETTES = {
    "warm_palette": ((200, 110, 50), (230, 170, 80)),
    "cool_palette": ((40, 110, 200), (70, 170, 220)),
    "low_key": ((25, 25, 35), (55, 50, 60)),
}


@dataclass
class GeneratedVideo:
    video_id: str
    decoded: DecodedVideo
    shots: list[Shot]
    labels: dict[Dimension, str]


def generate_video(
    video_id: str, rng: np.random.Generator, seconds: float = 6.0, fps: float = 4.0, h: int = 72, w: int = 128
) -> GeneratedVideo:
    """One video with a random label per dimension (see the module docstring)."""
    labels = {d: str(rng.choice(options)) for d, options in FACTORS.items()}
    n = int(seconds * fps)
    times = np.arange(n) / fps
    lo, hi = (np.array(c, dtype=np.float32) for c in _PALETTES[labels[Dimension.AESTHETICS]])
    # A textured background wider than the frame, so camera moves show as translation.
    yy, xx = np.mgrid[0:h, 0 : 3 * w]
    phase = rng.uniform(0, 6.28, size=2)
    texture = 0.5 + 0.5 * np.sin(xx / rng.uniform(5, 9) + phase[0]) * np.cos(
        yy / rng.uniform(5, 9) + phase[1]
    )
    background = lo + (hi - lo) * texture[..., None]
    cut_every = 0.5 if labels[Dimension.EDITING] == "fast_rhythm" else seconds
    speed = {"static": 0.0, "pan_left": 12.0, "pan_right": -12.0}[labels[Dimension.CAMERA]]
    frames = np.empty((n, h, w, 3), dtype=np.float32)
    shots: list[Shot] = []
    for i, t in enumerate(times):
        shot = int(t // cut_every)
        if not shots or len(shots) <= shot:
            shots.append(Shot(shot * cut_every, min(seconds, (shot + 1) * cut_every)))
        offset = int(w + speed * t + 37 * shot) % (2 * w)
        frame = background[:, offset : offset + w].copy()
        if shot % 2:
            frame = frame[:, ::-1] * 0.85  # a cut: a mirrored, darker view of the set
        if labels[Dimension.SUBJECT] == "face_present":
            cy, cx = h // 2, w // 2 + int(10 * np.sin(t))
            mask = ((yy[:, :w] - cy) / 18.0) ** 2 + ((xx[:, :w] - cx) / 14.0) ** 2 < 1
            frame[mask] = (224, 172, 140)
        if labels[Dimension.NARRATIVE] == "cold_open" and t < 1.0:
            frame = np.full_like(frame, 245.0)
        elif labels[Dimension.NARRATIVE] == "build_up":
            frame = frame * (0.5 + 0.5 * t / seconds)
        if labels[Dimension.DISSEMINATION] == "text_overlay" and t < 3.0:
            band = frame[int(0.75 * h) : int(0.9 * h)]
            band[:] = 250.0
            band[:, ::4] = 10.0
        frames[i] = frame
    noisy = frames + rng.normal(0, 6, frames.shape)
    out = np.clip(noisy, 0, 255).astype(np.uint8)
    info = VideoInfo(f"{video_id}.mp4", seconds, fps, w, h, 0, "generated", False)
    decoded = DecodedVideo(info, out, times, out[:, ::4, ::4], times)
    return GeneratedVideo(video_id, decoded, shots, labels)


def generated_corpus(n: int, seed: int = 0, **kwargs: float) -> list[GeneratedVideo]:
    """``n`` generated videos, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return [generate_video(f"gen-{seed}-{i:05d}", rng, **kwargs) for i in range(n)]  # type: ignore[arg-type]
