"""Entry point of ``sv6d``. Each command group lives in its own module exposing ``register(app)``."""

from __future__ import annotations

import importlib
import sys

import typer

from sv6d.errors import SV6DError

app = typer.Typer(
    name="sv6d",
    help="Structural video retrieval and recommendation over SV6D embeddings.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Modules that add commands; each defines register(app). Imports of heavy libraries stay inside commands.
COMMAND_MODULES: list[str] = [
    "cli.cmd_vocab",
    "cli.cmd_index",
    "cli.cmd_generate",
    "cli.cmd_encode",
    "cli.cmd_ingest",
    "cli.cmd_eval",
    "cli.cmd_cuts",
    "cli.cmd_serve",
    "cli.cmd_experiment",
    "cli.cmd_ranker",
    "cli.cmd_heads",
]

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


@app.callback()
def _root() -> None:
    """Structural video retrieval and recommendation over SV6D embeddings."""


def main() -> None:
    """Run the CLI; expected errors print one line on stderr (exit 2), never a traceback."""
    try:
        app()
    except SV6DError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
    except (ValueError, FileNotFoundError, PermissionError) as exc:
        sys.stderr.write(f"error: {_one_line(exc)}\n")
        sys.exit(2)


def _one_line(exc: BaseException) -> str:
    """A pydantic validation error as ``Model: field: problem; ...``; anything else as its message."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        return f"{exc.title}: {problems}"
    return str(exc)


if __name__ == "__main__":
    main()
