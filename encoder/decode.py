"""Video input: probe and decode a file in one pass with PyAV.

One demuxing pass reads the video and the audio stream together. Every decoded video frame is shrunk by
swscale (in C, through PyAV's reformatter) to a small RGB thumbnail, because transition detection needs every
frame; at the sampling times the same decoded frame is also shrunk to an analysis frame. Full-size RGB frames
are never materialised in Python, which keeps ``decode`` close to the cost of decoding alone. The shrinking
runs in a worker thread beside the decoding one (``_Converter``).

Frames come out display-oriented: the display matrix (rotation side data) is applied, and the sample aspect
ratio is folded into the output size, so non-square pixels come out square. Times come from PTS, relative to
the first decoded frame, so they stay right on variable frame rate.

Every unusable input raises :class:`sv6d.errors.VideoInputError` naming the file and the problem.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from encoder.types import DecodedVideo, VideoInfo
from sv6d.errors import VideoInputError

# Below this many display pixels on the short side a "video" carries no analysable picture (a 1x1 video is a
# known way to smuggle audio through video pipelines); 16 px is the smallest size at which a thumbnail still
# shows coarse structure.
MIN_SIDE_PX = 16

# swscale runs single-threaded here: the decoder's frame threads already keep the cores busy, and slice
# threads for a 128-px thumbnail cost more in hand-offs than they save (identical pixels; measured: half the
# CPU time per AREA thumbnail of a 720p frame in isolation, a few percent of decode() in the real loop).
# AREA is the reference box filter for large downscales; FAST_BILINEAR/POINT are 2.5-4x cheaper but alias
# (mean |diff| 3-9 levels against AREA on real footage), which transition detection reads as change.
_SWS_THREADS = 1
CONVERT_QUEUE_FRAMES = 8  # decoded frames waiting to be shrunk (each holds a full-size picture)
THUMB_CHUNK = 64  # thumbnails handed to ``on_thumbs`` at once

LoopFilterSkip = Literal["none", "noref", "all"]
LOOP_FILTER_SKIPS: tuple[str, ...] = ("none", "noref", "all")


MIN_CLIP_S = 0.5  # the shortest video the encoder measures: two analysis frames at 4 fps, a loudness window


@dataclass(frozen=True)
class DecodeConfig:
    """How to sample a video for analysis, and the limits on what is accepted.

    ``analysis_max_side``: longest side of analysis frames (aspect kept); ``None`` means native size, still
    capped by ``max_resolution``: above it frames are downscaled, never refused. ``thumb_width``: width of the
    every-frame thumbnails used for transition detection. ``min_duration_s``: shorter videos are refused
    (``MIN_CLIP_S``: too short to measure; a clip shorter than the hook window is still encoded, its hook
    being the whole clip). ``max_duration_s``: longer videos are refused.
    ``skip_loop_filter``: skip the in-loop deblocking filter (H.264/HEVC/VP8/VP9), every frame still
    decoded: ``"all"`` (or True) skips it everywhere: 15 % less decoding CPU over the real test videos (26 %
    on VP8), pictures carry slight blocking that drifts until the next keyframe; ``"noref"`` skips it on
    frames no other frame predicts from (no drift; 7 %, nothing on VP8); ``"none"`` (or False) decodes
    exactly. The default ``"all"`` kept cut F1 on the goldens and tag F1 / similar-hook precision on the
    generated corpus (see ``bench/encode.py``); evidence records say which by the backbone version.
    """

    sample_fps: float = 4.0
    max_frames: int = 256
    analysis_max_side: int | None = 320
    thumb_width: int = 128
    audio: bool = True
    audio_rate: int = 16000
    min_duration_s: float = MIN_CLIP_S
    max_duration_s: float = 600.0
    max_resolution: int = 1920
    threads: int = 0  # 0 lets FFmpeg choose
    skip_loop_filter: bool | LoopFilterSkip = "all"

    def __post_init__(self) -> None:
        if self.sample_fps <= 0 or self.max_frames < 1 or self.thumb_width < 8 or self.audio_rate < 1000:
            raise ValueError(f"invalid DecodeConfig: {self}")
        if not isinstance(self.skip_loop_filter, bool) and self.skip_loop_filter not in LOOP_FILTER_SKIPS:
            raise ValueError(
                f"invalid DecodeConfig.skip_loop_filter {self.skip_loop_filter!r}; valid: "
                f"{', '.join(LOOP_FILTER_SKIPS)}, True (all) or False (none)"
            )

    @property
    def loop_filter_skip(self) -> LoopFilterSkip:
        """``skip_loop_filter`` as FFmpeg's discard level name."""
        if isinstance(self.skip_loop_filter, bool):
            return "all" if self.skip_loop_filter else "none"
        return self.skip_loop_filter


class FrameSink(Protocol):
    """Receives analysis frames while ``decode`` runs, so that per-frame analysis can overlap decoding
    (``encoder.evidence.stream.FrameMeasurer``). Frames are handed over as sampled: decode may still thin
    them out afterwards (videos of unknown length), so a sink must key its results by time. ``add`` is called
    from decode's conversion thread (one thread, in time order), not from the caller's."""

    def begin(self, duration_s: float | None, fps: float) -> None:
        """Decoding starts; ``duration_s``: the container's declared duration (None when unknown); ``fps``:
        the nominal frame rate (0 when unknown)."""
        ...

    def add(self, t: float, frame: np.ndarray) -> None:
        """One analysis frame (display-oriented RGB uint8, never modified afterwards) at ``t`` seconds."""
        ...


# ---------------------------------------------------------------------------------------------------------
# opening and checking


def _check_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise VideoInputError(p, "no such file")
    if p.is_dir():
        raise VideoInputError(p, "is a directory, not a video file")
    if not p.is_file():
        raise VideoInputError(p, "is not a regular file")
    if not os.access(p, os.R_OK):
        raise VideoInputError(p, "permission denied: the file is not readable")
    if p.stat().st_size == 0:
        raise VideoInputError(p, "empty file (0 bytes)")
    return p


def _open(p: Path) -> Any:
    import av

    try:
        return av.open(str(p), mode="r", metadata_errors="ignore")
    except PermissionError as exc:
        raise VideoInputError(p, "permission denied: the file is not readable") from exc
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise VideoInputError(
            p, f"not a readable video container: truncated, corrupt or not a video ({_reason(exc)})"
        ) from exc


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _video_stream(p: Path, container: Any) -> Any:
    streams = list(container.streams.video)
    if not streams:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise VideoInputError(p, f"no video stream (streams found: {', '.join(kinds)}); audio-only file?")
    # Attached pictures (cover art) are video streams of one frame; prefer a real one.
    real = [s for s in streams if not (s.disposition & 0x400)] or streams  # AV_DISPOSITION_ATTACHED_PIC
    return real[0]


def _nominal_fps(stream: Any) -> float:
    """The nominal frame rate: FFmpeg's guess (r_frame_rate, corrected), which stays on the nominal timeline
    when frames are dropped (goldeneye-vfr-drop3: 23.976 while the average is 16). When timestamps are
    irregular the guess can be the timestamp resolution instead (100 fps for millisecond PTS); more than
    twice the average rate then falls back to the average."""
    avg = float(stream.average_rate) if stream.average_rate else 0.0
    for rate in (stream.guessed_rate, stream.base_rate, stream.average_rate):
        r = float(rate) if rate else 0.0
        if 0 < r < 1000 and not (avg > 0 and r > 2.0 * avg):
            return r
    return avg if 0 < avg < 1000 else 0.0


def _declared_duration(container: Any, stream: Any) -> float | None:
    if stream.duration and stream.time_base:
        d = float(stream.duration * stream.time_base)
        if d > 0:
            return d
    if container.duration and container.duration > 0:
        return float(container.duration) / 1_000_000.0
    return None


def _sar(stream: Any) -> Fraction:
    for sar in (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio):
        if sar and sar.numerator > 0 and sar.denominator > 0:
            return Fraction(sar)
    return Fraction(1)


def _display_size(width: int, height: int, sar: Fraction, rotation: int) -> tuple[int, int]:
    """Display width/height: stretch by the sample aspect ratio, then swap for quarter turns."""
    w = round(width * sar) if sar >= 1 else width
    h = height if sar >= 1 else round(height / sar)
    if rotation % 180 != 0:
        w, h = h, w
    return max(int(w), 1), max(int(h), 1)


def _norm_rotation(deg: float) -> int:
    """Display rotation in degrees counterclockwise, snapped to a quarter turn in [0, 360)."""
    return round(deg / 90.0) * 90 % 360


def _fit(w: int, h: int, max_side: int) -> tuple[int, int]:
    """Size with the longest side at most ``max_side``, aspect kept, even numbers (swscale prefers them)."""
    scale = min(1.0, max_side / max(w, h))
    return max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2)


# ---------------------------------------------------------------------------------------------------------
# public API


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """What the container says about a video, corrected for rotation and non-square pixels.

    Decodes the first video frame (to read its rotation and to prove the stream decodes). Raises
    :class:`VideoInputError` for anything that is not a usable video.
    """
    p = _check_path(path)
    container = _open(p)
    try:
        stream = _video_stream(p, container)
        first = _first_frame(p, container, stream)
        return _info(p, container, stream, first)
    finally:
        container.close()


def _first_frame(p: Path, container: Any, stream: Any) -> Any:
    import av

    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as exc:
        raise VideoInputError(p, f"video stream does not decode ({_reason(exc)})") from exc
    raise VideoInputError(p, "video stream holds no decodable frame (truncated or corrupt file?)")


def _info(p: Path, container: Any, stream: Any, first: Any, duration_s: float | None = None) -> VideoInfo:
    rotation = _norm_rotation(first.rotation or 0)
    width, height = _display_size(first.width, first.height, _sar(stream), rotation)
    if min(first.width, first.height) < MIN_SIDE_PX:
        raise VideoInputError(
            p,
            f"picture too small ({first.width}x{first.height} px; at least {MIN_SIDE_PX} px per side needed)",
        )
    avg = stream.average_rate
    fps = _nominal_fps(stream)
    declared = _declared_duration(container, stream)
    vfr = bool(declared and avg and fps and abs(float(avg) - fps) / fps > 0.01)
    duration = duration_s if duration_s is not None else (declared or 0.0)
    return VideoInfo(
        path=str(p),
        duration_s=float(duration),
        fps=fps,
        width=width,
        height=height,
        rotation=rotation,
        codec=stream.codec_context.name,
        has_audio=bool(container.streams.audio),
        variable_frame_rate=vfr,
    )


def _rgb(reformatter: Any, frame: Any, size: tuple[int, int]) -> np.ndarray:
    """``frame`` scaled to ``size`` (width, height) as RGB, area-averaged (no aliasing for cut detection): a
    view with reversed channels, not contiguous (callers copy it into place).

    swscale converts to BGR and the channels are reversed here: its BGR output path costs 17-38 % less than
    its RGB one on the real test videos (0.28 against 0.33 ms a 720p thumbnail), and is as close to an exact
    BT.601 conversion of the same scaled planes (mean error 0.8-1.1 levels against 1.0-1.4 for RGB)."""
    out: np.ndarray = reformatter.reformat(
        frame,
        width=size[0],
        height=size[1],
        format="bgr24",
        interpolation="AREA",  # PyAV takes the Interpolation name; av itself is imported lazily
        threads=_SWS_THREADS,
    ).to_ndarray()
    return out[..., ::-1]


def decode(
    path: str | os.PathLike[str],
    config: DecodeConfig | None = None,
    sink: FrameSink | None = None,
    on_thumbs: Callable[[np.ndarray], None] | None = None,
) -> DecodedVideo:
    """Decode a video once: every frame as a small thumbnail, sampled analysis frames, and mono audio.

    Analysis frames are taken at ``config.sample_fps`` (fewer, evenly spread, when the video is longer than
    ``max_frames / sample_fps``); each is also handed to ``sink`` as soon as it is decoded. ``on_thumbs`` is
    called with the every-frame thumbnails in consecutive chunks of ``THUMB_CHUNK`` (the last one shorter),
    from the conversion thread while decoding runs, each thumbnail exactly once and never modified later
    (e.g. ``encoder.transitions.ThumbStatsStream.add``). Raises :class:`VideoInputError` for unusable input.
    """
    cfg = config or DecodeConfig()
    p = _check_path(path)
    container = _open(p)
    try:
        return _decode_open(p, container, cfg, sink, on_thumbs)
    finally:
        container.close()


class _FrameBuffer:
    """Every-frame thumbnails written into one preallocated array that doubles when full, instead of a list
    and a final ``np.stack`` (which copies every thumbnail a second time)."""

    def __init__(self, shape: tuple[int, int, int], capacity: int) -> None:
        self.buf = np.empty((max(capacity, 16), *shape), np.uint8)
        self.n = 0

    def append(self, img: np.ndarray) -> None:
        if self.n == len(self.buf):
            grown = np.empty((2 * len(self.buf), *self.buf.shape[1:]), np.uint8)
            grown[: self.n] = self.buf
            self.buf = grown
        self.buf[self.n] = img
        self.n += 1

    def result(self) -> np.ndarray:
        # a view when the estimate was close; a copy frees the slack when it was far off
        out = self.buf[: self.n]
        return out.copy() if self.n < 0.75 * len(self.buf) else out


class _Sampler:
    """Chooses analysis frames at ``interval`` seconds; when the duration is unknown, halves its density
    whenever it holds twice the cap, so memory stays bounded and the samples stay evenly spread."""

    def __init__(self, interval: float, cap: int) -> None:
        self.interval = interval
        self.cap = cap
        self.next_t = 0.0
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []

    def wants(self, t: float) -> bool:
        return t + 1e-6 >= self.next_t

    def add(self, t: float, img: np.ndarray) -> None:
        self.frames.append(img)
        self.times.append(t)
        self.next_t = max(self.next_t + self.interval, t + self.interval * 0.5)
        if len(self.frames) >= 2 * self.cap:
            self.frames = self.frames[::2]
            self.times = self.times[::2]
            self.interval *= 2
            self.next_t = self.times[-1] + self.interval

    def result(self) -> tuple[list[np.ndarray], list[float]]:
        if len(self.frames) <= self.cap:
            return self.frames, self.times
        keep = np.linspace(0, len(self.frames) - 1, self.cap).round().astype(int)
        return [self.frames[i] for i in keep], [self.times[i] for i in keep]


class _Converter:
    """Shrinks decoded frames (thumbnail, and analysis frame when sampled) in a worker thread, in decoding
    order, so that the decoding thread only demuxes and decodes.

    Why a thread: swscale runs in C without the GIL, and the decoder's frame threads leave part of the second
    core idle (they wait on each other's reference frames), so shrinking beside decoding instead of between
    two ``decode`` calls keeps the decoder fed. The queue is short: each queued frame holds a decoded picture.
    """

    def __init__(
        self,
        thumb_fmt: Any,
        frame_fmt: Any,
        sampler: _Sampler,
        sink: FrameSink | None,
        on_thumbs: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        import queue
        import threading

        self._queue: queue.Queue[tuple[float, Any] | None] = queue.Queue(maxsize=CONVERT_QUEUE_FRAMES)
        self._thread = threading.Thread(target=self._run, name="sv6d-decode-convert", daemon=True)
        self._thumb_fmt, self._frame_fmt = thumb_fmt, frame_fmt
        self._sampler, self._sink = sampler, sink
        self._on_thumbs = on_thumbs
        self._fed = 0  # thumbnails handed to on_thumbs so far
        self._thumbs: _FrameBuffer | None = None
        self._thumb_size = self._frame_size = (0, 0)
        self._rot_k = 0
        self._error: BaseException | None = None
        self._started = False

    def start(
        self, thumbs: _FrameBuffer, thumb_size: tuple[int, int], frame_size: tuple[int, int], rot_k: int
    ) -> None:
        self._thumbs, self._thumb_size, self._frame_size, self._rot_k = thumbs, thumb_size, frame_size, rot_k
        self._started = True
        self._thread.start()

    def put(self, t: float, frame: Any) -> None:
        if self._error is not None:  # stop decoding early; ``check`` re-raises it
            raise self._error
        self._queue.put((t, frame))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep draining: the decoding thread must not block on a full queue
            try:
                self._convert(*item)
            except BaseException as exc:  # handed to the decoding thread
                self._error = exc
        if self._error is None:
            try:
                self._feed(final=True)
            except BaseException as exc:
                self._error = exc

    def _feed(self, final: bool = False) -> None:
        """Hand the thumbnails not yet fed to ``on_thumbs``: a full chunk, or what is left at the end."""
        buf = self._thumbs
        if self._on_thumbs is None or buf is None:
            return
        if buf.n - self._fed >= THUMB_CHUNK or (final and buf.n > self._fed):
            # a view: the rows are final, and a later growth of the buffer copies them, leaving these alone
            self._on_thumbs(buf.buf[self._fed : buf.n])
            self._fed = buf.n

    def _convert(self, t: float, frame: Any) -> None:
        assert self._thumbs is not None
        rot_k = self._rot_k
        thumb = _rgb(self._thumb_fmt, frame, self._thumb_size)
        self._thumbs.append(np.rot90(thumb, rot_k) if rot_k else thumb)
        self._feed()
        if self._sampler.wants(t):
            img = _rgb(self._frame_fmt, frame, self._frame_size)
            img = np.ascontiguousarray(np.rot90(img, rot_k) if rot_k else img)
            self._sampler.add(t, img)
            if self._sink is not None:
                self._sink.add(t, img)

    def stop(self) -> None:
        """Wait for the queued frames to be converted (idempotent)."""
        if self._started:
            self._started = False
            self._queue.put(None)
            self._thread.join()

    def check(self) -> None:
        """Re-raise an error the worker met."""
        if self._error is not None:
            raise self._error


def _decode_open(
    p: Path,
    container: Any,
    cfg: DecodeConfig,
    sink: FrameSink | None = None,
    on_thumbs: Callable[[np.ndarray], None] | None = None,
) -> DecodedVideo:
    import av
    from av.video.reformatter import VideoReformatter

    vstream = _video_stream(p, container)
    vstream.thread_type = "AUTO"
    if cfg.threads:
        vstream.codec_context.thread_count = cfg.threads
    if cfg.loop_filter_skip != "none":
        options = vstream.codec_context.options
        vstream.codec_context.options = {**options, "skip_loop_filter": cfg.loop_filter_skip}
    astream = container.streams.audio[0] if (cfg.audio and container.streams.audio) else None

    declared = _declared_duration(container, vstream)
    if declared is not None and declared > cfg.max_duration_s:
        raise VideoInputError(p, f"too long ({declared:.1f} s; the limit is {cfg.max_duration_s:.0f} s)")
    sample_interval = 1.0 / cfg.sample_fps
    if declared:
        sample_interval = max(sample_interval, declared / cfg.max_frames)
    sampler = _Sampler(sample_interval, cfg.max_frames)
    if sink is not None:
        sink.begin(declared, _nominal_fps(vstream))

    resampler = av.AudioResampler(format="flt", layout="mono", rate=cfg.audio_rate) if astream else None
    audio_chunks: list[np.ndarray] = []

    thumb_fmt = VideoReformatter()
    frame_fmt = VideoReformatter()
    thumbs: _FrameBuffer | None = None
    # capacity guess from the container (the buffer grows if frames keep coming)
    expect_frames = int((declared or 0.0) * (_nominal_fps(vstream) or 30.0) * 1.05) + 8
    thumb_times: list[float] = []
    first: Any = None
    t0: float | None = None
    last_t = -1.0
    rot_k = 0
    thumb_size = frame_size = (0, 0)
    fps = _nominal_fps(vstream)
    errors = 0

    conv = _Converter(thumb_fmt, frame_fmt, sampler, sink, on_thumbs)

    def on_video(frame: Any) -> None:
        nonlocal first, t0, last_t, rot_k, thumb_size, frame_size, thumbs
        if first is None:
            first = frame
            info0 = _info(p, container, vstream, frame)  # raises on a picture too small
            rot_k = (info0.rotation // 90) % 4
            disp_w, disp_h = info0.width, info0.height
            tw = min(cfg.thumb_width, disp_w)
            th = max(2, round(tw * disp_h / disp_w / 2) * 2)
            max_side = min(cfg.analysis_max_side or cfg.max_resolution, cfg.max_resolution)
            fw, fh = _fit(disp_w, disp_h, max_side)
            # swscale works on the stored (unrotated) picture: swap the target for quarter turns
            thumb_size = (th, tw) if rot_k % 2 else (tw, th)
            frame_size = (fh, fw) if rot_k % 2 else (fw, fh)
            thumbs = _FrameBuffer((th, tw, 3), expect_frames)
            conv.start(thumbs, thumb_size, frame_size, rot_k)
        step = 1.0 / (fps or 25.0)
        expected = last_t + step if thumb_times else 0.0
        if frame.time is None:  # raw streams carry no PTS: count frames at the nominal rate
            t = expected
        else:
            if t0 is None:
                t0 = float(frame.time) - expected
            t = float(frame.time) - t0
            if thumb_times and t <= last_t:  # broken PTS: keep time monotonic
                t = expected
        if t > cfg.max_duration_s:
            raise VideoInputError(p, f"too long (more than {cfg.max_duration_s:.0f} s of video)")
        last_t = t
        thumb_times.append(t)
        conv.put(t, frame)

    streams = [vstream] + ([astream] if astream is not None else [])
    try:
        for packet in container.demux(*streams):
            try:
                decoded = packet.decode()
            except av.FFmpegError:
                # A damaged packet: FFmpeg conceals it; losing whole files to it would be worse.
                errors += 1
                if errors > 50 and first is None:
                    raise
                continue
            if packet.stream is vstream:
                for frame in decoded:
                    on_video(frame)
            elif resampler is not None:
                for aframe in decoded:
                    for out in resampler.resample(aframe):
                        audio_chunks.append(out.to_ndarray().reshape(-1))
    except VideoInputError:
        raise
    except av.FFmpegError as exc:
        if first is None:
            raise VideoInputError(p, f"video stream does not decode ({_reason(exc)})") from exc
    except (OSError, EOFError) as exc:
        raise VideoInputError(p, f"read error while decoding ({_reason(exc)})") from exc
    finally:
        conv.stop()
    conv.check()

    if first is None or thumbs is None:
        raise VideoInputError(p, "video stream holds no decodable frame (truncated or corrupt file?)")

    frame_step = 1.0 / fps if fps else 0.0
    decoded_duration = last_t + (frame_step if len(thumb_times) > 1 else 0.0)
    if declared is not None and decoded_duration < 0.8 * declared - 0.5:
        raise VideoInputError(
            p, f"truncated: only {decoded_duration:.2f} s of the declared {declared:.2f} s of video decode"
        )
    duration = max(decoded_duration, declared or 0.0) if declared is not None else decoded_duration
    if duration + 0.5 * frame_step < cfg.min_duration_s:
        raise VideoInputError(
            p, f"too short to measure ({duration:.2f} s; the minimum is {cfg.min_duration_s:g} s)"
        )

    info = _info(p, container, vstream, first, duration_s=duration)
    if len(thumb_times) > 2:
        # Measured, not declared: frame intervals that vary by more than half the typical one.
        steps = np.diff(np.asarray(thumb_times))
        med = float(np.median(steps))
        info = replace(info, variable_frame_rate=bool(med > 0 and float(np.ptp(steps)) > 0.5 * med))
    if not fps and len(thumb_times) > 1:
        info = replace(info, fps=(len(thumb_times) - 1) / max(thumb_times[-1], 1e-6))

    frames, times = sampler.result()
    audio = sample_rate = None
    if resampler is not None:
        for out in resampler.resample(None):
            audio_chunks.append(out.to_ndarray().reshape(-1))
        if audio_chunks:
            audio = np.concatenate(audio_chunks).astype(np.float32, copy=False)
            sample_rate = cfg.audio_rate
    return DecodedVideo(
        info=info,
        frames=np.stack(frames),
        times_s=np.asarray(times, dtype=np.float64),
        thumbs=thumbs.result(),
        thumb_times_s=np.asarray(thumb_times, dtype=np.float64),
        audio=audio,
        sample_rate=sample_rate,
    )
