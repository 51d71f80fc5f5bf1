"""Re-cut real footage with a chosen opening: the same footage opened in different ways, for hook tests.

The first ``hook_s`` seconds follow the opening style; the rest is the source footage, plain, from
``hook_s`` on (identical for every opening of the same source, wrapping around a source shorter than needed).
Sources are read in place; only the new video is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from sv6d.errors import VideoInputError
from sv6d.synth.render import _draw_text, write_video
from sv6d.synth.spec import BAND_DARKEN, BAND_HEIGHT_FRAC

Opening = Literal["fast_cuts", "slow_push_in", "text_card_open", "flash_open"]
OPENINGS: tuple[str, ...] = get_args(Opening)
OPENING_DESCRIPTIONS: dict[str, str] = {
    "fast_cuts": "five 0.6 s snippets of distinct moments, hard cuts between them, loud bursts on each cut",
    "slow_push_in": "one continuous moment with a slow digital zoom-in, near-silent audio",
    "text_card_open": "a frozen, statically cropped frame under a caption band, original audio",
    "flash_open": "white, then a flash cut into the footage with a loud impact",
}

_SR = 22050
_MAX_SIDE = 320
_MAX_SOURCE_S = 60.0


@dataclass
class _Source:
    frames: list[np.ndarray]
    times: np.ndarray
    duration: float
    audio: np.ndarray  # mono float32 at _SR, covering ``duration``

    def frame_at(self, t: float) -> np.ndarray:
        t = t % self.duration
        i = int(np.searchsorted(self.times, t, side="right") - 1)
        return self.frames[max(0, i)]

    def audio_at(self, t: float, seconds: float) -> np.ndarray:
        n = round(seconds * _SR)
        start = round((t % self.duration) * _SR)
        idx = (start + np.arange(n)) % max(1, self.audio.size)
        return self.audio[idx] if self.audio.size else np.zeros(n, np.float32)


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def _load(path: Path) -> _Source:
    import av

    if not path.is_file():
        raise VideoInputError(path, "source video does not exist or is not a file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoInputError(path, f"cannot open as a video ({exc})") from None
    with container:
        if not container.streams.video:
            raise VideoInputError(path, "has no video stream")
        vs = container.streams.video[0]
        w, h = vs.codec_context.width, vs.codec_context.height
        scale = _MAX_SIDE / max(w, h)
        tw, th = _even(w * scale), _even(h * scale)
        frames, times = [], []
        for frame in container.decode(video=0):
            if frame.time is None:
                continue
            if frame.time > _MAX_SOURCE_S:
                break
            frames.append(frame.to_ndarray(width=tw, height=th, format="rgb24"))
            times.append(float(frame.time))
    if len(frames) < 2:
        raise VideoInputError(path, "has fewer than two decodable frames")
    t = np.asarray(times) - times[0]
    order = np.argsort(t, kind="stable")
    step = float(np.median(np.diff(t[order]))) if len(t) > 1 else 1 / 25
    duration = float(t[order][-1] + step)
    audio = _load_audio(path, duration)
    return _Source([frames[i] for i in order], t[order], duration, audio)


def _load_audio(path: Path, duration: float) -> np.ndarray:
    import av

    n = round(duration * _SR)
    out = np.zeros(n, np.float32)
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return out
        resampler = av.AudioResampler(format="flt", layout="mono", rate=_SR)
        chunks = []
        for frame in container.decode(audio=0):
            for rf in resampler.resample(frame):
                chunks.append(rf.to_ndarray().reshape(-1))
        if chunks:
            data = np.concatenate(chunks)[:n]
            out[: data.size] = data
    return out


def _burst(rng: np.random.Generator, seconds: float, level_db: float, tau: float) -> np.ndarray:
    n = round(seconds * _SR)
    t = np.arange(n) / _SR
    sig = rng.standard_normal(n) * np.exp(-t / tau) + np.sin(2 * np.pi * 55 * t) * np.exp(-t / (2 * tau))
    return (sig * 10 ** (level_db / 20) / np.sqrt(np.mean(sig**2))).astype(np.float32)


def recut(
    src_path: str | Path,
    out_path: str | Path,
    opening: Opening | str,
    rng: np.random.Generator,
    *,
    hook_s: float = 3.0,
    rest_s: float = 5.0,
    fps: int = 25,
) -> Path:
    """Write a new video: ``opening`` over the first ``hook_s`` seconds, then ``rest_s`` seconds of the source
    footage from ``hook_s`` on. Deterministic for the generator's state; returns ``out_path``."""
    if opening not in OPENINGS:
        raise ValueError(f"unknown opening {opening!r}; valid openings: {', '.join(OPENINGS)}")
    src = _load(Path(src_path))
    h, w = src.frames[0].shape[:2]
    n_hook = round(hook_s * fps)
    dur = src.duration
    frames: list[np.ndarray] = []
    audio_parts: list[np.ndarray] = []

    if opening == "fast_cuts":
        n_cuts = 5
        seg = n_hook // n_cuts
        slots = (np.arange(n_cuts) + rng.uniform(0.1, 0.6, n_cuts)) * (dur / n_cuts)
        moments = rng.permutation(np.minimum(slots, max(0.0, dur - seg / fps)))
        for i, m in enumerate(moments):
            count = seg if i < n_cuts - 1 else n_hook - seg * (n_cuts - 1)
            frames.extend(src.frame_at(m + k / fps) for k in range(count))
            part = src.audio_at(m, count / fps) * 0.5
            burst = _burst(rng, min(0.4, count / fps), -10.0, 0.12)
            part[: burst.size] += burst
            audio_parts.append(part)
    elif opening == "slow_push_in":
        import cv2

        m = float(rng.uniform(0, max(0.0, dur - hook_s))) if dur > hook_s else 0.0
        rate = rng.uniform(0.06, 0.1)
        for k in range(n_hook):
            z = float(np.exp(rate * k / fps))
            mat = np.array([[1 / z, 0, w / 2 * (1 - 1 / z)], [0, 1 / z, h / 2 * (1 - 1 / z)]])
            img = src.frame_at(m + k / fps)
            frames.append(cv2.warpAffine(img, mat, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP))
        audio_parts.append(src.audio_at(m, n_hook / fps) * 0.003)
    elif opening == "text_card_open":
        import cv2

        m = float(rng.uniform(0, dur))
        z = 1.2
        mat = np.array([[1 / z, 0, w / 2 * (1 - 1 / z)], [0, 1 / z, h / 2 * (1 - 1 / z)]])
        card = cv2.warpAffine(src.frame_at(m), mat, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        band_h = max(8, round(BAND_HEIGHT_FRAC * h))
        y0 = round(float(rng.choice([0.08, 0.72])) * h)
        card[y0 : y0 + band_h] = (card[y0 : y0 + band_h] * BAND_DARKEN).astype(np.uint8)
        text = str(rng.choice(["WATCH THIS", "STORY TIME", "PART 2", "NO WAY", "HOW TO"]))
        _draw_text(card, text, y0 + band_h // 2, (255, 255, 255), 0.55 * min(w, h) / 180)
        frames.extend(card.copy() for _ in range(n_hook))
        audio_parts.append(src.audio_at(m, n_hook / fps))
    else:  # flash_open
        white = round(float(rng.uniform(0.3, 0.5)) * fps)
        decay = round(0.25 * fps)
        m = float(rng.uniform(0, max(0.0, dur - hook_s)))
        frames.extend(np.full((h, w, 3), 255, np.uint8) for _ in range(white))
        for k in range(n_hook - white):
            img = src.frame_at(m + k / fps)
            if k < decay:
                a = 1.0 - k / decay
                img = (img * (1 - a) + 255 * a).astype(np.uint8)
            frames.append(img)
        audio_parts.append(np.zeros(round(white / fps * _SR), np.float32))
        part = src.audio_at(m, (n_hook - white) / fps) * 0.5
        boom = _burst(rng, min(1.0, (n_hook - white) / fps), -8.0, 0.3)
        part[: boom.size] += boom
        audio_parts.append(part)

    n_rest = round(rest_s * fps)
    frames.extend(src.frame_at(hook_s + k / fps) for k in range(n_rest))
    audio_parts.append(src.audio_at(hook_s, n_rest / fps))
    audio = np.clip(np.concatenate(audio_parts), -1.0, 1.0).astype(np.float32)
    return write_video(out_path, iter(frames), fps, w, h, audio, _SR)
