"""Transitions (hard cuts, fades, dissolves) and shots from the every-frame thumbnails of a decoded video.

One module per detector, each with its own frozen config (``config``), composed by ``TransitionConfig``:

- ``stats``: per-thumbnail statistics every detector reads (``ThumbStats``; ``ThumbStatsStream`` computes
  them while the video decodes);
- ``layout``: the motion-compensated tile comparison (layout change) that cuts and dissolves share;
- ``cuts``: hard cuts (``CutConfig``), PySceneDetect's ContentDetector score with our decision on top;
- ``fades``: fades to and from black or white, and flash cuts (``FadeConfig``);
- ``dissolves``: blends of one shot into the next (``DissolveConfig``);
- ``ramp``: the clamped linear ramp fit that narrows fades and dissolves to their changing frames;
- ``detect``: ``detect_transitions`` (the detectors together) and ``shots_from_transitions``.
"""

from encoder.transitions.config import CutConfig, DissolveConfig, FadeConfig, TransitionConfig
from encoder.transitions.detect import detect_transitions, shots_from_transitions
from encoder.transitions.stats import ThumbStats, ThumbStatsStream, thumb_stats

__all__ = [
    "CutConfig",
    "DissolveConfig",
    "FadeConfig",
    "ThumbStats",
    "ThumbStatsStream",
    "TransitionConfig",
    "detect_transitions",
    "shots_from_transitions",
    "thumb_stats",
]
