"""``sv6d encode``: batch-encode videos into resumable parquet shards."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.output import DataDirOption, JsonOption, data_dir, emit, print_table

BackboneOption = Annotated[
    str | None, typer.Option("--backbone", help="Backbone: evidence (CPU, default) or vlm.")
]
CheckpointOption = Annotated[
    Path | None, typer.Option("--checkpoint", help="Local Qwen-VL-family checkpoint folder (--backbone vlm).")
]
HeadsOption = Annotated[Path | None, typer.Option("--heads", help="Folder of trained projection heads.")]
HookOption = Annotated[
    float | None, typer.Option("--hook-s", help="Hook window length in seconds (default 3).")
]
SpecOption = Annotated[
    Path | None,
    typer.Option(
        "--spec",
        help="An encoder spec (encoder.json, or a heads folder holding one) instead of the encoder options.",
    ),
]
WorkersOption = Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")]
EngineOption = Annotated[
    str, typer.Option("--engine", help="local (processes on this machine, default) or ray (a Ray cluster).")
]
RayAddressOption = Annotated[
    str | None,
    typer.Option("--ray-address", help="Ray cluster address (--engine ray; default: local)."),
]
ENGINES = ("local", "ray")
# ``--vlm-*`` flag -> ``encoder.vlm.options.VLMOptions`` field
VLM_FLAGS = {
    "fps": "--vlm-fps",
    "max_frames": "--vlm-frames",
    "resolution": "--vlm-resolution",
    "dtype": "--vlm-dtype",
    "batch_size": "--vlm-batch",
    "generate_tags": "--vlm-tags",
}
VLMFpsOption = Annotated[float | None, typer.Option("--vlm-fps", help="VLM: frames per second (default 2).")]
VLMFramesOption = Annotated[
    int | None,
    typer.Option("--vlm-frames", help="VLM: most frames per video, spread over longer videos (default 32)."),
]
VLMResolutionOption = Annotated[
    int | None,
    typer.Option(
        "--vlm-resolution",
        help="VLM: frame size as a square's side: frames get at most N*N pixels, aspect kept (default 448).",
    ),
]
VLMDtypeOption = Annotated[
    str | None,
    typer.Option("--vlm-dtype", help="VLM: auto (bf16 on GPU, float32 on CPU), bfloat16, float16, float32."),
]
VLMBatchOption = Annotated[
    int | None,
    typer.Option("--vlm-batch", min=1, help="VLM: videos per forward pass (default 8 on GPU, 4 on CPU)."),
]
VLMTagsOption = Annotated[
    bool | None,
    typer.Option("--vlm-tags/--no-vlm-tags", help="VLM: also generate vocabulary tags as JSON (validated)."),
]


def requested_spec(
    spec_file: Path | None,
    backbone: str | None,
    checkpoint: Path | None,
    heads: Path | None,
    hook_s: float | None,
    vlm: dict[str, Any] | None = None,
) -> Any:
    """The ``EncoderSpec`` the options ask for (None when they ask for nothing: the data directory's own
    encoder, else the default, is used). ``--spec`` excludes the other encoder options. ``vlm``: the
    ``--vlm-*`` flags (``VLMOptions`` field -> value; the batch size is no part of a spec)."""
    from encoder.spec import EncoderSpec
    from sv6d.errors import ConfigError

    given = {
        "--backbone": backbone,
        "--checkpoint": checkpoint,
        "--heads": heads,
        "--hook-s": hook_s,
    }
    vlm = {k: v for k, v in (vlm or {}).items() if v is not None and k != "batch_size"}
    given.update({VLM_FLAGS[k]: v for k, v in vlm.items()})
    named = [k for k, v in given.items() if v is not None]
    if spec_file is not None:
        if named:
            raise ConfigError(f"--spec already names the encoder: drop {', '.join(named)}")
        return EncoderSpec.load(spec_file)
    if not named:
        return None
    if vlm and (backbone or "evidence") != "vlm":
        raise ConfigError(f"{', '.join(VLM_FLAGS[k] for k in vlm)} only apply to --backbone vlm")
    return EncoderSpec.from_options(
        backbone or "evidence", checkpoint, heads, 3.0 if hook_s is None else hook_s, vlm=vlm
    )


def vlm_flags(
    fps: float | None,
    frames: int | None,
    resolution: int | None,
    dtype: str | None,
    batch: int | None,
    tags: bool | None,
) -> dict[str, Any]:
    """The ``--vlm-*`` flags by ``VLMOptions`` field (None: not given), ``batch_size`` among them (a runtime
    setting, not part of a spec: ``requested_spec`` and ``vlm_batching`` part them)."""
    return {
        "fps": fps,
        "max_frames": frames,
        "resolution": resolution,
        "dtype": dtype,
        "batch_size": batch,
        "generate_tags": tags,
    }


def vlm_batching(wanted: Any, backbone: str | None, batch: int | None) -> tuple[int, dict[str, Any] | None]:
    """(videos a worker encodes together, runtime settings) for an encode or ingest: the VLM puts a worker's
    videos through the model together, ``--vlm-batch`` (default 8) at a time; other backbones one by one."""
    vlm_run = (wanted is not None and wanted.backbone.name == "vlm") or backbone == "vlm"
    return (int(batch or 8) if vlm_run else 1), ({"batch_size": batch} if batch is not None else None)


def encoder_options(
    backbone: str,
    checkpoint: Path | None,
    heads: Path | None,
    hook_s: float,
    vlm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``encoder.batch.build_encoder`` options (an ``EncoderSpec``; the VLM's batch size, which changes how
    fast, not what, is computed, beside it) from CLI options; refuses inconsistent combinations. ``vlm``: the
    ``--vlm-*`` flags given (``VLMOptions`` field -> value, None when not given)."""
    from encoder.batch import spec_options
    from encoder.spec import EncoderSpec
    from sv6d.errors import ConfigError

    vlm = {k: v for k, v in (vlm or {}).items() if v is not None}
    if backbone != "vlm" and vlm:
        flags = ", ".join(VLM_FLAGS.get(k, k) for k in vlm)
        raise ConfigError(f"{flags} only apply to --backbone vlm")
    batch = vlm.pop("batch_size", None)
    options = spec_options(EncoderSpec.from_options(backbone, checkpoint, heads, hook_s, vlm=vlm))
    if batch is not None:
        options["batch_size"] = batch
    return options


def register(app: typer.Typer) -> None:
    @app.command("encode")
    def encode(
        inputs: Annotated[list[Path], typer.Argument(help="Video files, folders, or list files (.txt).")],
        data_dir_opt: DataDirOption = None,
        out: Annotated[
            Path | None,
            typer.Option("--out", help="Shard folder (default: the data directory's records)."),
        ] = None,
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
        retry_failed: Annotated[
            bool, typer.Option("--retry-failed", help="Retry files that failed before.")
        ] = False,
        engine: EngineOption = "local",
        ray_address: RayAddressOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Encode videos into SV6D records (parquet shards), resumably, with a failures table.

        Into a data directory, the encoder is the one it records (its manifest's encoder spec; the one asked
        for here, or the default, on a first encode); the backbone features are kept in its feature store."""
        from cli import workflows
        from encoder.batch import collect_inputs
        from sv6d.errors import ConfigError

        if engine not in ENGINES:
            raise ConfigError(f"unknown engine {engine!r}; valid engines: {', '.join(ENGINES)}")
        if ray_address is not None and engine != "ray":
            raise ConfigError("--ray-address only applies to --engine ray")
        vlm = vlm_flags(vlm_fps, vlm_frames, vlm_resolution, vlm_dtype, vlm_batch, vlm_tags)
        wanted = requested_spec(spec, backbone, checkpoint, heads, hook_s, vlm)
        root = data_dir(data_dir_opt)
        total = len(collect_inputs(inputs))
        per_task, runtime = vlm_batching(wanted, backbone, vlm_batch)
        from tqdm import tqdm

        with tqdm(
            total=total, desc="encode", unit="video", file=sys.stderr, disable=None, leave=False
        ) as bar:
            result = workflows.encode_paths(
                inputs,
                root,
                workers,
                wanted,
                retry_failed=retry_failed,
                on_progress=lambda _f, _s: bar.update(1),
                out_dir=out,
                engine=engine,
                ray_address=ray_address,
                videos_per_task=per_task,
                runtime=runtime,
            )
        out_dir = out or workflows.records_dir(root)
        emit(result.to_json(), as_json, lambda r: _render(r, out_dir))
        if result.failed and not result.encoded and not result.skipped:
            raise typer.Exit(1)


def _render(r: dict[str, Any], out_dir: Path) -> None:
    rows = [[e["file"], e["video_id"]] for e in r["encoded"]]
    if rows:
        print_table(["file", "video_id"], rows, f"encoded into {out_dir}")
    if r["failed"]:
        print_table(["file", "error"], [[f["file"], f["error"]] for f in r["failed"]], "failed")
    print(
        f"{len(r['encoded'])} encoded, {len(r['failed'])} failed, {len(r['skipped'])} skipped (already done)"
    )
