"""The tag parser: model answers are validated against the vocabulary and the duration."""

from __future__ import annotations

import json

from encoder.vlm.tags_json import parse_tags, tag_prompt


def _cut(t: float, **over: object) -> dict:
    entry: dict = {
        "label": "hard_cut",
        "start_s": t,
        "end_s": t,
        "confidence": 0.9,
        "evidence": {"content_delta": 0.7, "cut_at_s": t},
    }
    entry.update(over)
    return entry


def test_valid_entries_kept_invalid_dropped_and_counted():
    entries = [
        _cut(1.5),
        {"label": "not_a_label", "start_s": 0, "end_s": 1, "confidence": 0.5},
        _cut(30.0),
        _cut(2.0, end_s=1.0),
        _cut(3.0, evidence={"content_delta": 0.7}),
        _cut(3.0, confidence=1.7),
        "junk",
        _cut(1.5),
    ]
    answer = "Sure! Here are the tags:\n```json\n" + json.dumps({"tags": entries}) + "\n```"
    tags, report = parse_tags(answer, duration_s=10.0)
    assert len(tags) == 1
    tag = tags[0]
    assert tag.label == "hard_cut"
    assert tag.dimension.value == "editing"
    assert (tag.start_s, tag.end_s) == (1.4, 1.6)  # an event becomes a window of the vocabulary's half-width
    assert tag.evidence["source"] == "vlm"
    assert report.total == 8
    assert report.num_dropped == 7
    assert report.dropped == {
        "unknown_label": 1,
        "beyond_duration": 1,
        "bad_window": 1,
        "missing_evidence": 1,
        "bad_confidence": 1,
        "not_an_object": 1,
        "duplicate": 1,
    }


def test_no_json_is_counted():
    tags, report = parse_tags("I cannot see any video.", duration_s=5.0)
    assert tags == []
    assert report.dropped == {"no_json": 1}


def test_bare_list_and_window_label():
    answer = (
        '[{"label": "vertical_frame", "start_s": 0, "end_s": 5.1, "confidence": 1,'
        ' "evidence": {"aspect_ratio": 0.56}},'
        ' {"label": "vertical_frame", "start_s": 0, "end_s": 4, "confidence": 1,'
        ' "evidence": {"aspect": 0.56}}]'
    )
    tags, report = parse_tags(answer, duration_s=5.0)
    assert len(tags) == 1
    assert tags[0].end_s == 5.0  # clipped to the duration, within the slack
    assert tags[0].evidence["aspect_ratio"] == 0.56
    assert report.dropped == {"missing_evidence": 1}


def test_prompt_lists_every_label():
    from sv6d.vocabulary import default_vocabulary

    prompt = tag_prompt()
    for label in default_vocabulary().labels:
        assert f"- {label} (" in prompt
