"""Thumbnail strips of a time window, decoded with PyAV, joined side by side, JPEG-encoded with Pillow."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from sv6d.errors import NotFoundError, VideoInputError


def thumbnail_strip(
    source: str, allowed_roots: list[Path], start: float, end: float, n: int, height: int
) -> bytes:
    """``n`` frames at evenly spread times in ``[start, end]``, scaled to ``height``, as one JPEG.

    Only files under ``allowed_roots`` are read: a record's ``source`` is data, not a licence to open any
    file on the server."""
    path = Path(source)
    real = path.resolve() if path.is_absolute() else None
    if real is None or not real.is_file() or not any(real.is_relative_to(r.resolve()) for r in allowed_roots):
        raise NotFoundError(
            f"the media of this video is not available for thumbnails ({path.name or source})"
        )
    times = np.linspace(start, max(start, end - 1e-3), n)
    frames = _frames_at(real, times, height)
    from PIL import Image

    width = sum(f.width for f in frames)
    strip = Image.new("RGB", (width, height))
    x = 0
    for f in frames:
        strip.paste(f, (x, 0))
        x += f.width
    buf = io.BytesIO()
    strip.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def _frames_at(path: Path, times: np.ndarray, height: int) -> list:  # type: ignore[type-arg]
    import av

    out = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            # One seek to the keyframe before the window, then decode forward: windows are a few seconds.
            tb = float(stream.time_base) if stream.time_base else 1e-6
            container.seek(int(max(0.0, times[0]) / tb), stream=stream, backward=True, any_frame=False)
            want = list(times)
            last = None
            for frame in container.decode(stream):
                t = float(frame.pts * tb) if frame.pts is not None else 0.0
                while want and t >= want[0] - 1e-3:
                    img = frame.to_image()
                    w = max(1, round(img.width * height / img.height))
                    out.append(img.resize((w, height)))
                    want.pop(0)
                last = frame
                if not want:
                    break
            if want and last is not None:
                img = last.to_image()
                w = max(1, round(img.width * height / img.height))
                out.extend(img.resize((w, height)) for _ in want)
    except av.error.FFmpegError as exc:
        raise VideoInputError(path.name, f"cannot decode thumbnails: {exc}") from None
    if not out:
        raise VideoInputError(path.name, "no frames decoded in the requested window")
    return out
