"""``sv6d encode``: batch-encode videos into resumable parquet shards."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sv6d.cli.output import DataDirOption, JsonOption, data_dir, emit, print_table

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


def requested_spec(
    spec_file: Path | None,
    backbone: str | None,
    checkpoint: Path | None,
    heads: Path | None,
    hook_s: float | None,
) -> Any:
    """The ``EncoderSpec`` the options ask for (None when they ask for nothing: the data directory's own
    encoder, else the default, is used). ``--spec`` excludes the other encoder options."""
    from encoder.spec import EncoderSpec
    from sv6d.errors import ConfigError

    given = {
        "--backbone": backbone,
        "--checkpoint": checkpoint,
        "--heads": heads,
        "--hook-s": hook_s,
    }
    named = [k for k, v in given.items() if v is not None]
    if spec_file is not None:
        if named:
            raise ConfigError(f"--spec already names the encoder: drop {', '.join(named)}")
        return EncoderSpec.load(spec_file)
    if not named:
        return None
    return EncoderSpec.from_options(
        backbone or "evidence", checkpoint, heads, 3.0 if hook_s is None else hook_s
    )


def encoder_options(
    backbone: str, checkpoint: Path | None, heads: Path | None, hook_s: float
) -> dict[str, Any]:
    """``encoder.batch.build_encoder`` options (an ``EncoderSpec``) from CLI options; refuses inconsistent
    combinations."""
    from encoder.batch import spec_options
    from encoder.spec import EncoderSpec

    return spec_options(EncoderSpec.from_options(backbone, checkpoint, heads, hook_s))


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
        from encoder.batch import collect_inputs
        from sv6d.cli import workflows
        from sv6d.errors import ConfigError

        if engine not in ENGINES:
            raise ConfigError(f"unknown engine {engine!r}; valid engines: {', '.join(ENGINES)}")
        if ray_address is not None and engine != "ray":
            raise ConfigError("--ray-address only applies to --engine ray")
        wanted = requested_spec(spec, backbone, checkpoint, heads, hook_s)
        root = data_dir(data_dir_opt)
        total = len(collect_inputs(inputs))
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
