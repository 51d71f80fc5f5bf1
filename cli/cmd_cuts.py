"""``sv6d eval-cuts``: our transition detector against ground truth on real footage, beside PySceneDetect."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.output import JsonOption, emit, print_table


def register(app: typer.Typer) -> None:
    @app.command("eval-cuts")
    def eval_cuts(
        videos_dir: Annotated[Path, typer.Argument(help="Folder with the videos.")],
        goldens_dir: Annotated[
            Path, typer.Argument(help="Folder with <video>.truth.json (and peer outputs).")
        ],
        dissolves: Annotated[
            bool, typer.Option("--dissolves/--no-dissolves", help="Report dissolves (the goldens list none).")
        ] = True,
        as_json: JsonOption = False,
    ) -> None:
        """Precision / recall / F1 of detected cuts (±2 frames) and gradual transitions (overlapping spans)
        per file, with PySceneDetect's reference outputs scored the same way."""
        from encoder.cut_eval import PEER_DETECTORS, evaluate_cuts
        from encoder.transitions import TransitionConfig

        config = TransitionConfig() if dissolves else TransitionConfig(dissolves=None)
        result = evaluate_cuts(videos_dir, goldens_dir, config)

        def render(r: dict) -> None:
            headers = ["file", "precision", "recall", "F1", "tp/fp/fn"] + [f"{d} F1" for d in PEER_DETECTORS]
            rows = []
            for f in r["files"]:
                peers = [f["peers"][d]["f1"] if d in f["peers"] else "-" for d in PEER_DETECTORS]
                rows.append(
                    [
                        f["file"],
                        f["precision"],
                        f["recall"],
                        f["f1"],
                        f"{f['tp']}/{f['fp']}/{f['fn']}",
                        *peers,
                    ]
                )
            peers_all = [r["peers"][d]["f1"] if d in r["peers"] else "-" for d in PEER_DETECTORS]
            rows.append(["(all, micro)", r["precision"], r["recall"], r["f1"], "", *peers_all])
            print_table(headers, rows, "transitions vs ground truth")

        emit(result, as_json, render)
