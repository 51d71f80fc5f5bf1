"""Tags from the evidence, with documented thresholds, windows placed as ``docs/conventions.md`` says.

Every threshold is a module constant with the reason for its value. Tags go through ``sv6d.record.make_tag``,
which drops any tag whose required evidence is missing, so nothing is emitted without its measurement.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from encoder.evidence.editing import Cut, shot_change_times
from encoder.evidence.features import (
    JUMP_CUT_SIMILARITY,
    TEXT_MIN_AREA,
    synced_fraction,
)
from encoder.evidence.measure import Measurements
from encoder.evidence.motion import window_motion
from encoder.evidence.narrative import slope_and_r, window_energy
from encoder.types import Shot, Transition
from sv6d.record import Tag, make_tag

# ---- camera (per shot)
PAN_MIN_RATE = 0.04  # frame widths (heights) per second of content motion: slower reads as drift
ZOOM_MIN_RATE = 0.03  # log-scale per second (3 %/s): below it, scale changes are within flow noise
SHAKE_MIN_JITTER = 0.008  # frame fraction per step of jitter around the trend: tripod noise stays < 0.002
STATIC_MAX_SPEED = 0.015  # frames / s of translation for a still camera
STATIC_MAX_ZOOM = 0.01  # log-scale / s for a still camera
STATIC_MAX_JITTER = 0.004
# ---- aesthetics (per shot; frame means). Thresholds sit in the middle of the generator's dead zones
# (sv6d.synth.truth), where designed values never fall, so real footage near a boundary is the only ambiguity.
LOW_KEY_MAX_LUMA = 0.28  # mean luma (BT.601) / 255: a dark, low-key picture
HIGH_KEY_MIN_LUMA = 0.62  # mean luma / 255: a bright, high-key picture
HIGH_CONTRAST_MIN_STD = 0.28  # within-frame luma std / 255
HIGH_SATURATION_MIN = 0.50  # mean HSV saturation: vivid colour
DESATURATED_MAX = 0.15  # mean HSV saturation: washed out or monochrome
WARM_MIN = 0.10  # mean (R - B) / 255
COOL_MAX = -0.10
# ---- subject (per shot; on face-checked frames, at least one per shot)
FACE_PRESENT_MIN_RATIO = 0.5  # a face in at least half of the checked frames
FACE_CLOSEUP_MIN_AREA = 0.06  # the largest face covers >= 6 % of the frame (a head-and-shoulders shot)
MULTI_FACE_MIN_RATIO = 0.3  # share of checked frames with >= 2 faces
NO_PERSON_MIN_FRAMES = 1  # "no face" needs at least this many checked frames
# ---- editing. Rhythm counts shot changes (hard cuts and dissolve midpoints, not fades from/to black)
# in (start, end] of the hook window and of the whole video.
FAST_RHYTHM_MIN_CPS = 0.8  # shot changes per second: shots of ~1 s or shorter
SLOW_RHYTHM_MAX_CPS = 0.25  # shot changes per second (shots of >= 4 s on average), with at least one change
LONG_TAKE_MIN_S = 4.0  # conventions.md: a shot of at least 4 s
# ---- narrative
COLD_OPEN_S = 1.0  # conventions.md: a shot change within the opening second is a cold open
PEAK_MIN_ENERGY = 0.3  # the peak must be at least this ...
PEAK_MIN_ABOVE_MEDIAN = 0.2  # ... and this far above the median energy
BUILD_UP_MIN_R = 0.7  # energy must correlate with time at least this much ...
BUILD_UP_MIN_RISE = 0.25  # ... and rise by at least this over the video
LOOP_MIN_SIMILARITY = 0.9  # first and last frames this alike: the video loops
LOOP_MIN_SHOTS = (
    2  # a single unchanging take trivially "loops"; a loop ending needs the video to go somewhere
)
REVEAL_MIN_CALM_S = 1.5  # a reveal: a flash cut at least this long after the previous shot change ...
REVEAL_MIN_FLASH_LUMA = 0.93  # ... opening on a (near) white frame (mean luma / 255) ...
REVEAL_MIN_FLASH_JUMP = 0.3  # ... clearly brighter than the frame before it
# ---- dissemination
TEXT_MIN_RUN_FRAMES = 2  # analysis frames in a row showing text (one frame may be a texture false alarm)
END_CARD_MIN_S = 1.0  # a static tail of at least 1 s ...
END_CARD_MIN_TEXT = TEXT_MIN_AREA  # ... showing text
LOUD_OPEN_MIN_DB = -20.0  # dBFS over the first second: loud (speech peaks ~-12, music masters ~-10)
SILENT_OPEN_MAX_DB = -45.0  # dBFS: near silence (room tone is ~-60; the generator uses -45 too)
BEAT_SYNC_MIN_FRACTION = 0.75  # share of cuts on an onset
BEAT_SYNC_MIN_CUTS = 3
TALKING_HEAD_MIN_FACE = 0.6  # share of checked frames with a face
TALKING_HEAD_MIN_DB = -40.0  # audio present and audible

WindowSpan = tuple[float, float]


def _conf(value: float, threshold: float, scale: float) -> float:
    """Confidence from the margin past a threshold: 0.5 at the threshold, 1 at ``scale`` beyond it."""
    return float(np.clip(0.5 + 0.5 * abs(value - threshold) / max(scale, 1e-9), 0.5, 1.0))


def _add(tags: list[Tag], label: str, start: float, end: float, conf: float, evidence: dict) -> None:
    tag = make_tag(label, start, end, conf, evidence)
    if tag is not None:
        tags.append(tag)


def camera_tags(m: Measurements, shot: Shot) -> list[Tag]:
    tags: list[Tag] = []
    wm = window_motion(m.motion, shot.start_s, shot.end_s, m.motion_excluded)
    if wm.n_steps == 0:
        return tags
    a, b = shot.start_s, shot.end_s
    dx, dy, z, j = wm.dx_per_s, wm.dy_per_s, wm.zoom_per_s, wm.jitter
    # One move per shot, the dominant one relative to its threshold: a zoom's edge flow or a tilt's small
    # sideways drift must not add a second move label.
    ratios = {"x": abs(dx) / PAN_MIN_RATE, "y": abs(dy) / PAN_MIN_RATE, "z": abs(z) / ZOOM_MIN_RATE}
    axis = max(ratios, key=lambda k: ratios[k])
    if ratios[axis] >= 1.0:
        if axis == "x":
            label, ev, conf = (
                ("pan_left" if dx > 0 else "pan_right"),
                {"dx_frac_per_s": dx},
                _conf(abs(dx), PAN_MIN_RATE, 0.1),
            )
        elif axis == "y":
            label, ev, conf = (
                ("tilt_up" if dy > 0 else "tilt_down"),
                {"dy_frac_per_s": dy},
                _conf(abs(dy), PAN_MIN_RATE, 0.1),
            )
        else:
            label, ev, conf = (
                ("push_in" if z > 0 else "pull_out"),
                {"zoom_per_s": z},
                _conf(abs(z), ZOOM_MIN_RATE, 0.05),
            )
        _add(tags, label, a, b, conf, ev)
    elif np.hypot(dx, dy) < STATIC_MAX_SPEED and abs(z) < STATIC_MAX_ZOOM and j < STATIC_MAX_JITTER:
        _add(tags, "static", a, b, 0.9, {"motion_px_per_s": float(wm.speed * m.width), "zoom_per_s": z})
    if j >= SHAKE_MIN_JITTER:
        _add(tags, "handheld_shake", a, b, _conf(j, SHAKE_MIN_JITTER, 0.01), {"jitter_frac": j})
    return tags


def aesthetics_tags(m: Measurements, shot: Shot) -> list[Tag]:
    tags: list[Tag] = []
    sel = (m.times_s >= shot.start_s - 1e-6) & (m.times_s < shot.end_s - 1e-6)
    if not sel.any():
        return tags
    a, b = shot.start_s, shot.end_s
    c = m.colour
    luma, std = float(c.luma[sel].mean()), float(c.luma_std[sel].mean())
    sat, warm = float(c.saturation[sel].mean()), float(c.warmth[sel].mean())
    if luma <= LOW_KEY_MAX_LUMA:
        _add(tags, "low_key", a, b, _conf(luma, LOW_KEY_MAX_LUMA, 0.15), {"mean_luma": luma})
    if luma >= HIGH_KEY_MIN_LUMA:
        _add(tags, "high_key", a, b, _conf(luma, HIGH_KEY_MIN_LUMA, 0.15), {"mean_luma": luma})
    if std >= HIGH_CONTRAST_MIN_STD:
        _add(tags, "high_contrast", a, b, _conf(std, HIGH_CONTRAST_MIN_STD, 0.1), {"luma_std": std})
    if sat >= HIGH_SATURATION_MIN:
        _add(tags, "high_saturation", a, b, _conf(sat, HIGH_SATURATION_MIN, 0.2), {"mean_saturation": sat})
    if sat <= DESATURATED_MAX:
        _add(tags, "desaturated", a, b, _conf(sat, DESATURATED_MAX, 0.1), {"mean_saturation": sat})
    if warm >= WARM_MIN:
        _add(tags, "warm_palette", a, b, _conf(warm, WARM_MIN, 0.15), {"warmth": warm})
    if warm <= COOL_MAX:
        _add(tags, "cool_palette", a, b, _conf(warm, COOL_MAX, 0.15), {"warmth": warm})
    return tags


def subject_tags(m: Measurements, shot: Shot) -> list[Tag]:
    tags: list[Tag] = []
    f = m.faces
    sel = (f.times_s >= shot.start_s - 1e-6) & (f.times_s < shot.end_s - 1e-6)
    n = int(sel.sum())
    a, b = shot.start_s, shot.end_s
    if n == 0:
        # The detector budget left this shot unchecked: when no checked frame of the whole video holds a face,
        # the shot inherits that verdict (evidence: the video's ratio and checked-frame count).
        total = len(f.count)
        if total >= NO_PERSON_MIN_FRAMES and not (f.count > 0).any():
            ev = {"face_frame_ratio": 0.0, "frames_checked": total, "inherited": True}
            _add(tags, "no_person", a, b, 0.5, ev)
        return tags
    count, area = f.count[sel], f.max_area[sel]
    ratio = float((count > 0).mean())
    max_area = float(area.max())
    if ratio >= FACE_PRESENT_MIN_RATIO:
        ev = {"face_frame_ratio": ratio, "max_face_area": max_area}
        _add(tags, "face_present", a, b, _conf(ratio, FACE_PRESENT_MIN_RATIO, 0.5), ev)
        if max_area >= FACE_CLOSEUP_MIN_AREA:
            _add(tags, "face_closeup", a, b, _conf(max_area, FACE_CLOSEUP_MIN_AREA, 0.1), ev)
    multi = float((count >= 2).mean())
    if multi >= MULTI_FACE_MIN_RATIO:
        _add(
            tags,
            "multiple_people",
            a,
            b,
            _conf(multi, MULTI_FACE_MIN_RATIO, 0.5),
            {"max_face_count": int(count.max())},
        )
    if ratio == 0.0 and n >= NO_PERSON_MIN_FRAMES:
        _add(
            tags,
            "no_person",
            a,
            b,
            0.5 + 0.5 * min(1.0, n / 8),
            {"face_frame_ratio": 0.0, "frames_checked": n},
        )
    return tags


def _luma_at(m: Measurements, t: float) -> float:
    if len(m.times_s) == 0:
        return 0.0
    return float(m.colour.luma[int(np.argmin(np.abs(m.times_s - t)))])


def editing_tags(m: Measurements, hook: WindowSpan) -> list[Tag]:
    return transition_tags(m.cuts, m.fades, m.shots, m.duration_s, hook, lambda t: _luma_at(m, t))


def transition_tags(
    cuts: list[Cut],
    fade_list: list[Transition],
    shots: list[Shot],
    duration_s: float,
    hook: WindowSpan,
    luma_at: Callable[[float], float],
) -> list[Tag]:
    """The editing tags measured from the transitions alone: hard and jump cuts, fades and dissolves,
    rhythm (hook and whole video) and long takes. Every backbone emits them the same way, so a tag filter
    means the same on records of any backbone. ``luma_at(t)``: mean luma / 255 of the picture at ``t``
    (the fade evidence when the detector left it out)."""
    tags: list[Tag] = []
    for c in cuts:
        _add(
            tags,
            "hard_cut",
            c.t,
            c.t,
            _conf(c.content_delta, 0, 1),
            {"cut_at_s": c.t, "content_delta": c.content_delta},
        )
        if c.similarity >= JUMP_CUT_SIMILARITY:
            ev = {"cut_at_s": c.t, "pre_post_similarity": c.similarity}
            _add(tags, "jump_cut", c.t, c.t, _conf(c.similarity, JUMP_CUT_SIMILARITY, 0.25), ev)
    for f in fade_list:
        ev = {
            "luma_start": float(f.evidence.get("luma_start", luma_at(f.start_s))),
            "luma_end": float(f.evidence.get("luma_end", luma_at(f.end_s))),
            "span_s": float(f.end_s - f.start_s),
        }
        _add(tags, "fade", f.start_s, f.end_s, _conf(f.score, 0, 1), ev)
    changes = shot_change_times(cuts, fade_list)
    for a, b in dict.fromkeys([hook, (0.0, duration_s)]):
        span = b - a
        n = int(((changes > a) & (changes <= b)).sum())
        cps = n / max(span, 1e-6)
        ev = {"cuts_per_s": cps, "n_cuts": n}
        if cps >= FAST_RHYTHM_MIN_CPS:
            _add(tags, "fast_rhythm", a, b, _conf(cps, FAST_RHYTHM_MIN_CPS, 1.0), ev)
        elif n >= 1 and cps <= SLOW_RHYTHM_MAX_CPS:
            _add(tags, "slow_rhythm", a, b, _conf(cps, SLOW_RHYTHM_MAX_CPS, 0.2), ev)
    for s in shots:
        length = s.end_s - s.start_s
        if length >= LONG_TAKE_MIN_S:
            _add(
                tags,
                "long_take",
                s.start_s,
                s.end_s,
                _conf(length, LONG_TAKE_MIN_S, 4),
                {"shot_length_s": length},
            )
    return tags


def narrative_tags(m: Measurements) -> list[Tag]:
    tags: list[Tag] = []
    d = m.duration_s
    t, e = m.energy_t, m.energy
    if len(e) == 0:
        return tags
    median = float(np.median(e))
    open_e = float(window_energy(t, e, 0.0, COLD_OPEN_S).mean())
    changes = shot_change_times(m.cuts, m.fades)
    early = changes[(changes > 0) & (changes <= COLD_OPEN_S)]
    if len(early):
        ev = {"open_energy": open_e, "median_energy": median, "first_change_s": float(early[0])}
        _add(tags, "cold_open", 0.0, min(COLD_OPEN_S, d), 0.9, ev)
    k = int(np.argmax(e))
    peak = float(e[k])
    if peak >= PEAK_MIN_ENERGY and peak - median >= PEAK_MIN_ABOVE_MEDIAN:
        tk = float(t[k])
        _add(tags, "energy_peak", tk, tk, _conf(peak - median, PEAK_MIN_ABOVE_MEDIAN, 0.3),
             {"peak_energy": peak, "median_energy": median})  # fmt: skip
    slope, r = slope_and_r(t, e)
    if r >= BUILD_UP_MIN_R and slope * d >= BUILD_UP_MIN_RISE:
        _add(tags, "build_up", 0.0, d, _conf(r, BUILD_UP_MIN_R, 0.3), {"energy_slope": slope, "energy_r": r})
    if m.first_last_similarity >= LOOP_MIN_SIMILARITY and len(m.shots) >= LOOP_MIN_SHOTS:
        sim = m.first_last_similarity
        _add(
            tags,
            "loop_ending",
            max(0.0, d - 1.0),
            d,
            _conf(sim, LOOP_MIN_SIMILARITY, 0.1),
            {"first_last_similarity": sim},
        )
    for c in m.cuts:
        prior = changes[changes < c.t - 1e-6]
        calm_s = c.t - (float(prior[-1]) if len(prior) else 0.0)
        flash = (
            c.luma_after >= REVEAL_MIN_FLASH_LUMA and c.luma_after - c.luma_before >= REVEAL_MIN_FLASH_JUMP
        )
        if flash and calm_s >= REVEAL_MIN_CALM_S:
            ev = {"change_at_s": c.t, "content_delta": c.content_delta, "calm_before_s": calm_s}
            _add(tags, "reveal", c.t, c.t, _conf(calm_s, REVEAL_MIN_CALM_S, 2.0), ev)
    return tags


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive index runs where ``mask`` is True."""
    runs, start = [], None
    for i, v in enumerate(mask):
        if v and start is None:
            start = i
        elif not v and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(mask) - 1))
    return runs


def dissemination_tags(m: Measurements) -> list[Tag]:
    tags: list[Tag] = []
    d = m.duration_s
    times, area = m.times_s, m.text.area_ratio
    has = area >= TEXT_MIN_AREA
    # Bridge single-frame misses inside a run (a stroke lost to motion blur), then drop one-frame blips.
    if len(has) >= 3:
        has[1:-1] |= has[:-2] & has[2:]
    for i, j in _runs(has):
        if j - i + 1 < TEXT_MIN_RUN_FRAMES:
            continue
        # The text is on screen from about half a sample step before the first frame that shows it to half a
        # step after the last one: extend so the window is unbiased at the analysis frame rate.
        half_before = (times[i] - times[i - 1]) / 2 if i > 0 else times[i]
        half_after = (times[j + 1] - times[j]) / 2 if j + 1 < len(times) else d - times[j]
        a, b = max(0.0, times[i] - half_before), min(d, times[j] + half_after)
        ratio = float(area[i : j + 1].mean())
        ev = {"text_area_ratio": ratio, "text_frame_ratio": float(has[i : j + 1].mean())}
        _add(tags, "text_overlay", a, b, _conf(ratio, TEXT_MIN_AREA, 0.02), ev)
    if m.tail_static_s >= END_CARD_MIN_S:
        sel = times >= m.tail_start_s - 1e-6
        tail_text = float(area[sel].mean()) if sel.any() else 0.0
        if tail_text >= END_CARD_MIN_TEXT:
            ev = {"static_s": m.tail_static_s, "text_area_ratio": tail_text}
            _add(tags, "end_card", m.tail_start_s, d, _conf(m.tail_static_s, END_CARD_MIN_S, 2), ev)
    open_db = m.audio.loudness_db(0.0, 1.0)
    if open_db >= LOUD_OPEN_MIN_DB:
        _add(
            tags,
            "loud_open",
            0.0,
            min(1.0, d),
            _conf(open_db, LOUD_OPEN_MIN_DB, 10),
            {"open_loudness_db": open_db},
        )
    if open_db <= SILENT_OPEN_MAX_DB:
        _add(
            tags,
            "silent_open",
            0.0,
            min(1.0, d),
            _conf(open_db, SILENT_OPEN_MAX_DB, 20),
            {"open_loudness_db": open_db},
        )
    synced, n = synced_fraction(m, 0.0, d)
    if n >= BEAT_SYNC_MIN_CUTS and synced >= BEAT_SYNC_MIN_FRACTION:
        _add(
            tags,
            "beat_synced_cuts",
            0.0,
            d,
            _conf(synced, BEAT_SYNC_MIN_FRACTION, 0.25),
            {"synced_fraction": synced, "n_cuts": n},
        )
    for s in m.shots:
        fsel = (m.faces.times_s >= s.start_s - 1e-6) & (m.faces.times_s < s.end_s - 1e-6)
        if not fsel.any():
            continue
        ratio = float((m.faces.count[fsel] > 0).mean())
        db = m.audio.loudness_db(s.start_s, s.end_s)
        if ratio >= TALKING_HEAD_MIN_FACE and db >= TALKING_HEAD_MIN_DB:
            ev = {"face_frame_ratio": ratio, "audio_rms_db": db}
            _add(tags, "talking_head", s.start_s, s.end_s, _conf(ratio, TALKING_HEAD_MIN_FACE, 0.4), ev)
    return tags


def vertical_tag(m: Measurements) -> list[Tag]:
    if m.height <= m.width:
        return []
    tag = make_tag("vertical_frame", 0.0, m.duration_s, 1.0, {"aspect_ratio": m.width / m.height})
    return [tag] if tag is not None else []


def emit_tags(m: Measurements, hook: WindowSpan) -> list[Tag]:
    """Every tag the evidence supports, sorted by start time then label."""
    shots = m.shots or [Shot(0.0, m.duration_s)]
    tags: list[Tag] = []
    for s in shots:
        tags += subject_tags(m, s) + aesthetics_tags(m, s) + camera_tags(m, s)
    tags += editing_tags(m, hook) + narrative_tags(m) + dissemination_tags(m) + vertical_tag(m)
    return sorted(tags, key=lambda t: (t.start_s, t.dimension.value, t.label))
