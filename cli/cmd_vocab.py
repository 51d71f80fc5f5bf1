"""``sv6d vocab``: the tag vocabulary, with definitions and required evidence."""

from __future__ import annotations

import typer

from cli.output import JsonOption, emit, print_table
from sv6d.vocabulary import default_vocabulary


def register(app: typer.Typer) -> None:
    @app.command("vocab")
    def vocab(as_json: JsonOption = False) -> None:
        """List the tag vocabulary: label, dimension, definition, required evidence."""
        v = default_vocabulary()
        result = {
            "version": v.version,
            "labels": [
                {
                    "label": s.label,
                    "dimension": s.dimension.value,
                    "kind": s.kind,
                    "definition": s.definition,
                    "evidence": list(s.evidence),
                }
                for s in v.labels.values()
            ],
        }

        def render(r: dict) -> None:
            rows = [
                [x["dimension"], x["label"], x["definition"], ", ".join(x["evidence"])] for x in r["labels"]
            ]
            print_table(["dimension", "label", "definition", "evidence"], rows, f"vocabulary v{r['version']}")

        emit(result, as_json, render)
