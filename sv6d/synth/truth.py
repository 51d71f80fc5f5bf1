"""Ground-truth tags of a generated video, computed from its spec following ``docs/conventions.md``.

Only labels the generator controls exactly are emitted (``TRUTH_LABELS``). Thresholds for labels whose
definition is a measurement (key, saturation, warmth, loudness, rhythm, long take) are the constants below;
the sampler keeps every designed value out of a dead zone around each threshold, so a detector with any
threshold inside that zone agrees with the truth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sv6d.synth.audio import rms_db, synth_audio
from sv6d.synth.spec import (
    BAND_DARKEN,
    BAND_HEIGHT_FRAC,
    Move,
    ShotSpec,
    VideoSpec,
)
from sv6d.vocabulary import default_vocabulary

HOOK_S = 3.0
# aesthetics (0..1 scales: BT.601 luma, HSV saturation, mean R - B)
LOW_KEY_LUMA = 0.28
HIGH_KEY_LUMA = 0.62
HIGH_SATURATION = 0.50
DESATURATED = 0.15
WARMTH = 0.10  # warm above +WARMTH, cool below -WARMTH
# dead zones the sampler keeps designed values out of: (low, high) open intervals
LUMA_DEAD = ((0.22, 0.34), (0.56, 0.68))
SAT_DEAD = ((0.10, 0.20), (0.45, 0.55))
WARMTH_DEAD = ((0.05, 0.15), (-0.15, -0.05))
# audio: RMS dBFS of the first second
LOUD_OPEN_DB = -20.0
SILENT_OPEN_DB = -45.0
# editing: transitions per second over a window (hard cuts, flash cuts and dissolves; not fades from/to black)
FAST_RHYTHM_CUTS_PER_S = 0.8
SLOW_RHYTHM_CUTS_PER_S = 0.25
LONG_TAKE_S = 4.0
REVEAL_CALM_S = 1.5
COLD_OPEN_S = 1.0
LOOP_S = 1.0

# Every label this module can emit. Metrics should be restricted to these (``evaluate_tags(labels=...)``).
TRUTH_LABELS: frozenset[str] = frozenset(
    {
        "no_person",
        "low_key",
        "high_key",
        "high_saturation",
        "desaturated",
        "warm_palette",
        "cool_palette",
        "vertical_frame",
        "static",
        "pan_left",
        "pan_right",
        "tilt_up",
        "tilt_down",
        "push_in",
        "pull_out",
        "hard_cut",
        "fade",
        "fast_rhythm",
        "slow_rhythm",
        "long_take",
        "cold_open",
        "loop_ending",
        "reveal",
        "text_overlay",
        "end_card",
        "loud_open",
        "silent_open",
    }
)

REVERSED_MOVE: dict[Move, Move] = {
    "static": "static",
    "pan_left": "pan_right",
    "pan_right": "pan_left",
    "tilt_up": "tilt_down",
    "tilt_down": "tilt_up",
    "push_in": "pull_out",
    "pull_out": "push_in",
}


@dataclass(frozen=True)
class TruthTag:
    """A true tag: a vocabulary label over ``[start_s, end_s]`` (has the fields the tag metric needs)."""

    dimension: str
    label: str
    start_s: float
    end_s: float

    def to_dict(self) -> dict[str, str | float]:
        return asdict(self)


def _tag(label: str, start_s: float, end_s: float) -> TruthTag:
    vocab = default_vocabulary()
    spec = vocab.spec(label)
    if spec.kind == "event" and abs(end_s - start_s) < 1e-9:
        start_s, end_s = start_s - vocab.event_halfwidth_s, end_s + vocab.event_halfwidth_s
    return TruthTag(spec.dimension.value, label, round(max(0.0, start_s), 4), round(end_s, 4))


def effective_move(shot: ShotSpec) -> Move:
    """The move seen on screen (a shot replayed backwards shows the opposite move)."""
    return REVERSED_MOVE[shot.move] if shot.time_scale < 0 else shot.move


def shot_mix_fractions(spec: VideoSpec, index: int) -> tuple[float, float, float, float]:
    """Shares of shot ``index``'s time that are dimmed to black (a fade ramp counts half), fully black, white
    (a decaying flash counts half) and under a caption band."""
    shot = spec.shots[index]
    length = max(shot.length_s, 1e-9)
    dimmed = black = 0.0
    for fade in spec.fades:
        ramp = fade.ramp_end_s - fade.ramp_start_s
        hold = fade.ramp_start_s if fade.kind == "in" else spec.duration_s - fade.ramp_end_s
        if (fade.kind == "in" and index == 0) or (fade.kind == "out" and index == len(spec.shots) - 1):
            dimmed += hold + 0.5 * ramp
            black += hold
    white = 0.0
    if index > 0 and spec.transitions[index - 1].kind == "flash":
        white = 0.5 * min(spec.transitions[index - 1].span_s, length)
    band = sum(max(0.0, min(o.end_s, shot.end_s) - max(o.start_s, shot.start_s)) for o in spec.overlays)
    return dimmed / length, black / length, white / length, band / length


def mix_stats(
    stats: tuple[float, float, float], fractions: tuple[float, float, float, float]
) -> tuple[float, float, float]:
    """Time-averaged (luma, saturation, warmth) of a palette mixed with fades, a flash and a caption band.
    Dimming scales luma and warmth but keeps HSV saturation (a ratio) until the frame is fully black.
    (The small text areas are ignored; the dead zones absorb them.)"""
    luma, sat, warmth = stats
    dimmed, black, white, band = fractions
    keep = max(0.0, 1.0 - dimmed - white)
    band_dim = 1.0 - BAND_HEIGHT_FRAC * (1.0 - BAND_DARKEN) * band
    return keep * luma * band_dim + white, max(0.0, 1.0 - black - white) * sat, keep * warmth * band_dim


def shot_effective_stats(spec: VideoSpec, index: int) -> tuple[float, float, float]:
    """Time-averaged (luma, saturation, warmth) of shot ``index`` as rendered."""
    return mix_stats(spec.shots[index].palette.stats(), shot_mix_fractions(spec, index))


def aesthetic_labels(luma: float, sat: float, warmth: float) -> list[str]:
    """The aesthetics labels the thresholds above give for these statistics."""
    labels = []
    if luma < LOW_KEY_LUMA:
        labels.append("low_key")
    elif luma > HIGH_KEY_LUMA:
        labels.append("high_key")
    if sat > HIGH_SATURATION:
        labels.append("high_saturation")
    elif sat < DESATURATED:
        labels.append("desaturated")
    if warmth > WARMTH:
        labels.append("warm_palette")
    elif warmth < -WARMTH:
        labels.append("cool_palette")
    return labels


def in_dead_zone(luma: float, sat: float, warmth: float) -> bool:
    """True when a statistic is too close to a threshold for the truth to be unambiguous."""
    return any(
        lo < v < hi
        for v, zones in ((luma, LUMA_DEAD), (sat, SAT_DEAD), (warmth, WARMTH_DEAD))
        for lo, hi in zones
    )


def transition_times(spec: VideoSpec) -> list[float]:
    """Times of shot changes counted by the rhythm labels (hard cuts, flash cuts, dissolve centres)."""
    return [t.at_s for t in spec.transitions]


def open_loudness_db(spec: VideoSpec) -> float:
    """RMS level (dBFS) of the spec's soundtrack over the first second."""
    return rms_db(synth_audio(spec, until_s=1.0), spec.sample_rate, 0.0, 1.0)


def truth_tags(spec: VideoSpec, hook_s: float = HOOK_S) -> list[TruthTag]:
    """All true tags of ``spec`` (labels in ``TRUTH_LABELS``), windows per ``docs/conventions.md``."""
    frame = 1.0 / spec.fps
    d = spec.duration_s
    tags: list[TruthTag] = []

    for i, shot in enumerate(spec.shots):
        tags.append(_tag("no_person", shot.start_s, shot.end_s))
        tags.append(_tag(effective_move(shot), shot.start_s, shot.end_s))
        tags.extend(
            _tag(lab, shot.start_s, shot.end_s) for lab in aesthetic_labels(*shot_effective_stats(spec, i))
        )
        if shot.length_s >= LONG_TAKE_S:
            tags.append(_tag("long_take", shot.start_s, shot.end_s))
    if spec.orientation == "portrait":
        tags.append(_tag("vertical_frame", 0.0, d))

    for i, tr in enumerate(spec.transitions):
        if tr.kind in ("cut", "flash"):
            tags.append(_tag("hard_cut", tr.at_s, tr.at_s))
        else:
            start = tr.at_s - tr.span_s / 2
            tags.append(_tag("fade", start, start + tr.span_s - frame))
        if tr.kind == "flash":
            prev = spec.transitions[i - 1].at_s if i > 0 else 0.0
            if tr.at_s - prev >= REVEAL_CALM_S:
                tags.append(_tag("reveal", tr.at_s, tr.at_s))
    for fade in spec.fades:
        tags.append(_tag("fade", fade.ramp_start_s, fade.ramp_end_s - frame))

    cuts = transition_times(spec)
    for start, end in ((0.0, min(hook_s, d)), (0.0, d)):
        n = sum(1 for t in cuts if start < t <= end)
        rate = n / (end - start)
        if rate >= FAST_RHYTHM_CUTS_PER_S:
            tags.append(_tag("fast_rhythm", start, end))
        elif n >= 1 and rate <= SLOW_RHYTHM_CUTS_PER_S:
            tags.append(_tag("slow_rhythm", start, end))
    if any(0.0 < t <= COLD_OPEN_S for t in cuts):
        tags.append(_tag("cold_open", 0.0, COLD_OPEN_S))
    if spec.ending == "loop":
        tags.append(_tag("loop_ending", d - LOOP_S, d))

    # text: caption bands and the end card's text, one tag per contiguous run of frames showing text
    runs = sorted((o.start_s, o.end_s) for o in spec.overlays)
    if spec.ending == "end_card":
        runs.append((spec.shots[-1].start_s, d))
        runs.sort()
    merged: list[list[float]] = []
    for s, e in runs:
        if merged and s <= merged[-1][1] + 1e-6:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    tags.extend(_tag("text_overlay", s, e - frame) for s, e in merged)
    if spec.ending == "end_card":
        tags.append(_tag("end_card", spec.shots[-1].start_s, d))

    db = open_loudness_db(spec)
    if db > LOUD_OPEN_DB:
        tags.append(_tag("loud_open", 0.0, 1.0))
    elif db < SILENT_OPEN_DB:
        tags.append(_tag("silent_open", 0.0, 1.0))
    return tags
