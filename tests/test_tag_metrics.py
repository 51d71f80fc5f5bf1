"""The tag metric on hand-built cases."""

from __future__ import annotations

import pytest

from sv6d.synth.truth import TruthTag
from sv6d.tag_metrics import evaluate_tags, match_windows, temporal_iou


def T(label: str, start: float, end: float, dim: str = "editing") -> TruthTag:
    return TruthTag(dim, label, start, end)


def test_perfect_match_scores_one_everywhere() -> None:
    truth = [[T("hard_cut", 0.9, 1.1), T("static", 0, 3, "camera")], [T("fade", 2, 3)]]
    m = evaluate_tags(truth, truth).to_json()
    assert m["overall"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "tp": 3, "fp": 0, "fn": 0}
    assert m["dimensions"]["camera"]["tp"] == 1
    assert m["dimensions"]["editing"]["tp"] == 2
    assert m["labels"]["fade"]["f1"] == 1.0
    assert set(m["dimensions"]) == {
        "subject",
        "aesthetics",
        "camera",
        "editing",
        "narrative",
        "dissemination",
    }


@pytest.mark.parametrize(
    ("shift", "matched"),
    [(0.0, True), (1.0, True), (1.3, True), (1.34, False), (2.0, False)],
)
def test_shifted_window_matches_only_at_iou_half_or_more(shift: float, matched: bool) -> None:
    # windows of length 4: IoU = (4 - s) / (4 + s) >= 0.5  <=>  s <= 4/3
    m = evaluate_tags([[T("long_take", shift, 4 + shift)]], [[T("long_take", 0, 4)]])
    assert (m.overall.tp, m.overall.fp, m.overall.fn) == ((1, 0, 0) if matched else (0, 1, 1))


def test_iou_values() -> None:
    assert temporal_iou((0, 4), (2, 6)) == pytest.approx(2 / 6)
    assert temporal_iou((0, 1), (2, 3)) == 0.0
    assert temporal_iou((1, 1), (1, 1)) == 1.0


def test_duplicate_prediction_is_one_tp_and_one_fp() -> None:
    m = evaluate_tags([[T("hard_cut", 0.9, 1.1), T("hard_cut", 0.92, 1.12)]], [[T("hard_cut", 0.9, 1.1)]])
    assert (m.overall.tp, m.overall.fp, m.overall.fn) == (1, 1, 0)
    assert m.overall.precision == 0.5
    assert m.overall.recall == 1.0


def test_hungarian_beats_greedy() -> None:
    # Greedy by best IoU pairs p0 with t0 (0.9) and leaves p1 nothing above 0.5; the assignment finds 2 pairs.
    pred = [(0.0, 9.0), (4.5, 10.0)]
    truth = [(0.0, 10.0), (0.0, 5.4)]
    assert temporal_iou(pred[0], truth[0]) == pytest.approx(0.9)
    assert temporal_iou(pred[1], truth[1]) < 0.5
    c = match_windows(pred, truth)
    assert (c.tp, c.fp, c.fn) == (2, 0, 0)


def test_different_labels_never_match() -> None:
    m = evaluate_tags([[T("pan_left", 0, 3, "camera")]], [[T("pan_right", 0, 3, "camera")]])
    assert (m.overall.tp, m.overall.fp, m.overall.fn) == (0, 1, 1)
    assert m.labels["pan_left"].fp == 1
    assert m.labels["pan_right"].fn == 1


def test_empty_inputs_follow_the_documented_definitions() -> None:
    both_empty = evaluate_tags([[]], [[]])
    assert both_empty.overall.precision == 1.0
    assert both_empty.overall.recall == 1.0
    assert both_empty.overall.f1 == 1.0
    no_pred = evaluate_tags([[]], [[T("fade", 1, 2)]])
    assert (no_pred.overall.precision, no_pred.overall.recall, no_pred.overall.f1) == (1.0, 0.0, 0.0)
    no_truth = evaluate_tags([[T("fade", 1, 2)]], [[]])
    assert (no_truth.overall.precision, no_truth.overall.recall, no_truth.overall.f1) == (0.0, 1.0, 0.0)
    assert evaluate_tags([], []).overall.tp == 0


def test_labels_restrict_scoring_on_both_sides() -> None:
    pred = [[T("face_present", 0, 3, "subject"), T("fade", 1, 2)]]
    truth = [[T("fade", 1, 2), T("energy_peak", 1, 1.2, "narrative")]]
    m = evaluate_tags(pred, truth, labels={"fade"})
    assert (m.overall.tp, m.overall.fp, m.overall.fn) == (1, 0, 0)
    assert "face_present" not in m.labels


def test_videos_are_matched_separately() -> None:
    m = evaluate_tags([[T("fade", 1, 2)], []], [[], [T("fade", 1, 2)]])
    assert (m.overall.tp, m.overall.fp, m.overall.fn) == (0, 1, 1)


def test_mismatched_video_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="same videos: got 2 and 1"):
        evaluate_tags([[], []], [[]])
