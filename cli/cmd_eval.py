"""``sv6d eval-tags`` and ``sv6d eval-hooks`` on the generated corpus."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.output import DataDirOption, JsonOption, data_dir, emit, print_table

CorpusArg = Annotated[
    Path | None,
    typer.Argument(help="A generated corpus folder (default: DATA_DIR/corpus, generated when missing)."),
]
WorkersOption = Annotated[int, typer.Option("--workers", min=1, help="Encoder worker processes.")]


def _pairs(corpus: Path | None, data_dir_opt: Path | None, workers: int) -> Any:
    from tqdm import tqdm

    from cli.evaluation import corpus_pairs

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
        from cli.evaluation import eval_tags

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
        real: Annotated[
            bool,
            typer.Option(
                "--real",
                help="The real-footage benchmark: real videos re-cut into known opening styles, a fixed "
                "source-disjoint split, two baselines (P@5 by style, same-footage share).",
            ),
        ] = False,
        videos: Annotated[
            Path | None,
            typer.Option(
                "--videos",
                help="With --real: the folder of source videos (default $SV6D_SHARED_DATA/videos, "
                "else ../shared/data/videos).",
            ),
        ] = None,
        split_file: Annotated[
            Path | None,
            typer.Option("--split", help="With --real: a split manifest (default: the built-in one)."),
        ] = None,
        weights: Annotated[
            str | None, typer.Option("--weights", help="With --real: hook weights, e.g. camera=2,editing=1.")
        ] = None,
        tune_weights: Annotated[
            bool,
            typer.Option(
                "--tune-weights", help="With --real: choose weights on the training sources, then report."
            ),
        ] = False,
        heads: Annotated[
            Path | None, typer.Option("--heads", help="With --real: a folder of trained projection heads.")
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="With --real: the renderer's seed.")] = 0,
        rhythm: Annotated[
            str | None,
            typer.Option(
                "--rhythm",
                help="With --real: also report the search with its top hits re-ordered by edit rhythm "
                "(indexer.rhythm): ALPHA,TIMING (TIMING in [0, 1]: the cut times' share), or 'tune' to "
                "choose them on the training sources.",
            ),
        ] = None,
        styles: Annotated[
            str | None,
            typer.Option(
                "--styles",
                help="With --real: a comma-separated subset of the styles, or 'probe': openings the hook "
                "heads never trained on (sv6d.hookbench.render.PROBE_STYLES), reported apart.",
            ),
        ] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Similar-hook precision@k by hook archetype on a generated corpus; with --real, P@5 by opening style
        on real footage re-cut by an independent renderer (held-out and training sources, with baselines)."""
        if real:
            _eval_hooks_real(
                data_dir_opt, videos, split_file, weights, tune_weights, heads, seed, styles, as_json, rhythm
            )
            return
        from cli.evaluation import eval_hooks

        result = eval_hooks(_pairs(corpus, data_dir_opt, workers), k=k)
        key = f"precision_at_{k}"
        if k == 10:
            result["precision_at_10"] = result[key]

        def render(r: dict[str, Any]) -> None:
            rows: list[list[Any]] = [[a, p] for a, p in r["archetypes"].items()]
            rows.append(["all", r[key]])
            print_table(["archetype", f"precision@{k}"], rows, f"similar hooks, {r['videos']} videos")

        emit(result, as_json, render)


def default_videos_dir() -> Path:
    """``$SV6D_SHARED_DATA/videos``, else ``../shared/data/videos`` from the working directory."""
    import os

    root = os.environ.get("SV6D_SHARED_DATA")
    return Path(root) / "videos" if root else Path("..") / "shared" / "data" / "videos"


def _eval_hooks_real(
    data_dir_opt: Path | None,
    videos: Path | None,
    split_file: Path | None,
    weights: str | None,
    tune: bool,
    heads: Path | None,
    seed: int,
    styles: str | None,
    as_json: bool,
    rhythm: str | None = None,
) -> None:
    from tqdm import tqdm

    from cli.cmd_encode import encoder_options
    from cli.cmd_index import parse_weights_option
    from cli.hookbench_eval import K, run_benchmark
    from encoder.batch import build_encoder
    from sv6d.errors import ConfigError
    from sv6d.hookbench import STYLES, load_split
    from sv6d.hookbench.render import PROBE_STYLES

    vdir = videos or default_videos_dir()
    if not vdir.is_dir():
        raise ConfigError(f"{vdir}: no such folder of source videos (give --videos DIR)")
    if tune and weights:
        raise ConfigError("--weights and --tune-weights exclude each other")
    rhythm_params: tuple[float, float] | None = None
    if rhythm is not None and rhythm != "tune":
        try:
            alpha, timing = (float(x) for x in rhythm.split(","))
        except ValueError:
            raise ConfigError(
                f"--rhythm takes ALPHA,TIMING (two numbers) or 'tune', got {rhythm!r}"
            ) from None
        if not (alpha >= 0 and 0 <= timing <= 1):
            raise ConfigError(f"--rhythm: ALPHA must be >= 0 and TIMING in [0, 1], got {rhythm!r}")
        rhythm_params = (alpha, timing)
    chosen = [x.strip() for x in styles.split(",") if x.strip()] if styles else list(STYLES)
    if chosen == ["probe"]:
        chosen = list(PROBE_STYLES)
    if (tune or rhythm == "tune") and set(chosen) & set(PROBE_STYLES):
        msg = "--tune-weights and --rhythm tune refuse the probe styles: nothing is tuned on those"
        raise ConfigError(msg)
    split = load_split(split_file)
    encoder = build_encoder(**encoder_options("evidence", None, heads, 3.0))
    with tqdm(desc="hook benchmark", unit="step", file=sys.stderr, disable=None, leave=False) as bar:
        result = run_benchmark(
            vdir,
            data_dir(data_dir_opt) / "hookbench",
            split,
            encoder,
            weights=parse_weights_option(weights) or None,
            styles=chosen,
            seed=seed,
            tune=tune,
            on_progress=lambda _msg: bar.update(1),
            rhythm=rhythm_params,
            tune_rhythm_on_train=rhythm == "tune",
        )

    def render(r: dict[str, Any]) -> None:
        shown = r["benchmark"]["styles"]
        for side in ("heldout", "train"):
            if side not in r:
                continue
            systems = r[side]["systems"]
            names = ["encoder", "baseline_structural", "baseline_colour_histogram"]
            names[1:1] = ["encoder_rhythm"] if "encoder_rhythm" in systems else []
            rows: list[list[Any]] = [[s, *(systems[n]["by_style"].get(s, "") for n in names)] for s in shown]
            rows.append([f"P@{K} all", *(systems[n][f"p_at_{K}"] for n in names)])
            rows.append([f"same footage@{K}", *(systems[n][f"same_footage_at_{K}"] for n in names)])
            title = (
                f"{side}: {r[side]['clips']} clips from {r[side]['sources']} sources "
                f"(chance P@{K} {systems['chance'][f'p_at_{K}']}, same footage "
                f"{systems['chance'][f'same_footage_at_{K}']})"
            )
            heads = ["style", "encoder", "structural baseline", "colour histogram"]
            heads[2:2] = ["encoder + rhythm"] if "encoder_rhythm" in systems else []
            print_table(heads, rows, title)
            dims = [
                [n.removeprefix("dimension_"), m[f"p_at_{K}"], m[f"same_footage_at_{K}"]]
                for n, m in systems.items()
                if n.startswith("dimension_")
            ]
            print_table(["dimension alone", f"P@{K}", f"same footage@{K}"], dims, f"{side}: one dimension")
            text = systems.get("text_queries")
            if text:
                trows: list[list[Any]] = [
                    [s, text["by_style"][s], text["best_score"][s]] for s in shown if s in text["by_style"]
                ]
                trows.append(["all", text["recall_at_10"], ""])
                trows += [[f"nonsense: {q}", "", v] for q, v in text["nonsense_best_score"].items()]
                print_table(["text query (style)", "recall@10", "best score"], trows, f"{side}: text -> hook")
        w = ", ".join(f"{d}={v:g}" for d, v in r["benchmark"]["weights"].items())
        tuned = " (tuned on the training sources)" if r["benchmark"]["weights_tuned_on_train"] else ""
        print(f"weights: {w}{tuned}")

    emit(result, as_json, render)
