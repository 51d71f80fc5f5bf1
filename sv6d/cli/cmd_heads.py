"""``sv6d train-heads``, ``sv6d reproject``, ``sv6d eval-heads``: contrastive heads on cached features."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from sv6d.cli.output import JsonOption, emit, print_table

BackboneOpt = Annotated[str, typer.Option("--backbone", help="evidence or vlm.")]
CheckpointOpt = Annotated[
    Path | None, typer.Option("--checkpoint", help="VLM checkpoint folder (default: a tiny random one).")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for the generated corpus and training.")]


def _backbone(name: str, checkpoint: Path | None, workdir: Path):  # type: ignore[no-untyped-def]
    from encoder.backbone import get_backbone

    if name == "vlm":
        if checkpoint is None:
            from encoder.vlm.tiny import build_tiny_checkpoint

            checkpoint = build_tiny_checkpoint(workdir / "tiny-qwen2-vl", "qwen2_vl")
        return get_backbone("vlm", checkpoint=checkpoint)
    return get_backbone(name)


def _split(ids: list[str]) -> tuple[list[str], list[str], list[str]]:
    n = len(ids)
    a, b = int(n * 0.6), int(n * 0.8)
    return ids[:a], ids[a:b], ids[b:]


def run_eval(
    backbone_name: str, checkpoint: Path | None, videos: int, seed: int, epochs: int, cache_dir: Path | None
) -> dict:
    """Generate, encode (cached), train on 60 %, early-stop on 20 %, evaluate on the held-out 20 %."""
    from encoder.contrastive.cache import FeatureCache
    from encoder.contrastive.corpus import generated_corpus
    from encoder.contrastive.evaluate import evaluate_heads
    from encoder.contrastive.train import TrainConfig, train_heads
    from encoder.contrastive.workflow import fill_cache, labelled
    from sv6d.cli.output import progress

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bb = _backbone(backbone_name, checkpoint, work)
        cache = FeatureCache(cache_dir or work / "cache", bb.fingerprint())
        corpus = generated_corpus(videos, seed=seed)
        fill_cache(bb, progress(corpus, f"encode ({backbone_name})", total=videos), cache)
        train, val, test = _split([g.video_id for g in corpus])
        tr, va, te = labelled(cache, train), labelled(cache, val), labelled(cache, test)
        heads = train_heads(tr, va, TrainConfig(epochs=epochs, seed=seed))
        result = evaluate_heads(heads, tr, te)
    result["backbone"] = backbone_name
    result["videos"] = {"train": len(train), "val": len(val), "test": len(test)}
    result["head_version"] = heads.version
    return result


def register(app: typer.Typer) -> None:
    @app.command("train-heads")
    def train_heads_cmd(
        out: Annotated[Path, typer.Option("--out", help="Folder to save the heads in.")],
        cache_dir: Annotated[Path, typer.Option("--cache", help="Feature cache root.")] = Path(
            "data/features"
        ),
        backbone: BackboneOpt = "evidence",
        checkpoint: CheckpointOpt = None,
        videos: Annotated[int, typer.Option("--videos", help="Generated videos to add to the cache.")] = 200,
        epochs: Annotated[int, typer.Option("--epochs")] = 60,
        dim: Annotated[int, typer.Option("--dim", help="Output size d.")] = 64,
        seed: SeedOpt = 0,
        as_json: JsonOption = False,
    ) -> None:
        """Train contrastive heads on cached features of the generated corpus; save them with a manifest."""
        from encoder.contrastive.cache import FeatureCache
        from encoder.contrastive.corpus import generated_corpus
        from encoder.contrastive.train import TrainConfig, train_heads
        from encoder.contrastive.workflow import fill_cache, labelled
        from sv6d.cli.output import progress

        with tempfile.TemporaryDirectory() as tmp:
            bb = _backbone(backbone, checkpoint, Path(tmp))
            cache = FeatureCache(cache_dir, bb.fingerprint())
            corpus = generated_corpus(videos, seed=seed)
            fill_cache(bb, progress(corpus, "encode", total=videos), cache)
        ids = [g.video_id for g in corpus]
        train, val, _ = _split(ids)
        heads = train_heads(
            labelled(cache, train),
            labelled(cache, val),
            TrainConfig(dim=dim, epochs=epochs, seed=seed),
            checkpoint_dir=out / "checkpoints",
        )
        heads.manifest["backbone"] = {"name": backbone, "fingerprint": cache.fingerprint}
        heads.save(out)
        result = {"heads": str(out), "version": heads.version, "metrics": heads.manifest["metrics"]}
        emit(
            result,
            as_json,
            lambda r: print_table(
                ["dimension", "val mAP", "best epoch", "temperature"],
                [[d, m["val_map"], m["best_epoch"], m["temperature"]] for d, m in r["metrics"].items()],
                f"heads {r['version']} -> {r['heads']}",
            ),
        )

    @app.command("reproject")
    def reproject_cmd(
        heads_dir: Annotated[Path, typer.Option("--heads", help="Heads folder (heads.json).")],
        cache_dir: Annotated[Path, typer.Option("--cache", help="Feature cache root.")],
        fingerprint: Annotated[str, typer.Option("--fingerprint", help="Backbone fingerprint in the cache.")],
        out: Annotated[Path, typer.Option("--out", help="Parquet file of re-projected records.")],
        as_json: JsonOption = False,
    ) -> None:
        """Rebuild record vectors from cached features with the current heads (no backbone run)."""
        from encoder.contrastive.cache import FeatureCache
        from encoder.contrastive.heads import load_heads
        from encoder.contrastive.workflow import reproject

        heads = load_heads(heads_dir)
        records = reproject(FeatureCache(cache_dir, fingerprint), heads, out)
        result = {"records": len(records), "out": str(out), "head_version": heads.version}
        emit(result, as_json, lambda r: print_table(["records", "out", "head version"], [list(r.values())]))

    @app.command("eval-heads")
    def eval_heads_cmd(
        backbone: Annotated[
            str, typer.Option("--backbone", help="evidence, vlm (tiny random on CPU by default) or both.")
        ] = "evidence",
        checkpoint: CheckpointOpt = None,
        videos: Annotated[int, typer.Option("--videos", help="Generated videos (60/20/20 split).")] = 150,
        epochs: Annotated[int, typer.Option("--epochs")] = 40,
        seed: SeedOpt = 0,
        cache_dir: Annotated[Path | None, typer.Option("--cache", help="Reuse a feature cache.")] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Recall@10 and mAP per dimension before/after the heads, and text→video recall@10, held out."""
        names = ["evidence", "vlm"] if backbone == "both" else [backbone]
        runs = {n: run_eval(n, checkpoint, videos, seed, epochs, cache_dir) for n in names}
        result = runs[names[0]] if len(names) == 1 else {"backbones": runs}

        def render(_: dict) -> None:
            for name, r in runs.items():
                rows = [
                    [d, m["recall_at_10_before"], m["recall_at_10_after"], m["map_before"], m["map_after"]]
                    for d, m in r["dimensions"].items()
                ]
                title = f"{name}: text→video recall@10 {r['text_to_video_recall_at_10']}"
                print_table(
                    ["dimension", "R@10 before", "R@10 after", "mAP before", "mAP after"], rows, title
                )

        emit(result, as_json, render)
