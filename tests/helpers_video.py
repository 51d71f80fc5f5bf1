"""Small test videos written with PyAV into a test's tmp_path: known cuts, fades, dissolves, rotation,
non-square pixels, variable frame rate, audio, and several codecs and containers."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

W, H = 96, 64

CONTAINER_FORMATS = {
    ".mp4": "mp4",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
    ".h264": "h264",
    ".mov": "mov",
}


def scene(seed: int, w: int = W, h: int = H) -> np.ndarray:
    """A textured RGB picture, one per seed: a colour gradient plus blocks (so cuts change edges)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    palette = [(200, 40, 40), (40, 170, 60), (50, 60, 200), (220, 200, 40), (150, 40, 170), (40, 190, 190)]
    base = np.array(palette[seed % len(palette)], np.float32) + rng.uniform(-20, 20, size=3).astype(
        np.float32
    )
    grad = rng.uniform(-0.8, 0.8, size=(2, 3)).astype(np.float32)
    img = base + xx[..., None] * grad[0] + yy[..., None] * grad[1]
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w - 12)), int(rng.integers(0, h - 12))
        bw, bh = int(rng.integers(6, 24)), int(rng.integers(6, 20))
        img[y0 : y0 + bh, x0 : x0 + bw] = rng.uniform(0, 255, size=3)
    return np.clip(img, 0, 255).astype(np.uint8)


def moving(img: np.ndarray, n: int, speed: float = 0.5) -> list[np.ndarray]:
    """``n`` frames of ``img`` drifting sideways slowly (sub-pixel steps), so shots are not frozen."""
    return [np.roll(img, int(i * speed), axis=1) for i in range(n)]


def write_video(
    path: Path,
    frames: Sequence[np.ndarray],
    fps: int = 10,
    codec: str = "libx264",
    times_s: Sequence[float] | None = None,
    rotation: int | None = None,
    sar: Fraction | None = None,
    audio: np.ndarray | None = None,
    audio_rate: int = 16000,
    audio_codec: str = "aac",
    pix_fmt: str = "yuv420p",
) -> Path:
    """Write RGB ``frames`` to ``path`` (container from the suffix). ``times_s`` gives each frame's
    presentation time (variable frame rate); ``rotation`` writes a display matrix; ``sar`` non-square pixels;
    ``audio`` a mono float track."""
    fmt = CONTAINER_FORMATS[path.suffix]
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format=fmt) as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        if times_s is not None:
            vs.codec_context.time_base = Fraction(1, 1000)
        if sar is not None:
            vs.codec_context.sample_aspect_ratio = sar
        if rotation is not None:
            vs.set_display_rotation(rotation)
        astream = None
        if audio is not None:
            astream = out.add_stream(audio_codec, rate=audio_rate)
            astream.layout = "mono"
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            if times_s is not None:
                frame.pts = round(times_s[i] * 1000)
                frame.time_base = Fraction(1, 1000)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if astream is not None and audio is not None:
            fsize = astream.codec_context.frame_size or 1024
            fmt_name = astream.codec_context.format.name
            pcm = audio.astype(np.float32)
            for k, start in enumerate(range(0, len(pcm), fsize)):
                chunk = pcm[start : start + fsize]
                if len(chunk) < fsize:
                    chunk = np.pad(chunk, (0, fsize - len(chunk)))
                data = chunk[None, :]  # mono: planar and packed layouts coincide
                if fmt_name.startswith("s16"):
                    data = (data * 32767).astype(np.int16)
                af = av.AudioFrame.from_ndarray(data, format=fmt_name, layout="mono")
                af.sample_rate = audio_rate
                af.pts = k * fsize
                for packet in astream.encode(af):
                    out.mux(packet)
            for packet in astream.encode():
                out.mux(packet)
    return path


def write_audio_only(path: Path, seconds: float = 2.0, rate: int = 16000) -> Path:
    """An audio-only file (AAC in MP4)."""
    fmt = CONTAINER_FORMATS[path.suffix]
    with av.open(str(path), "w", format=fmt) as out:
        st = out.add_stream("aac", rate=rate)
        st.layout = "mono"
        n = st.codec_context.frame_size or 1024
        tone = np.sin(np.arange(int(seconds * rate)) * 2 * np.pi * 440 / rate).astype(np.float32)
        for k, start in enumerate(range(0, len(tone) - n, n)):
            af = av.AudioFrame.from_ndarray(tone[None, start : start + n], format="fltp", layout="mono")
            af.sample_rate, af.pts = rate, k * n
            for p in st.encode(af):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    return path


def cut_video(path: Path, shot_lengths: Sequence[int], fps: int = 10, codec: str = "libx264") -> list[float]:
    """Shots of distinct textures; returns the true cut times (first frame of each new shot)."""
    frames: list[np.ndarray] = []
    cuts = []
    for k, n in enumerate(shot_lengths):
        if frames:
            cuts.append(len(frames) / fps)
        frames += moving(scene(100 + k), n)
    write_video(path, frames, fps=fps, codec=codec)
    return cuts


def ramp(a: np.ndarray, b: np.ndarray, n: int) -> list[np.ndarray]:
    """``n`` frames blending linearly from ``a`` to ``b`` (both ends excluded)."""
    out = []
    for i in range(1, n + 1):
        t = i / (n + 1)
        out.append(
            np.clip((1 - t) * a.astype(np.float32) + t * b.astype(np.float32), 0, 255).astype(np.uint8)
        )
    return out


def texture(seed: int, w: int, h: int, kind: str = "noise", hue: float = 0.08) -> np.ndarray:
    """A wide RGB texture from the generator's texture family (one palette for every seed, so two seeds give
    pictures whose colour statistics match and only the layout differs)."""
    from sv6d.synth.render import colorize, texture_field
    from sv6d.synth.spec import Palette

    field, hue_field = texture_field(kind, seed, h, w)  # type: ignore[arg-type]
    return colorize(field, hue_field, Palette(hue=hue, hue_spread=0.05, sat=0.7, v_lo=0.2, v_hi=0.9))


def pan(tex: np.ndarray, n: int, width: int, speed: float, start: float = 0.0) -> list[np.ndarray]:
    """``n`` frames of a camera panning right over ``tex`` at ``speed`` px per frame (sub-pixel steps)."""
    import cv2

    h = tex.shape[0]
    out = []
    for i in range(n):
        m = np.array([[1.0, 0.0, start + i * speed], [0.0, 1.0, 0.0]], np.float64)
        out.append(cv2.warpAffine(tex, m, (width, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP))
    return out
