"""Re-cut real footage into known opening styles with ffmpeg filter graphs.

Each clip is ``HOOK_S`` seconds of the style over one source, then ``REST_S`` seconds of the same source
played plainly from a fixed point (the same for every style of a source: "the same footage opened
differently").
Every style draws its parameters per clip from a generator seeded by (seed, source, style): cut count and
length, zoom speed and amount, caption text, size, position and font, flash colour and length, fade length,
freeze length, pan direction, whether the hook's audio is kept or replaced. Nothing here reads the encoder's
code or constants.

Needs the ``ffmpeg`` and ``ffprobe`` programs (Debian's ``ffmpeg`` package: it has ``drawtext``) and a
TrueType font (Debian's ``fonts-dejavu-core``); ``make install`` installs both when run as root.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sv6d.errors import ConfigError, VideoInputError

RENDER_VERSION = "hookbench-render-1"
HOOK_S = 3.0
REST_S = 5.0
MAX_SIDE = 480  # output size: the long side, aspect ratio kept (display aspect, square pixels)

STYLE_DESCRIPTIONS: dict[str, str] = {
    "jump_cuts": "short pieces of one continuous take with the time between them cut out (jump cuts)",
    "montage": "a montage of distinct moments, hard cuts between them",
    "caption_hook": "one continuous shot with a caption appearing at the start (top, centre or lower third)",
    "slow_push_in": "one continuous shot with a slow zoom in",
    "pull_out": "one continuous shot with a slow zoom out",
    "whip_pan": "a shot that whips sideways, blurred, into another shot",
    "fade_from_black": "opens on black and fades in",
    "flash_open": "opens on a bright flash that fades into the picture",
    "freeze_frame_open": "opens on a frozen frame that then starts to play",
    "speed_ramp": "slow motion, or a speed ramp from fast to slow",
    "split_screen": "two moments at once: side by side, stacked, or picture in picture",
    "punch_in_beat": "one take with sudden zoom-in steps on the beat",
}
STYLES: tuple[str, ...] = tuple(STYLE_DESCRIPTIONS)
# Openings the hook heads never train on and no setting is chosen on: a probe of how the search does on
# styles it was not built for (``sv6d eval-hooks --real --styles probe``). Report them apart.
PROBE_STYLE_DESCRIPTIONS: dict[str, str] = {
    "spin_in": "the picture spins in: rotated at the start, turning upright",
    "colour_bloom": "opens in black and white, then the colour comes in",
    "shake_open": "a hard handheld shake at the start, then steady",
    "letterbox_open": "black bars close the picture at the start and slide open",
    "strobe_open": "the brightness flickers on and off at the start",
}
PROBE_STYLES: tuple[str, ...] = tuple(PROBE_STYLE_DESCRIPTIONS)

CAPTIONS = (
    "WAIT FOR IT",
    "WATCH THIS",
    "STORY TIME",
    "PART 2",
    "NO WAY",
    "HOW TO DO IT",
    "3 TIPS",
    "UNBELIEVABLE",
    "POV",
    "DAY 1",
    "THE SECRET",
    "FOLLOW FOR MORE",
)
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Bold.ttf",
)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigError(
            f"the hook benchmark renders with the {name!r} program, which is not installed "
            "(Debian: apt-get install ffmpeg fonts-dejavu-core; `make install` does it as root)"
        )
    return path


def fonts() -> list[str]:
    """The TrueType fonts the captions may use (those present of ``FONT_CANDIDATES``)."""
    found = [f for f in FONT_CANDIDATES if Path(f).is_file()]
    if not found:
        raise ConfigError("no TrueType font for captions (Debian: apt-get install fonts-dejavu-core)")
    return found


@dataclass(frozen=True)
class SourceInfo:
    name: str
    path: str
    duration: float
    width: int  # output size (display aspect, long side MAX_SIDE, even)
    height: int
    has_audio: bool


def probe(path: str | Path) -> SourceInfo:
    """Duration, output size and audio presence of a source (VideoInputError when ffprobe cannot read it)."""
    p = Path(path)
    if not p.is_file():
        raise VideoInputError(p, "source video does not exist or is not a file")
    cmd = [_tool("ffprobe"), "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(p)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        doc = json.loads(res.stdout)
        video = next(s for s in doc["streams"] if s["codec_type"] == "video")
    except (ValueError, KeyError, StopIteration):
        raise VideoInputError(p, f"ffprobe finds no video stream ({res.stderr.strip()[:200]})") from None
    w, h = int(video["width"]), int(video["height"])
    num, _, den = str(video.get("sample_aspect_ratio", "1:1")).partition(":")
    sar = (
        float(num) / float(den)
        if num.isdigit() and den.isdigit() and float(den) > 0 and float(num) > 0
        else 1
    )
    rotation = 0
    for side in video.get("side_data_list", []) or []:
        rotation = int(side.get("rotation", rotation) or 0)
    dw, dh = w * sar, float(h)
    if rotation % 180:
        dw, dh = dh, dw
    scale = MAX_SIDE / max(dw, dh)
    duration = float(doc.get("format", {}).get("duration") or video.get("duration") or 0.0)
    if duration <= 0.5:
        raise VideoInputError(p, f"source is {duration:.2f} s long: too short to re-cut")
    return SourceInfo(
        name=p.name,
        path=str(p),
        duration=duration,
        width=max(2, round(dw * scale / 2) * 2),
        height=max(2, round(dh * scale / 2) * 2),
        has_audio=any(s["codec_type"] == "audio" for s in doc["streams"]),
    )


@dataclass
class _Graph:
    """One ffmpeg command: inputs (pieces of the source, each its own seek) and a filter graph."""

    src: SourceInfo
    fps: int
    inputs: list[list[str]] = field(default_factory=list)
    chains: list[str] = field(default_factory=list)
    n: int = 0

    @property
    def size(self) -> tuple[int, int]:
        return self.src.width, self.src.height

    def label(self) -> str:
        self.n += 1
        return f"x{self.n}"

    def _input(self, start: float, dur: float) -> int:
        start = start % self.src.duration
        self.inputs.append(["-stream_loop", "-1", "-ss", f"{start:.3f}", "-t", f"{dur + 0.5:.3f}"])
        return len(self.inputs) - 1

    def piece(self, start: float, dur: float, extra: str = "", speed: float = 1.0) -> str:
        """``dur`` seconds of output from source time ``start`` (played at ``speed``), at the output size and
        rate; ``extra`` filters run on it before it is cut to length."""
        i = self._input(start, dur * speed)
        w, h = self.size
        out = self.label()
        chain = f"[{i}:v]scale={w}:{h},setsar=1,format=yuv420p"
        if speed != 1.0:
            chain += f",setpts=PTS/{speed:.4f},framerate=fps={self.fps}"
        chain += f",fps={self.fps}"
        if extra:
            chain += "," + extra
        chain += f",tpad=stop_mode=clone:stop_duration=0.5,trim=duration={dur:.4f}"
        chain += f",setpts=PTS-STARTPTS,setsar=1[{out}]"
        self.chains.append(chain)
        return out

    def add(self, chain: str) -> None:
        self.chains.append(chain)

    def concat(self, labels: Sequence[str]) -> str:
        out = self.label()
        if len(labels) == 1:
            self.add(f"[{labels[0]}]null[{out}]")
        else:
            self.add("".join(f"[{x}]" for x in labels) + f"concat=n={len(labels)}:v=1:a=0[{out}]")
        return out


def _uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _moment(rng: np.random.Generator, src: SourceInfo, need: float) -> float:
    return _uniform(rng, 0.0, max(0.0, src.duration - need))


def _distinct_moments(rng: np.random.Generator, src: SourceInfo, n: int) -> list[float]:
    slots = (np.arange(n) + rng.uniform(0.15, 0.85, n)) * (src.duration / n)
    return [float(x) for x in rng.permutation(slots)]


def _split_lengths(rng: np.random.Generator, total: float, n: int, minimum: float) -> list[float]:
    w = rng.dirichlet(np.full(n, 3.0))
    lengths = minimum + w * (total - n * minimum)
    return [float(x) for x in lengths]


def _zoom_chain(g: _Graph, z0: float, z1: float, cx: float, cy: float) -> str:
    """A digital zoom from ``z0`` to ``z1`` over the hook around (cx, cy) (fractions of the frame)."""
    w, h = g.size
    up = 2
    z = f"({z0:.4f}+({z1 - z0:.4f})*on/{HOOK_S * g.fps:.1f})"
    return (
        f"scale={w * up}:{h * up},zoompan=z='{z}':x='(iw-iw/zoom)*{cx:.3f}':y='(ih-ih/zoom)*{cy:.3f}'"
        f":d=1:s={w}x{h}:fps={g.fps}"
    )


def _crop_zoom(g: _Graph, z: float, cx: float, cy: float) -> str:
    w, h = g.size
    cw, ch = max(2, round(w / z / 2) * 2), max(2, round(h / z / 2) * 2)
    return f"crop={cw}:{ch}:{round((w - cw) * cx)}:{round((h - ch) * cy)},scale={w}:{h}"


Style = Callable[[_Graph, np.random.Generator], tuple[str, dict[str, Any]]]


def _jump_cuts(g: _Graph, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    piece = _uniform(rng, 0.35, 0.8)
    gap = _uniform(rng, 0.3, 1.2)
    n = math.ceil(HOOK_S / piece - 1e-6)
    m = _moment(rng, g.src, n * (piece + gap))
    labels, left = [], HOOK_S
    for k in range(n):
        d = min(piece, left)
        labels.append(g.piece(m + k * (piece + gap), d))
        left -= d
    return g.concat(labels), {"piece_s": piece, "gap_s": gap, "cuts": n - 1}


def _montage(g: _Graph, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    n = int(rng.integers(3, 7))
    lengths = _split_lengths(rng, HOOK_S, n, 0.3)
    moments = _distinct_moments(rng, g.src, n)
    labels = [g.piece(m, d) for m, d in zip(moments, lengths, strict=True)]
    return g.concat(labels), {"shots": n, "lengths_s": lengths}


def _caption(g: _Graph, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    w, h = g.size
    text = str(rng.choice(CAPTIONS))
    font = str(rng.choice(fonts()))
    size = _uniform(rng, 0.05, 0.09) * (h if w >= h else 1.4 * w)
    size = min(size, 0.9 * w / (0.62 * len(text)))
    position = str(rng.choice(["top", "centre", "lower_third"]))
    y = {"top": f"{_uniform(rng, 0.05, 0.14):.3f}*h", "centre": "(h-text_h)/2", "lower_third": "0.72*h"}[
        position
    ]
    look = str(rng.choice(["box", "border", "shadow"]))
    colour = str(rng.choice(["white", "yellow", "white"]))
    onset, offset = _uniform(rng, 0.0, 0.4), _uniform(rng, 2.2, HOOK_S + 0.1)
    extra = {
        "box": f":box=1:boxcolor=black@{_uniform(rng, 0.4, 0.8):.2f}:boxborderw={max(2, round(size * 0.3))}",
        "border": f":borderw={max(1, round(size * 0.08))}:bordercolor=black",
        "shadow": ":shadowx=2:shadowy=2:shadowcolor=black@0.7",
    }[look]
    draw = (
        f"drawtext=fontfile={font}:text='{text}':fontsize={size:.1f}:fontcolor={colour}:x=(w-text_w)/2:y={y}"
        f"{extra}:enable='between(t,{onset:.3f},{offset:.3f})'"
    )
    out = g.piece(_moment(rng, g.src, HOOK_S), HOOK_S, draw)
    params = {"text": text, "font": Path(font).name, "size_px": round(size, 1), "position": position}
    return out, {**params, "look": look, "onset_s": onset, "offset_s": offset}


def _push(g: _Graph, rng: np.random.Generator, inward: bool) -> tuple[str, dict[str, Any]]:
    amount = _uniform(rng, 1.12, 1.4)
    cx, cy = _uniform(rng, 0.35, 0.65), _uniform(rng, 0.35, 0.65)
    z0, z1 = (1.0, amount) if inward else (amount, 1.0)
    out = g.piece(_moment(rng, g.src, HOOK_S), HOOK_S, _zoom_chain(g, z0, z1, cx, cy))
    return out, {"zoom_from": z0, "zoom_to": z1, "centre": [cx, cy]}


def _push_in(g: _Graph, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    return _push(g, rng, True)


def _pull_out(g: _Graph, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    return _push(g, rng, False)


def _whip_pan(g: _Graph, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    w, _ = g.size
    first = _uniform(rng, 0.9, 1.8)
    whip = _uniform(rng, 0.15, 0.35)
    direction = str(rng.choice(["left", "right", "left", "right", "up", "down"]))
    m1, m2 = _distinct_moments(rng, g.src, 2)
    a = g.piece(m1, first)
    b = g.piece(m2, HOOK_S - first + whip)
    mixed, out = g.label(), g.label()
    blur = _uniform(rng, 8.0, 22.0) * w / 480
    horizontal = direction in ("left", "right")
    sig = f"sigma={blur:.1f}:sigmaV=0.01" if horizontal else f"sigma=0.01:sigmaV={blur:.1f}"
    g.add(
        f"[{a}][{b}]xfade=transition=slide{direction}:duration={whip:.3f}:offset={first - whip:.3f}[{mixed}]"
    )
    t0, t1 = first - whip - 0.08, first + 0.04
    g.add(f"[{mixed}]gblur={sig}:enable='between(t,{t0:.3f},{t1:.3f})'[{out}]")
    return out, {"whip_at_s": first, "whip_s": whip, "direction": direction, "blur": blur}


def _fade_from_black(g: _Graph, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    hold, length = _uniform(rng, 0.0, 0.4), _uniform(rng, 0.5, 1.6)
    out = g.piece(_moment(rng, g.src, HOOK_S), HOOK_S, f"fade=t=in:st={hold:.3f}:d={length:.3f}")
    return out, {"black_s": hold, "fade_s": length}


def _flash_open(g: _Graph, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    colour = str(rng.choice(["white", "0xFFF2D0", "0xE6EEFF", "white"]))
    hold, decay = _uniform(rng, 0.04, 0.3), _uniform(rng, 0.12, 0.6)
    fade = f"fade=t=in:st={hold:.3f}:d={decay:.3f}:color={colour}"
    second = bool(rng.random() < 0.4)
    if not second:
        out = g.piece(_moment(rng, g.src, HOOK_S), HOOK_S, fade)
        return out, {"colour": colour, "hold_s": hold, "decay_s": decay, "second_flash_s": None}
    at = _uniform(rng, 1.3, 2.3)
    m1, m2 = _distinct_moments(rng, g.src, 2)
    a = g.piece(m1, at, fade)
    b = g.piece(m2, HOOK_S - at, f"fade=t=in:st=0:d={decay:.3f}:color={colour}")
    return g.concat([a, b]), {"colour": colour, "hold_s": hold, "decay_s": decay, "second_flash_s": at}


def _freeze(g: _Graph, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    freeze = _uniform(rng, 0.8, 2.0)
    out = g.piece(_moment(rng, g.src, HOOK_S), HOOK_S, f"tpad=start_duration={freeze:.3f}:start_mode=clone")
    return out, {"freeze_s": freeze}


def _speed_ramp(g: _Graph, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    slow = _uniform(rng, 0.3, 0.55)
    m = _moment(rng, g.src, HOOK_S * 2)
    if rng.random() < 0.5:
        return g.piece(m, HOOK_S, speed=slow), {"kind": "slow_motion", "speed": slow}
    fast, ramp_at = _uniform(rng, 2.0, 3.5), _uniform(rng, 0.8, 1.6)
    a = g.piece(m, ramp_at, speed=fast)
    b = g.piece(m + ramp_at * fast, HOOK_S - ramp_at, speed=slow)
    return g.concat([a, b]), {"kind": "ramp", "fast": fast, "slow": slow, "ramp_at_s": ramp_at}


def _split_screen(g: _Graph, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    w, h = g.size
    m1, m2 = _distinct_moments(rng, g.src, 2)
    kind = str(rng.choice(["side_by_side", "picture_in_picture"]))
    out = g.label()
    if kind == "side_by_side":
        if w >= h:
            half = max(2, round(w / 4) * 2)
            crop = f"crop={half}:{h}:{(w - half) // 2}:0"
            a, b = g.piece(m1, HOOK_S, crop), g.piece(m2, HOOK_S, crop)
            g.add(f"[{a}][{b}]hstack=inputs=2,scale={w}:{h},setsar=1[{out}]")
        else:
            half = max(2, round(h / 4) * 2)
            crop = f"crop={w}:{half}:0:{(h - half) // 2}"
            a, b = g.piece(m1, HOOK_S, crop), g.piece(m2, HOOK_S, crop)
            g.add(f"[{a}][{b}]vstack=inputs=2,scale={w}:{h},setsar=1[{out}]")
        return out, {"kind": kind}
    frac = _uniform(rng, 0.28, 0.42)
    iw, ih = max(2, round(w * frac / 2) * 2), max(2, round(h * frac / 2) * 2)
    border = max(2, round(min(w, h) * 0.01) * 2)
    corner = str(rng.choice(["top_left", "top_right", "bottom_left", "bottom_right"]))
    margin = round(min(w, h) * 0.04)
    x = margin if "left" in corner else w - iw - border - margin
    y = margin if "top" in corner else h - ih - border - margin
    a = g.piece(m1, HOOK_S)
    b = g.piece(
        m2, HOOK_S, f"scale={iw}:{ih},pad={iw + border}:{ih + border}:{border // 2}:{border // 2}:white"
    )
    g.add(f"[{a}][{b}]overlay={x}:{y}[{out}]")
    return out, {"kind": kind, "inset": frac, "corner": corner}


def _punch_in(g: _Graph, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    period = _uniform(rng, 0.45, 0.85)
    levels = [1.0, _uniform(rng, 1.2, 1.4), _uniform(rng, 1.45, 1.7)]
    pattern = str(rng.choice(["steps", "alternate"]))
    cx, cy = _uniform(rng, 0.4, 0.6), _uniform(rng, 0.35, 0.6)
    m = _moment(rng, g.src, HOOK_S)
    labels, t, k, zooms = [], 0.0, 0, []
    while t < HOOK_S - 1e-6:
        d = min(period, HOOK_S - t)
        z = levels[min(k, 2)] if pattern == "steps" else levels[k % 2]
        zooms.append(z)
        labels.append(g.piece(m + t, d, _crop_zoom(g, z, cx, cy) if z > 1.0 else ""))
        t += d
        k += 1
    return g.concat(labels), {"beat_s": period, "zooms": zooms, "pattern": pattern}


STYLE_FUNCS: dict[str, Style] = {
    "jump_cuts": _jump_cuts,
    "montage": _montage,
    "caption_hook": _caption,
    "slow_push_in": _push_in,
    "pull_out": _pull_out,
    "whip_pan": _whip_pan,
    "fade_from_black": _fade_from_black,
    "flash_open": _flash_open,
    "freeze_frame_open": _freeze,
    "speed_ramp": _speed_ramp,
    "split_screen": _split_screen,
    "punch_in_beat": _punch_in,
}
assert tuple(STYLE_FUNCS) == STYLES


def _spin_in(g: _Graph, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    w, h = g.size
    angle = _uniform(rng, 15.0, 40.0) * float(rng.choice([-1.0, 1.0]))
    turn = _uniform(rng, 0.6, 1.5)
    big = f"scale={round(w * 1.5 / 2) * 2}:{round(h * 1.5 / 2) * 2}"  # no black corners while it turns
    spin = f"{big},rotate=a='{angle:.2f}*PI/180*max(0,1-t/{turn:.3f})':ow={w}:oh={h}"
    return g.piece(_moment(rng, g.src, HOOK_S), HOOK_S, spin), {"angle": angle, "turn_s": turn}


def _colour_bloom(g: _Graph, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    hold, rise = _uniform(rng, 0.3, 1.2), _uniform(rng, 0.4, 1.2)
    bloom = f"hue=s='min(1,max(0,(t-{hold:.3f})/{rise:.3f}))'"
    return g.piece(_moment(rng, g.src, HOOK_S), HOOK_S, bloom), {"grey_s": hold, "rise_s": rise}


def _shake_open(g: _Graph, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    w, h = g.size
    amount, length = _uniform(rng, 0.5, 0.95), _uniform(rng, 1.0, 2.5)
    fx, fy = _uniform(rng, 5.0, 11.0), _uniform(rng, 5.0, 11.0)
    on = f"{amount:.3f}*lt(t,{length:.3f})"
    shake = (
        f"crop=w=iw/1.15:h=ih/1.15:x='(iw-ow)/2*(1+{on}*sin(2*PI*{fx:.2f}*t))'"
        f":y='(ih-oh)/2*(1+{on}*sin(2*PI*{fy:.2f}*t+1))',scale={w}:{h}"
    )
    params = {"amount": amount, "shake_s": length, "hz": [fx, fy]}
    return g.piece(_moment(rng, g.src, HOOK_S), HOOK_S, shake), params


def _letterbox_open(g: _Graph, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    hold, slide = _uniform(rng, 0.2, 0.8), _uniform(rng, 0.5, 1.4)
    # the picture shows between two black bars that slide apart (per pixel: each plane by its own size)
    keep = f"lt(abs(Y-H/2),H/2*min(1,max(0,(T-{hold:.3f})/{slide:.3f})))"
    bars = f"geq=lum='if({keep},lum(X,Y),16)':cb='if({keep},cb(X,Y),128)':cr='if({keep},cr(X,Y),128)'"
    return g.piece(_moment(rng, g.src, HOOK_S), HOOK_S, bars), {"closed_s": hold, "slide_s": slide}


def _strobe_open(g: _Graph, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    rate, depth, length = _uniform(rng, 5.0, 12.0), _uniform(rng, 0.25, 0.45), _uniform(rng, 0.8, 1.8)
    strobe = f"eq=brightness='{depth:.3f}*(2*mod(floor(t*{rate:.2f}),2)-1)*lt(t,{length:.3f})':eval=frame"
    params = {"hz": rate, "depth": depth, "strobe_s": length}
    return g.piece(_moment(rng, g.src, HOOK_S), HOOK_S, strobe), params


PROBE_STYLE_FUNCS: dict[str, Style] = {
    "spin_in": _spin_in,
    "colour_bloom": _colour_bloom,
    "shake_open": _shake_open,
    "letterbox_open": _letterbox_open,
    "strobe_open": _strobe_open,
}
assert tuple(PROBE_STYLE_FUNCS) == PROBE_STYLES
ALL_STYLE_FUNCS: dict[str, Style] = {**STYLE_FUNCS, **PROBE_STYLE_FUNCS}


def rest_start(src: SourceInfo) -> float:
    """Where the plain part of every clip of this source starts (the same for every style)."""
    return 0.4 * src.duration


def _seed(seed: int, source: str, style: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{source}:{style}".encode()).digest()[:8], "little")


@dataclass(frozen=True)
class RenderedClip:
    """One benchmark clip: where it is, what it shows, and the parameters drawn for it."""

    clip_id: str
    path: str
    source: str
    style: str
    params: dict[str, Any]


def render_clip(src: SourceInfo, style: str, out: Path, seed: int = 0) -> RenderedClip:
    """Write ``out``: ``style`` over ``HOOK_S`` s of ``src``, then ``REST_S`` s of plain footage."""
    if style not in ALL_STYLE_FUNCS:
        raise ConfigError(f"unknown opening style {style!r}; valid styles: {', '.join(ALL_STYLE_FUNCS)}")
    rng = np.random.default_rng(_seed(seed, src.name, style))
    fps = int(rng.choice([24, 25, 30]))
    g = _Graph(src, fps)
    hook, params = ALL_STYLE_FUNCS[style](g, rng)
    rest = g.piece(rest_start(src), REST_S)
    video = g.label()
    g.add(f"[{hook}]trim=duration={HOOK_S},setpts=PTS-STARTPTS[h]")
    g.add(f"[h][{rest}]concat=n=2:v=1:a=0,format=yuv420p[{video}]")
    audio_mode, audio_inputs = _audio(g, rng, params)
    args = [_tool("ffmpeg"), "-v", "error", "-nostdin", "-y"]
    for spec in g.inputs:
        args += [*spec, "-i", src.path]
    args += audio_inputs
    args += ["-filter_complex", ";".join(g.chains), "-map", f"[{video}]", "-map", "[aout]"]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "22", "-r", str(fps), "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac", "-b:a", "96k", "-ar", "44100", "-ac", "1", "-t", f"{HOOK_S + REST_S}"]
    tmp = out.with_name(out.name + ".part.mp4")
    out.parent.mkdir(parents=True, exist_ok=True)
    res = subprocess.run([*args, str(tmp)], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise VideoInputError(src.name, f"ffmpeg could not render style {style}: {res.stderr.strip()[-400:]}")
    tmp.replace(out)
    params = {**params, "fps": fps, "audio": audio_mode}
    return RenderedClip(f"{Path(src.name).stem}--{style}", str(out), src.name, style, params)


def _audio(g: _Graph, rng: np.random.Generator, params: dict[str, Any]) -> tuple[str, list[str]]:
    """The audio chains: the hook's audio kept (the source's sound at the hook's first moment) or replaced
    (a generated beat), beat clicks under a punch-in, then the source's sound under the plain part."""
    n_video_inputs = len(g.inputs)
    inputs: list[str] = []
    src = g.src
    replace = (not src.has_audio) or bool(rng.random() < 0.4)
    hook_in = n_video_inputs
    rest_in = n_video_inputs + 1
    if replace:
        tempo = _uniform(rng, 80, 140)
        pitch = _uniform(rng, 110, 330)
        beat = 60.0 / tempo
        expr = f"0.25*sin(2*PI*{pitch:.1f}*t)*exp(-6*mod(t\\,{beat:.4f}))+0.05*sin(2*PI*{2 * pitch:.1f}*t)"
        inputs += ["-f", "lavfi", "-t", f"{HOOK_S}", "-i", f"aevalsrc={expr}:s=44100"]
    else:
        inputs += [
            "-ss",
            f"{_uniform(rng, 0, max(0.0, src.duration - HOOK_S)):.3f}",
            "-t",
            f"{HOOK_S}",
            "-i",
            src.path,
        ]
    if src.has_audio:
        inputs += ["-stream_loop", "-1", "-ss", f"{rest_start(src) % src.duration:.3f}", "-t", f"{REST_S}"]
        inputs += ["-i", src.path]
    else:
        inputs += ["-f", "lavfi", "-t", f"{REST_S}", "-i", "anullsrc=r=44100:cl=mono"]
    fmt = "aresample=44100,aformat=sample_fmts=fltp:channel_layouts=mono"
    g.add(f"[{hook_in}:a]{fmt},apad,atrim=duration={HOOK_S}[ah0]")
    hook_audio = "ah0"
    if "beat_s" in params:
        beat = float(params["beat_s"])
        inputs += [
            "-f",
            "lavfi",
            "-t",
            f"{HOOK_S}",
            "-i",
            f"aevalsrc=0.6*sin(2*PI*70*t)*exp(-25*mod(t\\,{beat:.4f})):s=44100",
        ]
        g.add(f"[{rest_in + 1}:a]{fmt}[clk]")
        g.add(f"[ah0][clk]amix=inputs=2:normalize=0,atrim=duration={HOOK_S}[ah1]")
        hook_audio = "ah1"
    g.add(f"[{rest_in}:a]{fmt},apad,atrim=duration={REST_S}[ar]")
    g.add(f"[{hook_audio}][ar]concat=n=2:v=0:a=1[aout]")
    return ("replaced" if replace else "kept"), inputs


def _proxy(src: SourceInfo, folder: Path) -> SourceInfo:
    """The source at the output size with a keyframe every few frames, made once: every clip cuts pieces from
    it, and seeking and decoding the original (1080p, AV1 HDR, ...) for each piece cost several times more."""
    out = folder / f"{src.name}.proxy.mp4"
    if not out.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".part.mp4")
        args = [_tool("ffmpeg"), "-v", "error", "-nostdin", "-y", "-i", src.path]
        args += ["-vf", f"scale={src.width}:{src.height},setsar=1,format=yuv420p", "-c:v", "libx264"]
        args += ["-preset", "ultrafast", "-crf", "14", "-g", "6", "-c:a", "aac", "-ac", "1", "-ar", "44100"]
        res = subprocess.run([*args, str(tmp)], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise VideoInputError(src.path, f"ffmpeg could not read it: {res.stderr.strip()[-400:]}")
        tmp.replace(out)
    proxy = probe(out)
    return SourceInfo(src.name, proxy.path, proxy.duration, src.width, src.height, src.has_audio)


def render_benchmark(
    videos_dir: str | Path,
    out_dir: str | Path,
    sources: Sequence[str],
    styles: Sequence[str] = STYLES,
    seed: int = 0,
    on_progress: Callable[[RenderedClip], None] | None = None,
) -> list[RenderedClip]:
    """Render every (source, style) clip into ``out_dir`` (kept there: a later run with the same version, seed
    and sources renders only what is missing) and return them, with a ``clips.json`` manifest."""
    vdir, odir = Path(videos_dir), Path(out_dir)
    unknown = [s for s in styles if s not in ALL_STYLE_FUNCS]
    if unknown:
        raise ConfigError(f"unknown opening styles {unknown}; valid styles: {', '.join(ALL_STYLE_FUNCS)}")
    odir.mkdir(parents=True, exist_ok=True)
    manifest_path = odir / "clips.json"
    known: dict[str, dict[str, Any]] = {}
    if manifest_path.is_file():
        known = {c["clip_id"]: c for c in json.loads(manifest_path.read_text()).get("clips", [])}
    clips: list[RenderedClip] = []
    for name in sources:
        src = _proxy(probe(vdir / name), odir / "proxies")
        for style in styles:
            clip_id = f"{Path(name).stem}--{Path(name).suffix.lstrip('.')}--{style}"
            path = odir / f"{clip_id}.mp4"
            entry = known.get(clip_id)
            if entry is not None and path.is_file() and entry.get("seed") == seed:
                clip = RenderedClip(clip_id, str(path), name, style, entry["params"])
            else:
                clip = render_clip(src, style, path, seed)
                clip = RenderedClip(clip_id, str(path), name, style, clip.params)
            known[clip_id] = {**asdict(clip), "seed": seed}
            clips.append(clip)
            if on_progress is not None:
                on_progress(clip)
        doc = {"version": RENDER_VERSION, "clips": sorted(known.values(), key=lambda c: c["clip_id"])}
        text = json.dumps(doc, indent=1)
        if not manifest_path.is_file() or manifest_path.read_text() != text:
            # a temporary name of this writer's own: two runs over one folder never rename each other's file
            fd, tmp = tempfile.mkstemp(prefix="clips.", suffix=".json.tmp", dir=odir)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.replace(tmp, manifest_path)
    return clips
