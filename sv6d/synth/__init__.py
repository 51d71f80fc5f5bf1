"""A generated video corpus with known structure (ground-truth tags), and a re-cutter for real footage.

Public API:
- ``sample_spec(archetype, rng, ...) -> VideoSpec`` and ``ARCHETYPES``: seeded specs whose hook follows an
  archetype;
- ``generate_video(spec, path)``: render a spec to mp4 (h264 + AAC);
- ``truth_tags(spec) -> list[TruthTag]`` and ``TRUTH_LABELS``: ground truth per ``docs/conventions.md``;
- ``generate_corpus(out_dir, n, seed, workers)``, ``default_corpus(data_dir)``, ``read_manifest(dir)``;
- ``recut(src_path, out_path, opening, rng)`` and ``OPENINGS``: real footage re-cut with a chosen opening.
"""

from __future__ import annotations

from sv6d.synth.archetypes import ARCHETYPE_DESCRIPTIONS, ARCHETYPES, Archetype, sample_spec
from sv6d.synth.corpus import ManifestEntry, default_corpus, generate_corpus, read_manifest
from sv6d.synth.recut import OPENINGS, Opening, recut
from sv6d.synth.render import generate_video
from sv6d.synth.spec import VideoSpec
from sv6d.synth.truth import TRUTH_LABELS, TruthTag, truth_tags

__all__ = [
    "ARCHETYPES",
    "ARCHETYPE_DESCRIPTIONS",
    "TRUTH_LABELS",
    "Archetype",
    "ManifestEntry",
    "OPENINGS",
    "Opening",
    "TruthTag",
    "VideoSpec",
    "default_corpus",
    "generate_corpus",
    "generate_video",
    "read_manifest",
    "recut",
    "sample_spec",
    "truth_tags",
]
