"""``sv6d train-heads``, ``sv6d reproject``, ``sv6d eval-heads``: contrastive heads on cached features.

All three work on the generated video corpus (``sv6d generate``; ``sv6d.synth``): its manifest's true tags
label the samples (``encoder.contrastive.labels``), the backbone's outputs go to the feature cache once, and
heads are trained, evaluated and re-applied from the cache without running the backbone again.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.hookbench_eval import HOOK_GENERATED_VIDEOS
from cli.output import DataDirOption, JsonOption, data_dir, emit, print_table, progress
from sv6d.errors import ConfigError

BACKBONE_CHOICES = ("evidence", "vlm")
BackboneOpt = Annotated[str, typer.Option("--backbone", help="evidence or vlm.")]
CheckpointOpt = Annotated[
    Path | None,
    typer.Option("--checkpoint", help="VLM checkpoint folder (default: a tiny random Qwen2-VL, CPU-sized)."),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for the generated corpus and training.")]
CorpusOpt = Annotated[
    Path | None,
    typer.Option("--corpus", help="Generated corpus folder (manifest.parquet); generated there when absent."),
]
VideosOpt = Annotated[
    int, typer.Option("--videos", min=10, help="Videos to generate when the corpus is absent.")
]
EpochsOpt = Annotated[
    int, typer.Option("--epochs", min=1, help="Maximum epochs (early stopping on val mAP).")
]


def _backbone(name: str, checkpoint: Path | None, workdir: Path) -> Any:
    from encoder.backbone import get_backbone

    if name not in BACKBONE_CHOICES:
        raise ConfigError(f"--backbone {name!r} is not valid; choose one of: {', '.join(BACKBONE_CHOICES)}")
    if name == "vlm":
        if checkpoint is None:
            from encoder.vlm.tiny import build_tiny_checkpoint

            checkpoint = build_tiny_checkpoint(workdir / "tiny-qwen2-vl", "qwen2_vl")
        return get_backbone("vlm", checkpoint=checkpoint)
    if checkpoint is not None:
        raise ConfigError("--checkpoint is only for --backbone vlm")
    return get_backbone(name)


def _corpus(folder: Path, videos: int, seed: int) -> list[Any]:
    """The corpus's manifest entries; the corpus is generated first when ``folder`` has no manifest."""
    from sv6d.synth.corpus import MANIFEST, generate_corpus, read_manifest

    if not (folder / MANIFEST).is_file():

        def bar(items: Any, total: int) -> Any:
            return progress(items, "generate", total=total)

        generate_corpus(folder, n=videos, seed=seed, workers=2, progress=bar)
    return read_manifest(folder)


def _fill(backbone: Any, entries: list[Any], cache_root: Path, hook_s: float) -> Any:
    from encoder.contrastive.cache import FeatureCache
    from encoder.contrastive.workflow import encode_entries

    cache = FeatureCache(cache_root, backbone.fingerprint())
    encode_entries(
        backbone, progress(entries, f"encode ({backbone.name})", total=len(entries)), cache, hook_s
    )
    return cache


def run_eval(
    backbone_name: str,
    checkpoint: Path | None,
    entries: list[Any],
    seed: int,
    epochs: int,
    cache_root: Path,
    hook_s: float = 3.0,
) -> dict:
    """Encode (cached), train on 60 %, early-stop on 20 %, evaluate on the held-out 20 % of ``entries``."""
    from encoder.contrastive.train import TrainConfig
    from encoder.contrastive.workflow import evaluate_on_cache, train_on_cache

    with tempfile.TemporaryDirectory() as tmp:
        cache = _fill(_backbone(backbone_name, checkpoint, Path(tmp)), entries, cache_root, hook_s)
    ids = [e.video_id for e in entries]
    heads, levels = train_on_cache(
        cache, ids, TrainConfig(epochs=epochs, seed=seed), progress=sys.stderr.isatty()
    )
    result = evaluate_on_cache(heads, levels)
    result["backbone"] = backbone_name
    result["videos"] = heads.manifest["splits"]
    result["head_version"] = heads.version
    return result


def _cache_for(cache_root: Path, fingerprint: str | None, heads: Any) -> Any:
    """The cache of ``fingerprint`` (default: the one the heads were trained on, else the only one)."""
    from encoder.contrastive.cache import FeatureCache

    if not cache_root.is_dir():
        raise ConfigError(f"feature cache {cache_root}: no such folder (fill it with `sv6d train-heads`)")
    present = sorted(p.name for p in cache_root.iterdir() if p.is_dir())
    if fingerprint is None:
        fingerprint = getattr(heads, "manifest", {}).get("backbone", {}).get("fingerprint")
    if fingerprint is None and len(present) == 1:
        fingerprint = present[0]
    if fingerprint is None or fingerprint not in present:
        raise ConfigError(
            f"feature cache {cache_root}: no features for fingerprint {fingerprint!r}; "
            f"present: {', '.join(present) or 'none'}"
        )
    return FeatureCache(cache_root, fingerprint)


def _check_heads_dir(path: Path) -> None:
    if not (path / "heads.json").is_file():
        raise ConfigError(f"heads folder {path}: no heads.json manifest (save heads with `sv6d train-heads`)")


def _training_table(r: dict[str, Any], what: str) -> None:
    print_table(
        ["dimension", "val mAP", "best epoch", "temperature"],
        [[d, m["val_map"], m["best_epoch"], m["temperature"]] for d, m in r["metrics"].items()],
        f"{what} {r['version']} -> {r['heads']}",
    )


def register(app: typer.Typer) -> None:
    @app.command("train-heads")
    def train_heads_cmd(
        out: Annotated[Path, typer.Option("--out", help="Folder to save the heads in.")],
        cache_dir: Annotated[Path, typer.Option("--cache", help="Feature cache root.")] = Path(
            "data/features"
        ),
        corpus: CorpusOpt = None,
        backbone: BackboneOpt = "evidence",
        checkpoint: CheckpointOpt = None,
        videos: VideosOpt = 60,
        epochs: EpochsOpt = 60,
        dim: Annotated[int, typer.Option("--dim", min=2, help="Output size d.")] = 64,
        hook_s: Annotated[float, typer.Option("--hook-s", help="Hook window length in seconds.")] = 3.0,
        seed: SeedOpt = 0,
        as_json: JsonOption = False,
    ) -> None:
        """Train contrastive heads on cached features of the generated corpus; save them with a manifest, and
        the encoder spec that uses them beside them (``encoder.json``: ``sv6d ingest --spec HEADS_DIR``)."""
        from encoder.contrastive.train import TrainConfig
        from encoder.contrastive.workflow import train_on_cache

        entries = _corpus(corpus or Path("data/corpus"), videos, seed)
        with tempfile.TemporaryDirectory() as tmp:
            cache = _fill(_backbone(backbone, checkpoint, Path(tmp)), entries, cache_dir, hook_s)
        heads, _ = train_on_cache(
            cache,
            [e.video_id for e in entries],
            TrainConfig(dim=dim, epochs=epochs, seed=seed),
            checkpoint_dir=out / "checkpoints",
            progress=sys.stderr.isatty(),
        )
        heads.manifest["backbone"] = {"name": backbone, "fingerprint": cache.fingerprint}
        heads.save(out)
        spec_file = None
        if backbone == "evidence" or checkpoint is not None:  # (a default tiny checkpoint is temporary)
            from encoder.spec import EncoderSpec, save_beside_heads

            spec = EncoderSpec.from_options(backbone, checkpoint, out, hook_s)
            spec = spec.model_copy(update={"head_version": heads.version, "fingerprint": cache.fingerprint})
            spec_file = str(save_beside_heads(spec, out))
        result = {
            "heads": str(out),
            "spec": spec_file,
            "version": heads.version,
            "fingerprint": cache.fingerprint,
            "videos": heads.manifest["splits"],
            "metrics": heads.manifest["metrics"],
        }
        emit(result, as_json, lambda r: _training_table(r, "heads"))

    @app.command("reproject")
    def reproject_cmd(
        heads_dir: Annotated[Path, typer.Option("--heads", help="Heads folder (heads.json).")],
        cache_dir: Annotated[Path, typer.Option("--cache", help="Feature cache root.")] = Path(
            "data/features"
        ),
        fingerprint: Annotated[
            str | None,
            typer.Option("--fingerprint", help="Backbone fingerprint (default: the heads' training cache)."),
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="Also write the records to this parquet.")
        ] = None,
        index: Annotated[
            str | None, typer.Option("--index", help="Index location (default: FAISS in the data directory).")
        ] = None,
        data_dir_opt: DataDirOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Rebuild record vectors from cached features with the current heads (no backbone run), re-index."""
        from cli.workflows import index_records
        from encoder.contrastive.heads import load_heads
        from encoder.contrastive.workflow import reproject
        from encoder.heads import check_heads_backbone
        from indexer import open_index

        _check_heads_dir(heads_dir)
        heads = load_heads(heads_dir)
        cache = _cache_for(cache_dir, fingerprint, heads)
        check_heads_backbone(heads, cache.fingerprint)
        records = reproject(cache, heads, out)
        with open_index(index, data_dir=data_dir(data_dir_opt)) as idx:
            # Identity the cache does not hold (title, caption, creator...) is kept from the indexed record.
            keep = ("title", "caption", "hashtags", "creator", "created_at")
            merged = [
                r.model_copy(update={k: getattr(idx.get(r.video_id), k) for k in keep})
                if idx.contains(r.video_id)
                else r
                for r in records
            ]
            # An index holding vectors of other heads refuses these (ConfigError): a data directory changes
            # heads with `sv6d upgrade`.
            indexed = index_records(idx, merged, only_missing=False)
        result = {
            "records": len(records),
            "indexed": indexed,
            "head_version": heads.version,
            "fingerprint": cache.fingerprint,
            "out": str(out) if out else None,
        }
        emit(result, as_json, lambda r: print_table(list(r), [list(r.values())]))

    @app.command("eval-heads")
    def eval_heads_cmd(
        backbone: Annotated[
            str, typer.Option("--backbone", help="evidence, vlm (tiny random on CPU by default) or both.")
        ] = "evidence",
        checkpoint: CheckpointOpt = None,
        corpus: CorpusOpt = None,
        videos: VideosOpt = 60,
        epochs: EpochsOpt = 40,
        seed: SeedOpt = 0,
        cache_dir: Annotated[Path | None, typer.Option("--cache", help="Reuse a feature cache.")] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Recall@10 and mAP per dimension before/after the heads, and text→video recall@10, held out."""
        if backbone not in (*BACKBONE_CHOICES, "both"):
            raise ConfigError(f"--backbone {backbone!r} is not valid; choose one of: evidence, vlm, both")
        names = list(BACKBONE_CHOICES) if backbone == "both" else [backbone]
        with tempfile.TemporaryDirectory() as tmp:
            entries = _corpus(corpus or Path(tmp) / "corpus", videos, seed)
            root = cache_dir or Path(tmp) / "cache"
            runs = {
                n: run_eval(n, checkpoint if n == "vlm" else None, entries, seed, epochs, root) for n in names
            }
        result = runs[names[0]] if len(names) == 1 else {"backbones": runs}

        def render(_: dict) -> None:
            for name, r in runs.items():
                rows = [
                    [d, m["recall_at_10_before"], m["recall_at_10_after"], m["map_before"], m["map_after"]]
                    for d, m in r["dimensions"].items()
                ]
                title = f"{name} (video level): text→video recall@10 {r['text_to_video_recall_at_10']}"
                print_table(
                    ["dimension", "R@10 before", "R@10 after", "mAP before", "mAP after"], rows, title
                )

        emit(result, as_json, render)

    @app.command("train-hook-heads")
    def train_hook_heads_cmd(
        out: Annotated[
            Path | None,
            typer.Option("--out", help="Folder to save the heads in (default: the evidence backbone's own)."),
        ] = None,
        videos: Annotated[
            Path | None,
            typer.Option(
                "--videos", help="Source videos (default $SV6D_SHARED_DATA/videos, else ../shared/data)."
            ),
        ] = None,
        split_file: Annotated[Path | None, typer.Option("--split", help="A split manifest.")] = None,
        render_seeds: Annotated[
            str, typer.Option("--render-seeds", help="Renders of the training sources, e.g. 0,1,2.")
        ] = "0,1,2,3,4,5",
        epochs: Annotated[
            int, typer.Option("--epochs", min=1, help="Epochs (the best on the validation sources is kept).")
        ] = 150,
        hidden: Annotated[int, typer.Option("--hidden", min=8, help="Hidden units per head.")] = 128,
        generated_videos: Annotated[
            int,
            typer.Option(
                "--generated-videos",
                min=0,
                help="Generated videos (seed 1) added to the training part (0: real footage only).",
            ),
        ] = HOOK_GENERATED_VIDEOS,
        seed: SeedOpt = 0,
        data_dir_opt: DataDirOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Train the evidence backbone's hook heads on real footage re-cut into known openings (the training
        sources of the hook benchmark split; never the held-out ones) and save them with a manifest."""
        import shlex

        from cli.cmd_eval import default_videos_dir
        from cli.hookbench_eval import hook_train_config, train_hook_heads
        from encoder.evidence.default_heads import HOOK_HEADS_DIR
        from sv6d.hookbench import load_split

        vdir = videos or default_videos_dir()
        if not vdir.is_dir():
            raise ConfigError(f"{vdir}: no such folder of source videos (give --videos DIR)")
        try:
            seeds = [int(x) for x in render_seeds.split(",") if x.strip()]
        except ValueError:
            raise ConfigError(
                f"--render-seeds: {render_seeds!r} is not a list of integers (e.g. 0,1,2)"
            ) from None
        config = hook_train_config(hidden=hidden, epochs=epochs, seed=seed)
        command = "sv6d train-hook-heads " + shlex.join(sys.argv[2:] if len(sys.argv) > 2 else [])
        from tqdm import tqdm

        with tqdm(desc="hook heads", unit="step", file=sys.stderr, disable=None, leave=False) as bar:
            heads, style = train_hook_heads(
                vdir,
                data_dir(data_dir_opt) / "hookbench",
                load_split(split_file),
                seeds,
                config,
                command.strip(),
                on_progress=lambda _msg: bar.update(1),
                generated_videos=generated_videos,
            )
        target = out or HOOK_HEADS_DIR
        heads.save(target)
        style.save(target)
        result = {"heads": str(target), "version": heads.version, "style": style.version}
        result.update(heads.manifest["data"])
        result["metrics"] = heads.manifest["metrics"]
        emit(result, as_json, lambda r: _training_table(r, "hook heads"))
