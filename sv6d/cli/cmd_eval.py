"""``sv6d eval-tags`` and ``sv6d eval-hooks`` on the generated corpus."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sv6d.cli.output import DataDirOption, JsonOption, data_dir, emit, print_table

CorpusArg = Annotated[
    Path | None,
    typer.Argument(help="A generated corpus folder (default: DATA_DIR/corpus, generated when missing)."),
]
WorkersOption = Annotated[int, typer.Option("--workers", min=1, help="Encoder worker processes.")]


def _pairs(corpus: Path | None, data_dir_opt: Path | None, workers: int) -> Any:
    from tqdm import tqdm

    from sv6d.cli.evaluation import corpus_pairs

    with tqdm(desc="encode corpus", unit="video", file=sys.stderr, disable=None, leave=False) as bar:
        return corpus_pairs(data_dir(data_dir_opt), corpus, workers, on_progress=lambda _f, _s: bar.update(1))


def register(app: typer.Typer) -> None:
    @app.command("eval-tags")
    def eval_tags_cmd(
        corpus: CorpusArg = None,
        data_dir_opt: DataDirOption = None,
        workers: WorkersOption = 2,
        as_json: JsonOption = False,
    ) -> None:
        """Tag precision/recall/F1 per dimension (IoU >= 0.5, Hungarian) and cut F1 on a generated corpus."""
        from sv6d.cli.evaluation import eval_tags

        result = eval_tags(_pairs(corpus, data_dir_opt, workers))

        def render(r: dict[str, Any]) -> None:
            rows = [
                [d, m["precision"], m["recall"], m["f1"], m["tp"], m["fp"], m["fn"]]
                for d, m in r["dimensions"].items()
            ]
            o = r["overall"]
            rows.append(["overall", o["precision"], o["recall"], o["f1"], o["tp"], o["fp"], o["fn"]])
            for key, name in (
                ("cuts", "cuts+fades"),
                ("hard_cuts", "hard cuts"),
                ("gradual", "fades+dissolves"),
            ):
                if key in r:
                    c = r[key]
                    rows.append([name, c["precision"], c["recall"], c["f1"], c["tp"], c["fp"], c["fn"]])
            print_table(
                ["dimension", "precision", "recall", "F1", "tp", "fp", "fn"], rows, f"{r['videos']} videos"
            )

        emit(result, as_json, render)

    @app.command("eval-hooks")
    def eval_hooks_cmd(
        corpus: CorpusArg = None,
        data_dir_opt: DataDirOption = None,
        k: Annotated[int, typer.Option("--k", min=1, help="Hits per query.")] = 10,
        workers: WorkersOption = 2,
        as_json: JsonOption = False,
    ) -> None:
        """Similar-hook precision@k by hook archetype on a generated corpus."""
        from sv6d.cli.evaluation import eval_hooks

        result = eval_hooks(_pairs(corpus, data_dir_opt, workers), k=k)
        key = f"precision_at_{k}"
        if k == 10:
            result["precision_at_10"] = result[key]

        def render(r: dict[str, Any]) -> None:
            rows: list[list[Any]] = [[a, p] for a, p in r["archetypes"].items()]
            rows.append(["all", r[key]])
            print_table(["archetype", f"precision@{k}"], rows, f"similar hooks, {r['videos']} videos")

        emit(result, as_json, render)
