"""The real-footage hook benchmark: real videos re-cut into known opening styles, a fixed source-disjoint
split, and two baselines scored the same way as the encoder.

The renderer (``render``) is ffmpeg filter graphs driven from here; it shares no code, constant or threshold
with the encoder, so a style the encoder finds is a style the footage shows, not one the encoder assumed.
The baselines (``baselines``) are small and self-contained for the same reason. Scoring and the command
(``sv6d eval-hooks --real``) live with the CLI, which is the layer allowed to use the encoder and the index.
"""

from sv6d.hookbench.render import RENDER_VERSION, STYLES, RenderedClip, render_benchmark
from sv6d.hookbench.split import Split, load_split

__all__ = ["RENDER_VERSION", "STYLES", "RenderedClip", "Split", "load_split", "render_benchmark"]
