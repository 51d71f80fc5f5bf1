"""``sv6d experiment run CONFIG``: an offline ranking experiment (ranker.experiment) into a run folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.output import JsonOption, print_table

_ENCODER: Any = None


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Offline recommendation experiments.", no_args_is_help=True)

    @group.command("run")
    def run(
        config: Annotated[Path, typer.Argument(help="Experiment TOML (e.g. experiments/kuairand.toml).")],
        out: Annotated[
            Path | None, typer.Option("--out", help="Run folder (default runs/<name>-<time>).")
        ] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Run an experiment: split by time, train and evaluate the systems, write report, JSON and plots."""
        from ranker.experiment import run_experiment

        def log(message: str) -> None:
            sys.stderr.write(message + "\n")

        def encode_file(path: Any, **meta: Any) -> Any:
            # Built on first use: only a simulated source without stored records needs the encoder.
            from encoder.pipeline import Encoder

            global _ENCODER
            if _ENCODER is None:
                _ENCODER = Encoder()
            return _ENCODER.encode_file(path, **meta)

        result = run_experiment(config, out, log=log, encode_file=encode_file)
        if as_json:
            keep = ("ndcg_at_10", "recall_at_10", "recall_at_50", "map", "coverage_at_10")
            systems = {
                s: {
                    k: v for k, v in r.items() if k.removesuffix("_ci") in keep or k == "p_vs_best_ndcg_at_10"
                }
                for s, r in result["systems"].items()
            }
            doc = {"systems": systems, "run_dir": result["run_dir"]}
            for key in ("headline", "ceiling_pooled"):
                if key in result:
                    doc[key] = result[key]
            sys.stdout.write(json.dumps(doc) + "\n")
            return
        rows = []
        for s, r in result["systems"].items():
            lo, hi = r["ndcg_at_10_ci"]
            rows.append(
                [s, r["ndcg_at_10"], f"[{lo:.4f}, {hi:.4f}]", r["recall_at_10"], r["recall_at_50"], r["map"]]
            )
        title = result["name"] + (
            f" (pooled over {len(result['windows'])} windows)" if result["pooled"] else ""
        )
        print_table(["system", "NDCG@10", "95% CI", "Recall@10", "Recall@50", "MAP"], rows, title)
        head = result.get("headline")
        if head:
            ratio = "n/a" if head["ratio"] is None else f"{head['ratio']:.2f}x"
            lo, hi = head["ratio_ci"]
            sys.stdout.write(
                f"best model {head['model']} vs best baseline {head['baseline']}: NDCG@10 "
                f"{head['model_ndcg_at_10']:.4f} vs {head['baseline_ndcg_at_10']:.4f}, ratio {ratio} "
                f"[{lo:.2f}, {hi:.2f}], p = {head['p_value']:.4f}; per window: "
                + ", ".join(
                    f"{w['model_ndcg_at_10']:.4f}/{w['baseline_ndcg_at_10']:.4f} (p {w['p_value']:.4f})"
                    for w in head["per_window"]
                )
                + "\n"
            )
        cp = result["ceiling_pooled"]
        sys.stdout.write(
            f"ceiling: {cp['share_seen_before_window']:.3f} of test likes on videos seen before the window, "
            f"{cp['share_in_candidates']:.3f} inside the candidates ({cp['reachable_in_candidates']:.3f} of "
            "the reachable ones); perfect NDCG@10 of the candidates per window: "
            + ", ".join(f"{w['ceiling']['perfect_ndcg_at_10_candidates']:.4f}" for w in result["windows"])
            + "\n"
        )
        sys.stdout.write(f"run folder: {result['run_dir']}\n")

    app.add_typer(group, name="experiment")
