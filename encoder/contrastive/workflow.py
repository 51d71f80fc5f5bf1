"""CLI glue: fill the feature cache, read labelled features back, re-project records with new heads.

Two corpora fill the cache: the generated video corpus (``sv6d.synth``; ``encode_entries``), used by the CLI,
and the numpy corpus (``encoder.contrastive.corpus``; ``fill_cache``), used only where tests need speed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from encoder.contrastive.cache import FeatureCache
from encoder.contrastive.corpus import GeneratedVideo
from encoder.contrastive.labels import NONE, LabelSource, assign_labels
from encoder.contrastive.train import LabelledFeatures
from encoder.heads import project_block, style_profile
from encoder.types import BackboneOutput, WindowFeatures
from sv6d.dimensions import DIMENSIONS
from sv6d.errors import ConfigError
from sv6d.record import EncoderInfo, Segment, SV6DRecord


def fill_cache(backbone, corpus: Iterable[GeneratedVideo], cache: FeatureCache, hook_s: float = 3.0) -> int:  # type: ignore[no-untyped-def]
    """Encode every generated video not yet cached; labels and identity go into each entry's metadata."""
    added = 0
    for g in corpus:
        if g.video_id in cache:
            continue
        out = backbone.encode(g.decoded, [], g.shots, (0.0, hook_s))
        info = g.decoded.info
        meta = {
            "labels": {d.value: v for d, v in g.labels.items()},
            "source": info.path,
            "duration_s": info.duration_s,
            "fps": info.fps,
            "width": info.width,
            "height": info.height,
            "hook_window": [0.0, hook_s],
            "backbone": backbone.name,
            "backbone_version": backbone.version,
        }
        cache.put(g.video_id, out, meta)
        added += 1
    return added


def encode_entries(  # type: ignore[no-untyped-def]
    backbone,
    entries: Iterable[Any],
    cache: FeatureCache,
    hook_s: float = 3.0,
) -> int:
    """Encode every generated-corpus video (``sv6d.synth.read_manifest`` entries) not yet in ``cache``.

    Decoding and shot detection are the encoder's own (``encoder.decode``, ``encoder.transitions``), so cached
    features are exactly what ``sv6d encode`` would project. The entry's archetype and true tags, the
    backbone's tags and the record identity go into the metadata, so labels can be re-derived and records
    rebuilt without running the backbone again.
    """
    import dataclasses

    from encoder.decode import decode
    from encoder.pipeline import decode_config_for
    from encoder.transitions import detect_transitions, shots_from_transitions

    config = dataclasses.replace(decode_config_for(backbone), min_duration_s=hook_s)
    added = 0
    for e in entries:
        if e.video_id in cache:
            continue
        decoded = decode(e.path, config)
        info = decoded.info
        transitions = detect_transitions(decoded)
        shots = shots_from_transitions(transitions, info.duration_s)
        hook = (0.0, min(hook_s, info.duration_s))
        out = backbone.encode(decoded, transitions, shots, hook)
        meta = {
            "archetype": e.archetype,
            "truth": [t.to_dict() for t in e.truth],
            "tags": [t.model_dump(mode="json") for t in out.tags],
            "source": str(e.path),
            "duration_s": info.duration_s,
            "fps": info.fps,
            "width": info.width,
            "height": info.height,
            "hook_window": list(hook),
            "backbone": backbone.name,
            "backbone_version": backbone.version,
        }
        cache.put(e.video_id, out, meta)
        added += 1
    return added


def _window(level: str, out: BackboneOutput) -> WindowFeatures:
    if level not in ("video", "hook"):
        raise ConfigError(f"feature level must be 'video' or 'hook', got {level!r}")
    return out.hook if level == "hook" else out.video


def labelled_splits(
    cache: FeatureCache, splits: Mapping[str, Sequence[str]], level: str = "video"
) -> dict[str, LabelledFeatures]:
    """{split: {dimension: (features (n, f), labels)}} for ``level`` ("video" or "hook").

    Cached generated-corpus entries (metadata with ``truth``) are labelled by
    ``encoder.contrastive.labels.assign_labels`` over the union of all splits (one rule for train and test);
    entries of the numpy corpus carry their labels in the metadata (``labels``).
    """
    ids = [vid for part in splits.values() for vid in part]
    rows, sources, stored = [], [], []
    for vid in ids:
        out, meta = cache.get(vid)
        w = _window(level, out)
        rows.append(w.features)
        if "truth" in meta:
            truth = [SimpleNamespace(**t) for t in meta["truth"]]
            sources.append(LabelSource(truth, w.start_s, w.end_s, str(meta.get("archetype", NONE))))
        elif "labels" in meta:
            stored.append(meta["labels"])
        else:
            raise ConfigError(f"feature cache {cache.dir}: video {vid!r} has neither truth nor labels")
    if sources and stored:
        raise ConfigError(f"feature cache {cache.dir}: mixes generated-corpus and numpy-corpus entries")
    if sources:
        labels = [{d.value: lab for d, lab in a.items()} for a in assign_labels(sources)]
    else:
        labels = stored
    result: dict[str, LabelledFeatures] = {}
    at = 0
    for name, part in splits.items():
        sl = slice(at, at + len(part))
        at += len(part)
        result[name] = {
            d: (
                np.stack([r[d] for r in rows[sl]]) if part else np.zeros((0, 0), np.float32),
                [lab[d.value] for lab in labels[sl]],
            )
            for d in DIMENSIONS
        }
    return result


def labelled(cache: FeatureCache, ids: Sequence[str], level: str = "video") -> LabelledFeatures:
    """{dimension: (features (n, f), labels)} of ``ids`` (labels as ``labelled_splits`` gives them)."""
    return labelled_splits(cache, {"all": ids}, level)["all"]


def merge(*parts: LabelledFeatures) -> LabelledFeatures:
    """Concatenate labelled features (e.g. video and hook samples, so one head serves both levels)."""
    return {
        d: (np.concatenate([p[d][0] for p in parts]), [lab for p in parts for lab in p[d][1]])
        for d in DIMENSIONS
    }


def reproject(cache: FeatureCache, heads: Any, out_path: str | Path | None = None) -> list[SV6DRecord]:
    """Rebuild every cached video's record with ``heads`` (no backbone run); optionally write a parquet shard.

    The records carry ``heads.version`` as their head version, the backbone name and version from the cache
    metadata and the cache fingerprint, so an index built from them records which heads produced its
    vectors. Tags stored at encoding time come back as they were (they do not depend on the heads).
    """
    from sv6d.record import Tag

    records = []
    for vid in cache.video_ids():
        out, meta = cache.get(vid)
        records.append(
            SV6DRecord(
                video_id=vid,
                source=str(meta.get("source", vid)),
                duration_s=float(meta["duration_s"]),
                fps=float(meta["fps"]),
                width=int(meta["width"]),
                height=int(meta["height"]),
                encoder=EncoderInfo(
                    name=str(meta.get("backbone", "unknown")),
                    version=str(meta.get("backbone_version", "")),
                    head_version=heads.version,
                    fingerprint=cache.fingerprint,
                ),
                hook_window=tuple(meta.get("hook_window", (out.hook.start_s, out.hook.end_s))),
                video=project_block(heads, out.video, "video", out.video),
                hook=project_block(heads, out.hook, "hook", out.video),
                hook_style=style_profile(heads, out.hook, out.video),
                segments=[
                    Segment(
                        start_s=s.start_s,
                        end_s=s.end_s,
                        vectors=project_block(heads, s, "segment", out.video),
                    )
                    for s in out.segments
                ],
                tags=[Tag.model_validate(t) for t in meta.get("tags", [])],
                energy=out.energy,
                energy_hz=out.energy_hz,
            )
        )
    if out_path is not None:
        from sv6d.record_io import write_records

        write_records(out_path, records)
    return records


def split_ids(ids: Sequence[str]) -> dict[str, list[str]]:
    """60/20/20 train/val/test by position modulo 5 (the corpus cycles archetypes, so every split has all)."""
    parts: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for i, vid in enumerate(ids):
        parts["train" if i % 5 < 3 else "val" if i % 5 == 3 else "test"].append(vid)
    return parts


def train_on_cache(  # type: ignore[no-untyped-def]
    cache: FeatureCache,
    ids: Sequence[str],
    config=None,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
):
    """Train heads on the cached ``ids`` (train/val by ``split_ids``; test is held out, untouched).

    Video-level and hook-level samples train the same heads (each labelled by its own window), because the
    encoder projects every level with one head per dimension. Returns (heads, the labelled splits per level).
    """
    from encoder.contrastive.train import train_heads

    splits = split_ids(ids)
    if min(len(splits["train"]), len(splits["val"])) < 2:
        raise ConfigError(
            f"train-heads: {len(ids)} cached videos are too few (need >= 10 for a 60/20/20 split)"
        )
    levels = {level: labelled_splits(cache, splits, level) for level in ("video", "hook")}
    train = merge(levels["video"]["train"], levels["hook"]["train"])
    val = merge(levels["video"]["val"], levels["hook"]["val"])
    heads = train_heads(train, val, config, checkpoint_dir=checkpoint_dir, progress=progress)
    heads.manifest["backbone"] = {"fingerprint": cache.fingerprint}
    heads.manifest["splits"] = {k: len(v) for k, v in splits.items()}
    heads.manifest["labels"] = (
        "generated-corpus truth: dominant label per window (encoder.contrastive.labels)"
    )
    return heads, levels


def evaluate_on_cache(heads: Any, levels: dict[str, dict[str, LabelledFeatures]]) -> dict:
    """``evaluate_heads`` on the held-out test split: video level at the top (the issue's JSON), hook level
    under ``"hook"``."""
    from encoder.contrastive.evaluate import evaluate_heads

    result = evaluate_heads(heads, levels["video"]["train"], levels["video"]["test"])
    result["hook"] = evaluate_heads(heads, levels["hook"]["train"], levels["hook"]["test"])
    return result
