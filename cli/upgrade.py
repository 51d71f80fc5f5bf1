"""``sv6d upgrade``: move a data directory to another encoder (new heads, a new evidence version, another hook
window) in one command, without ever showing readers a half-upgraded index.

1. The new generation is built beside the current one, in ``DATA_DIR/gen-<n>/`` (``records/``, ``index/``,
   ``encoder.json``): for every stored video, its record is re-projected from the backbone features kept in
   the feature store when they are the new encoder's (``Encoder.can_reproject``: same backbone fingerprint,
   same hook window), else the video file is encoded again (the local worker pool).
2. The new records are indexed into the new generation's FAISS index (same recipe as the current one).
3. The switch: the data directory's manifest (``sv6d.datadir``) is rewritten atomically to name the new
   generation and the new encoder spec. Until that rename every reader resolves the old records and index; a
   crash before it leaves them in force, and the next ``sv6d upgrade`` resumes the unfinished generation
   (records already re-projected or re-encoded by the same encoder are kept).

The current index's writer lock is held from start to switch, so no ingest (CLI or API) writes into the
generation being replaced meanwhile; an API process that opened the old generation keeps serving it until it
is restarted. The previous generation's folders stay until the next upgrade (a reader that opened them
before the switch keeps working); the ones before it are removed. Only the data directory's own FAISS index
is upgraded.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from encoder.spec import EncoderSpec

GENERATION_PREFIX = "gen-"
REPROJECT_BATCH = 256


@dataclass
class UpgradeResult:
    """What an upgrade did: counts, the generation switched to, and the inputs that could not be upgraded."""

    data_dir: str
    generation_before: int
    generation: int
    head_version_before: str | None
    head_version: str | None
    records_before: int
    indexed_before: int
    reprojected: int = 0
    encoded: int = 0
    kept: int = 0
    records: int = 0
    indexed: int = 0
    switched: bool = False
    failed: list[dict[str, str]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def this_release_spec(data_dir: Path) -> EncoderSpec:
    """The data directory's encoder as this release builds it: the settings its manifest records (the default
    encoder's when none), with the heads' version and the backbone fingerprint left to what this release
    ships. ``sv6d upgrade`` with no options moves the stored records to it, e.g. records made with an earlier
    release's packaged hook heads, which this release no longer has."""
    from encoder.spec import EncoderSpec, data_dir_spec

    return (data_dir_spec(data_dir) or EncoderSpec()).changed()


def upgrade(
    data_dir: Path,
    spec: EncoderSpec,
    workers: int = 2,
    drop_failed: bool = False,
    on_progress: Callable[[str, str], None] | None = None,
) -> UpgradeResult:
    """Re-project or re-encode every stored video with ``spec``'s encoder, index the new records in a new
    generation and switch to it atomically (see the module docstring). Inputs that fail (a source file gone
    and no features kept) stop the switch unless ``drop_failed`` (then they leave the data directory).
    Another writer of the data directory's index (an ingest, an API) makes it a ConfigError."""
    from indexer import open_index
    from sv6d.datadir import records_dir
    from sv6d.errors import ConfigError

    root = Path(data_dir).resolve()
    if not records_dir(root).is_dir():
        raise ConfigError(f"{root} holds no records to upgrade (ingest videos first)")
    new_spec = spec.resolved()
    # The current index's writer lock is held until the switch: an ingest meanwhile (the CLI, or an API
    # serving this data directory) would write into the generation being replaced, so it is refused instead.
    with open_index(None, data_dir=root) as old_index:
        return _upgrade(root, new_spec, old_index, workers, drop_failed, on_progress)


def _upgrade(
    root: Path,
    new_spec: EncoderSpec,
    old_index: Any,
    workers: int,
    drop_failed: bool,
    on_progress: Callable[[str, str], None] | None,
) -> UpgradeResult:
    from encoder.batch import EncoderIdentity, ShardStore, encode_batch, spec_options
    from encoder.contrastive.cache import FeatureCache
    from encoder.spec import bind_data_dir, data_dir_spec
    from indexer import open_index
    from sv6d.datadir import features_dir, read_data_manifest, records_dir
    from sv6d.errors import ConfigError

    before = read_data_manifest(root)
    old_spec = data_dir_spec(root)
    old_store = ShardStore(records_dir(root))
    latest = old_store.latest()
    recipe = getattr(old_index, "recipe", None)
    indexed_before = old_index.count()
    result = UpgradeResult(
        data_dir=str(root),
        generation_before=before.generation,
        generation=before.generation,
        # what the stored records were made with (a directory can record another encoder than its records')
        head_version_before=(
            ", ".join(sorted({str(r.head_version) for r in latest.values()}))
            if latest
            else (old_spec.head_version if old_spec else None)
        ),
        head_version=new_spec.head_version,
        records_before=len(latest),
        indexed_before=indexed_before,
    )
    # ``new_spec`` is resolved: its fingerprint and heads' version are the encoder's, so the check below needs
    # no model built (a VLM's would be loaded for nothing).
    identity = EncoderIdentity(str(new_spec.fingerprint), str(new_spec.head_version), float(new_spec.hook_s))
    # Nothing to do when the data directory records this encoder and every stored record was made by it. A
    # directory whose records predate its manifest can record an encoder its records do not come from.
    if (
        old_spec is not None
        and old_spec.same_encoder(new_spec)
        and all(identity.made(stored) for stored in latest.values())
    ):
        result.records = result.indexed = len(latest)
        return result
    if not latest:
        raise ConfigError(f"{root} holds no records to upgrade (ingest videos first)")

    gen = before.generation + 1
    gen_dir = root / f"{GENERATION_PREFIX}{gen}"
    _start_generation(gen_dir, new_spec)
    new_store = ShardStore(gen_dir / "records")
    new_store.root.mkdir(parents=True, exist_ok=True)
    encoder = new_spec.build(feature_store=features_dir(root))
    cache = FeatureCache(features_dir(root), encoder.features_fingerprint)

    # 1. records: kept from an interrupted run, re-projected from kept features, or encoded again
    done = {s for s, stored in new_store.latest().items() if identity.made(stored)}
    result.kept = len(done)
    todo = sorted(set(latest) - done)
    to_encode: list[str] = []
    for start in range(0, len(todo), REPROJECT_BATCH):
        chunk = todo[start : start + REPROJECT_BATCH]
        for record in old_store.read_all({latest[s].video_id for s in chunk}):
            if record.source not in chunk:
                continue
            again = encoder.reproject_from(record, cache)
            if again is not None:
                new_store.write_part(again)
                result.reprojected += 1
                if on_progress:
                    on_progress(record.source, "reprojected")
            else:
                to_encode.append(record.source)
    if to_encode:
        batch = encode_batch(
            to_encode,
            new_store.root,
            workers=workers,
            encoder_options=spec_options(new_spec, features_dir(root)),
            retry_failed=True,
            on_progress=on_progress,
        )
        result.encoded = len(batch.encoded)
        result.failed = batch.failed
    new_store.compact()
    if result.failed and not drop_failed:
        shown = "; ".join(f"{f['file']}: {f['error']}" for f in result.failed[:3])
        raise ConfigError(
            f"{len(result.failed)} stored video(s) could not be upgraded (no kept features, and encoding "
            f"failed: {shown}); the data directory still uses its old index. Restore the files and run "
            "`sv6d upgrade` again (it resumes), or add --drop-failed to leave them out"
        )
    result.dropped = [f["file"] for f in result.failed]

    # 2. the new generation's index (resumable: only what it lacks is added)
    from cli.workflows import index_missing

    with open_index(str(gen_dir), recipe=recipe) as new_index:
        index_missing(new_index, new_store.root)
        result.indexed = new_index.count()
    result.records = len(new_store.latest())

    # 3. the switch: one atomic rename of the data directory's manifest
    keep = [before.records, before.index]
    bind_data_dir(
        root,
        new_spec,
        generation=gen,
        records=f"{gen_dir.name}/records",
        index=f"{gen_dir.name}/index",
        previous=keep,
    )
    result.generation = gen
    result.switched = True
    for old in before.previous:  # two generations ago: no reader can still have it open from a resolve
        if old not in keep:
            shutil.rmtree(root / old, ignore_errors=True)
            parent = (root / old).parent
            if parent != root and parent.name.startswith(GENERATION_PREFIX) and not any(parent.iterdir()):
                parent.rmdir()
    return result


def _start_generation(gen_dir: Path, spec: EncoderSpec) -> None:
    """Create (or resume) the generation folder for ``spec``; a leftover of an upgrade to another encoder
    is removed first."""
    from encoder.spec import SPEC_NAME, EncoderSpec

    marker = gen_dir / SPEC_NAME
    if gen_dir.exists():
        try:
            same = EncoderSpec.load(marker).same_encoder(spec)
        except Exception:
            same = False
        if not same:
            shutil.rmtree(gen_dir)
    gen_dir.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        spec.save(marker)
