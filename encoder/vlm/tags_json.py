"""Optional SV6D tag generation by the VLM: ask for JSON, keep only entries the vocabulary accepts.

The model answers ``{"tags": [{"label", "start_s", "end_s", "confidence", "evidence": {...}}]}``. Every
entry is checked against the controlled vocabulary (known label, the evidence keys its definition requires,
finite numbers) and the video's duration; entries that fail are dropped and counted, never stored.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sv6d.errors import VocabularyError
from sv6d.record import Tag, make_tag
from sv6d.vocabulary import default_vocabulary

if TYPE_CHECKING:
    from encoder.types import DecodedVideo
    from encoder.vlm.backbone import VLMBackbone

DURATION_SLACK_S = 0.25


@dataclass
class ParseReport:
    """Why entries were dropped (reason -> count); ``total`` counts every entry the model produced."""

    total: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    @property
    def num_dropped(self) -> int:
        return sum(self.dropped.values())


def tag_prompt() -> str:
    """The instruction listing every label with its definition and required evidence."""
    vocab = default_vocabulary()
    lines = [
        f"- {s.label} ({s.dimension.value}): {s.definition} evidence: {', '.join(s.evidence)}"
        for s in vocab.labels.values()
    ]
    return (
        "List the SV6D tags of this video as JSON: "
        '{"tags": [{"label": str, "start_s": float, "end_s": float, "confidence": float, '
        '"evidence": {key: number}}]}. Use only these labels:\n' + "\n".join(lines)
    )


def _extract_json(text: str) -> Any:
    """The first JSON object or array in ``text`` (models often wrap it in prose or ``` fences)."""
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, flags=re.DOTALL)
    if fenced:
        text = fenced.group(1)
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "[{":
            try:
                return decoder.raw_decode(text[i:])[0]
            except json.JSONDecodeError:
                continue
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def parse_tags(text: str, duration_s: float) -> tuple[list[Tag], ParseReport]:
    """Valid tags from a model answer, and a report counting what was dropped and why."""
    report = ParseReport()
    doc = _extract_json(text)
    entries = doc.get("tags") if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        report.drop("no_json")
        return [], report
    vocab = default_vocabulary()
    tags: list[Tag] = []
    seen: set[tuple[str, float, float]] = set()
    for entry in entries:
        report.total += 1
        if not isinstance(entry, dict):
            report.drop("not_an_object")
            continue
        label = entry.get("label")
        if not isinstance(label, str) or label not in vocab.labels:
            report.drop("unknown_label")
            continue
        start, end = _number(entry.get("start_s")), _number(entry.get("end_s"))
        if start is None or end is None or start < 0 or end < start:
            report.drop("bad_window")
            continue
        if end > duration_s + DURATION_SLACK_S:
            report.drop("beyond_duration")
            continue
        conf = _number(entry.get("confidence", 0.5))
        if conf is None or not 0 <= conf <= 1:
            report.drop("bad_confidence")
            continue
        raw_ev = entry.get("evidence")
        evidence: dict[str, float | int | str | bool] = {}
        if isinstance(raw_ev, dict):
            evidence = {str(k): v for k, v in raw_ev.items() if _number(v) is not None}
        try:
            tag = make_tag(label, start, min(end, duration_s), conf, {**evidence, "source": "vlm"})
        except (VocabularyError, ValueError):
            tag = None
        if tag is None:
            report.drop("missing_evidence")
            continue
        key = (tag.label, tag.start_s, tag.end_s)
        if key in seen:
            report.drop("duplicate")
            continue
        seen.add(key)
        tags.append(tag)
    return tags, report


def generate_tags(
    backbone: VLMBackbone, decoded: DecodedVideo, max_new_tokens: int = 512
) -> tuple[list[Tag], ParseReport]:
    """Ask the model for tags (a separate generate call, greedy) in its own chat turn: the tag instruction
    and the video as the user's turn, the answer generated from the assistant's opening; then validate it."""
    import torch

    from encoder.vlm.preprocess import patch_step_s

    patched = backbone.sample(decoded)
    _, gh, gw = patched.grid_thw
    before, after = backbone.turn_ids(tag_prompt() + "\n")
    layout = backbone._builder.build(
        (gh, gw), patched.tokens_per_patch, patched.patch_times_s.mean(axis=1), [], before, after
    )
    ids = layout.input_ids
    dev = backbone.device
    inputs: dict[str, Any] = {
        "input_ids": torch.tensor([ids], device=dev),
        "attention_mask": torch.ones((1, len(ids)), dtype=torch.long, device=dev),
        "mm_token_type_ids": torch.tensor([layout.mm_token_type_ids], dtype=torch.int, device=dev),
        "pixel_values_videos": torch.from_numpy(patched.pixel_values).to(dev, backbone.dtype),
        "video_grid_thw": torch.tensor(layout.grid_rows, dtype=torch.long, device=dev),
    }
    if backbone.model_type == "qwen2_5_vl":
        step = patch_step_s(patched.patch_times_s, backbone.fps)
        inputs["second_per_grid_ts"] = torch.full((len(layout.grid_rows),), step, device=dev)
    with torch.inference_mode():
        model: Any = backbone.model
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    answer = str(backbone.tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True))
    return parse_tags(answer, float(decoded.info.duration_s))
