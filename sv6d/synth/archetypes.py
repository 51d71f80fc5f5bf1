"""Hook archetypes and the seeded sampler of video specs.

The first 3 s (the hook) follow the archetype; the rest of the video (body shots, cut rhythm, palettes,
overlays, soundtrack, ending) is drawn freely, so whole-video similarity differs from hook similarity.
Everything is on the frame grid: lengths are drafted in frames and converted to seconds at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

from sv6d.synth.audio import rms_db, synth_audio
from sv6d.synth.spec import (
    FLASH_DECAY_S,
    MOVES,
    TEXTURES,
    AudioEvent,
    FadeSpec,
    Move,
    OverlaySpec,
    Palette,
    ShotSpec,
    TextureKind,
    TransitionSpec,
    VideoSpec,
)
from sv6d.synth.truth import (
    HOOK_S,
    LONG_TAKE_S,
    SILENT_OPEN_DB,
    in_dead_zone,
    mix_stats,
    shot_mix_fractions,
)

Archetype = Literal[
    "fast_cuts_text",
    "slow_push_in_quiet",
    "cold_open_flash",
    "static_talking_text",
    "pan_reveal",
    "fade_in_from_black",
    "whip_pans_beat",
    "loop_static",
]
ARCHETYPES: tuple[str, ...] = get_args(Archetype)

ARCHETYPE_DESCRIPTIONS: dict[str, str] = {
    "fast_cuts_text": "4+ hard cuts in the first 3 s (0.45-0.75 s shots) under a caption band, loud bursts",
    "slow_push_in_quiet": "one long slow push-in (>= 3.6 s), no text, a near-silent opening",
    "cold_open_flash": "a crash zoom (< 0.8 s), a flash cut to a held static frame, a cut before 3 s, loud",
    "static_talking_text": "one static long shot, lower-third caption from the start, loud speech-like audio",
    "pan_reveal": "a slow pan over a dark washed-out image, silent, then a flash-cut reveal to a bright shot",
    "fade_in_from_black": "black, then a 0.8-1.6 s fade-in into a long shot, silent first second",
    "whip_pans_beat": "whip pans alternating direction, hard cuts every 2 beats at 128-150 bpm, loud beat",
    "loop_static": "one static long shot without text, a steady pad at medium level; the video loops",
}

OpenLevel = Literal["loud", "medium", "silent"]
WORDS = (
    "WAIT FOR IT",
    "NO WAY",
    "DAY 1",
    "TOP 5",
    "WATCH THIS",
    "HOW TO",
    "PART 2",
    "NEW",
    "SALE",
    "TRY THIS",
    "SECRET",
    "STEP ONE",
    "THE END",
    "LIKE",
    "FOLLOW",
    "WOW",
    "FACT",
    "STORY TIME",
    "REAL",
    "TIP",
)
Look = tuple[str, str, str]  # (key, chroma, temperature); "any" leaves a component free


@dataclass
class _Shot:
    frames: int
    move: Move = "static"
    speed: float = 0.0
    look: Look = ("any", "any", "any")
    card_text: str | None = None


@dataclass
class _Draft:
    fps: int
    rng: np.random.Generator
    shots: list[_Shot] = field(default_factory=list)
    transitions: list[tuple[str, int]] = field(default_factory=list)  # (kind, span frames) into shot i+1
    overlays: list[tuple[str, int, int, float]] = field(default_factory=list)  # text, start, end frames, y
    audio: list[AudioEvent] = field(default_factory=list)
    fade_in: tuple[int, int] | None = None  # ramp start, ramp end (frames)
    fade_out: tuple[int, int] | None = None  # hold, ramp (frames)
    open_level: OpenLevel = "medium"

    def f(self, seconds: float) -> int:
        return max(1, round(seconds * self.fps))

    def s(self, frames: int) -> float:
        return round(frames / self.fps, 6)

    def add(self, shot: _Shot, kind: str = "cut", span: int = 0) -> None:
        if self.shots:
            self.transitions.append((kind, span))
        self.shots.append(shot)

    def bounds(self) -> list[int]:
        return [int(x) for x in np.cumsum([0] + [sh.frames for sh in self.shots])]

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def words(self) -> str:
        return str(self.rng.choice(WORDS))


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31))


def _pan_move(rng: np.random.Generator, tilt_ok: bool = True) -> Move:
    options: list[Move] = (
        ["pan_left", "pan_right", "tilt_up", "tilt_down"] if tilt_ok else ["pan_left", "pan_right"]
    )
    return options[int(rng.integers(len(options)))]


def _random_move(rng: np.random.Generator) -> tuple[Move, float]:
    move: Move = "static" if rng.random() < 0.3 else MOVES[int(rng.integers(1, len(MOVES)))]
    if move == "static":
        return move, 0.0
    if move in ("push_in", "pull_out"):
        return move, float(rng.uniform(0.08, 0.16))
    return move, float(rng.uniform(0.12, 0.3))


# ------------------------------------------------------------------------------------------- hooks
def _hook_fast_cuts_text(d: _Draft) -> None:
    d.open_level = "loud"
    for _ in range(int(d.rng.integers(5, 8))):
        move: Move = "static" if d.rng.random() < 0.6 else "push_in"
        speed = 0.0 if move == "static" else d.u(0.1, 0.2)
        d.add(_Shot(d.f(d.u(0.45, 0.75)), move, speed, ("any", "saturated", "any")))
    start = d.f(d.u(0.0, 0.3)) if d.rng.random() < 0.5 else 0
    d.overlays.append((d.words(), start, d.f(d.u(2.6, 3.4)), float(d.rng.choice([0.08, 0.42, 0.72]))))
    d.audio.append(AudioEvent(kind="pad", start_s=0, dur_s=3.5, level_db=-22, freq=d.u(180, 320)))


def _hook_slow_push_in_quiet(d: _Draft) -> None:
    d.open_level = "silent"
    look = (str(d.rng.choice(["low", "mid"])), str(d.rng.choice(["mid", "desat"])), "any")
    d.add(_Shot(d.f(d.u(3.6, 7.0)), "push_in", d.u(0.06, 0.11), look))
    d.audio.append(AudioEvent(kind="hum", start_s=0, dur_s=3.0, level_db=-60, freq=d.u(60, 120)))


def _hook_cold_open_flash(d: _Draft) -> None:
    d.open_level = "loud"
    # mid-action: a crash zoom (not a whip pan, which is whip_pans_beat's signature)
    crash: Move = "push_in" if d.rng.random() < 0.7 else "pull_out"
    d.add(_Shot(d.f(d.u(0.35, 0.8)), crash, d.u(0.8, 1.2)))
    # a held, static frame after the flash, then one more cut before 3 s: whip | flash | hold | cut
    d.add(_Shot(d.f(d.u(1.5, 2.0)), "static"), "flash", d.f(FLASH_DECAY_S))
    d.add(_Shot(d.f(d.u(1.0, 2.5)), *_random_move(d.rng)))
    d.audio.append(AudioEvent(kind="burst", start_s=0, dur_s=0.5, level_db=-8, seed=_seed(d.rng)))


def _hook_static_talking_text(d: _Draft) -> None:
    d.open_level = "loud"  # speech to camera, mixed loud (unlike loop_static's medium pad)
    n = d.f(d.u(4.6, 9.0))
    d.add(_Shot(n, "static"))
    end = min(n - d.f(0.3), d.f(d.u(3.2, 8.0)))
    d.overlays.append((d.words(), d.f(d.u(0.0, 0.4)) - 1, end, float(d.rng.choice([0.7, 0.76]))))
    d.audio.append(
        AudioEvent(
            kind="speech",
            start_s=0,
            dur_s=n / d.fps,
            level_db=-12,
            freq=d.u(110, 220),
            seed=_seed(d.rng),
        )
    )


def _hook_pan_reveal(d: _Draft) -> None:
    d.open_level = "silent"
    d.add(_Shot(d.f(d.u(1.8, 2.6)), _pan_move(d.rng, tilt_ok=False), d.u(0.1, 0.2), ("low", "desat", "any")))
    move: Move = "static" if d.rng.random() < 0.5 else "push_in"
    speed = 0.0 if move == "static" else d.u(0.08, 0.14)
    d.add(_Shot(d.f(d.u(1.6, 3.4)), move, speed, ("high", "saturated", "any")), "flash", d.f(FLASH_DECAY_S))
    d.audio.append(AudioEvent(kind="hum", start_s=0, dur_s=3.0, level_db=-62, freq=d.u(50, 90)))


def _hook_fade_in_from_black(d: _Draft) -> None:
    d.open_level = "silent"
    hold = d.f(d.u(0.0, 0.4)) - 1
    ramp = d.f(d.u(0.8, 1.6))
    d.fade_in = (hold, hold + ramp)
    move: Move = "static" if d.rng.random() < 0.5 else _pan_move(d.rng)
    speed = 0.0 if move == "static" else d.u(0.12, 0.22)
    d.add(_Shot(d.f(d.u(3.8, 8.0)), move, speed, (str(d.rng.choice(["mid", "high"])), "any", "any")))
    d.audio.append(AudioEvent(kind="pad", start_s=1.3, dur_s=3.0, level_db=-24, freq=d.u(150, 300)))


def _hook_whip_pans_beat(d: _Draft) -> None:
    d.open_level = "loud"
    beat = 60.0 / d.u(128, 150)
    tilt = d.rng.random() < 0.3
    first: Move = (
        ("tilt_up" if tilt else "pan_left")
        if d.rng.random() < 0.5
        else ("tilt_down" if tilt else "pan_right")
    )
    other = {"pan_left": "pan_right", "pan_right": "pan_left", "tilt_up": "tilt_down", "tilt_down": "tilt_up"}
    cuts = [d.f(2 * beat * k) for k in range(1, 6)]
    prev = 0
    move = first
    for c in cuts:
        d.add(_Shot(c - prev, move, d.u(1.0, 1.6)))
        prev, move = c, other[move]  # type: ignore[assignment]
    for k in range(5 * 2):
        d.audio.append(AudioEvent(kind="kick", start_s=round(k * beat, 4), dur_s=0.3, level_db=-9))
        d.audio.append(AudioEvent(kind="hat", start_s=round((k + 0.5) * beat, 4), dur_s=0.08, level_db=-22))


def _hook_loop_static(d: _Draft) -> None:
    d.open_level = "medium"
    d.add(_Shot(d.f(d.u(4.6, 9.0)), "static"))
    d.audio.append(AudioEvent(kind="pad", start_s=0, dur_s=4.5, level_db=-30, freq=d.u(110, 260)))


_HOOKS = {
    "fast_cuts_text": _hook_fast_cuts_text,
    "slow_push_in_quiet": _hook_slow_push_in_quiet,
    "cold_open_flash": _hook_cold_open_flash,
    "static_talking_text": _hook_static_talking_text,
    "pan_reveal": _hook_pan_reveal,
    "fade_in_from_black": _hook_fade_in_from_black,
    "whip_pans_beat": _hook_whip_pans_beat,
    "loop_static": _hook_loop_static,
}
_ENDINGS: dict[str, tuple[str, ...]] = {
    "fast_cuts_text": ("plain", "end_card", "fade_out"),
    "slow_push_in_quiet": ("plain", "end_card", "fade_out", "loop"),
    "cold_open_flash": ("plain", "end_card", "fade_out"),
    "static_talking_text": ("plain", "end_card", "loop"),
    "pan_reveal": ("plain", "end_card", "fade_out", "loop"),
    "fade_in_from_black": ("plain", "end_card", "fade_out"),
    "whip_pans_beat": ("plain", "end_card"),
    "loop_static": ("loop",),
}


# ------------------------------------------------------------------------------------------ palettes
def sample_palette(rng: np.random.Generator, look: Look, flat: bool = False) -> Palette:
    """A palette of the requested look (``any`` components drawn at random)."""
    key, chroma, temp = (c if c != "any" else None for c in look)
    key = key or str(rng.choice(["low", "mid", "high"]))
    chroma = chroma or str(rng.choice(["saturated", "mid", "desat"]))
    temp = temp or str(rng.choice(["warm", "neutral", "cool"]))
    if temp == "warm":
        hue = rng.uniform(0.0, 0.1)
    elif temp == "cool":
        hue = rng.uniform(0.54, 0.64)
    else:
        hue = rng.uniform(0.30, 0.38) if rng.random() < 0.5 else rng.uniform(0.80, 0.86)
    sat = {"saturated": (0.75, 0.95), "mid": (0.3, 0.42), "desat": (0.0, 0.05)}[chroma]
    v = {
        "low": ((0.0, 0.05), (0.3, 0.42)),
        "mid": ((0.15, 0.3), (0.7, 0.9)),
        "high": ((0.7, 0.85), (1.0, 1.0)),
    }[key]
    v_lo, v_hi = rng.uniform(*v[0]), rng.uniform(*v[1])
    if flat:
        v_lo = v_hi = (v_lo + v_hi) / 2
    return Palette(
        hue=round(float(hue), 4),
        hue_spread=0.0 if flat else round(float(rng.uniform(0.0, 0.06)), 4),
        sat=round(float(rng.uniform(*sat)), 4),
        v_lo=round(float(v_lo), 4),
        v_hi=round(float(v_hi), 4),
    )


def _distinct(a: Palette, b: Palette) -> bool:
    """Whether two palettes differ enough that a cut between them is a clear content change."""
    la, sa, _ = a.stats()
    lb, sb, _ = b.stats()
    hue_gap = min(abs(a.hue - b.hue), 1 - abs(a.hue - b.hue))
    return abs(la - lb) > 0.15 or abs(sa - sb) > 0.3 or (min(sa, sb) > 0.25 and hue_gap > 0.15)


# ------------------------------------------------------------------------------------------ sampler
def _nudge(d: _Draft, protect: int) -> None:
    """Move shot boundaries (after the first ``protect`` hook shots) out of the dead zones of long_take
    (a shot of 4 s +- 0.3) and of the hook window's edge (a cut at 3 s +- 0.15)."""
    step = d.f(0.45)
    for _ in range(4):
        bounds = d.bounds()
        for i in range(max(0, protect - 1), len(d.shots) - 1):
            sh, nxt = d.shots[i], d.shots[i + 1]
            near_long = any(abs(x.frames / d.fps - LONG_TAKE_S) < 0.3 for x in (sh, nxt))
            near_hook = abs(bounds[i + 1] / d.fps - HOOK_S) < 0.15
            if not (near_long or near_hook):
                continue
            if nxt.frames > step + d.f(0.6) and abs((nxt.frames - step) / d.fps - LONG_TAKE_S) >= 0.3:
                sh.frames += step
                nxt.frames -= step
            elif sh.frames > step + d.f(0.6) and i >= protect:
                sh.frames -= step
                nxt.frames += step
            bounds = d.bounds()


def _fill_body(d: _Draft, body_end: int) -> None:
    rhythm = str(d.rng.choice(["fast", "medium", "slow"]))
    lo, hi = {"fast": (0.6, 1.2), "medium": (1.5, 3.0), "slow": (4.5, 7.0)}[rhythm]
    t = d.bounds()[-1]
    while t < body_end:
        n = d.f(d.u(lo, hi))
        if body_end - (t + n) < d.f(0.6):
            n = body_end - t
        move, speed = _random_move(d.rng)
        d.add(_Shot(n, move, speed))
        t += n


def sample_spec(
    archetype: str,
    rng: np.random.Generator,
    *,
    video_id: str | None = None,
    orientation: Literal["landscape", "portrait"] | None = None,
    min_duration_s: float = 5.0,
    max_duration_s: float = 20.0,
    fps: int | None = None,
) -> VideoSpec:
    """Draw a video spec whose first 3 s follow ``archetype``; the rest varies freely.

    Deterministic for the generator's state. Durations land in ``[min_duration_s, max_duration_s]`` unless
    the archetype's hook and ending need more.
    """
    if archetype not in _HOOKS:
        raise ValueError(f"unknown archetype {archetype!r}; valid archetypes: {', '.join(ARCHETYPES)}")
    if orientation is None:
        orientation = "portrait" if rng.random() < 0.4 else "landscape"
    if fps is None:
        fps = int(rng.choice([15, 20, 24, 25]))
    width, height = (320, 180) if orientation == "landscape" else (180, 320)
    d = _Draft(fps=fps, rng=rng)
    _HOOKS[archetype](d)
    n_hook = len(d.shots)

    ending = str(rng.choice(_ENDINGS[archetype]))
    end_frames = {"end_card": d.f(d.u(1.5, 3.0)), "loop": d.f(d.u(1.2, 1.6))}.get(ending, 0)
    if ending == "loop":
        end_frames = min(end_frames, d.shots[0].frames)
    hook_end = d.bounds()[-1]
    lo = max(min_duration_s, hook_end / fps + end_frames / fps + 1.0)
    total = d.f(d.u(lo, max(lo, max_duration_s)))
    _fill_body(d, total - end_frames)
    _nudge(d, protect=n_hook)
    if ending == "fade_out":
        # After the nudge, which may shorten the last shot: the ramp stays inside it, after at least 0.5 s of
        # picture, and lasts at least 0.4 s (a ramp of two or three frames is a cut to black, not a fade).
        last = d.shots[-1]
        last.frames = max(last.frames, d.f(0.9))
        ramp = min(d.f(d.u(0.6, 1.2)), last.frames - d.f(0.5))
        d.fade_out = (d.f(d.u(0.0, 0.3)) - 1, ramp)

    # transitions into body shots: mostly cuts, some dissolves (outside the hook window)
    bounds = d.bounds()
    for i in range(n_hook - 1, len(d.shots) - 1):
        span = 2 * d.f(d.u(0.2, 0.4))
        at = bounds[i + 1]
        room = min(d.shots[i].frames, d.shots[i + 1].frames) >= span + d.f(0.4)
        if d.fade_out is not None and i == len(d.shots) - 2:
            # A dissolve into the last shot must end before the fade to black starts: two overlapping ramps
            # render as one gradual change that no detector can split into the two true spans.
            hold, ramp = d.fade_out
            room = room and at - span // 2 + span + d.f(0.3) <= bounds[-1] - hold - ramp
        if rng.random() < 0.25 and (at - span // 2) / fps >= HOOK_S + 0.3 and room:
            d.transitions[i] = ("dissolve", span)
    if ending == "end_card":
        d.add(_Shot(end_frames, "static", card_text=d.words()))
    elif ending == "loop":
        first = d.shots[0]
        d.add(_Shot(end_frames, first.move, first.speed, first.look))
    bounds = d.bounds()
    total = bounds[-1]

    # body captions: at most one, clear of the hook's captions and the ending
    body_start = bounds[n_hook - 1]
    last_text = max([o[2] for o in d.overlays], default=0)
    if rng.random() < 0.4:
        start = max(body_start + d.f(0.3), last_text + d.f(0.6))
        stop = total - end_frames - d.f(0.8)
        if stop - start > d.f(1.2):
            s0 = int(rng.integers(start, stop - d.f(1.0)))
            s1 = min(stop, s0 + d.f(d.u(1.0, 3.0)))
            d.overlays.append((d.words(), s0, s1, float(rng.choice([0.08, 0.42, 0.72]))))
    if ending == "loop":
        loop_start = bounds[-2]
        for text, a, b, y in list(d.overlays):
            if a < end_frames:  # mirror the first shot's captions into its reversed replay
                d.overlays.append((text, total - min(b, end_frames), total - a, y))
        del loop_start

    # body soundtrack
    bed_start = max(hook_end / fps - 0.3, 1.5)
    bed = str(rng.choice(["pad", "speech", "beat", "hum"]))
    level = d.u(-30, -14)
    if bed == "beat":
        beat = 60.0 / d.u(90, 140)
        for k in range(int((total / fps - bed_start) / beat)):
            d.audio.append(
                AudioEvent(kind="kick", start_s=round(bed_start + k * beat, 4), dur_s=0.3, level_db=level)
            )
    else:
        d.audio.append(
            AudioEvent(
                kind=bed,  # type: ignore[arg-type]
                start_s=round(bed_start, 4),
                dur_s=round(total / fps - bed_start, 4),
                level_db=level,
                freq=d.u(100, 300),
                seed=_seed(rng),
            )
        )
    if archetype == "fast_cuts_text":
        for b in [0, *bounds[1:n_hook]]:
            d.audio.append(AudioEvent(kind="burst", start_s=d.s(b), dur_s=0.4, level_db=-10, seed=_seed(rng)))
            d.audio.append(AudioEvent(kind="kick", start_s=d.s(b), dur_s=0.3, level_db=-10))
    if archetype in ("cold_open_flash", "pan_reveal"):
        d.audio.append(
            AudioEvent(
                kind="impact",
                start_s=d.s(bounds[n_hook - 1]),
                dur_s=1.0,
                level_db=-8,
                seed=_seed(rng),
            )
        )

    spec = _finalize(d, video_id or f"{archetype}-{_seed(rng)}", archetype, width, height, total, ending)
    return _fix_open_level(spec, d.open_level)


def _finalize(
    d: _Draft, video_id: str, archetype: str, width: int, height: int, total: int, ending: str
) -> VideoSpec:
    bounds = d.bounds()
    placeholder = Palette(hue=0, hue_spread=0, sat=0, v_lo=0.5, v_hi=0.5)
    shots: list[ShotSpec] = []
    prev_tex: TextureKind | None = None
    for i, sh in enumerate(d.shots):
        options = [t for t in TEXTURES if t != prev_tex]
        tex: TextureKind = options[int(d.rng.integers(len(options)))]
        prev_tex = tex
        shots.append(
            ShotSpec(
                start_s=d.s(bounds[i]),
                end_s=d.s(bounds[i + 1]),
                texture=tex,
                texture_seed=int(d.rng.integers(2**31)),
                palette=placeholder,
                move=sh.move,
                speed=round(sh.speed, 4),
                card_text=sh.card_text,
            )
        )
    if ending == "loop":
        shots[-1] = shots[0].model_copy(
            update={
                "start_s": shots[-1].start_s,
                "end_s": shots[-1].end_s,
                "time_scale": -1,
                "source_shot": 0,
                "phase_s": d.s(d.shots[-1].frames - 1),
            }
        )
    transitions = [
        TransitionSpec(kind=kind, at_s=d.s(bounds[i + 1]), span_s=d.s(span))  # type: ignore[arg-type]
        for i, (kind, span) in enumerate(d.transitions)
    ]
    fades = []
    if d.fade_in is not None:
        fades.append(FadeSpec(kind="in", ramp_start_s=d.s(d.fade_in[0]), ramp_end_s=d.s(d.fade_in[1])))
    if d.fade_out is not None:
        hold, ramp = d.fade_out
        fades.append(
            FadeSpec(kind="out", ramp_start_s=d.s(total - hold - ramp), ramp_end_s=d.s(total - hold))
        )
    overlays = [
        OverlaySpec(text=t, start_s=d.s(a), end_s=d.s(b), band_y=y)
        for t, a, b, y in sorted(d.overlays, key=lambda o: o[1])
    ]
    spec = VideoSpec(
        video_id=video_id,
        archetype=archetype,
        width=width,
        height=height,
        fps=d.fps,
        duration_s=d.s(total),
        shots=shots,
        transitions=transitions,
        fades=fades,
        overlays=overlays,
        audio=sorted(d.audio, key=lambda e: e.start_s),
        ending=ending,  # type: ignore[arg-type]
    )
    return _assign_palettes(spec, d)


def _assign_palettes(spec: VideoSpec, d: _Draft) -> VideoSpec:
    """Give each shot a palette of its look whose rendered statistics sit outside every dead zone and that
    differs clearly from the previous shot's (so that every cut is a real content change)."""
    shots = list(spec.shots)
    linked = {i: s.source_shot for i, s in enumerate(shots) if s.source_shot is not None}
    fractions = [shot_mix_fractions(spec, i) for i in range(len(shots))]
    for i, sh in enumerate(shots):
        if i in linked:
            shots[i] = sh.model_copy(update={"palette": shots[linked[i]].palette})
            continue
        look = d.shots[i].look
        followers = [j for j, src in linked.items() if src == i]
        for attempt in range(200):
            cand = sample_palette(
                d.rng, look if attempt < 100 else ("any", "any", "any"), flat=sh.card_text is not None
            )
            ok = all(not in_dead_zone(*mix_stats(cand.stats(), fractions[j])) for j in [i, *followers])
            ok = ok and (i == 0 or _distinct(cand, shots[i - 1].palette))
            if i + 1 in linked:  # the shot before a replay must differ from the replayed one
                ok = ok and _distinct(cand, shots[linked[i + 1]].palette)
            if ok:
                break
        shots[i] = sh.model_copy(update={"palette": cand})
    return spec.model_copy(update={"shots": shots})


def _fix_open_level(spec: VideoSpec, level: OpenLevel) -> VideoSpec:
    """Scale the sounds of the first second so the opening's loudness sits clearly in its class."""
    target = {"loud": (-14.0, -6.0), "medium": (-36.0, -26.0), "silent": (-120.0, SILENT_OPEN_DB - 5)}[level]
    audio = list(spec.audio)
    for _ in range(6):
        db = rms_db(
            synth_audio(spec.model_copy(update={"audio": audio}), until_s=1.0), spec.sample_rate, 0.0, 1.0
        )
        if target[0] <= db <= target[1]:
            break
        goal = (target[0] + target[1]) / 2 if level != "silent" else target[1] - 5
        delta = goal - db
        audio = [
            ev.model_copy(update={"level_db": min(0.0, ev.level_db + delta)}) if ev.start_s < 1.0 else ev
            for ev in audio
        ]
    return spec.model_copy(update={"audio": audio})
