"""Thresholds of the transition detectors: one frozen config per detector, composed by ``TransitionConfig``.

Luma levels are on 0..255; layout changes are 1 - median tile ZNCC (0..2, ``encoder.transitions.layout``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CutConfig:
    """Thresholds of the hard-cut detector (``encoder.transitions.cuts``).

    ``threshold`` is PySceneDetect ContentDetector's (its default, 27). ``min_edge_delta``: least edge-map
    change (mean over 0/255 edge maps) for a cut; layouts that do not move are recolourings, not cuts.
    ``min_shot_s``: cuts closer than this keep the strongest. ``min_layout_change``: least motion-compensated
    layout change that may replace the edge-map test (when it also stands out). Adaptive cuts (palettes too
    close for ``threshold``) need a content score of ``adaptive_min_content`` (AdaptiveDetector's
    ``min_content_val``), a layout change of ``adaptive_min_change`` and ``adaptive_margin`` above the median
    change of the ``adaptive_window`` frames on each side.

    Every cut's layout change must be ``layout_standout`` x the median of its neighbours' (frames whose
    content score is under ``repeat_content`` between two of twice that are repeats and left out).
    Monochrome steps (both frames grey: mean saturation under ``mono_saturation``, or mean chroma under
    ``mono_chroma`` on a frame not darker than the fades' ``black_level``) may also cut on a luma change of
    ``mono_min_luma`` that is ``mono_luma_ratio`` x the mean of the two frames on each side, with a layout
    change of at least ``mono_min_layout_change``, spread over ``mono_min_spread`` of the frame's horizontal
    strips.

    No cut without a mean RGB change of ``min_rgb_step``; a spike of mean RGB change of ``spike_min_rgb``,
    ``spike_ratio`` x the median of its neighbours', is a cut when its layout change reaches
    ``min_layout_change`` and stands out. ``overlay_cuts``: also look past a caption band that stays across
    a cut (the upper quartile of the tile changes).
    """

    threshold: float = 27.0
    min_edge_delta: float = 10.0
    min_layout_change: float = 0.15
    adaptive_min_content: float = 15.0
    adaptive_min_change: float = 0.5
    adaptive_margin: float = 0.4
    adaptive_window: int = 6
    min_shot_s: float = 0.4
    min_rgb_step: float = 2.0
    spike_min_rgb: float = 20.0
    spike_ratio: float = 4.0
    layout_standout: float = 5.0
    repeat_content: float = 1.0
    mono_saturation: float = 8.0
    mono_chroma: float = 4.0
    mono_min_luma: float = 8.0
    mono_luma_ratio: float = 3.0
    mono_min_layout_change: float = 0.03
    mono_min_spread: float = 0.5
    overlay_cuts: bool = True


@dataclass(frozen=True)
class FadeConfig:
    """Thresholds of the fade detector (``encoder.transitions.fades``).

    The luma ramp must swing at least ``min_swing`` over at least ``min_frames`` frames and end (or start) on
    a flat frame darker than ``black_level`` or brighter than ``white_level`` whose luma spread is below
    ``flat_std``. A ramp from a picture to pure black (or white: within ``pure_level``) is a fade on a swing
    of ``full_fraction`` of the way, at least ``min_dark_swing``. The ramp is a run of luma steps over
    ``step_eps`` one way, with at most ``max_stall`` flat steps inside.
    """

    min_swing: float = 32.0
    min_dark_swing: float = 12.0
    full_fraction: float = 0.75
    pure_level: float = 6.0
    min_frames: int = 4
    step_eps: float = 0.25
    max_stall: int = 1
    black_level: float = 24.0
    white_level: float = 228.0
    flat_std: float = 16.0


@dataclass(frozen=True)
class DissolveConfig:
    """Thresholds of the dissolve detector (``encoder.transitions.dissolves``).

    Windows of ``window_s`` (scaled by ``dissolves.DISSOLVE_WINDOWS``) whose ends are at least ``min_delta``
    apart (mean RGB), with no RGB step over ``max_step`` of that, ends correlated at most
    ``max_correlation``, a middle frame that is a blend of the ends with a residual of at most
    ``max_residual`` (relative to their difference), and ends that are not one picture moved (layout change
    of at least ``min_layout_change``). ``moving``: also try the blend on blurred and motion-compensated
    ends (shots that move).
    """

    window_s: float = 0.5
    min_delta: float = 20.0
    max_residual: float = 0.3
    max_step: float = 0.5
    max_correlation: float = 0.9
    moving: bool = True
    min_layout_change: float = 0.5


@dataclass(frozen=True)
class TransitionConfig:
    """Every detector's config: what ``detect_transitions`` (and ``Encoder``) takes. ``dissolves=None``
    detects no dissolves."""

    cuts: CutConfig = field(default_factory=CutConfig)
    fades: FadeConfig = field(default_factory=FadeConfig)
    dissolves: DissolveConfig | None = field(default_factory=DissolveConfig)
