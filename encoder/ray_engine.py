"""Batch encoding on Ray Data: the same shard folder, failures table and resume rules as ``encoder.batch``.

The driver decides what is left to do exactly as the local engine does (``encoder.batch.plan_batch``: the
stored records this encoder made, which a task on the cluster identifies, and the failures table), hands the
remaining paths to Ray Data as a dataset of one path per block, and maps it with a pool of actors that each
build ``encoder.pipeline.Encoder`` once (one GPU per actor for the ``vlm`` backbone, one CPU for
``evidence``). Actors return one row per file: ``(file, ok, payload, error)``, where ``payload`` is the record
as parquet bytes in the project's record schema. Only the driver writes: each finished record becomes a part
file through ``ShardStore.write_part`` the moment its row arrives, failures go to the same failures table, and
the parts are compacted at the end. A killed driver therefore loses only the rows in flight, and the next run
skips everything already written.

Paths must be readable from every Ray node (a shared file system or a mounted bucket); the output folder
only needs to exist on the driver. ``ray`` is imported inside the functions here: the extra is optional.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from encoder.batch import (
    DEFAULT_COMMIT_EVERY,
    DEFAULT_COMMIT_INTERVAL_S,
    DEFAULT_SHARD_SIZE,
    BatchResult,
    Committer,
    EncoderIdentity,
    EncoderSetupError,
    ShardStore,
    collect_inputs,
    encoder_identity,
    plan_batch,
    record_failure,
)
from sv6d.errors import ConfigError, SV6DError
from sv6d.record import SV6DRecord
from sv6d.record_io import frame_to_records, records_to_frame

# Columns of the rows that actors send back to the driver.
RESULT_COLUMNS = ("file", "ok", "payload", "error")
# ``build_encoder`` builds through ``Encoder.from_spec``, like the local pool and the API.
DEFAULT_FACTORY = "encoder.batch:build_encoder"
LOST_IN_RAY = "the Ray task encoding this file failed (worker process or node lost); rerun to retry"


def record_to_bytes(record: SV6DRecord) -> bytes:
    """One record as parquet bytes in ``RECORD_SCHEMA`` (what an actor sends to the driver)."""
    buf = io.BytesIO()
    records_to_frame([record]).write_parquet(buf)
    return buf.getvalue()


def record_from_bytes(payload: bytes) -> SV6DRecord:
    """Inverse of ``record_to_bytes``."""
    import polars as pl

    (record,) = frame_to_records(pl.read_parquet(io.BytesIO(payload)))
    return record


def load_factory(spec: str) -> Callable[..., Any]:
    """Resolve ``"module:attribute"`` to the callable that builds an encoder (something with
    ``encode_file(path) -> SV6DRecord``)."""
    import importlib

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"encoder factory {spec!r} must look like 'module:attribute'")
    factory = getattr(importlib.import_module(module_name), attr, None)
    if not callable(factory):
        raise ConfigError(f"encoder factory {spec!r}: {attr!r} is not a callable in {module_name}")
    return factory  # type: ignore[no-any-return]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SV6DError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class EncodeActor:
    """A Ray Data actor: builds the encoder once, then encodes batches of paths into result rows.

    Per-file errors are caught and returned as rows, so one bad video never fails a block.
    """

    def __init__(self, encoder_options: dict[str, Any], encoder_factory: str = DEFAULT_FACTORY) -> None:
        # Ray sets OMP_NUM_THREADS to the actor's CPUs; OpenCV has its own pool and would oversubscribe.
        try:
            import cv2

            cv2.setNumThreads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
        except ImportError:  # pragma: no cover - cv2 is a dependency
            pass
        self.encoder = load_factory(encoder_factory)(**encoder_options)

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        files: list[str] = []
        oks: list[bool] = []
        payloads: list[bytes | None] = []
        errors: list[str | None] = []
        for path in batch.column("path").to_pylist():
            files.append(path)
            try:
                record = self.encoder.encode_file(path)
                payloads.append(record_to_bytes(record))
                oks.append(True)
                errors.append(None)
            except Exception as exc:
                payloads.append(None)
                oks.append(False)
                errors.append(_describe(exc))
        return pa.table(
            {
                "file": pa.array(files, pa.string()),
                "ok": pa.array(oks, pa.bool_()),
                "payload": pa.array(payloads, pa.binary()),
                "error": pa.array(errors, pa.string()),
            }
        )


def actor_resources(encoder_options: dict[str, Any], num_gpus_per_worker: float | None) -> dict[str, float]:
    """Ray resources per actor: a GPU for the ``vlm`` backbone (unless overridden), one CPU otherwise."""
    spec = encoder_options.get("spec")
    backbone = (
        spec.get("backbone", {}).get("name", "evidence")
        if isinstance(spec, dict)
        else encoder_options.get("backbone", "evidence")
    )
    gpus = num_gpus_per_worker if num_gpus_per_worker is not None else (1.0 if backbone == "vlm" else 0.0)
    if gpus < 0:
        raise ConfigError(f"num_gpus_per_worker must be >= 0, got {gpus}")
    return {"num_cpus": 1.0, "num_gpus": float(gpus)}


def encode_batch_ray(
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    workers: int = 2,
    encoder_options: dict[str, Any] | None = None,
    retry_failed: bool = False,
    shard_size: int = DEFAULT_SHARD_SIZE,
    on_progress: Callable[[str, str], None] | None = None,
    *,
    ray_address: str | None = None,
    num_gpus_per_worker: float | None = None,
    encoder_factory: str = DEFAULT_FACTORY,
    on_records: Callable[[list[SV6DRecord]], None] | None = None,
    commit_every: int = DEFAULT_COMMIT_EVERY,
    commit_interval_s: float = DEFAULT_COMMIT_INTERVAL_S,
) -> BatchResult:
    """``encoder.batch.encode_batch`` on Ray Data: same arguments, result, shard folder and failures table,
    and the same streaming commits (``on_records`` every ``commit_every`` records or ``commit_interval_s``).

    ``workers`` is the size of the actor pool. ``ray_address`` connects to a running cluster (else
    ``$RAY_ADDRESS``, else a local instance started here and shut down at the end; an instance already
    initialised by the caller is used as is). ``num_gpus_per_worker`` overrides the GPUs per actor
    (default 1 for ``vlm``, 0 for ``evidence``; 0.5 packs two actors on a GPU). ``encoder_factory``
    (``"module:callable"``, default ``encoder.batch:build_encoder``: an ``EncoderSpec`` under ``"spec"``,
    see ``encoder.batch.spec_options``) builds each actor's encoder from ``encoder_options``; it must be
    importable on every node.
    """
    try:
        import ray
        import ray.data
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise ConfigError(
            "the ray engine needs the optional extra: pip install 'sv6d[ray]' (ray[data])"
        ) from exc

    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    options = dict(encoder_options or {})
    # Resolve the factory here first: a typo should fail once, not once per file on every actor.
    load_factory(encoder_factory)
    resources = actor_resources(options, num_gpus_per_worker)

    store = ShardStore(out_dir)
    store.root.mkdir(parents=True, exist_ok=True)
    files = collect_inputs(inputs)
    # Stored records are done only if this encoder made them; a task on the cluster builds the encoder and
    # says which it is (the driver never loads a model).
    started_here = False
    committer = Committer(on_records, commit_every, commit_interval_s)

    def connect() -> None:
        nonlocal started_here
        if not ray.is_initialized():
            ray.init(address=ray_address, include_dashboard=False, log_to_driver=False)
            started_here = True

    try:
        encoder = None
        if files and store.record_files():
            connect()
            encoder = _identity(ray, options, encoder_factory, resources)
        result, todo = plan_batch(store, files, encoder, retry_failed, on_progress)
        if todo:
            connect()
            _run(
                ray, todo, options, encoder_factory, resources, workers, store, result, on_progress, committer
            )
    finally:
        if started_here:
            ray.shutdown()
    committer.flush()
    store.compact(shard_size)
    return result


def _identity(
    ray: Any, options: dict[str, Any], encoder_factory: str, resources: dict[str, float]
) -> EncoderIdentity | None:
    """The ``EncoderIdentity`` of the encoder the actors build (None when the factory's encoder has none:
    then every stored record of the file's content counts as done)."""
    task = ray.remote(_identity_task).options(num_cpus=resources["num_cpus"], num_gpus=resources["num_gpus"])
    found: EncoderIdentity | str | None = ray.get(task.remote(options, encoder_factory))
    if isinstance(found, str):
        raise EncoderSetupError(f"cannot build the encoder: {found}")
    return found


def _identity_task(options: dict[str, Any], encoder_factory: str) -> EncoderIdentity | str | None:
    """The identity of the factory's encoder; the reason as a string when it cannot be built."""
    try:
        encoder = load_factory(encoder_factory)(**options)
    except Exception as exc:
        return _describe(exc)
    if not hasattr(encoder, "info") or not hasattr(encoder, "hook_s"):
        return None
    return encoder_identity(encoder)


def _run(
    ray: Any,
    todo: list[str],
    options: dict[str, Any],
    encoder_factory: str,
    resources: dict[str, float],
    workers: int,
    store: ShardStore,
    result: BatchResult,
    on_progress: Callable[[str, str], None] | None,
    committer: Committer,
) -> None:
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    # One path per block: a block whose task dies (an actor killed by a bad file, a lost node) is skipped
    # and its one file recorded as failed, instead of failing the whole run.
    ctx.max_errored_blocks = len(todo)
    ds = ray.data.from_items([{"path": p} for p in todo], override_num_blocks=len(todo))
    with warnings.catch_warnings():
        # Ray 2.60 deprecates passing actor options as remote args but offers no named parameter for
        # retries yet; its default (retry forever) would loop on a file that kills its worker.
        warnings.simplefilter("ignore", DeprecationWarning)
        mapped = _map(ray, ds, options, encoder_factory, resources, workers)
    seen: set[str] = set()
    try:
        for row in mapped.iter_rows():
            path = str(row["file"])
            seen.add(path)
            if row["ok"]:
                record = record_from_bytes(row["payload"])
                store.write_part(record)
                store.clear_failure(path)
                result.encoded.append({"file": path, "video_id": record.video_id})
                if on_progress:
                    on_progress(path, "encoded")
                committer.add(record)
            else:
                record_failure(store, result, on_progress, path, str(row["error"]))
    except Exception as exc:
        # The streaming execution itself failed: what arrived is already written; the rest is recorded
        # with the reason so that the run's summary is complete and --retry-failed picks it up.
        reason = f"{LOST_IN_RAY}: {_describe(exc)}"
        for path in todo:
            if path not in seen:
                seen.add(path)
                record_failure(store, result, on_progress, path, reason)
        return
    for path in todo:
        if path not in seen:
            record_failure(store, result, on_progress, path, LOST_IN_RAY)


def _map(
    ray: Any,
    ds: Any,
    options: dict[str, Any],
    encoder_factory: str,
    resources: dict[str, float],
    workers: int,
) -> Any:
    return ds.map_batches(
        EncodeActor,
        fn_constructor_kwargs={"encoder_options": options, "encoder_factory": encoder_factory},
        batch_size=1,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=resources["num_cpus"],
        num_gpus=resources["num_gpus"],
        # A crashed actor is restarted; the file it was on is tried once more, then its block is dropped.
        max_restarts=-1,
        max_task_retries=1,
    )
