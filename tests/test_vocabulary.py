from __future__ import annotations

from pathlib import Path

import pytest

from sv6d.dimensions import DIMENSIONS
from sv6d.errors import VocabularyError
from sv6d.vocabulary import default_vocabulary, load_vocabulary


def test_every_dimension_has_labels_with_definitions_and_evidence() -> None:
    vocab = default_vocabulary()
    assert vocab.version >= 1
    for dim in DIMENSIONS:
        specs = vocab.for_dimension(dim)
        assert specs, f"no labels for {dim}"
        for s in specs:
            assert s.definition.strip()
            assert s.evidence


def test_design_example_labels_exist() -> None:
    vocab = default_vocabulary()
    for label in [
        "face_present",
        "low_key",
        "push_in",
        "hard_cut",
        "cold_open",
        "text_overlay",
        "loop_ending",
    ]:
        assert vocab.spec(label).label == label


def test_label_in_wrong_dimension() -> None:
    with pytest.raises(VocabularyError, match="belongs to dimension 'editing'"):
        default_vocabulary().spec("hard_cut", "camera")


def test_label_without_evidence_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "v.toml"
    bad.write_text('version = 1\n[labels.x]\ndimension = "editing"\ndefinition = "d"\nevidence = []\n')
    with pytest.raises(VocabularyError, match="names no evidence"):
        load_vocabulary(bad)
