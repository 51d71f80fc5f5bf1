"""``sv6d index`` (index encoded record shards) and ``sv6d hooks`` (similar hooks of a stored video)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.output import DataDirOption, JsonOption, data_dir, emit, print_table
from sv6d.errors import ConfigError

if TYPE_CHECKING:
    from indexer import Weights

LocationOption = Annotated[
    str | None,
    typer.Option(
        "--location", help="Index location: a path, faiss://DIR, qdrant::memory:, qdrant+path://DIR, URL."
    ),
]


def parse_weights_option(text: str | None) -> Weights | None:
    """``subject=1,editing=2`` → those weights (``indexer.Weights``: a dimension left out weighs 1); None when
    the option names none (the search's defaults apply)."""
    out: dict[str, float] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(
                f"--weights: {part.strip()!r} is not NAME=NUMBER (e.g. subject=1,editing=2)"
            ) from None
    from indexer import Weights

    return Weights.of(out) if out else None


def opens_like(profile: dict[str, float], n: int = 3) -> str:
    """The likeliest opening styles of a ``hook_style`` profile, for people: "caption_hook 0.93, ..." (up to
    ``n``, those of at least 0.01)."""
    if not profile:
        return "- (no style profile)"
    top = sorted(profile.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{label} {p:.2f}" for i, (label, p) in enumerate(top) if i == 0 or p >= 0.01)


def register(app: typer.Typer) -> None:
    @app.command("index")
    def index_cmd(
        shards: Annotated[list[Path], typer.Argument(help="Parquet record shards written by sv6d encode.")],
        data_dir_opt: DataDirOption = None,
        recipe: Annotated[
            str | None, typer.Option("--recipe", help="FAISS factory string (default Flat).")
        ] = None,
        location: LocationOption = None,
        batch: Annotated[int, typer.Option("--batch", min=1, help="Records per atomic upsert.")] = 5000,
        as_json: JsonOption = False,
    ) -> None:
        """Index already-encoded record shards (each batch is committed atomically)."""
        from cli.output import progress
        from indexer import open_index
        from sv6d.record import with_ingest_time
        from sv6d.record_io import read_records

        for shard in shards:
            if not shard.is_file():
                raise ConfigError(f"{shard}: no such record shard")
        indexed = 0
        with open_index(location, data_dir=None if location else data_dir(data_dir_opt), recipe=recipe) as ix:
            for shard in progress(shards, "indexing shards"):
                records = read_records(shard)
                for i in range(0, len(records), batch):
                    indexed += ix.upsert(with_ingest_time(records[i : i + batch]))
            result = {"shards": [str(s) for s in shards], "indexed": indexed, "count": ix.count()}

        def render(r: dict[str, Any]) -> None:
            print_table(
                ["shards", "indexed", "videos in index"], [[len(r["shards"]), r["indexed"], r["count"]]]
            )

        emit(result, as_json, render)

    @app.command("hooks")
    def hooks_cmd(
        video_id: Annotated[str, typer.Argument(help="A stored video id.")],
        k: Annotated[int, typer.Option("--k", help="Number of hits (1..1000).")] = 10,
        weights: Annotated[
            str | None, typer.Option("--weights", help="Per-dimension weights, e.g. subject=1,editing=2.")
        ] = None,
        style: Annotated[
            float | None,
            typer.Option(
                "--style",
                min=0.0,
                max=1.0,
                help="The opening style's share of the ranking, 0-1 (default: the index's; 0: vectors only).",
            ),
        ] = None,
        data_dir_opt: DataDirOption = None,
        location: LocationOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Videos whose hooks are structurally closest to VIDEO_ID's hook, with the tags both hooks share
        and how alike the two openings' style profiles are (which the ranking blends in)."""
        from indexer import open_index

        w = parse_weights_option(weights)
        read_only = location is None or not location.startswith(("qdrant", "http"))
        ix = open_index(location, data_dir=None if location else data_dir(data_dir_opt), read_only=read_only)
        with ix:
            query = ix.get(video_id)
            hits = ix.similar_hooks(video_id, k=k, weights=w, style=style)
        from indexer import Weights
        from sv6d.dimensions import DIMENSIONS

        # the weights the search used (its default hook weights when none were given); "match" is their
        # weighted mean of the per-dimension cosines (-1..1), "score" the raw weighted sum
        used = Weights.of(w, "hook")
        total = used.total
        result = {
            "query": {
                "video_id": video_id,
                "window": list(query.hook_window),
                "weights": used.as_dict(),
                "hook_style": query.hook_style,
            },
            "hits": [
                {
                    **{
                        key: h.to_json()[key]
                        for key in ("video_id", "score", "scores", "style", "window", "shared_tags")
                    },
                    "match": round(h.score / total, 4),
                }
                for h in hits
            ],
        }

        def render(r: dict[str, Any]) -> None:
            dims = [d.value for d in DIMENSIONS]
            rows = [
                [
                    h["video_id"],
                    h["match"],
                    "-" if h["style"] is None else round(h["style"], 3),
                    *[h["scores"][d] for d in dims],
                    f"{h['window'][0]:.2f}-{h['window'][1]:.2f}s",
                    ", ".join(f"{t['dimension']}:{t['label']}" for t in h["shared_tags"]),
                ]
                for h in r["hits"]
            ]
            q = r["query"]
            weights = ", ".join(f"{d}={v:g}" for d, v in q["weights"].items())
            title = (
                f"similar hooks of {q['video_id']} (hook {q['window'][0]:.2f}-{q['window'][1]:.2f}s; "
                f"opens like {opens_like(q['hook_style'])}; match = weighted mean of the cosines, -1..1; "
                f"style = how alike the two openings' style profiles are, -1..1, blended into the order; "
                f"weights {weights})"
            )
            print_table(["video_id", "match", "style", *dims, "window", "shared tags"], rows, title)

        emit(result, as_json, render)
