"""``make demo``: generate a small corpus, ingest it into the embedded index, show similar hooks, then
recommend from a ranker trained on simulated engagement (the platform of ``ranker/simulate.py``).

Run as ``python -m cli.demo [--data-dir D] [--n N]``. Everything lands in the data directory (default
``./data``), so a second run reuses the corpus, the records and the index.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sv6d.settings import resolve_data_dir

DEMO_N = 40


def main(argv: list[str] | None = None) -> int:
    from sv6d.errors import SV6DError

    try:
        return _demo(argv)
    except SV6DError as exc:  # a clear line, never a stack trace
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _demo(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--n", type=int, default=DEMO_N, help="videos to generate")
    parser.add_argument("--k", type=int, default=5, help="similar hooks to show")
    args = parser.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from cli import workflows
    from sv6d.synth.corpus import generate_corpus, read_manifest

    console = Console(stderr=True)
    data_dir = resolve_data_dir(args.data_dir)
    corpus = data_dir / "demo_corpus"
    console.print(f"[bold]1/4[/] generating {args.n} videos with known hook archetypes in {corpus}")
    generate_corpus(corpus, n=args.n, seed=0)
    entries = read_manifest(corpus)
    upgraded = bring_to_its_encoder(data_dir)
    if upgraded is not None:
        console.print(
            f"    {data_dir} held records of other heads ({upgraded.head_version_before}): brought its "
            f"{upgraded.records} records to {upgraded.head_version} first (sv6d upgrade)"
        )
    console.print(f"[bold]2/4[/] encoding (evidence backbone, CPU) and indexing (FAISS Flat) into {data_dir}")
    result = workflows.ingest([e.path for e in entries], data_dir)
    console.print(
        f"    {len(result.encoded)} encoded, {len(result.skipped)} already done, {len(result.failed)} failed"
    )

    from indexer import open_index

    archetype_of = {}
    records = {r.source: r for r in workflows.stored_records(workflows.records_dir(data_dir))}
    for e in entries:
        rec = records.get(str(e.path.resolve()))
        if rec is not None:
            archetype_of[rec.video_id] = e.archetype
    query_entry = entries[0]
    query = records[str(query_entry.path.resolve())]
    console.print(
        f"[bold]3/4[/] videos whose hooks are most similar to {query.video_id} ({query_entry.archetype})"
    )
    with open_index(None, data_dir=data_dir, read_only=True) as index:
        hits = index.similar_hooks(query.video_id, k=args.k)
    from indexer import Weights

    total = Weights.of(None, "hook").total  # the default hook weights the search used
    from cli.cmd_index import opens_like

    table = Table(
        title=f"similar hooks to {query.video_id} ({query_entry.archetype}; opens like "
        f"{opens_like(query.hook_style)}) (match: weighted mean of the per-dimension cosines, -1..1; "
        "style: how alike the two openings' style profiles are, -1..1; the order blends the two)"
    )
    for col in ["video", "archetype", "match", "style", "subj", "aest", "cam", "edit", "narr", "diss"]:
        table.add_column(col, no_wrap=True)
    table.add_column("shared hook tags", overflow="fold")
    for h in hits:
        s = h.scores
        table.add_row(
            h.video_id,
            archetype_of.get(h.video_id, "?"),
            f"{h.score / total:.3f}",
            "-" if h.style is None else f"{h.style:.2f}",
            *(
                f"{s[d]:.2f}"
                for d in ["subject", "aesthetics", "camera", "editing", "narrative", "dissemination"]
            ),
            ", ".join(sorted({t.label for t in h.shared_tags})),
        )
    Console(width=max(Console().width, 140)).print(table)
    same = sum(1 for h in hits if archetype_of.get(h.video_id) == query_entry.archetype)
    console.print(f"{same}/{len(hits)} hits share the query's hook archetype")
    recommend_from_trained_model(data_dir, [records[str(e.path.resolve())] for e in entries], console)
    console.print(
        "next: sv6d hooks VIDEO_ID, sv6d show VIDEO_ID --out timeline.png, sv6d eval-hooks, sv6d serve, "
        "sv6d ranker train"
    )
    return 0


def bring_to_its_encoder(data_dir: Path) -> Any:
    """``sv6d upgrade`` of a data directory whose stored records are not all this release's encoder's (a
    second demo after the packaged heads changed); the upgrade's result, or None when there was nothing to
    do."""
    from cli.upgrade import this_release_spec, upgrade
    from sv6d.datadir import records_dir

    if not records_dir(data_dir).is_dir():
        return None
    result = upgrade(data_dir, this_release_spec(data_dir))
    return result if result.switched else None


# Simulated users of the demo platform: small enough to add about two seconds to the demo.
DEMO_USERS = {"n_users": 60, "impressions": 20}


def recommend_from_trained_model(data_dir: Path, records: list[Any], console: Any) -> None:
    """Post simulated engagement to the API, train the ranker on what it logged (``sv6d ranker train``),
    reload the API's model and print one recommendation it scored."""
    import polars as pl
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.settings import Settings
    from ranker.model import RankerModel
    from ranker.registry import latest_model
    from ranker.simulate import simulate_events
    from ranker.training import TrainConfig, serving_schema, train_data_dir

    console.print(
        f"[bold]4/4[/] SIMULATED platform: {DEMO_USERS['n_users']} simulated users engage; a ranker"
    )
    console.print("    is trained on the events the API logged (sv6d ranker train) and scores a request")
    events = simulate_events(records, DEMO_USERS, seed=0)
    with TestClient(create_app(Settings(data_dir=data_dir, auth_disabled=True))) as client:
        for start in range(0, events.height, 1000):
            batch = events.slice(start, 1000).with_columns(pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ"))
            r = client.post("/v1/events", json={"events": batch.to_dicts()})
            r.raise_for_status()
        latest = latest_model(data_dir)
        n_events = client.app.state.services.events.read().height  # type: ignore[attr-defined]
        last = RankerModel.load(latest) if latest is not None else None
        # Reuse the newest model when it was trained on these very events under the serving schema.
        if last is None or (last.training.get("events"), last.schema_version) != (
            n_events,
            serving_schema().version,
        ):
            train_data_dir(data_dir, TrainConfig(snapshots=2))
        client.post("/v1/admin/reload-model").raise_for_status()
        body = client.post("/v1/recommend", json={"user_id": "su0", "k": 1}).json()
    top = body["items"][0]
    model = body["model"] or {}
    console.print(
        f"recommend su0 -> {top['video_id']}: scorer {body['scorer']}, model {model.get('id')} (feature "
        f"schema {model.get('feature_schema_version')}, validation NDCG@10 "
        f"{model.get('valid_ndcg_at_10', float('nan')):.3f}); relevance {top['relevance']:.3f}, from "
        f"{len(top['channels'])} channels"
    )


if __name__ == "__main__":
    sys.exit(main())
