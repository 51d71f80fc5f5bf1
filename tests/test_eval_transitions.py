"""Transition scores of the generated-corpus evaluation (``sv6d eval-tags``'s ``cuts``, ``hard_cuts`` and
``gradual``), from tags as records and the generator's truth carry them."""

from __future__ import annotations

import pytest

from cli.evaluation import transition_scores
from sv6d.synth.truth import TruthTag

FPS = 25.0


def _cut(t: float) -> TruthTag:
    return TruthTag("editing", "hard_cut", t - 0.1, t + 0.1)


def _fade(a: float, b: float) -> TruthTag:
    return TruthTag("editing", "fade", a, b)


def test_cuts_match_within_two_frames_and_fades_by_overlap() -> None:
    truth = [_cut(1.0), _cut(2.0), _fade(3.0, 3.6), _pan()]
    predicted = [_cut(1.0 + 2 / FPS), _cut(2.0 + 3 / FPS), _fade(3.5, 3.9), _fade(5.0, 5.4)]
    scores = transition_scores(predicted, truth, FPS)
    assert (scores["hard_cuts"].tp, scores["hard_cuts"].fp, scores["hard_cuts"].fn) == (1, 1, 1)
    assert (scores["gradual"].tp, scores["gradual"].fp, scores["gradual"].fn) == (1, 1, 0)
    together = scores["cuts"]
    assert (together.tp, together.fp, together.fn) == (2, 2, 1)
    assert together.f1 == pytest.approx(2 * 2 / (2 * 2 + 2 + 1))


def test_a_cut_reported_at_a_fade_is_a_false_positive_and_a_miss() -> None:
    scores = transition_scores([_cut(3.3)], [_fade(3.0, 3.6)], FPS)
    assert (scores["cuts"].tp, scores["cuts"].fp, scores["cuts"].fn) == (0, 1, 1)
    assert scores["gradual"].recall == 0.0
    assert scores["hard_cuts"].precision == 0.0


def _pan() -> TruthTag:
    # labels other than hard_cut and fade are not transitions
    return TruthTag("camera", "pan_left", 0.0, 4.0)
