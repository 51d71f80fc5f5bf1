"""CLI glue: fill the feature cache, read labelled features back, re-project records with new heads."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from encoder.contrastive.cache import FeatureCache
from encoder.contrastive.corpus import GeneratedVideo
from encoder.contrastive.train import LabelledFeatures
from encoder.types import WindowFeatures
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


def labelled(cache: FeatureCache, ids: Sequence[str], level: str = "video") -> LabelledFeatures:
    """{dimension: (features (n, f), labels)} of ``ids`` from the cache (labels from the metadata)."""
    rows, labels = [], []
    for vid in ids:
        out, meta = cache.get(vid)
        if "labels" not in meta:
            raise ConfigError(f"feature cache {cache.dir}: video {vid!r} has no labels in its metadata")
        rows.append((out.hook if level == "hook" else out.video).features)
        labels.append(meta["labels"])
    return {d: (np.stack([r[d] for r in rows]), [lab[d.value] for lab in labels]) for d in DIMENSIONS}


def _block(heads, window: WindowFeatures) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.concatenate([heads.project(d, window.features[d][None, :]) for d in DIMENSIONS])


def reproject(
    cache: FeatureCache, heads, out_path: str | Path, encoder_name: str = "sv6d"
) -> list[SV6DRecord]:  # type: ignore[no-untyped-def]
    """Rebuild every cached video's record vectors with ``heads`` (no backbone run) and write a parquet shard.

    The records carry ``heads.version`` as their head version and the cache fingerprint, so an index built
    from them records which heads produced its vectors.
    """
    from sv6d.record_io import write_records

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
                    name=encoder_name,
                    version=str(meta.get("backbone_version", "")),
                    head_version=heads.version,
                    fingerprint=cache.fingerprint,
                ),
                hook_window=tuple(meta.get("hook_window", (out.hook.start_s, out.hook.end_s))),
                video=_block(heads, out.video),
                hook=_block(heads, out.hook),
                segments=[
                    Segment(start_s=s.start_s, end_s=s.end_s, vectors=_block(heads, s)) for s in out.segments
                ],
                energy=out.energy,
                energy_hz=out.energy_hz,
            )
        )
    write_records(out_path, records)
    return records
