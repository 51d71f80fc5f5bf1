"""Training labels from the generated corpus's truth: dominant label per window, ubiquitous labels ignored,
archetype fallback for a dimension without informative labels."""

from __future__ import annotations

import pytest

from encoder.contrastive.labels import NONE, LabelSource, assign_labels, coverage
from sv6d.dimensions import Dimension
from sv6d.synth import TruthTag


def _t(dim: str, label: str, a: float, b: float) -> TruthTag:
    return TruthTag(dim, label, a, b)


def test_coverage_is_the_union_of_tag_windows_clipped_to_the_window():
    truth = [
        _t("camera", "static", 0.0, 2.0),
        _t("camera", "static", 1.5, 4.0),
        _t("camera", "pan_left", 4.0, 9.0),
        _t("editing", "hard_cut", 1.9, 2.1),
    ]
    cov = coverage(truth, Dimension.CAMERA, 0.0, 3.0)
    assert cov == pytest.approx({"static": 3.0})
    assert coverage(truth, Dimension.CAMERA, 0.0, 10.0) == pytest.approx({"static": 4.0, "pan_left": 5.0})


def test_dominant_label_ubiquitous_ignored_and_archetype_fallback():
    def src(camera: str, seconds: float, arche: str) -> LabelSource:
        truth = [
            _t("subject", "no_person", 0.0, 10.0),  # on every video: carries no information
            _t("camera", camera, 0.0, seconds),
            _t("camera", "tilt_up", seconds, 10.0),
        ]
        return LabelSource(truth, 0.0, 10.0, arche)

    sources = [src("static", 8.0, "loop_static"), src("pan_left", 2.0, "pan_reveal"), src("static", 5.0, "x")]
    labels = assign_labels(sources)
    # tilt_up is on every video (ubiquitous): pan_left wins the second video although it covers less time
    assert [lab[Dimension.CAMERA] for lab in labels] == ["static", "pan_left", "static"]
    assert [lab[Dimension.SUBJECT] for lab in labels] == ["loop_static", "pan_reveal", "x"]
    assert labels[0][Dimension.EDITING] == "loop_static"  # no editing tags anywhere: archetype fallback


def test_ties_go_to_the_rarer_label():
    def src(parts: list[tuple[str, float, float]]) -> LabelSource:
        return LabelSource([_t("camera", lab, a, b) for lab, a, b in parts], 0.0, 4.0, "a")

    sources = [
        src([("static", 0, 2), ("pan_right", 2, 4)]),
        src([("static", 0, 4)]),
        src([("pan_left", 0, 4)]),
    ]
    assert assign_labels(sources)[0][Dimension.CAMERA] == "pan_right"


def test_samples_without_informative_tags_get_none():
    sources = [
        LabelSource([_t("editing", "fast_rhythm", 0, 3)], 0.0, 3.0, "a"),
        LabelSource([_t("editing", "long_take", 0, 3)], 0.0, 3.0, "a"),
        LabelSource([_t("editing", "long_take", 5, 9)], 0.0, 3.0, "b"),
    ]
    assert [lab[Dimension.EDITING] for lab in assign_labels(sources)] == ["fast_rhythm", "long_take", NONE]
