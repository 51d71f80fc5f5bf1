"""``sv6d generate``: render the generated corpus (videos with known structure, ground-truth manifest)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.output import DataDirOption, JsonOption, data_dir, emit, print_table, progress


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate(
        out: Annotated[
            Path | None, typer.Option("--out", help="Output folder (default: <data-dir>/corpus).")
        ] = None,
        n: Annotated[int, typer.Option("--n", min=1, help="Number of videos.")] = 100,
        seed: Annotated[int, typer.Option("--seed", help="Seed: the same seed gives the same corpus.")] = 0,
        workers: Annotated[int, typer.Option("--workers", min=1, help="Rendering processes.")] = 2,
        data_dir_opt: DataDirOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Generate (or reuse) a corpus of short videos with known cuts, moves, overlays and audio."""
        from sv6d.synth.corpus import generate_corpus, read_manifest

        folder = out if out is not None else data_dir(data_dir_opt) / "corpus"

        def bar(items: Iterator[Any], total: int) -> Iterable[Any]:
            return progress(items, "generate", total=total)

        started = time.perf_counter()
        manifest = generate_corpus(folder, n=n, seed=seed, workers=workers, progress=bar)
        seconds = time.perf_counter() - started
        entries = read_manifest(manifest)
        counts: dict[str, int] = {}
        for e in entries:
            counts[e.archetype] = counts.get(e.archetype, 0) + 1
        result = {
            "corpus": str(folder),
            "manifest": str(manifest),
            "n": len(entries),
            "seed": seed,
            "seconds": round(seconds, 2),
            "archetypes": counts,
            "n_truth_tags": sum(len(e.truth) for e in entries),
        }

        def render(r: dict[str, Any]) -> None:
            rows = [[a, c] for a, c in sorted(r["archetypes"].items())]
            print_table(["archetype", "videos"], rows, f"{r['n']} videos in {r['corpus']} ({r['seconds']} s)")

        emit(result, as_json, render)
