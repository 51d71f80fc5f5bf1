"""Render a ``VideoSpec`` to an mp4 (h264 + AAC) with numpy, OpenCV and PyAV.

Textures are procedural and histogram-equalised (so a palette's statistics do not depend on the layout);
the virtual camera is an affine crop of the texture; transitions, captions and fades are composited per frame.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from sv6d.synth.audio import synth_audio
from sv6d.synth.spec import BAND_DARKEN, BAND_HEIGHT_FRAC, Palette, ShotSpec, TextureKind, VideoSpec

_MARGIN = 8  # texture pixels kept around the camera path, so interpolation never reads outside
_EXTRA_S = 1.0  # local time beyond the shot on each side (dissolves show a shot before/after its span)


def _noise(rng: np.random.Generator, h: int, w: int, cells: tuple[int, ...]) -> np.ndarray:
    import cv2

    out = np.zeros((h, w), np.float32)
    for cell in cells:
        grid = rng.random((max(2, h // cell + 2), max(2, w // cell + 2))).astype(np.float32)
        out += cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) * cell
    return out


def texture_field(kind: TextureKind, seed: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Two fields in [0, 1] of shape (h, w): the equalised value field and a smooth hue-variation field."""
    import cv2

    rng = np.random.default_rng(seed)
    base = _noise(rng, h, w, (48, 24, 12, 6))
    if kind == "noise":
        f = base
    elif kind == "blobs":
        img = np.zeros((h, w), np.float32)
        side = min(h, w)
        for _ in range(int(rng.integers(40, 90))):
            c = (int(rng.integers(w)), int(rng.integers(h)))
            r = int(rng.uniform(0.04, 0.25) * side)
            cv2.circle(img, c, r, float(rng.random()), -1)
        f = cv2.GaussianBlur(img, (0, 0), 1.5) + 0.25 * base / base.max()
    elif kind == "stripes":
        theta = rng.uniform(0, np.pi)
        period = rng.uniform(14, 40)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        warp = 3.0 * base / base.max()
        f = (
            np.sin((xx * np.cos(theta) + yy * np.sin(theta)) / period * 2 * np.pi + warp)
            + 0.3 * base / base.max()
        )
    else:  # cells: a Mondrian of rectangles
        img = np.zeros((h, w), np.float32)
        for _ in range(int(rng.integers(30, 70))):
            x0, y0 = int(rng.integers(w)), int(rng.integers(h))
            x1, y1 = x0 + int(rng.uniform(0.05, 0.4) * w), y0 + int(rng.uniform(0.05, 0.4) * h)
            cv2.rectangle(img, (x0, y0), (x1, y1), float(rng.random()), -1)
        f = img + 0.2 * base / base.max()
    f = f.astype(np.float32)
    u8 = ((f - f.min()) * (255.0 / max(float(np.ptp(f)), 1e-6))).astype(np.uint8)
    field = cv2.equalizeHist(u8).astype(np.float32) / 255.0
    hue_field = _noise(rng, h, w, (64, 32))
    hue_field = (hue_field - hue_field.min()) / max(float(np.ptp(hue_field)), 1e-6)
    return field, hue_field


def colorize(field: np.ndarray, hue_field: np.ndarray, palette: Palette) -> np.ndarray:
    """Map fields to uint8 RGB through an HSV palette."""
    import cv2

    hsv = np.stack(
        [
            ((palette.hue + palette.hue_spread * (hue_field - 0.5)) % 1.0) * 360.0,
            np.full_like(field, palette.sat),
            palette.v_lo + (palette.v_hi - palette.v_lo) * field,
        ],
        axis=-1,
    ).astype(np.float32)
    return np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _draw_text(img: np.ndarray, text: str, cy: int, color: tuple[int, int, int], scale: float) -> None:
    import cv2

    font = cv2.FONT_HERSHEY_DUPLEX
    thick = max(1, round(scale * 2))
    (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
    if tw > img.shape[1] - 8:  # fit narrow (portrait) frames
        scale *= (img.shape[1] - 8) / tw
        (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
    cv2.putText(img, text, ((img.shape[1] - tw) // 2, cy + th // 2), font, scale, color, thick, cv2.LINE_AA)


class _ShotRenderer:
    """Frames of one shot at any local time: a texture seen through an affine virtual camera."""

    def __init__(self, shot: ShotSpec, extent_s: float, width: int, height: int) -> None:
        self.shot, self.w, self.h = shot, width, height
        self.extent = extent_s + 2 * _EXTRA_S
        if shot.card_text is not None:
            card = np.empty((height, width, 3), np.uint8)
            card[:] = colorize(
                np.full((1, 1), 0.5, np.float32), np.full((1, 1), 0.5, np.float32), shot.palette
            )[0, 0]
            luma = shot.palette.stats()[0]
            ink = (255, 255, 255) if luma < 0.5 else (0, 0, 0)
            _draw_text(card, shot.card_text, height // 2, ink, 0.9 * min(width, height) / 180)
            self.card: np.ndarray | None = card
            return
        self.card = None
        tw, th = width + 2 * _MARGIN, height + 2 * _MARGIN
        if shot.move in ("pan_left", "pan_right"):
            tw += int(np.ceil(shot.speed * width * self.extent))
        elif shot.move in ("tilt_up", "tilt_down"):
            th += int(np.ceil(shot.speed * height * self.extent))
        field, hue = _cached_field(shot.texture, shot.texture_seed, th, tw)
        self.tex = colorize(field, hue, shot.palette)
        self.tw, self.th = tw, th

    def frame(self, t: float) -> np.ndarray:
        import cv2

        if self.card is not None:
            return self.card.copy()
        shot = self.shot
        u = float(np.clip(shot.phase_s + shot.time_scale * (t - shot.start_s) + _EXTRA_S, 0.0, self.extent))
        cx, cy, z = self.tw / 2, self.th / 2, 1.0
        half_w, half_h = self.w / 2, self.h / 2
        if shot.move == "pan_right":  # camera moves right: content moves left
            cx = _MARGIN + half_w + shot.speed * self.w * u
        elif shot.move == "pan_left":
            cx = self.tw - _MARGIN - half_w - shot.speed * self.w * u
        elif shot.move == "tilt_down":  # camera moves down: content moves up
            cy = _MARGIN + half_h + shot.speed * self.h * u
        elif shot.move == "tilt_up":
            cy = self.th - _MARGIN - half_h - shot.speed * self.h * u
        elif shot.move == "push_in":
            z = float(np.exp(shot.speed * u))
        elif shot.move == "pull_out":
            z = float(np.exp(shot.speed * (self.extent - u)))
        m = np.array([[1 / z, 0, cx - half_w / z], [0, 1 / z, cy - half_h / z]], np.float64)
        return cv2.warpAffine(
            self.tex,
            m,
            (self.w, self.h),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT,
        )


@lru_cache(maxsize=8)
def _cached_field(kind: TextureKind, seed: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return texture_field(kind, seed, h, w)


def render_frames(spec: VideoSpec) -> Iterator[np.ndarray]:
    """Yield the spec's frames, uint8 RGB (height, width, 3), one per 1/fps."""
    import cv2

    fps, w, h = spec.fps, spec.width, spec.height
    frame_of = [round(s.start_s * fps) for s in spec.shots] + [spec.n_frames]
    shots = []
    for shot in spec.shots:
        src = spec.shots[shot.source_shot] if shot.source_shot is not None else shot
        shots.append(_ShotRenderer(shot, src.length_s, w, h))
    dissolves = {}
    flashes = {}
    for j, tr in enumerate(spec.transitions):
        b, n = round(tr.at_s * fps), round(tr.span_s * fps)
        if tr.kind == "dissolve":
            dissolves[j] = (b - n // 2, b - n // 2 + n)
        elif tr.kind == "flash":
            flashes[j + 1] = (b, max(1, n))
    band_h = max(8, round(BAND_HEIGHT_FRAC * h))
    text_scale = 0.55 * min(w, h) / 180
    for k in range(spec.n_frames):
        t = k / fps
        s = int(np.searchsorted(frame_of, k, side="right") - 1)
        img = None
        for j, (r0, r1) in dissolves.items():
            if r0 <= k < r1:
                a = (k - r0 + 1) / (r1 - r0 + 1)
                img = cv2.addWeighted(shots[j].frame(t), 1 - a, shots[j + 1].frame(t), a, 0)
                break
        if img is None:
            img = shots[s].frame(t)
        if s in flashes and flashes[s][0] <= k < flashes[s][0] + flashes[s][1]:
            a = 1.0 - (k - flashes[s][0]) / flashes[s][1]
            img = cv2.addWeighted(img, 1 - a, np.full_like(img, 255), a, 0)
        for ov in spec.overlays:
            if round(ov.start_s * fps) <= k < round(ov.end_s * fps):
                y0 = min(h - band_h, round(ov.band_y * h))
                img[y0 : y0 + band_h] = (img[y0 : y0 + band_h] * BAND_DARKEN).astype(np.uint8)
                _draw_text(img, ov.text, y0 + band_h // 2, (255, 255, 255), text_scale)
        for fade in spec.fades:
            r0, r1 = round(fade.ramp_start_s * fps), round(fade.ramp_end_s * fps)
            if fade.kind == "in":
                gain = 0.0 if k < r0 else (k - r0 + 1) / (r1 - r0 + 1) if k < r1 else 1.0
            else:
                gain = 1.0 if k < r0 else 1.0 - (k - r0 + 1) / (r1 - r0 + 1) if k < r1 else 0.0
            if gain < 1.0:
                img = (img.astype(np.float32) * gain + 0.5).astype(np.uint8)
        yield img


def video_codec() -> str:
    """libx264 when this PyAV build has it, else mpeg4 (always present in FFmpeg)."""
    import av

    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def write_video(
    path: str | Path,
    frames: Iterator[np.ndarray],
    fps: int,
    width: int,
    height: int,
    audio: np.ndarray | None,
    sample_rate: int,
) -> Path:
    """Encode RGB frames (and mono float audio) to ``path`` atomically (temp file + rename)."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    try:
        with av.open(str(tmp), "w", format="mp4") as container:
            codec = video_codec()
            vs: Any = container.add_stream(codec, rate=fps)
            vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
            if codec == "libx264":
                # asm=0: with its SIMD paths on, libx264 (as PyAV drives it) encodes the same frames into
                # different pictures depending on what the process encoded before (up to 14 levels; tests
                # then depend on their order). Without them it is deterministic, at 2.5x the encode CPU
                # (0.36 -> 0.90 s for a 17 s corpus video; the 100-video corpus renders in ~1 min on 2 cores).
                vs.options = {"preset": "veryfast", "crf": "18", "g": str(2 * fps), "x264-params": "asm=0"}
            ast: Any = None
            if audio is not None:
                ast = container.add_stream("aac", rate=sample_rate)
                ast.layout = "mono"
            chunk = 1024
            a_pos = 0
            for k, img in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                frame.pts = k
                for packet in vs.encode(frame):
                    container.mux(packet)
                # interleave audio up to the current video time
                while (
                    ast is not None
                    and audio is not None
                    and a_pos < audio.size
                    and a_pos < (k + 1) / fps * sample_rate
                ):
                    a_pos = _mux_audio(container, ast, audio, a_pos, chunk, sample_rate)
            for packet in vs.encode():
                container.mux(packet)
            while ast is not None and audio is not None and a_pos < audio.size:
                a_pos = _mux_audio(container, ast, audio, a_pos, chunk, sample_rate)
            if ast is not None:
                for packet in ast.encode():
                    container.mux(packet)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _mux_audio(container, stream, audio: np.ndarray, pos: int, chunk: int, sr: int) -> int:  # type: ignore[no-untyped-def]
    import av

    part = audio[pos : pos + chunk]
    frame = av.AudioFrame.from_ndarray(part[None, :].astype(np.float32), format="fltp", layout="mono")
    frame.sample_rate = sr
    frame.pts = pos
    for packet in stream.encode(frame):
        container.mux(packet)
    return pos + part.size


def generate_video(spec: VideoSpec, path: str | Path) -> Path:
    """Render ``spec`` to an mp4 at ``path`` (h264 + AAC mono); returns the path."""
    return write_video(
        path, render_frames(spec), spec.fps, spec.width, spec.height, synth_audio(spec), spec.sample_rate
    )
