"""``sv6d ranker train``: train the serving ranker from a data directory's logged events and feature log."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from cli.output import DataDirOption, JsonOption, data_dir, emit


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The serving ranker model.", no_args_is_help=True)

    @group.command("train")
    def train(
        data_dir_opt: DataDirOption = None,
        snapshots: Annotated[
            int, typer.Option("--snapshots", min=1, help="Training cut-offs (quantiles of event time).")
        ] = 3,
        as_json: JsonOption = False,
    ) -> None:
        """Train LightGBM lambdarank on the events (and feature log) the API logged; save it under
        DATA_DIR/models, where `sv6d serve` loads the newest at start and on SIGHUP or
        POST /v1/admin/reload-model."""
        from ranker.training import TrainConfig, describe, train_data_dir

        def log(message: str) -> None:
            sys.stderr.write(message + "\n")

        model, path = train_data_dir(data_dir(data_dir_opt), TrainConfig(snapshots=snapshots), log=log)
        doc: dict[str, Any] = {**describe(model), "path": str(path), "metrics": model.metrics}

        def render(d: dict[str, Any]) -> None:
            sys.stdout.write(
                f"model {d['id']} (feature schema {d['feature_schema_version']}): validation NDCG@10 "
                f"{d['valid_ndcg_at_10']:.4f} on {d['metrics']['valid_requests']} held-out requests, "
                f"trained on {d['trained_on_events']} events\nsaved to {d['path']}\n"
            )

        emit(doc, as_json, render)

    app.add_typer(group, name="ranker")
