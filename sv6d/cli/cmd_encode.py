"""``sv6d encode``: batch-encode videos into resumable parquet shards."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sv6d.cli.output import DataDirOption, JsonOption, data_dir, emit, print_table

BackboneOption = Annotated[str, typer.Option("--backbone", help="Backbone: evidence (CPU, default) or vlm.")]
CheckpointOption = Annotated[
    Path | None, typer.Option("--checkpoint", help="Local Qwen-VL-family checkpoint folder (--backbone vlm).")
]
HeadsOption = Annotated[Path | None, typer.Option("--heads", help="Folder of trained projection heads.")]
HookOption = Annotated[float, typer.Option("--hook-s", help="Hook window length in seconds.")]
WorkersOption = Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")]
EngineOption = Annotated[
    str, typer.Option("--engine", help="local (processes on this machine, default) or ray (a Ray cluster).")
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


def encoder_options(
    backbone: str,
    checkpoint: Path | None,
    heads: Path | None,
    hook_s: float,
    vlm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Encoder keyword arguments from CLI options; refuses inconsistent combinations. ``vlm``: the
    ``--vlm-*`` flags given (``VLMOptions`` field -> value), checked here before any worker starts."""
    from sv6d.errors import ConfigError

    vlm = {k: v for k, v in (vlm or {}).items() if v is not None}
    if backbone not in ("evidence", "vlm"):
        raise ConfigError(f"unknown backbone {backbone!r}; valid backbones: evidence, vlm")
    if backbone == "vlm" and checkpoint is None:
        raise ConfigError("--backbone vlm needs --checkpoint DIR (a local Qwen-VL-family checkpoint folder)")
    if backbone == "evidence" and checkpoint is not None:
        raise ConfigError("--checkpoint only applies to --backbone vlm")
    if backbone == "evidence" and vlm:
        flags = ", ".join(VLM_FLAGS.get(k, k) for k in vlm)
        raise ConfigError(f"{flags} only apply to --backbone vlm")
    options: dict[str, Any] = {"backbone": backbone, "hook_s": hook_s}
    if checkpoint is not None:
        from encoder.vlm.options import VLMOptions

        chosen = VLMOptions.from_mapping({"checkpoint": str(checkpoint), **vlm})
        options["backbone_options"] = chosen.to_dict()
    if heads is not None:
        options["heads_dir"] = str(heads)
    return options


def register(app: typer.Typer) -> None:
    @app.command("encode")
    def encode(
        inputs: Annotated[list[Path], typer.Argument(help="Video files, folders, or list files (.txt).")],
        data_dir_opt: DataDirOption = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="Shard folder (default DATA_DIR/records).")
        ] = None,
        workers: WorkersOption = 2,
        backbone: BackboneOption = "evidence",
        checkpoint: CheckpointOption = None,
        heads: HeadsOption = None,
        hook_s: HookOption = 3.0,
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
        ray_address: Annotated[
            str | None,
            typer.Option("--ray-address", help="Ray cluster address (--engine ray; default: local)."),
        ] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Encode videos into SV6D records (parquet shards), resumably, with a failures table."""
        from encoder.batch import collect_inputs
        from sv6d.errors import ConfigError

        if engine not in ENGINES:
            raise ConfigError(f"unknown engine {engine!r}; valid engines: {', '.join(ENGINES)}")
        if ray_address is not None and engine != "ray":
            raise ConfigError("--ray-address only applies to --engine ray")
        vlm = {
            "fps": vlm_fps,
            "max_frames": vlm_frames,
            "resolution": vlm_resolution,
            "dtype": vlm_dtype,
            "batch_size": vlm_batch,
            "generate_tags": vlm_tags,
        }
        options = encoder_options(backbone, checkpoint, heads, hook_s, vlm)
        out_dir = out or data_dir(data_dir_opt) / "records"
        total = len(collect_inputs(inputs))
        # The VLM puts a worker's videos through the model together, a batch at a time.
        per_task = int(vlm_batch or 8) if backbone == "vlm" else 1
        result = _run_with_progress(
            inputs, out_dir, workers, options, retry_failed, total, engine, ray_address, per_task
        )
        emit(result.to_json(), as_json, lambda r: _render(r, out_dir))
        if result.failed and not result.encoded and not result.skipped:
            raise typer.Exit(1)


def _run_with_progress(
    inputs: list[Path],
    out_dir: Path,
    workers: int,
    options: dict[str, Any],
    retry_failed: bool,
    total: int,
    engine: str = "local",
    ray_address: str | None = None,
    videos_per_task: int = 1,
) -> Any:
    from tqdm import tqdm

    with tqdm(total=total, desc="encode", unit="video", file=sys.stderr, disable=None, leave=False) as bar:
        kwargs: dict[str, Any] = {
            "workers": workers,
            "encoder_options": options,
            "retry_failed": retry_failed,
            "on_progress": lambda _f, _s: bar.update(1),
        }
        if engine == "ray":
            from encoder.ray_engine import encode_batch_ray

            return encode_batch_ray(
                inputs,
                out_dir,
                ray_address=ray_address,
                encoder_factory="encoder.batch:build_encoder",
                **kwargs,
            )
        from encoder.batch import encode_batch

        return encode_batch(inputs, out_dir, videos_per_task=videos_per_task, **kwargs)


def _render(r: dict[str, Any], out_dir: Path) -> None:
    rows = [[e["file"], e["video_id"]] for e in r["encoded"]]
    if rows:
        print_table(["file", "video_id"], rows, f"encoded into {out_dir}")
    if r["failed"]:
        print_table(["file", "error"], [[f["file"], f["error"]] for f in r["failed"]], "failed")
    print(
        f"{len(r['encoded'])} encoded, {len(r['failed'])} failed, {len(r['skipped'])} skipped (already done)"
    )
