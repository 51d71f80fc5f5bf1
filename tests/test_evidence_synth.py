"""The evidence backbone against the generated corpus's ground truth (tag metric as in SV6D's objective)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encoder.pipeline import Encoder
from sv6d.synth import ARCHETYPES, TRUTH_LABELS, generate_video, sample_spec, truth_tags
from sv6d.tag_metrics import evaluate_tags

# The targets of issue 2: tag F1 >= 0.9 and cut F1 = 1.0 on generated videos. This 12-video sample measured
# tag F1 0.974 and cut F1 1.0 (shots.py with layout-change cuts and flash cuts; evidence backbone 0b23c2f).
MIN_TAG_F1 = 0.9
MIN_CUT_F1 = 1.0


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
