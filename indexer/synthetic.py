"""Seeded synthetic SV6D records with structure, for tests and benchmarks.

Vectors come from a low-dimensional latent projected to each dimension plus noise, so that neighbourhoods
exist (iid random vectors make every ANN index look broken). Tags are drawn from the real vocabulary with
every required evidence key filled, so they pass validation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from sv6d.dimensions import DIMENSIONS
from sv6d.record import EncoderInfo, Segment, SV6DRecord, Tag, make_tag
from sv6d.vocabulary import default_vocabulary

ENCODER = EncoderInfo(name="synthetic", version="0", head_version="synthetic-0")
SIZES = ((1080, 1920), (1920, 1080), (1080, 1080))
CREATORS = ("ana", "bo", "cy", "dee")


def structured_vectors(
    n: int,
    d: int,
    *,
    latent_dim: int = 16,
    noise: float = 0.5,
    seed: int = 0,
    rng: np.random.Generator | None = None,
    chunk: int = 65_536,
) -> np.ndarray:
    """(n, 6, d) float32 unit rows: ``normalize(z @ P_dim + noise · ε)`` with a shared latent z per item."""
    rng = rng if rng is not None else np.random.default_rng(seed)
    z = rng.standard_normal((n, latent_dim), dtype=np.float32)
    out = np.empty((n, len(DIMENSIONS), d), dtype=np.float32)
    for i in range(len(DIMENSIONS)):
        proj = rng.standard_normal((latent_dim, d), dtype=np.float32) / np.sqrt(latent_dim)
        # In chunks, so that temporaries stay small at a million rows; consecutive draws from one generator
        # give the same numbers as one large draw, so the output does not depend on the chunk size.
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            x = z[s:e] @ proj + noise * rng.standard_normal((e - s, d), dtype=np.float32)
            out[s:e, i] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def _tag(label: str, start: float, end: float, rng: np.random.Generator) -> Tag:
    spec = default_vocabulary().spec(label)
    tag = make_tag(label, start, end, float(rng.uniform(0.5, 1.0)), dict.fromkeys(spec.evidence, 1.0))
    assert tag is not None  # every evidence key is present
    return tag


def make_records(
    n: int, d: int = 16, *, seed: int = 0, prefix: str = "v", max_segments: int = 3, tags_per_video: int = 3
) -> list[SV6DRecord]:
    """``n`` valid records with structured video/hook/segment vectors, tags, creators, dates, orientations."""
    rng = np.random.default_rng(seed)
    n_seg = rng.integers(0, max_segments + 1, size=n)
    video = structured_vectors(n, d, rng=rng)
    hook = structured_vectors(n, d, rng=rng)
    segs = structured_vectors(int(n_seg.sum()) or 1, d, rng=rng)
    labels = sorted(default_vocabulary().labels)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    out, s = [], 0
    for i in range(n):
        duration = float(rng.uniform(5, 60))
        hook_end = min(3.0, duration)
        width, height = SIZES[int(rng.integers(len(SIZES)))]
        bounds = np.linspace(0, duration, int(n_seg[i]) + 1)
        segments = []
        for j in range(int(n_seg[i])):
            segments.append(Segment(start_s=float(bounds[j]), end_s=float(bounds[j + 1]), vectors=segs[s]))
            s += 1
        tags = []
        for label in rng.choice(labels, size=tags_per_video, replace=False):
            in_hook = bool(rng.random() < 0.6)
            start = (
                float(rng.uniform(0, hook_end - 0.5)) if in_hook else float(rng.uniform(hook_end, duration))
            )
            tags.append(_tag(str(label), start, min(duration, start + 0.5), rng))
        out.append(
            SV6DRecord(
                video_id=f"{prefix}{i}",
                source=f"synthetic://{prefix}{i}",
                duration_s=duration,
                fps=30.0,
                width=width,
                height=height,
                creator=CREATORS[int(rng.integers(len(CREATORS)))],
                created_at=base + timedelta(days=int(rng.integers(0, 365))),
                encoder=ENCODER,
                hook_window=(0.0, hook_end),
                video=video[i],
                hook=hook[i],
                segments=segments,
                tags=tags,
            )
        )
    return out
