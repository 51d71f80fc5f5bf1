"""A generated corpus: videos rendered in parallel and a manifest of their archetypes and true tags.

``manifest.parquet`` (one row per video): ``video_id``, ``file`` (relative to the corpus folder),
``archetype``, ``duration``, ``orientation``, ``width``, ``height``, ``fps``, ``ending``, ``tags`` (a list of
``{dimension, label, start_s, end_s}``) and ``spec`` (the full ``VideoSpec`` as JSON).
The truth covers only ``TRUTH_LABELS``: score predictions with ``evaluate_tags(..., labels=TRUTH_LABELS)``.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sv6d.errors import VideoInputError
from sv6d.synth.archetypes import ARCHETYPES, sample_spec
from sv6d.synth.render import generate_video
from sv6d.synth.spec import VideoSpec
from sv6d.synth.truth import TruthTag, truth_tags

MANIFEST = "manifest.parquet"
DEFAULT_N = 100
DEFAULT_SEED = 0

ProgressWrapper = Callable[[Iterator[Any], int], Iterable[Any]]


@dataclass(frozen=True)
class ManifestEntry:
    """One generated video: where it is, its hook archetype and its true tags."""

    video_id: str
    path: Path
    archetype: str
    duration: float
    orientation: str
    width: int
    height: int
    fps: int
    ending: str
    truth: list[TruthTag]
    spec: VideoSpec


def corpus_spec(index: int, seed: int) -> VideoSpec:
    """The spec of video ``index`` of the corpus drawn with ``seed`` (archetypes in turn, so balanced)."""
    rng = np.random.default_rng([seed, index])
    return sample_spec(ARCHETYPES[index % len(ARCHETYPES)], rng, video_id=f"synth-{seed}-{index:04d}")


def _spec_stamp(path: Path) -> Path:
    return path.with_suffix(".spec.sha256")


def spec_digest(spec: VideoSpec) -> str:
    """A hash of everything the render depends on: a changed generator or spec re-renders the file."""
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()


def is_valid_video(path: Path, spec: VideoSpec) -> bool:
    """Whether ``path`` holds a render of exactly ``spec``: its stamp matches the spec's digest, and the file
    decodes with the specified size and frame count. Size and frame count alone are not enough: a generator
    change can keep both and still render different content."""
    import av

    if not path.is_file() or path.stat().st_size == 0:
        return False
    stamp = _spec_stamp(path)
    if not stamp.is_file() or stamp.read_text().strip() != spec_digest(spec):
        return False
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return (
                stream.codec_context.width == spec.width
                and stream.codec_context.height == spec.height
                and abs(int(stream.frames) - spec.n_frames) <= 1
            )
    except (av.error.FFmpegError, IndexError, OSError):
        return False


def _build_one(index: int, seed: int, out_dir: str) -> tuple[int, str, list[dict[str, Any]], bool]:
    spec = corpus_spec(index, seed)
    path = Path(out_dir) / f"{spec.video_id}.mp4"
    rendered = False
    if not is_valid_video(path, spec):
        _spec_stamp(path).unlink(missing_ok=True)
        generate_video(spec, path)
        _spec_stamp(path).write_text(spec_digest(spec) + "\n")
        rendered = True
    return index, spec.model_dump_json(), [t.to_dict() for t in truth_tags(spec)], rendered


def generate_corpus(
    out_dir: str | Path,
    n: int = DEFAULT_N,
    seed: int = DEFAULT_SEED,
    workers: int = 2,
    progress: ProgressWrapper | None = None,
) -> Path:
    """Render ``n`` videos (archetypes in turn) into ``out_dir`` and write ``manifest.parquet``.

    Deterministic for ``seed``; files already present and valid are kept, not re-rendered. ``progress``
    wraps the iterator of finished videos (e.g. a progress bar). Returns the manifest's path.
    """
    import polars as pl

    from sv6d.record_io import atomic_write_bytes

    if n <= 0:
        raise ValueError(f"corpus size n must be positive, got {n}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise VideoInputError(out, "corpus output path exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    results: dict[int, tuple[str, list[dict[str, Any]]]] = {}
    if workers <= 1:
        done: Iterator[Any] = (_build_one(i, seed, str(out)) for i in range(n))
        for item in progress(done, n) if progress else done:
            results[item[0]] = (item[1], item[2])
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(_build_one, i, seed, str(out)) for i in range(n)]
            finished = (f.result() for f in as_completed(futures))
            for item in progress(finished, n) if progress else finished:
                results[item[0]] = (item[1], item[2])
    rows = []
    for i in range(n):
        spec_json, tags = results[i]
        spec = VideoSpec.model_validate_json(spec_json)
        rows.append(
            {
                "video_id": spec.video_id,
                "file": f"{spec.video_id}.mp4",
                "archetype": spec.archetype,
                "duration": spec.duration_s,
                "orientation": spec.orientation,
                "width": spec.width,
                "height": spec.height,
                "fps": spec.fps,
                "ending": spec.ending,
                "tags": tags,
                "spec": spec_json,
            }
        )
    schema: dict[str, Any] = {
        "video_id": pl.String,
        "file": pl.String,
        "archetype": pl.String,
        "duration": pl.Float64,
        "orientation": pl.String,
        "width": pl.Int32,
        "height": pl.Int32,
        "fps": pl.Int32,
        "ending": pl.String,
        "tags": pl.List(
            pl.Struct(
                {"dimension": pl.String, "label": pl.String, "start_s": pl.Float64, "end_s": pl.Float64}
            )
        ),
        "spec": pl.String,
    }
    frame = pl.DataFrame(rows, schema=schema)
    manifest = out / MANIFEST

    def _write(tmp: Path) -> None:
        buf = io.BytesIO()
        frame.write_parquet(buf)
        tmp.write_bytes(buf.getvalue())

    atomic_write_bytes(manifest, _write)
    return manifest


def read_manifest(corpus_dir: str | Path) -> list[ManifestEntry]:
    """The entries of a generated corpus (``corpus_dir`` or its ``manifest.parquet``)."""
    import polars as pl

    path = Path(corpus_dir)
    manifest = path if path.suffix == ".parquet" else path / MANIFEST
    if not manifest.is_file():
        raise VideoInputError(manifest, "no corpus manifest here; run `sv6d generate` first")
    entries = []
    for row in pl.read_parquet(manifest).iter_rows(named=True):
        entries.append(
            ManifestEntry(
                video_id=row["video_id"],
                path=manifest.parent / row["file"],
                archetype=row["archetype"],
                duration=row["duration"],
                orientation=row["orientation"],
                width=row["width"],
                height=row["height"],
                fps=row["fps"],
                ending=row["ending"],
                truth=[TruthTag(**t) for t in row["tags"]],
                spec=VideoSpec.model_validate(json.loads(row["spec"])),
            )
        )
    return entries


def default_corpus(data_dir: str | Path, progress: ProgressWrapper | None = None) -> Path:
    """``<data_dir>/corpus``, generated (n=100, seed 0) when missing or incomplete; returns the folder."""
    out = Path(data_dir) / "corpus"
    manifest = out / MANIFEST
    if manifest.is_file():
        try:
            entries = read_manifest(out)
        except Exception:  # an unreadable manifest is regenerated below
            entries = []
        if len(entries) == DEFAULT_N and all(e.path.is_file() for e in entries):
            return out
    generate_corpus(out, n=DEFAULT_N, seed=DEFAULT_SEED, progress=progress)
    return out
