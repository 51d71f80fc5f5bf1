"""Offline experiments: a TOML config → time-based split → systems → metrics with intervals → a run folder.

Split (fractions are quantiles of event time): for each ``train_cutoffs`` value c_i, a context as of c_i and
labels from (c_i, c_{i+1}] (the last one up to ``test_start``) give training requests; the test context is as
of ``test_start`` and its labels are the positives (likes) after it. Every system ranks the same merged
candidate set of each test user, so the comparison isolates the ranking; candidate recall is reported apart.

Systems: ``popularity`` (decayed plays in the first window), ``recency`` (newest upload, or first seen),
``structural`` (mean per-dimension similarity to the user's positive profile; needs content),
``lgbm_engagement`` (LightGBM on engagement, creator, user, context and channel features),
``lgbm_structure`` (LightGBM on every feature; needs content).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ranker.aggregates import AggregateConfig
from ranker.candidates import (
    CHANNELS,
    CandidateConfig,
    CatalogNeighbours,
    candidate_recall,
    generate_candidates,
)
from ranker.catalog import ItemCatalog
from ranker.context import NeighbourSource, RankingContext, build_context
from ranker.events import load_events, load_kuairand
from ranker.features import ENGAGEMENT_GROUPS, FeatureSchema, assemble_features
from ranker.metrics import bootstrap_ci, evaluate_runs, paired_randomization_test
from ranker.model import RankerModel, train_ranker
from sv6d.errors import ConfigError

SYSTEMS = ("popularity", "recency", "structural", "lgbm_engagement", "lgbm_structure")
CONTENT_SYSTEMS = frozenset({"structural", "lgbm_structure"})
RUN_DEPTH = 100


@dataclass
class ExperimentConfig:
    name: str
    source: str  # "kuairand" | "events" | "simulated"
    path: Path | None
    systems: list[str]
    train_cutoffs: list[float]
    test_start: float
    candidates: CandidateConfig
    aggregates: AggregateConfig
    max_test_users: int | None = None
    max_train_users: int | None = None
    n_boot: int = 1000
    n_perm: int = 10_000
    seed: int = 7
    simulated: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    source_file: Path | None = None


def load_config(path: Path | str) -> ExperimentConfig:
    """Read and validate an experiment TOML; data paths are relative to the project root (cwd) or absolute."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"experiment config {p} does not exist")
    raw = tomllib.loads(p.read_text())
    data = raw.get("data", {})
    source = data.get("source")
    if source not in ("kuairand", "events", "simulated"):
        raise ConfigError(f"{p}: data.source must be one of kuairand, events, simulated; got {source!r}")
    systems = list(raw.get("systems", SYSTEMS))
    bad = [s for s in systems if s not in SYSTEMS]
    if bad:
        raise ConfigError(f"{p}: unknown system(s) {', '.join(bad)}; valid: {', '.join(SYSTEMS)}")
    split = raw.get("split", {})
    cutoffs = [float(c) for c in split.get("train_cutoffs", [0.5])]
    test_start = float(split.get("test_start", 0.75))
    if not all(0 < c < test_start < 1 for c in cutoffs) or cutoffs != sorted(cutoffs):
        raise ConfigError(f"{p}: split needs increasing train_cutoffs in (0, test_start) and test_start < 1")
    agg = raw.get("aggregates", {})
    windows = tuple(
        (str(k), None if v in (None, "all", 0) else float(v)) for k, v in agg.get("windows", {}).items()
    )
    agg_cfg = AggregateConfig(
        half_life_days=float(agg.get("half_life_days", 7.0)),
        prior_strength=float(agg.get("prior_strength", 20.0)),
        windows=windows or AggregateConfig().windows,
    )
    cand = raw.get("candidates", {})
    cand_cfg = CandidateConfig(
        quotas={**CandidateConfig().quotas, **cand.get("quotas", {})}, n_seeds=int(cand.get("n_seeds", 3))
    )
    ev = raw.get("evaluation", {})
    return ExperimentConfig(
        name=str(raw.get("name", p.stem)),
        source=source,
        path=Path(data["path"]) if data.get("path") else None,
        systems=systems,
        train_cutoffs=cutoffs,
        test_start=test_start,
        candidates=cand_cfg,
        aggregates=agg_cfg,
        max_test_users=ev.get("max_test_users"),
        max_train_users=ev.get("max_train_users"),
        n_boot=int(ev.get("n_boot", 1000)),
        n_perm=int(ev.get("n_perm", 10_000)),
        seed=int(raw.get("seed", 7)),
        simulated=raw.get("simulated", {}),
        raw=raw,
        source_file=p,
    )


@dataclass
class Dataset:
    """Events, the catalog, a neighbour source, the input files (for the data version) and a label."""

    events: pl.DataFrame
    catalog: ItemCatalog
    neighbours: NeighbourSource | None
    inputs: list[Path]
    kind: str  # "real" or "simulated"
    notes: list[str] = field(default_factory=list)


def load_dataset(
    cfg: ExperimentConfig, workdir: Path, encode_file: Callable[..., Any] | None = None
) -> Dataset:
    """Load (or, for ``simulated``, generate) the events and catalog a config names."""
    if cfg.source == "kuairand":
        if cfg.path is None:
            raise ConfigError("data.path is required for source kuairand")
        events = load_kuairand(cfg.path)
        return Dataset(
            events,
            ItemCatalog.from_events(events),
            None,
            [cfg.path],
            "real",
            ["KuaiRand has no video content: only engagement and user features are available."],
        )
    if cfg.source == "events":
        if cfg.path is None:
            raise ConfigError("data.path is required for source events")
        events = load_events(cfg.path)
        return Dataset(events, ItemCatalog.from_events(events), None, [cfg.path], "real")
    from ranker.simulate import simulated_dataset

    records, events, notes, inputs = simulated_dataset(
        cfg.simulated, workdir, seed=cfg.seed, encode_file=encode_file
    )
    catalog = ItemCatalog.from_records(records)
    return Dataset(events, catalog, CatalogNeighbours(catalog), inputs, "simulated", notes)


def data_version(paths: Sequence[Path]) -> dict[str, str]:
    """sha256 of each input file (the data version recorded with a run)."""
    out = {}
    for p in paths:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        out[str(p)] = h.hexdigest()
    return out


def _time_at(events: pl.DataFrame, q: float) -> datetime:
    ts = events["ts"].sort()
    return ts[min(int(q * len(ts)), len(ts) - 1)]


def _positives(events: pl.DataFrame, start: datetime, end: datetime | None) -> dict[str, set[str]]:
    f = (pl.col("ts") >= start) & pl.col("like").fill_null(False)
    if end is not None:
        f = f & (pl.col("ts") < end)
    sub = events.filter(f).select("user_id", "video_id")
    return {str(u): set(g["video_id"].to_list()) for (u,), g in sub.group_by("user_id")}


def _subsample(users: list[str], n: int | None, seed: int) -> list[str]:
    if n is None or len(users) <= n:
        return users
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(users, size=n, replace=False).tolist())


def training_rows(
    ctx: RankingContext,
    labels: dict[str, set[str]],
    users: Sequence[str],
    cand_cfg: CandidateConfig,
    schema: FeatureSchema,
    group_offset: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, group ids) for the candidate sets of ``users`` as of ``ctx.as_of``."""
    xs, ys, gs = [], [], []
    for g, u in enumerate(users):
        req = ctx.request_for_user(u)
        cands = generate_candidates(ctx, req, cand_cfg)
        if len(cands) == 0:
            continue
        ids = [ctx.catalog.video_ids[int(p)] for p in cands.positions]
        xs.append(assemble_features(ctx, req, cands, schema))
        ys.append(np.array([v in labels[u] for v in ids], dtype=np.float64))
        gs.append(np.full(len(ids), g + group_offset))
    if not xs:
        return np.zeros((0, len(schema.names)), np.float32), np.zeros(0), np.zeros(0, np.int64)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)


def _heuristic(name: str, feats: np.ndarray, schema: FeatureSchema) -> np.ndarray:
    col = {n: i for i, n in enumerate(schema.names)}
    if name == "popularity":
        pop = next(n for n in schema.names if n.startswith("v_") and n.endswith("_plays_log"))
        return np.nan_to_num(feats[:, col[pop]], nan=0.0)
    if name == "recency":
        return np.nan_to_num(-feats[:, col["age_days"]], nan=-np.inf)
    sims = feats[:, [col[n] for n in schema.names if n.startswith("sim_pos_video_")]]
    known = ~np.isnan(sims).all(axis=1)
    out = np.full(len(feats), -np.inf)
    out[known] = np.nanmean(sims[known], axis=1)
    return out


def run_experiment(
    config_path: Path | str,
    out_dir: Path | str | None = None,
    log: Callable[[str], None] | None = None,
    encode_file: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """Run one experiment end to end and write its run folder; returns the results document.

    ``encode_file`` encodes the simulated source's corpus when it has no records yet (the CLI passes the
    encoder's; the ranker layer does not import the encoder)."""
    say = log or (lambda _m: None)
    cfg = load_config(config_path)
    run_dir = Path(out_dir) if out_dir else Path("runs") / f"{cfg.name}-{time.strftime('%Y%m%dT%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(cfg, run_dir, encode_file)
    if not ds.catalog.has_content:
        bad = [s for s in cfg.systems if s in CONTENT_SYSTEMS]
        if bad:
            raise ConfigError(
                f"{cfg.source_file}: system(s) {', '.join(bad)} need video content; this data has none"
            )
    schema = FeatureSchema.for_config(cfg.aggregates)
    cutoffs = [_time_at(ds.events, c) for c in cfg.train_cutoffs]
    test_start = _time_at(ds.events, cfg.test_start)
    bounds = [*cutoffs, test_start]
    say(f"split: train cutoffs {[str(c) for c in cutoffs]}, test from {test_start}")

    model_feats = {
        "lgbm_engagement": schema.select(ENGAGEMENT_GROUPS),
        "lgbm_structure": list(schema.names),
    }
    models: dict[str, RankerModel] = {}
    wanted = [s for s in cfg.systems if s.startswith("lgbm_")]
    if wanted:
        xs, ys, gs = [], [], []
        offset = 0
        for i, c in enumerate(cutoffs):
            ctx = build_context(ds.events, ds.catalog, c, cfg.aggregates, ds.neighbours)
            labels = _positives(ds.events, c, bounds[i + 1])
            users = _subsample(
                sorted(u for u in labels if u in ctx.users.index), cfg.max_train_users, cfg.seed + i
            )
            x, y, g = training_rows(ctx, labels, users, cfg.candidates, schema, offset)
            offset += len(users)
            xs.append(x)
            ys.append(y)
            gs.append(g)
            say(f"training snapshot {c}: {len(users)} requests, {len(y)} rows, {int(y.sum())} positives")
        x_all, y_all, g_all = np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)
        for name in wanted:
            m = train_ranker(x_all, y_all, g_all, schema, model_feats[name], seed=cfg.seed)
            m.save(run_dir / "models" / name)
            models[name] = m
            say(f"{name}: {m.metrics}")

    ctx = build_context(ds.events, ds.catalog, test_start, cfg.aggregates, ds.neighbours)
    qrels_all = {
        u: {v for v in vs if v in ds.catalog.index}
        for u, vs in _positives(ds.events, test_start, None).items()
    }
    qrels = {u: v for u, v in qrels_all.items() if v}
    test_users = _subsample(sorted(qrels), cfg.max_test_users, cfg.seed)
    qrels = {u: qrels[u] for u in test_users}
    runs: dict[str, dict[str, list[str]]] = {s: {} for s in cfg.systems}
    scores_rows: list[dict[str, Any]] = []
    for u in test_users:
        req = ctx.request_for_user(u)
        cands = generate_candidates(ctx, req, cfg.candidates)
        if len(cands) == 0:
            continue
        feats = assemble_features(ctx, req, cands, schema)
        ids = [ds.catalog.video_ids[int(p)] for p in cands.positions]
        for s in cfg.systems:
            sc = models[s].predict(feats, schema) if s in models else _heuristic(s, feats, schema)
            # Ties broken by candidate order, which is deterministic, so every metric sees the same list.
            order = np.argsort(-sc, kind="stable")[:RUN_DEPTH]
            runs[s][u] = [ids[i] for i in order]
            scores_rows += [
                {"system": s, "user_id": u, "rank": r, "video_id": ids[i], "score": float(RUN_DEPTH - r)}
                for r, i in enumerate(order)
            ]
    summary, per_user = evaluate_runs(runs, qrels, len(ds.catalog), n_boot=cfg.n_boot, seed=cfg.seed)
    best = max(summary, key=lambda s: float(summary[s]["ndcg_at_10"]))  # type: ignore[arg-type]
    for s in summary:
        summary[s]["p_vs_best_ndcg_at_10"] = (
            None
            if s == best
            else paired_randomization_test(
                per_user[best]["ndcg_at_10"], per_user[s]["ndcg_at_10"], n_perm=cfg.n_perm, seed=cfg.seed
            )
        )
    held = {u: sorted(v) for u, v in qrels.items()}
    cand_recall = candidate_recall(ctx, held, cfg.candidates)
    result: dict[str, Any] = {
        "name": cfg.name,
        "data_kind": ds.kind,
        "systems": summary,
        "best_system": best,
        "candidate_recall": cand_recall,
        "models": {k: v.metrics for k, v in models.items()},
        "split": {"train_cutoffs": [str(c) for c in cutoffs], "test_start": str(test_start)},
        "n_test_users": len(test_users),
        "catalog_size": len(ds.catalog),
        "n_events": ds.events.height,
        "feature_schema_version": schema.version,
        "notes": ds.notes,
        "run_dir": str(run_dir),
    }
    if {"lgbm_structure", "lgbm_engagement"} <= set(summary):
        a, b = per_user["lgbm_structure"]["ndcg_at_10"], per_user["lgbm_engagement"]["ndcg_at_10"]
        base = float(b.mean())
        result["structure_effect"] = {
            "ndcg_at_10_delta": float(a.mean() - base),
            # Paired: the interval of the mean per-user difference, over the same user resamples.
            "ndcg_at_10_delta_ci": list(bootstrap_ci(a - b, n_boot=cfg.n_boot, seed=cfg.seed)),
            "ndcg_at_10_relative": float((a.mean() - base) / base) if base > 0 else None,
            "p_value": paired_randomization_test(a, b, n_perm=cfg.n_perm, seed=cfg.seed),
        }
    _write_run(run_dir, cfg, ds, result, scores_rows, qrels)
    return result


def _write_run(
    run_dir: Path,
    cfg: ExperimentConfig,
    ds: Dataset,
    result: dict[str, Any],
    rows: list[dict[str, Any]],
    qrels: dict[str, set[str]],
) -> None:
    assert cfg.source_file is not None
    shutil.copyfile(cfg.source_file, run_dir / "config.toml")
    (run_dir / "data_version.json").write_text(json.dumps(data_version(ds.inputs), indent=2))
    (run_dir / "results.json").write_text(json.dumps(result, indent=2, default=str))
    pl.DataFrame(
        rows,
        schema={
            "system": pl.String,
            "user_id": pl.String,
            "rank": pl.Int32,
            "video_id": pl.String,
            "score": pl.Float64,
        },
    ).write_parquet(run_dir / "runs.parquet")
    pl.DataFrame(
        [{"user_id": u, "video_id": v} for u, vs in qrels.items() for v in sorted(vs)],
        schema={"user_id": pl.String, "video_id": pl.String},
    ).write_parquet(run_dir / "qrels.parquet")
    _plots(run_dir, result)
    (run_dir / "report.md").write_text(render_report(result))


def _plots(run_dir: Path, result: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(result["systems"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("ndcg_at_10", "recall_at_50"), strict=True):
        vals = [result["systems"][s][metric] for s in systems]
        ci = np.array([result["systems"][s][f"{metric}_ci"] for s in systems])
        err = np.abs(np.stack([np.array(vals) - ci[:, 0], ci[:, 1] - np.array(vals)]))
        ax.bar(systems, vals, yerr=err, capsize=4, color="#4878a8")
        ax.set_title(f"{metric} (95% bootstrap CI)")
        ax.tick_params(axis="x", rotation=30)
    label = "SIMULATED data" if result["data_kind"] == "simulated" else "real data"
    fig.suptitle(f"{result['name']} — {label}")
    fig.tight_layout()
    fig.savefig(run_dir / "metrics.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    cr = result["candidate_recall"]
    names = [c for c in (*CHANNELS, "all") if not np.isnan(cr[c])]
    ax.bar(names, [cr[c] for c in names], color="#6a9f58")
    ax.set_title("candidate recall vs held-out positives")
    ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(run_dir / "candidate_recall.png", dpi=100)
    plt.close(fig)


def _fmt_ci(res: dict[str, Any], m: str) -> str:
    lo, hi = res[f"{m}_ci"]
    return f"{res[m]:.4f} [{lo:.4f}, {hi:.4f}]"


def render_report(result: dict[str, Any]) -> str:
    """The run's markdown report."""
    sim = result["data_kind"] == "simulated"
    lines = [f"# Experiment `{result['name']}` — {'SIMULATED data' if sim else 'real data'}", ""]
    if sim:
        lines.append(
            "**Simulated platform**: engagement comes from simulated users (see `ranker/simulate.py` for "
            "their latent preferences over the six dimensions and popularity); these numbers say nothing "
            "about real users."
        )
    lines += [f"- {n}" for n in result["notes"]]
    lines += [
        f"- events: {result['n_events']}, catalog: {result['catalog_size']} videos, "
        f"test users: {result['n_test_users']}",
        f"- split (time-based): training snapshots as of {', '.join(result['split']['train_cutoffs'])}; "
        f"test from {result['split']['test_start']}; relevant = liked after the test start",
        f"- feature schema version {result['feature_schema_version']}; "
        "every system ranks the same candidate set",
        "",
        "| system | NDCG@10 [95% CI] | Recall@10 | Recall@50 | MAP | coverage@10 | p vs best (NDCG@10) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s, r in result["systems"].items():
        p = r["p_vs_best_ndcg_at_10"]
        cells = [
            _fmt_ci(r, m) for m in ("ndcg_at_10", "recall_at_10", "recall_at_50", "map", "coverage_at_10")
        ]
        lines.append(f"| {s} | {' | '.join(cells)} | {'best' if p is None else f'{p:.4f}'} |")
    lines += [
        "",
        "p: paired randomization test (sign flipping over users) against the best system. Intervals: "
        "percentile bootstrap over users; coverage@10 (a union, not a mean): the user bootstrap shifted "
        "by its bias estimate (see ranker.metrics.coverage_ci).",
        "",
    ]
    if "structure_effect" in result:
        eff = result["structure_effect"]
        verdict = (
            "helps" if eff["ndcg_at_10_delta"] > 0 and eff["p_value"] < 0.05 else "does not clearly help"
        )
        lo, hi = eff.get("ndcg_at_10_delta_ci", (float("nan"), float("nan")))
        rel = eff.get("ndcg_at_10_relative")
        rel_txt = "" if rel is None else f", {100 * rel:+.1f}% relative"
        lines.append(
            f"**Structure {verdict}**: NDCG@10 of lgbm_structure − lgbm_engagement = "
            f"{eff['ndcg_at_10_delta']:+.4f} [95% CI {lo:+.4f}, {hi:+.4f}]{rel_txt} "
            f"(paired randomization test p = {eff['p_value']:.4f})."
        )
        lines.append("")
    lines += [
        "## Candidate recall (held-out positives in the candidate set)",
        "",
        "| channel | recall |",
        "|---|---|",
    ]
    lines += [f"| {c} | {v:.4f} |" for c, v in result["candidate_recall"].items() if not np.isnan(v)]
    lines += ["", "## Models", ""]
    lines += [f"- {k}: {json.dumps(v)}" for k, v in result["models"].items()]
    lines += ["", "![metrics](metrics.png)", "", "![candidate recall](candidate_recall.png)", ""]
    return "\n".join(lines)
