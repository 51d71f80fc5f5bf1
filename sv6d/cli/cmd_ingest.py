"""``sv6d ingest``: encode videos and upsert them into the index in one step; ``sv6d show``: a timeline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sv6d.cli.cmd_encode import (
    BackboneOption,
    CheckpointOption,
    HeadsOption,
    HookOption,
    WorkersOption,
    _render,
    encoder_options,
)
from sv6d.cli.output import DataDirOption, JsonOption, data_dir, emit

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
    @app.command("ingest")
    def ingest(
        paths: Annotated[list[Path], typer.Argument(help="Video files, folders, or list files (.txt).")],
        data_dir_opt: DataDirOption = None,
        location: LocationOption = None,
        recipe: RecipeOption = None,
        workers: WorkersOption = 2,
        backbone: BackboneOption = "evidence",
        checkpoint: CheckpointOption = None,
        heads: HeadsOption = None,
        hook_s: HookOption = 3.0,
        as_json: JsonOption = False,
    ) -> None:
        """Encode videos and upsert them into the index (same JSON as ``sv6d encode``)."""
        from tqdm import tqdm

        from encoder.batch import collect_inputs
        from sv6d.cli import workflows

        options = encoder_options(backbone, checkpoint, heads, hook_s)
        root = data_dir(data_dir_opt)
        total = len(collect_inputs(paths))
        with tqdm(
            total=total, desc="ingest", unit="video", file=sys.stderr, disable=None, leave=False
        ) as bar:
            result = workflows.ingest(
                paths,
                root,
                location=location,
                recipe=recipe,
                workers=workers,
                encoder_options=options,
                on_progress=lambda _f, _s: bar.update(1),
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
        hook_s: HookOption = 3.0,
        as_json: JsonOption = False,
    ) -> None:
        """Draw a record's timeline: shots, tags per dimension, energy curve."""
        from sv6d.cli import workflows
        from sv6d.timeline import save_timeline

        if Path(video).exists():
            from encoder.pipeline import Encoder

            record = Encoder(hook_s=hook_s).encode_file(video)
        else:
            record = workflows.find_record(data_dir(data_dir_opt), video, location)
        path = save_timeline(record, out)
        result: dict[str, Any] = {
            "video_id": record.video_id,
            "out": str(path),
            "tags": [t.model_dump(mode="json") for t in record.tags],
        }
        emit(
            result,
            as_json,
            lambda r: print(f"{r['video_id']}: {len(r['tags'])} tags, timeline in {r['out']}"),
        )
