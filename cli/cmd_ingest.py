"""``sv6d ingest``: encode videos and upsert them into the index in one step; ``sv6d show``: a timeline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.cmd_encode import (
    BackboneOption,
    CheckpointOption,
    EngineOption,
    HeadsOption,
    HookOption,
    RayAddressOption,
    SpecOption,
    VLMBatchOption,
    VLMDtypeOption,
    VLMFpsOption,
    VLMFramesOption,
    VLMResolutionOption,
    VLMTagsOption,
    WorkersOption,
    _render,
    requested_spec,
    vlm_batching,
    vlm_flags,
)
from cli.output import DataDirOption, JsonOption, data_dir, emit

LocationOption = Annotated[
    str | None,
    typer.Option(
        "--location",
        envvar="SV6D_INDEX_LOCATION",
        help="Index: a FAISS dir (default DATA_DIR/index), qdrant::memory:, qdrant+path://DIR, or a URL.",
    ),
]
RecipeOption = Annotated[
    str | None, typer.Option("--recipe", help="FAISS factory string for a new index (Flat, HNSW32, ...).")
]


def register(app: typer.Typer) -> None:
    register_upgrade(app)

    @app.command("ingest")
    def ingest(
        paths: Annotated[list[Path], typer.Argument(help="Video files, folders, or list files (.txt).")],
        data_dir_opt: DataDirOption = None,
        location: LocationOption = None,
        recipe: RecipeOption = None,
        workers: WorkersOption = 2,
        spec: SpecOption = None,
        backbone: BackboneOption = None,
        checkpoint: CheckpointOption = None,
        heads: HeadsOption = None,
        hook_s: HookOption = None,
        vlm_fps: VLMFpsOption = None,
        vlm_frames: VLMFramesOption = None,
        vlm_resolution: VLMResolutionOption = None,
        vlm_dtype: VLMDtypeOption = None,
        vlm_batch: VLMBatchOption = None,
        vlm_tags: VLMTagsOption = None,
        engine: EngineOption = "local",
        ray_address: RayAddressOption = None,
        commit_every: Annotated[
            int, typer.Option("--commit-every", min=1, help="Index the encoded records every N videos...")
        ] = 32,
        commit_interval: Annotated[
            float, typer.Option("--commit-interval", min=0.1, help="...or every T seconds, whichever first.")
        ] = 10.0,
        as_json: JsonOption = False,
    ) -> None:
        """Encode videos and index them as they are encoded (same JSON as ``sv6d encode``).

        Records reach the index in batches while encoding goes on, so a long ingest is searchable as it
        goes; a killed ingest loses at most the batch in flight, which the next run repairs."""
        from tqdm import tqdm

        from cli import workflows
        from encoder.batch import collect_inputs

        vlm = vlm_flags(vlm_fps, vlm_frames, vlm_resolution, vlm_dtype, vlm_batch, vlm_tags)
        wanted = requested_spec(spec, backbone, checkpoint, heads, hook_s, vlm)
        root = data_dir(data_dir_opt)
        total = len(collect_inputs(paths))
        per_task, runtime = vlm_batching(wanted, backbone, vlm_batch)
        with tqdm(
            total=total, desc="ingest", unit="video", file=sys.stderr, disable=None, leave=False
        ) as bar:
            result = workflows.ingest(
                paths,
                root,
                location=location,
                recipe=recipe,
                workers=workers,
                spec=wanted,
                on_progress=lambda _f, _s: bar.update(1),
                engine=engine,
                ray_address=ray_address,
                commit_every=commit_every,
                commit_interval_s=commit_interval,
                videos_per_task=per_task,
                runtime=runtime,
            )
        emit(result.to_json(), as_json, lambda r: _render(r, root))

    @app.command("show")
    def show(
        video: Annotated[
            str, typer.Argument(help="A stored video id, or a video file to encode on the fly.")
        ],
        out: Annotated[Path, typer.Option("--out", help="Image file to write (png, svg, pdf).")] = Path(
            "timeline.png"
        ),
        data_dir_opt: DataDirOption = None,
        location: LocationOption = None,
        hook_s: HookOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Draw a record's timeline: shots, tags per dimension, energy curve."""
        from cli import workflows
        from sv6d.timeline import save_timeline

        if Path(video).exists():
            from encoder.spec import EncoderSpec, data_dir_spec

            # the data directory's encoder (its manifest's spec) when it has one, else the default
            spec = data_dir_spec(data_dir(data_dir_opt)) or EncoderSpec()
            if hook_s is not None:
                spec = spec.model_copy(update={"hook_s": hook_s})
            record = spec.build().encode_file(video)
        else:
            record = workflows.find_record(data_dir(data_dir_opt), video, location)
        path = save_timeline(record, out)
        result: dict[str, Any] = {
            "video_id": record.video_id,
            "out": str(path),
            "tags": [t.model_dump(mode="json") for t in record.tags],
            "hook_style": record.hook_style,
        }
        from cli.cmd_index import opens_like

        emit(
            result,
            as_json,
            lambda r: print(
                f"{r['video_id']}: {len(r['tags'])} tags, timeline in {r['out']}; "
                f"the hook opens like {opens_like(r['hook_style'])}"
            ),
        )


def register_upgrade(app: typer.Typer) -> None:
    @app.command("upgrade")
    def upgrade_cmd(
        data_dir_opt: DataDirOption = None,
        spec: SpecOption = None,
        backbone: BackboneOption = None,
        checkpoint: CheckpointOption = None,
        heads: HeadsOption = None,
        hook_s: HookOption = None,
        workers: WorkersOption = 2,
        drop_failed: Annotated[
            bool,
            typer.Option("--drop-failed", help="Switch even if some videos cannot be upgraded (drops them)."),
        ] = False,
        as_json: JsonOption = False,
    ) -> None:
        """Move the data directory to another encoder (new heads, backbone version or hook window): re-project
        kept backbone features, re-encode the rest, then switch the index to the new generation atomically.
        Options not given keep the data directory's current encoder settings; with none, every stored record
        is brought to that encoder (records made before the packaged heads changed, say)."""
        from tqdm import tqdm

        from cli.upgrade import this_release_spec, upgrade

        root = data_dir(data_dir_opt)
        if spec is not None:
            wanted = requested_spec(spec, backbone, checkpoint, heads, hook_s)
        else:
            # No options: bring every stored record to the encoder the data directory records, as this
            # release builds it (its packaged heads), e.g. records from before the packaged heads changed.
            wanted = this_release_spec(root).changed(
                backbone=backbone, checkpoint=checkpoint, heads=heads, hook_s=hook_s
            )
        with tqdm(desc="upgrade", unit="video", file=sys.stderr, disable=None, leave=False) as bar:
            result = upgrade(root, wanted, workers, drop_failed, on_progress=lambda _f, _s: bar.update(1))

        def render(r: dict[str, Any]) -> None:
            if not r["switched"]:
                print(f"{r['data_dir']} already holds records of this encoder (heads {r['head_version']})")
                return
            print(
                f"{r['data_dir']}: generation {r['generation_before']} -> {r['generation']}, heads "
                f"{r['head_version_before']} -> {r['head_version']}; {r['records_before']} records before, "
                f"{r['records']} after ({r['reprojected']} re-projected from kept features, {r['encoded']} "
                f"encoded again, {r['kept']} from an interrupted run); index {r['indexed_before']} -> "
                f"{r['indexed']}" + (f"; dropped {len(r['dropped'])}" if r["dropped"] else "")
            )

        emit(result.to_json(), as_json, render)
