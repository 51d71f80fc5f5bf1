"""Shared CLI conventions: results on stdout (a table, or one JSON document with --json), progress and
errors on stderr, data directory resolution."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from sv6d.settings import resolve_data_dir

T = TypeVar("T")

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default: $SV6D_DATA_DIR, else ./data)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def data_dir(option: Path | None) -> Path:
    return resolve_data_dir(option)


def emit(result: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """Print ``result`` as JSON (one document) or through ``render`` for people."""
    if as_json:
        sys.stdout.write(json.dumps(result, default=_json_default) + "\n")
    else:
        render(result)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def progress(items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """A progress bar on stderr (tqdm), silent when stderr is not a terminal and disabled in CI logs."""
    from tqdm import tqdm

    yield from tqdm(items, desc=desc, total=total, file=sys.stderr, disable=None, leave=False)


def print_table(headers: list[str], rows: list[list[Any]], title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for h in headers:
        table.add_column(h)
    for row in rows:
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    Console().print(table)
