"""The fixed, documented raw feature layout of the evidence backbone.

Each dimension's raw vector is computed for any window (the whole video, the hook window, each shot) from the
``Measurements`` of one pass. Every component is named; raw values are mapped to about [0, 1] (or [-1, 1] for
signed ones) by the fixed constants shown, and ``FEATURE_CENTRE`` / ``FEATURE_SPREAD`` (typical value and
spread of each component, used by ``encoder.heads.FixedLayoutHeads`` to standardise) sit beside them. The last
structural component of every dimension is a constant ``bias`` so that no vector is ever zero.

| dimension | component | raw value (window) |
|---|---|---|
| subject | face_frame_ratio | share of face-checked frames with >= 1 face |
| subject | face_count | mean faces per checked frame / 3, clipped to 1 |
| subject | multi_face_ratio | share of checked frames with >= 2 faces |
| subject | face_area_max | sqrt(largest face area / frame area), max over frames |
| subject | face_area_mean | sqrt(largest face area / frame area), mean over frames with a face |
| subject | face_x | 2 * (mean centre x of the largest face - 0.5), 0 without faces |
| subject | face_y | 2 * (mean centre y of the largest face - 0.5), 0 without faces |
| subject | bias | 1 |
| aesthetics | luma | mean luma / 255 |
| aesthetics | contrast | 2 * mean within-frame luma std / 255, clipped to 1 |
| aesthetics | saturation | mean HSV saturation |
| aesthetics | warmth | 4 * mean (R - B) / 255, clipped to [-1, 1] |
| aesthetics | sharpness | log10(1 + Laplacian variance) / 4, clipped to [0, 1.5] |
| aesthetics | orientation | log(height / width) / log(16 / 9), clipped to [-1, 1] (+ portrait) |
| aesthetics | luma_variation | 4 * std over frames of mean luma, clipped to 1 |
| aesthetics | low_key_ratio | share of frames with mean luma < LOW_KEY_LUMA |
| aesthetics | high_key_ratio | share of frames with mean luma > HIGH_KEY_LUMA |
| aesthetics | light_shift_0 .. light_shift_5 | 4 * (part k mean luma - window mean luma), in [-1, 1] |
| aesthetics | seam_v | log((strongest inner column edge + 1) / (median column edge + 1)), <= 3 (a seam) |
| aesthetics | seam_h | the same over rows (a stacked split screen, a picture-in-picture border) |
| aesthetics | region_sync | mean correlation of the 3 x 3 grid cells' frame-change series (1: moves as one) |
| aesthetics | region_sync_min | the least correlated pair of cells (two pictures changing independently) |
| aesthetics | region_spread | log((busiest cell's mean change + 0.5) / (stillest cell's + 0.5)), <= 3 |
| aesthetics | bias | 1 |
| camera | pan_x | content motion x (frame widths / s) / 0.5, clipped to [-1, 1] (+ = pan left) |
| camera | pan_y | content motion y (frame heights / s) / 0.5, clipped to [-1, 1] (+ = tilt up) |
| camera | zoom | log-scale rate / 0.3, clipped to [-1, 1] (+ = push in) |
| camera | abs_pan_x | abs(pan_x) |
| camera | abs_pan_y | abs(pan_y) |
| camera | abs_zoom | abs(zoom) |
| camera | shake | jitter (frame fractions per step) / 0.03, clipped to 1 |
| camera | speed | mean translation speed (frames / s) / 0.5, clipped to 1 |
| camera | static_ratio | share of steps slower than STATIC_STEP_SPEED |
| camera | zoom_0 .. zoom_5 | median log-scale rate of the steps in part k / 0.3, clipped to [-1, 1] |
| camera | speed_0 .. speed_5 | median translation speed of the steps in part k / 0.5, clipped to 1 |
| camera | blur_burst | log((median thumb sharpness + 0.5) / (least sharp thumb's + 0.5)), <= 5 (a whip) |
| camera | blur_axis | how far the least sharp thumb's x/y sharpness ratio departs from the window's |
| camera | scale_jumps | valid motion steps that change scale by >= SCALE_JUMP at once, per second / 2, <= 1 |
| camera | scale_jump | the largest such step's log scale / SCALE_JUMP_FULL, in [-1, 1] (+ = a punch-in) |
| camera | bias | 1 |
| editing | cut_rate | cuts per second / 3, clipped to 1 |
| editing | shot_length | log2(mean shot length s) / 4, clipped to [-1, 1] |
| editing | shot_length_cv | coefficient of variation of shot lengths / 1.5, clipped to 1 |
| editing | min_shot | shortest shot (s) / 4, clipped to 1 |
| editing | longest_share | longest shot / window length |
| editing | fade_rate | fades per second * 5, clipped to 1 |
| editing | jump_cut_ratio | share of cuts that are jump cuts |
| editing | has_cut | 1 when the window holds a cut |
| editing | change_0 .. change_5 | mean frame-to-frame change (1 - similarity) in part k / CHANGE_FULL, <= 1 |
| editing | cut_spike_0 .. cut_spike_5 | largest whole.change_spikes value in part k / SPIKE_FULL, <= 1 |
| editing | spike_rate | thumbnails with a change spike > SPIKE_EVENT, per second / 3, clipped to 1 |
| editing | frozen_0 .. frozen_5 | share of part k's thumbs within FROZEN_DIFF grey levels of the one before |
| editing | change_contrast | log2((window's mean thumb change + C) / (rest's + C)) / 3, C = CONTRAST_FLOOR |
| editing | spike_regularity | 1 - CV of the intervals between change events (>= 3 events), else 0 |
| editing | cut_continuity | mean colour-histogram overlap across change events (1 without any) |
| editing | blend_ratio | median |frame - mean of neighbours| / (|next - previous| / 2) if moving, <= 1.5 |
| editing | blend_share | share of moving frames with that ratio < BLEND_FRAME (blended in-between frames) |
| editing | motion_level | log(mean thumb change + 0.5) / 3 (grey levels per frame) |
| editing | diversity | mean (1 - similarity) of up to 6 analysis frames spread over the window |
| editing | bias | 1 |
| narrative | energy_mean | mean energy |
| narrative | energy_std | 2 * std of energy, clipped to 1 |
| narrative | energy_max | max energy |
| narrative | peak_position | time of max energy, fraction of the window |
| narrative | energy_trend | slope * window length, clipped to [-1, 1] |
| narrative | energy_r | correlation of energy with time |
| narrative | open_energy | mean energy over the window's first second |
| narrative | close_energy | mean energy over the window's last second |
| narrative | first_last_similarity | similarity of the window's first and last analysis frames |
| narrative | bias | 1 |
| dissemination | text_frame_ratio | share of frames with text-line coverage >= TEXT_MIN_AREA |
| dissemination | text_area | mean text-line coverage / 0.1, clipped to 1 |
| dissemination | text_y | 2 * (mean text centre y - 0.5), 0 without text |
| dissemination | static_tail | static tail inside the window (s) / 3, clipped to 1 |
| dissemination | open_loudness | (dBFS of the window's first second + 60) / 60, clipped to [0, 1] |
| dissemination | loudness | (dBFS over the window + 60) / 60, clipped to [0, 1] |
| dissemination | onset_rate | audio onsets per second / 4, clipped to 1 |
| dissemination | synced_cuts | share of cuts within SYNC_TOLERANCE_S of an onset |
| dissemination | has_audio | 1 when the video has an audio track |
| dissemination | loudness_var | std of the audible loudness envelope (dB) / 15, clipped to 1 |
| dissemination | loudness_0 .. loudness_5 | (dBFS over part k + 60) / 60, clipped to [0, 1] |
| dissemination | caption_0 .. caption_5 | mean text-line coverage in part k / TEXT_FULL, clipped to 1 |
| dissemination | text_excess | (window's mean text coverage - the rest's) / TEXT_FULL, in [-1, 1] |
| dissemination | held_area | share of the frame whose edges are held over the window only / HELD_AREA_FULL |
| dissemination | held_lines | share in text-line blobs of those held edges (a caption) / HELD_LINES_FULL |
| dissemination | held_lines_y | 2 * (mean centre y of those lines - 0.5), 0 without them |
| dissemination | held_rules | share in held straight runs >= 1/4 of the frame (a border) / HELD_RULES_FULL |
| dissemination | bias | 1 |
| dissemination | text_0 .. text_7 | MiniLM text embedding: seeded Gaussian projection to 8, * TEXT_WEIGHT |

The text part is zeros when no title, caption or hashtags are given.

Change events count cut-like spikes whether or not the transition detector made a cut of them (jump cuts
inside one take), and frozen thumbnails (a freeze frame, a still). The window-against-body contrasts
(``change_contrast``, ``text_excess``, ``held_*``) are 0 when the window is the whole video: they say whether
an opening moves faster or slower than the rest, and whether its text is a caption over the hook or text that
is always there (watermarks, subtitles, signs).

Schedule components (``name_k``) split the window into ``SCHEDULE_BINS`` equal parts (0.5 s parts of the
3 s hook): they say *when* cuts, moves, light changes and loudness happen, so two hooks with the same
averages but a different order of events (silence then an impact, versus loud from the start) differ.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np

from encoder.evidence.editing import window_editing
from encoder.evidence.measure import Measurements
from encoder.evidence.motion import window_motion
from encoder.evidence.narrative import slope_and_r, window_energy
from encoder.evidence.text import held_overlay
from sv6d.dimensions import DIMENSIONS, Dimension

LOW_KEY_LUMA = 0.25  # mean luma below this is a dark (low-key) frame
HIGH_KEY_LUMA = 0.7  # mean luma above this is a bright (high-key) frame
STATIC_STEP_SPEED = 0.02  # frames / s: a step slower than this is a still camera
# |log scale| of one step from which the framing jumps (a punch-in: x1.13 or more between two analysis frames,
# 0.25 s apart; a slow push-in changes by ~0.01-0.03 a step, punch-ins on the training renders by ~0.2)
SCALE_JUMP = 0.12
SCALE_JUMP_FULL = 0.4  # |log scale| of a jump that counts as full (x1.5)
TEXT_MIN_AREA = 0.004  # text-line coverage from which a frame counts as showing text
SYNC_TOLERANCE_S = 0.1  # a cut within this of an audio onset is synced (a 25 fps frame is 0.04 s)
JUMP_CUT_SIMILARITY = 0.75  # frames across a cut at least this alike: a jump cut
TEXT_COMPONENTS = 8  # MiniLM 384-d -> this many components
TEXT_WEIGHT = 0.5  # the text part's expected norm, kept below the structural part's so it cannot swamp it
TEXT_SEED = 6  # seed of the fixed projection matrix
MINILM_DIM = 384
# The hook's *schedule*: windows are split into this many equal parts (the seconds of a 3 s hook), and a few
# measurements are given per part, so that "loud from the start" and "silent, then an impact" differ even
# when their window means agree.
SCHEDULE_BINS = 6
CHANGE_FULL = 0.5  # mean frame-to-frame change (1 - similarity) that counts as a full change
LOUDNESS_VAR_FULL_DB = 15.0  # std of the loudness envelope (dB) that counts as fully modulated sound
LOUDNESS_VAR_FLOOR_DB = -70.0  # envelope values below this are silence, not modulation
SPIKE_FULL = 4.0  # change spike (whole.change_spikes) that counts as a certain cut
SPIKE_EVENT = 1.0  # change spike from which a thumbnail counts as a cut-like event (spike_rate)
FROZEN_DIFF = 0.05  # grey levels: a thumbnail this close to the one before is frozen (codec noise is ~0.01)
CONTRAST_FLOOR = 0.25  # grey levels added to both sides of change_contrast so stills do not divide by ~0
TEXT_FULL = 0.1  # text-line coverage that counts as full (caption_k, text_excess)
HELD_AREA_FULL = 0.05  # share of the frame with held edges that counts as full (held_area; a caption ~0.01)
HELD_LINES_FULL = 0.03  # share covered by held text lines that counts as full (held_lines; a caption ~0.014)
HELD_RULES_FULL = 0.02  # share in held straight runs that counts as full (held_rules; an inset ~0.008)
SEAM_MARGIN = 8  # seams are looked for away from the frame's edges: not in the outer 1/8 of either side
MOVING_SPAN = 1.0  # grey levels of |next - previous| / 2 from which a frame is moving (blend_ratio)
BLEND_FRAME = 0.35  # blend ratio below which a moving frame is an in-between (blended) frame
DIVERSITY_FRAMES = 6  # analysis frames compared for diversity

# (name, centre, spread) per component; centre/spread are the typical value and spread heads standardise with.
_LAYOUT: dict[Dimension, list[tuple[str, float, float]]] = {
    Dimension.SUBJECT: [
        ("face_frame_ratio", 0.2, 0.4),
        ("face_count", 0.1, 0.2),
        ("multi_face_ratio", 0.05, 0.2),
        ("face_area_max", 0.1, 0.2),
        ("face_area_mean", 0.1, 0.2),
        ("face_x", 0.0, 0.3),
        ("face_y", 0.0, 0.3),
        ("bias", 0.0, 1.0),
    ],
    Dimension.AESTHETICS: [
        ("luma", 0.45, 0.2),
        ("contrast", 0.4, 0.2),
        ("saturation", 0.35, 0.2),
        ("warmth", 0.0, 0.4),
        ("sharpness", 0.8, 0.3),
        ("orientation", 0.0, 1.0),
        ("luma_variation", 0.1, 0.2),
        ("low_key_ratio", 0.2, 0.4),
        ("high_key_ratio", 0.2, 0.4),
        *[(f"light_shift_{i}", 0.0, 0.3) for i in range(SCHEDULE_BINS)],
        ("seam_v", 0.8, 0.6),
        ("seam_h", 0.65, 0.5),
        ("region_sync", 0.75, 0.25),
        ("region_sync_min", 0.45, 0.45),
        ("region_spread", 0.9, 0.6),
        ("bias", 0.0, 1.0),
    ],
    Dimension.CAMERA: [
        ("pan_x", 0.0, 0.4),
        ("pan_y", 0.0, 0.4),
        ("zoom", 0.0, 0.4),
        ("abs_pan_x", 0.15, 0.3),
        ("abs_pan_y", 0.15, 0.3),
        ("abs_zoom", 0.15, 0.3),
        ("shake", 0.15, 0.3),
        ("speed", 0.2, 0.3),
        ("static_ratio", 0.5, 0.4),
        *[(f"zoom_{i}", 0.0, 0.4) for i in range(SCHEDULE_BINS)],
        *[(f"speed_{i}", 0.2, 0.3) for i in range(SCHEDULE_BINS)],
        ("blur_burst", 0.3, 1.2),
        ("blur_axis", 0.1, 0.3),
        ("scale_jumps", 0.05, 0.2),
        ("scale_jump", 0.0, 0.3),
        ("bias", 0.0, 1.0),
    ],
    Dimension.EDITING: [
        ("cut_rate", 0.2, 0.3),
        ("shot_length", 0.3, 0.4),
        ("shot_length_cv", 0.2, 0.3),
        ("min_shot", 0.4, 0.4),
        ("longest_share", 0.6, 0.3),
        ("fade_rate", 0.1, 0.3),
        ("jump_cut_ratio", 0.05, 0.3),
        ("has_cut", 0.5, 0.5),
        *[(f"change_{i}", 0.2, 0.3) for i in range(SCHEDULE_BINS)],
        *[(f"cut_spike_{i}", 0.2, 0.3) for i in range(SCHEDULE_BINS)],
        ("spike_rate", 0.1, 0.2),
        *[(f"frozen_{i}", 0.05, 0.2) for i in range(SCHEDULE_BINS)],
        ("change_contrast", 0.0, 0.4),
        ("spike_regularity", 0.1, 0.3),
        ("cut_continuity", 0.9, 0.25),
        ("blend_ratio", 0.9, 0.3),
        ("blend_share", 0.05, 0.3),
        ("motion_level", 0.45, 0.3),
        ("diversity", 0.15, 0.2),
        ("bias", 0.0, 1.0),
    ],
    Dimension.NARRATIVE: [
        ("energy_mean", 0.2, 0.15),
        ("energy_std", 0.15, 0.2),
        ("energy_max", 0.35, 0.2),
        ("peak_position", 0.5, 0.3),
        ("energy_trend", 0.0, 0.3),
        ("energy_r", 0.0, 0.5),
        ("open_energy", 0.2, 0.2),
        ("close_energy", 0.2, 0.2),
        ("first_last_similarity", 0.4, 0.3),
        ("bias", 0.0, 1.0),
    ],
    Dimension.DISSEMINATION: [
        ("text_frame_ratio", 0.3, 0.4),
        ("text_area", 0.2, 0.3),
        ("text_y", 0.0, 0.5),
        ("static_tail", 0.1, 0.3),
        ("open_loudness", 0.5, 0.3),
        ("loudness", 0.5, 0.3),
        ("onset_rate", 0.3, 0.3),
        ("synced_cuts", 0.2, 0.4),
        ("has_audio", 0.7, 0.5),
        ("loudness_var", 0.3, 0.3),
        *[(f"loudness_{i}", 0.5, 0.3) for i in range(SCHEDULE_BINS)],
        *[(f"caption_{i}", 0.1, 0.3) for i in range(SCHEDULE_BINS)],
        ("text_excess", 0.0, 0.3),
        ("held_area", 0.05, 0.2),
        ("held_lines", 0.05, 0.2),
        ("held_lines_y", 0.0, 0.3),
        ("held_rules", 0.05, 0.2),
        ("bias", 0.0, 1.0),
        *[(f"text_{i}", 0.0, 1.0) for i in range(TEXT_COMPONENTS)],
    ],
}

FEATURE_NAMES: dict[Dimension, list[str]] = {d: [c[0] for c in _LAYOUT[d]] for d in DIMENSIONS}
FEATURE_CENTRE: dict[Dimension, np.ndarray] = {
    d: np.array([c[1] for c in _LAYOUT[d]], dtype=np.float32) for d in DIMENSIONS
}
FEATURE_SPREAD: dict[Dimension, np.ndarray] = {
    d: np.array([c[2] for c in _LAYOUT[d]], dtype=np.float32) for d in DIMENSIONS
}
FEATURE_SIZES: dict[Dimension, int] = {d: len(FEATURE_NAMES[d]) for d in DIMENSIONS}


@lru_cache(maxsize=1)
def text_projection() -> np.ndarray:
    """The fixed (TEXT_COMPONENTS, 384) Gaussian projection; rows scaled so a unit input keeps ~unit norm."""
    rng = np.random.default_rng(TEXT_SEED)
    return (rng.standard_normal((TEXT_COMPONENTS, MINILM_DIM)) / np.sqrt(TEXT_COMPONENTS)).astype(np.float32)


def reduce_text_embedding(embedding: np.ndarray | None) -> np.ndarray:
    """MiniLM embedding (384,) -> TEXT_COMPONENTS weighted components; zeros when there is no text."""
    if embedding is None:
        return np.zeros(TEXT_COMPONENTS, dtype=np.float32)
    emb = np.asarray(embedding, dtype=np.float32).ravel()
    norm = float(np.linalg.norm(emb))
    if emb.size != MINILM_DIM or norm == 0:
        raise ValueError(f"text embedding must be a non-zero {MINILM_DIM}-vector, got shape {emb.shape}")
    return (TEXT_WEIGHT * (text_projection() @ (emb / norm))).astype(np.float32)


def _clip(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return float(min(hi, max(lo, x)))


def _in(times: np.ndarray, start: float, end: float) -> np.ndarray:
    return (times >= start - 1e-6) & (times < end + 1e-6)


def _bin_edges(start: float, end: float) -> np.ndarray:
    return np.linspace(start, end, SCHEDULE_BINS + 1)


def binned_mean(
    times: np.ndarray, values: np.ndarray, start: float, end: float, stat: str = "mean"
) -> np.ndarray:
    """Mean (or ``stat="median"``) of ``values`` over each of the SCHEDULE_BINS equal parts of
    ``[start, end)``; a part without samples takes the sample nearest its centre (0 when there are none)."""
    out = np.zeros(SCHEDULE_BINS, dtype=np.float64)
    if len(times) == 0:
        return out
    edges = _bin_edges(start, end)
    for k in range(SCHEDULE_BINS):
        lo, hi = edges[k], edges[k + 1]
        sel = (times >= lo - 1e-6) & (times < hi - 1e-6)
        ok = sel & np.isfinite(values)
        if ok.any():
            out[k] = float(np.median(values[ok]) if stat == "median" else values[ok].mean())
        else:
            finite = np.flatnonzero(np.isfinite(values))
            if len(finite):
                out[k] = float(values[finite[np.argmin(np.abs(times[finite] - (lo + hi) / 2))]])
    return out


def binned_max(times: np.ndarray, values: np.ndarray, start: float, end: float) -> np.ndarray:
    """Max of ``values`` over each of the SCHEDULE_BINS equal parts of ``[start, end)`` (0 where empty)."""
    out = np.zeros(SCHEDULE_BINS, dtype=np.float64)
    edges = _bin_edges(start, end)
    for k in range(SCHEDULE_BINS):
        sel = (times > edges[k] + 1e-6) & (times < edges[k + 1] - 1e-6)
        if sel.any():
            out[k] = float(values[sel].max())
    return out


def subject_features(m: Measurements, start: float, end: float) -> np.ndarray:
    f = m.faces
    sel = _in(f.times_s, start, end)
    if not sel.any() and len(f.times_s):
        sel = np.zeros(len(f.times_s), dtype=bool)
        sel[int(np.argmin(np.abs(f.times_s - (start + end) / 2)))] = True
    count, area, cx, cy = f.count[sel], f.max_area[sel], f.cx[sel], f.cy[sel]
    if len(count) == 0:
        return np.array([0, 0, 0, 0, 0, 0, 0, 1], dtype=np.float32)
    has = count > 0
    return np.array(
        [
            has.mean(),
            _clip(count.mean() / 3),
            (count >= 2).mean(),
            np.sqrt(area.max()),
            np.sqrt(area[has]).mean() if has.any() else 0.0,
            2 * (cx[has].mean() - 0.5) if has.any() else 0.0,
            2 * (cy[has].mean() - 0.5) if has.any() else 0.0,
            1.0,
        ],
        dtype=np.float32,
    )


def _frame_sel(m: Measurements, start: float, end: float) -> np.ndarray:
    sel = _in(m.times_s, start, end)
    if not sel.any() and len(m.times_s):
        sel[int(np.argmin(np.abs(m.times_s - (start + end) / 2)))] = True
    return sel


def _thumb_sel(m: Measurements, start: float, end: float) -> np.ndarray:
    """Indices of the thumbnails inside ``[start, end]`` that have picture measurements."""
    tt = m.thumb_times_s
    if len(m.picture) != len(tt) or not len(tt):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(_in(tt, start, end))


def _seam(profiles: np.ndarray) -> float:
    """log((strongest inner line edge + 1) / (median line edge + 1)) of the window-mean edge profile."""
    if profiles.ndim != 2 or profiles.shape[1] < 3 * SEAM_MARGIN or not len(profiles):
        return 0.0
    prof = profiles.mean(axis=0)
    inner = prof[len(prof) // SEAM_MARGIN : len(prof) - len(prof) // SEAM_MARGIN]
    return _clip(float(np.log((inner.max() + 1.0) / (np.median(prof) + 1.0))), 0.0, 3.0)


def picture_layout(m: Measurements, start: float, end: float) -> list[float]:
    """seam_v, seam_h, region_sync, region_sync_min, region_spread of ``[start, end]``."""
    idx = _thumb_sel(m, start, end)
    idx = idx[idx > 0]  # the first thumbnail has no change
    if len(idx) < 3:
        return [0.0, 0.0, 1.0, 1.0, 0.0]
    pic = m.picture
    r = pic.regions[idx].astype(np.float64).T  # (cells, frames)
    spread = _clip(float(np.log((r.mean(axis=1).max() + 0.5) / (r.mean(axis=1).min() + 0.5))), 0.0, 3.0)
    centred = r - r.mean(axis=1, keepdims=True)
    sd = np.sqrt((centred**2).mean(axis=1)) + 1e-3
    corr = (centred @ centred.T) / (r.shape[1] * sd[:, None] * sd[None, :])
    pairs = corr[np.triu_indices(len(r), 1)]
    return [
        _seam(pic.col_edges[idx]),
        _seam(pic.row_edges[idx]),
        _clip(float(pairs.mean()), -1.0, 1.0),
        _clip(float(pairs.min()), -1.0, 1.0),
        spread,
    ]


def picture_blur(m: Measurements, start: float, end: float) -> list[float]:
    """blur_burst, blur_axis of ``[start, end]``."""
    idx = _thumb_sel(m, start, end)
    if len(idx) < 2:
        return [0.0, 0.0]
    ex, ey = m.picture.grad_x[idx].astype(np.float64), m.picture.grad_y[idx].astype(np.float64)
    sharp = ex + ey
    k = int(np.argmin(sharp))
    burst = float(np.log((np.median(sharp) + 0.5) / (sharp[k] + 0.5)))
    axis = abs(
        float(np.log((ex[k] + 0.3) / (ey[k] + 0.3)) - np.log((np.median(ex) + 0.3) / (np.median(ey) + 0.3)))
    )
    return [_clip(burst, 0.0, 5.0), _clip(axis, 0.0, 3.0)]


def picture_time(m: Measurements, start: float, end: float) -> list[float]:
    """spike_regularity, cut_continuity, blend_ratio, blend_share, motion_level, diversity of a window."""
    idx = _thumb_sel(m, start, end)
    regularity, continuity, ratio, share, level = 0.0, 1.0, 1.0, 0.0, 0.0
    if len(idx) >= 3 and len(m.spikes) == len(m.thumb_times_s):
        events = idx[(idx > 0) & (m.spikes[idx] > SPIKE_EVENT)]
        if len(events) >= 3:
            gaps = np.diff(m.thumb_times_s[events])
            regularity = _clip(1.0 - float(gaps.std() / max(gaps.mean(), 1e-6)))
        if len(events):
            continuity = float(m.picture.hist_sim[events].mean())
        span, blend = m.picture.span[idx], m.picture.blend[idx]
        moving = np.isfinite(span) & (span > MOVING_SPAN)
        if moving.sum() >= 3:
            r = blend[moving] / span[moving]
            ratio = _clip(float(np.median(r)), 0.0, 1.5)
            share = float((r < BLEND_FRAME).mean())
        if len(m.thumb_diffs) == len(m.thumb_times_s):
            level = _clip(float(np.log(m.thumb_diffs[idx[idx > 0]].mean() + 0.5)) / 3, -1.0, 1.0)
    frames = np.flatnonzero(_in(m.times_s, start, end))
    diversity = 0.0
    if len(frames) >= 2:
        pick = frames[np.unique(np.linspace(0, len(frames) - 1, DIVERSITY_FRAMES).round().astype(int))]
        diversity = float(
            np.mean([1.0 - m.frame_sim(int(a), int(b)) for i, a in enumerate(pick) for b in pick[i + 1 :]])
        )
    return [regularity, continuity, ratio, share, level, _clip(diversity)]


def aesthetics_features(m: Measurements, start: float, end: float) -> np.ndarray:
    c = m.colour
    sel = _frame_sel(m, start, end)
    orient = _clip(float(np.log(m.height / m.width) / np.log(16 / 9)), -1, 1)
    if not sel.any():
        return np.array(
            [0, 0, 0, 0, 0, orient, 0, 1, 0, *([0] * SCHEDULE_BINS), *picture_layout(m, start, end), 1],
            dtype=np.float32,
        )
    luma = c.luma[sel]
    return np.array(
        [
            luma.mean(),
            _clip(2 * c.luma_std[sel].mean()),
            c.saturation[sel].mean(),
            _clip(4 * c.warmth[sel].mean(), -1, 1),
            _clip(c.sharpness[sel].mean() / 4, 0, 1.5),
            orient,
            _clip(4 * luma.std()),
            (luma < LOW_KEY_LUMA).mean(),
            (luma > HIGH_KEY_LUMA).mean(),
            *np.clip(
                4 * (binned_mean(m.times_s, c.luma.astype(np.float64), start, end) - luma.mean()), -1, 1
            ),
            *picture_layout(m, start, end),
            1.0,
        ],
        dtype=np.float32,
    )


def camera_features(m: Measurements, start: float, end: float) -> np.ndarray:
    wm = window_motion(m.motion, start, end, m.motion_excluded)
    s = m.motion
    sel = s.valid & ~m.motion_excluded & (s.t0 >= start - 1e-6) & (s.t1 <= end + 1e-6)
    if sel.any():
        dt = np.maximum(s.t1[sel] - s.t0[sel], 1e-3)
        step_speed = np.hypot(s.dx[sel], s.dy[sel]) / dt + np.abs(s.log_scale[sel]) / dt
        static_ratio = float((step_speed < STATIC_STEP_SPEED).mean())
    else:
        static_ratio = 1.0
    mid = (s.t0 + s.t1) / 2
    dt_all = np.maximum(s.t1 - s.t0, 1e-3)
    usable = s.valid & ~m.motion_excluded
    zoom_rate = np.where(usable, s.log_scale / dt_all, np.nan)
    speed_rate = np.where(usable, np.hypot(s.dx, s.dy) / dt_all, np.nan)
    # Medians: one step fooled by a moving subject must not flip a part's zoom.
    zoom_bins = np.clip(binned_mean(mid, zoom_rate, start, end, "median") / 0.3, -1, 1)
    speed_bins = np.clip(binned_mean(mid, speed_rate, start, end, "median") / 0.5, 0, 1)
    px, py, z = (
        _clip(wm.dx_per_s / 0.5, -1, 1),
        _clip(wm.dy_per_s / 0.5, -1, 1),
        _clip(wm.zoom_per_s / 0.3, -1, 1),
    )
    return np.array(
        [
            px,
            py,
            z,
            abs(px),
            abs(py),
            abs(z),
            _clip(wm.jitter / 0.03),
            _clip(wm.speed / 0.5),
            static_ratio,
            *zoom_bins,
            *speed_bins,
            *picture_blur(m, start, end),
            *scale_jumps(m, start, end),
            1.0,
        ],
        dtype=np.float32,
    )


def scale_jumps(m: Measurements, start: float, end: float) -> tuple[float, float]:
    """scale_jumps and scale_jump of ``[start, end]``: steps between consecutive analysis frames whose
    similarity fit is valid (the same scene on both sides) and whose scale changes by at least
    ``SCALE_JUMP`` at once (a cut to a tighter or wider framing of the same take: a punch-in). Unlike the
    zoom components these keep the steps across transitions: that is where such a change happens."""
    s = m.motion
    sel = s.valid & (s.t0 >= start - 1e-6) & (s.t1 <= end + 1e-6) & (np.abs(s.log_scale) >= SCALE_JUMP)
    jumps = s.log_scale[sel]
    if not len(jumps):
        return 0.0, 0.0
    largest = float(jumps[np.argmax(np.abs(jumps))])
    return _clip(len(jumps) / max(end - start, 1e-6) / 2), _clip(largest / SCALE_JUMP_FULL, -1, 1)


def _inside_outside(times: np.ndarray, values: np.ndarray, start: float, end: float) -> tuple[float, float]:
    """Mean of ``values`` inside ``[start, end]`` and over the rest of the video (NaN where there is none)."""
    if len(times) == 0:
        return float("nan"), float("nan")
    inside = _in(times, start, end)
    a = float(values[inside].mean()) if inside.any() else float("nan")
    b = float(values[~inside].mean()) if (~inside).any() else float("nan")
    return a, b


def change_events(m: Measurements, start: float, end: float) -> tuple[float, np.ndarray, float]:
    """spike_rate, frozen_0..5 and change_contrast of ``[start, end]`` (see the layout table)."""
    tt, d, sp = m.thumb_times_s, m.thumb_diffs, m.spikes
    span = max(1e-6, end - start)
    if len(tt) < 2 or len(d) != len(tt) or len(sp) != len(tt):
        return 0.0, np.zeros(SCHEDULE_BINS), 0.0
    after_first = np.arange(len(tt)) > 0
    sel = _in(tt, start, end) & after_first & (tt > start + 1e-6)
    rate = _clip(float((sp[sel] > SPIKE_EVENT).sum()) / span / 3)
    frozen = np.where(after_first, (d <= FROZEN_DIFF).astype(np.float64), np.nan)
    frozen_bins = binned_mean(tt, frozen, start, end)
    inside, outside = _inside_outside(tt[after_first], d[after_first], start, end)
    contrast = 0.0
    if np.isfinite(inside) and np.isfinite(outside):
        ratio = (inside + CONTRAST_FLOOR) / (outside + CONTRAST_FLOOR)
        contrast = _clip(float(np.log2(ratio)) / 3, -1, 1)
    return rate, frozen_bins, contrast


def editing_features(m: Measurements, start: float, end: float) -> np.ndarray:
    we = window_editing(m.cuts, m.fades, m.shots, start, end, JUMP_CUT_SIMILARITY)
    span = max(1e-6, end - start)
    spike_rate, frozen_bins, contrast = change_events(m, start, end)
    return np.array(
        [
            _clip(we.cuts_per_s / 3),
            _clip(float(np.log2(max(we.mean_shot_s, 1e-3))) / 4, -1, 1),
            _clip(we.shot_cv / 1.5),
            _clip(we.min_shot_s / 4),
            _clip(we.longest_shot_s / span),
            _clip(we.n_fades / span * 5),
            we.jump_cut_ratio,
            1.0 if we.n_cuts else 0.0,
            *np.clip(binned_mean(m.times_s, m.frame_change(), start, end) / CHANGE_FULL, 0, 1),
            *np.clip(binned_max(m.thumb_times_s, m.spikes, start, end) / SPIKE_FULL, 0, 1),
            spike_rate,
            *frozen_bins,
            contrast,
            *picture_time(m, start, end),
            1.0,
        ],
        dtype=np.float32,
    )


def narrative_features(m: Measurements, start: float, end: float) -> np.ndarray:
    t_sel = (m.energy_t >= start - 1e-6) & (m.energy_t <= end + 1e-6)
    e = window_energy(m.energy_t, m.energy, start, end)
    t = m.energy_t[t_sel] if t_sel.any() else np.array([start])
    span = max(1e-6, end - start)
    slope, r = slope_and_r(t, e) if len(t) == len(e) else (0.0, 0.0)
    peak_pos = float((t[int(np.argmax(e))] - start) / span) if len(t) == len(e) else 0.5
    open_e = window_energy(m.energy_t, m.energy, start, min(end, start + 1.0)).mean()
    close_e = window_energy(m.energy_t, m.energy, max(start, end - 1.0), end).mean()
    return np.array(
        [
            e.mean(),
            _clip(2 * e.std()),
            e.max(),
            _clip(peak_pos),
            _clip(slope * span, -1, 1),
            r,
            open_e,
            close_e,
            m.window_first_last(start, end),
            1.0,
        ],
        dtype=np.float32,
    )


def synced_fraction(m: Measurements, start: float, end: float) -> tuple[float, int]:
    """Share of the cuts inside the window within SYNC_TOLERANCE_S of an audio onset, and their count."""
    cuts = np.array([c.t for c in m.cuts if start < c.t < end])
    if len(cuts) == 0 or len(m.audio.onset_times_s) == 0:
        return 0.0, len(cuts)
    gap = np.abs(cuts[:, None] - m.audio.onset_times_s[None, :]).min(axis=1)
    return float((gap <= SYNC_TOLERANCE_S).mean()), len(cuts)


def loudness_variation(m: Measurements, start: float, end: float) -> float:
    """Std (dB) of the audible part of the loudness envelope in the window: speech and bursts swing by
    10-20 dB from syllable to syllable, a steady pad or room tone by a few dB (0 without audio)."""
    a = m.audio
    if not a.present or len(a.env_db) == 0:
        return 0.0
    sel = (a.env_times_s >= start) & (a.env_times_s < end) & (a.env_db > LOUDNESS_VAR_FLOOR_DB)
    return float(np.std(a.env_db[sel])) if sel.sum() > 1 else 0.0


def text_excess(m: Measurements, start: float, end: float) -> float:
    """How much more of the frame text covers inside the window than over the rest of the video (/ TEXT_FULL):
    a caption over the hook stands out, text that is always there (watermark, subtitles, signs) does not."""
    inside, outside = _inside_outside(m.times_s, m.text.area_ratio.astype(np.float64), start, end)
    if not (np.isfinite(inside) and np.isfinite(outside)):
        return 0.0
    return _clip((inside - outside) / TEXT_FULL, -1, 1)


def held_features(m: Measurements, start: float, end: float) -> list[float]:
    """held_area, held_lines, held_lines_y, held_rules of ``[start, end]``: what is drawn over the window and
    absent from the rest of the video (``text.held_overlay``)."""
    held = held_overlay(m.text, _in(m.times_s, start, end))
    return [
        _clip(held.area / HELD_AREA_FULL),
        _clip(held.line_area / HELD_LINES_FULL),
        2 * (held.line_y - 0.5) if held.line_area > 0 else 0.0,
        _clip(held.rule_area / HELD_RULES_FULL),
    ]


def dissemination_features(m: Measurements, start: float, end: float, text: np.ndarray) -> np.ndarray:
    sel = _frame_sel(m, start, end)
    area = m.text.area_ratio[sel]
    has_text = area >= TEXT_MIN_AREA
    tail = max(0.0, min(end, m.duration_s) - max(start, m.tail_start_s)) if m.tail_static_s > 0 else 0.0
    open_db = m.audio.loudness_db(start, min(end, start + 1.0))
    db = m.audio.loudness_db(start, end)
    synced, _ = synced_fraction(m, start, end)
    core = [
        has_text.mean() if len(area) else 0.0,
        _clip(area.mean() / 0.1) if len(area) else 0.0,
        2 * (m.text.y_centre[sel][has_text].mean() - 0.5) if has_text.any() else 0.0,
        _clip(tail / 3),
        _clip((open_db + 60) / 60),
        _clip((db + 60) / 60),
        _clip(m.audio.onset_rate(start, end) / 4),
        synced,
        1.0 if m.audio.present else 0.0,
        _clip(loudness_variation(m, start, end) / LOUDNESS_VAR_FULL_DB),
        *[
            _clip((m.audio.loudness_db(a, b) + 60) / 60)
            for a, b in itertools.pairwise(_bin_edges(start, end))
        ],
        *np.clip(binned_mean(m.times_s, m.text.area_ratio.astype(np.float64), start, end) / TEXT_FULL, 0, 1),
        text_excess(m, start, end),
        *held_features(m, start, end),
        1.0,
    ]
    return np.concatenate([np.array(core, dtype=np.float32), text.astype(np.float32)])


def window_features(
    m: Measurements, start: float, end: float, text: np.ndarray | None = None
) -> dict[Dimension, np.ndarray]:
    """All six raw feature vectors for ``[start, end]`` (layouts as in FEATURE_NAMES)."""
    text_part = text if text is not None else np.zeros(TEXT_COMPONENTS, dtype=np.float32)
    out = {
        Dimension.SUBJECT: subject_features(m, start, end),
        Dimension.AESTHETICS: aesthetics_features(m, start, end),
        Dimension.CAMERA: camera_features(m, start, end),
        Dimension.EDITING: editing_features(m, start, end),
        Dimension.NARRATIVE: narrative_features(m, start, end),
        Dimension.DISSEMINATION: dissemination_features(m, start, end, text_part),
    }
    for dim, vec in out.items():
        if vec.shape != (FEATURE_SIZES[dim],):
            raise AssertionError(
                f"{dim.value} features have shape {vec.shape}, layout says {FEATURE_SIZES[dim]}"
            )
        out[dim] = np.nan_to_num(vec, nan=0.0, posinf=1.0, neginf=-1.0).astype(np.float32)
    return out
