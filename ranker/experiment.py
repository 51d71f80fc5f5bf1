"""Offline experiments: a TOML config → time-based split → systems → metrics with intervals → a run folder.

Split (fractions are quantiles of event time): ``split.test_windows`` (default ``[test_start]``) are the
starts of consecutive test windows (rolling origin), each ending where the next starts (the last at the end
of the data). For each window, training snapshots are as of the ``train_cutoffs`` shifted by the window's
offset from ``test_start``, labelled by the likes until the next boundary; the test context is as of the
window's start and its relevance is the likes inside the window: no system sees events at or after it.

Systems: ``popularity`` (decayed plays in the first window), ``recency`` (newest upload, or first seen),
``structural`` (mean per-dimension similarity to the user's positive profile; needs content),
``lgbm_engagement`` (LightGBM on engagement, creator, user, context and channel features),
``lgbm_structure`` (LightGBM on every feature but the collaborative ones; needs content),
``lgbm_collab`` (``lgbm_engagement`` plus the item-kNN / ALS channel indicators and scores),
``lgbm_cold`` (``lgbm_structure`` plus the cold-start prior and the cold channel's indicator; needs content;
the channel itself is on when ``candidates.quotas.cold`` > 0, for every system), and the
baselines of ``ranker.baselines`` (``pop_decay``, ``itemknn``, ``ease``, ``als``, ``bpr``), each scored twice:
re-ranking the shared candidate set (scope ``candidates``, like every other system) and over the catalogue
known at the window's start (``<name>_catalogue``). Metrics are end-to-end (every like in the window counts);
the report adds the ceiling (likes on videos seen before the window, inside the candidates, perfect-ranking
NDCG@10), a conditional NDCG@10 (likes inside the candidates only) and the cold slice (likes on videos with
no event before the window), labelled apart. Several windows are
pooled with intervals and sign-flip tests that resample or flip each user's windows together.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ranker.aggregates import AggregateConfig
from ranker.baselines import BaselineConfig
from ranker.candidates import (
    CHANNELS,
    NEIGHBOUR_CHANNELS,
    CandidateConfig,
    IndexNeighbours,
    candidate_recall,
    generate_candidates,
)
from ranker.catalog import ItemCatalog
from ranker.context import NeighbourSource, RankingContext, build_context
from ranker.events import load_events, load_kuairand
from ranker.features import (
    FeatureSchema,
    assemble_features,
)
from ranker.metrics import (
    bootstrap_ci,
    cluster_bootstrap_ci,
    cluster_bootstrap_means,
    clustered_randomization_test,
    evaluate_runs,
    paired_randomization_test,
    per_user_metrics,
)
from ranker.systems import CATALOGUE_SUFFIX, RUN_DEPTH, SYSTEMS, LightGBM, Window, make_system
from sv6d.errors import ConfigError

STRUCTURE_CHANNELS = frozenset({*NEIGHBOUR_CHANNELS, "hook"})


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
    test_windows: list[float] = field(default_factory=list)
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
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
    test_windows = [float(w) for w in split.get("test_windows", [test_start])]
    if test_windows[0] != test_start or test_windows != sorted(set(test_windows)) or test_windows[-1] >= 1:
        raise ConfigError(f"{p}: split.test_windows must start at test_start, increase, and stay below 1")
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
        test_windows=test_windows,
        baselines=BaselineConfig.from_mapping(raw.get("baselines", {})),
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
    return Dataset(events, catalog, IndexNeighbours.for_catalog(catalog), inputs, "simulated", notes)


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


def _snapshot_rows(
    cfg: ExperimentConfig,
    ds: Dataset,
    schema: FeatureSchema,
    cutoffs: Sequence[datetime],
    test_start: datetime,
    say: Callable[[str], None],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The labelled rows of a window's training snapshots: as of each cutoff, the candidates of the users who
    like something before the next boundary, labelled by those likes."""
    bounds = [*cutoffs, test_start]
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
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)


def _ndcg10(ranked: Sequence[str], relevant: set[str]) -> float:
    return per_user_metrics(ranked, relevant)["ndcg_at_10"]


@dataclass
class WindowResult:
    """One test window: runs, relevance, metrics per system and per user, the ceiling, candidate recall."""

    index: int
    start: datetime
    end: datetime | None
    cutoffs: list[datetime]
    users: list[str]
    qrels: dict[str, set[str]]
    runs: dict[str, dict[str, list[str]]]
    summary: dict[str, dict[str, object]]
    per_user: dict[str, dict[str, np.ndarray]]
    ceiling: dict[str, float]
    candidate_recall: dict[str, float]
    models: dict[str, dict[str, Any]]
    rows: list[dict[str, Any]]


def _run_window(
    cfg: ExperimentConfig,
    ds: Dataset,
    schema: FeatureSchema,
    index: int,
    cutoffs: list[datetime],
    test_start: datetime,
    test_end: datetime | None,
    run_dir: Path,
    say: Callable[[str], None],
) -> WindowResult:
    """Train on events before ``test_start``, score every system on the likes in [test_start, test_end)."""
    say(
        f"window {index}: train cutoffs {[str(c) for c in cutoffs]}, test [{test_start}, {test_end or 'end'})"
    )
    model_dir = run_dir if len(cfg.test_windows) == 1 else run_dir / f"window{index}"
    ctx = build_context(ds.events, ds.catalog, test_start, cfg.aggregates, ds.neighbours)
    qrels_all = {
        u: {v for v in vs if v in ds.catalog.index}
        for u, vs in _positives(ds.events, test_start, test_end).items()
    }
    qrels = {u: v for u, v in qrels_all.items() if v}
    test_users = _subsample(sorted(qrels), cfg.max_test_users, cfg.seed)
    qrels = {u: qrels[u] for u in test_users}
    window = Window(
        ctx=ctx,
        events=ds.events,
        schema=schema,
        aggregates=cfg.aggregates,
        baselines=cfg.baselines,
        test_users=test_users,
        seed=cfg.seed,
        model_dir=model_dir,
        training=lambda: _snapshot_rows(cfg, ds, schema, cutoffs, test_start, say),
        say=say,
    )
    systems = [make_system(name) for name in cfg.systems]
    # LightGBM systems train first (on the window's snapshots), then the baselines fit.
    for system in sorted(systems, key=lambda sy: not isinstance(sy, LightGBM)):
        system.prepare(window)
    # The catalogue known at the cutoff: items with any event before it.
    known = np.flatnonzero(~np.isnan(ctx.first_seen_s))
    whole = [sy for sy in systems if sy.ranks_catalogue]
    names = [sy.name for sy in systems if not sy.ranks_catalogue]
    names += [*(sy.name for sy in whole), *(f"{sy.name}{CATALOGUE_SUFFIX}" for sy in whole)]
    runs: dict[str, dict[str, list[str]]] = {name: {} for name in names}
    rows: list[dict[str, Any]] = []
    vids = ds.catalog.video_ids
    n_pos = n_seen_before = n_in_cands = 0
    perfect_cands: list[float] = []
    perfect_cat: list[float] = []
    cond_qrels: dict[str, set[str]] = {}
    # The cold slice: likes on videos with no event before the window (first seen inside it).
    cold_qrels: dict[str, set[str]] = {}
    n_cold_in_cands = 0
    seen_before = set(vids[int(i)] for i in known)

    def add(system: str, user: str, ranked: list[str]) -> None:
        runs[system][user] = ranked
        rows.extend(
            {
                "window": index,
                "system": system,
                "user_id": user,
                "rank": r,
                "video_id": v,
                "score": float(RUN_DEPTH - r),
            }
            for r, v in enumerate(ranked)
        )

    for k, u in enumerate(test_users):
        req = ctx.request_for_user(u)
        cands = generate_candidates(ctx, req, cfg.candidates)
        rel = qrels[u]
        ids = [vids[int(p)] for p in cands.positions]
        in_cands = rel & set(ids)
        reach = rel & seen_before
        n_pos += len(rel)
        n_seen_before += len(reach)
        n_in_cands += len(in_cands)
        perfect_cands.append(_ndcg10(sorted(in_cands), rel))
        allowed = known[~np.isin(known, req.excluded())]
        reach_pos = ds.catalog.positions(sorted(reach))
        perfect_cat.append(_ndcg10([vids[int(i)] for i in reach_pos[np.isin(reach_pos, allowed)]], rel))
        if in_cands:
            cond_qrels[u] = in_cands
        if rel - reach:
            cold_qrels[u] = rel - reach
            n_cold_in_cands += len(in_cands - reach)
        for sy in whole:
            add(f"{sy.name}{CATALOGUE_SUFFIX}", u, [vids[int(i)] for i in sy.rank_catalogue(k, allowed)])
        if len(cands) == 0:
            continue
        feats = assemble_features(ctx, req, cands, schema)
        for sy in systems:
            add(sy.name, u, [ids[int(i)] for i in sy.rank_candidates(k, cands, feats)])
    summary, per_user = evaluate_runs(runs, qrels, len(ds.catalog), n_boot=cfg.n_boot, seed=cfg.seed)
    best = max(summary, key=lambda s: float(summary[s]["ndcg_at_10"]))  # type: ignore[arg-type]
    cond, _ = evaluate_runs(
        {s: r for s, r in runs.items() if not s.endswith(CATALOGUE_SUFFIX)},
        cond_qrels,
        len(ds.catalog),
        n_boot=cfg.n_boot,
        seed=cfg.seed,
    )
    cold, _ = evaluate_runs(runs, cold_qrels, len(ds.catalog), n_boot=cfg.n_boot, seed=cfg.seed)
    for s in summary:
        summary[s]["ndcg_at_10_cold"] = cold[s]["ndcg_at_10"] if s in cold else None
        summary[s]["recall_at_50_cold"] = cold[s]["recall_at_50"] if s in cold else None
        summary[s]["scope"] = "catalogue" if s.endswith(CATALOGUE_SUFFIX) else "candidates"
        summary[s]["ndcg_at_10_conditional"] = cond[s]["ndcg_at_10"] if s in cond else None
        summary[s]["p_vs_best_ndcg_at_10"] = (
            None
            if s == best
            else paired_randomization_test(
                per_user[best]["ndcg_at_10"], per_user[s]["ndcg_at_10"], n_perm=cfg.n_perm, seed=cfg.seed
            )
        )
    ceiling = {
        "n_users": len(test_users),
        "n_positives": n_pos,
        "share_seen_before_window": n_seen_before / n_pos if n_pos else float("nan"),
        "share_in_candidates": n_in_cands / n_pos if n_pos else float("nan"),
        "reachable_in_candidates": n_in_cands / n_seen_before if n_seen_before else float("nan"),
        "perfect_ndcg_at_10_candidates": float(np.mean(perfect_cands)) if perfect_cands else float("nan"),
        "perfect_ndcg_at_10_catalogue": float(np.mean(perfect_cat)) if perfect_cat else float("nan"),
        "users_with_positive_in_candidates": len(cond_qrels),
        "n_cold_positives": n_pos - n_seen_before,
        "cold_users": len(cold_qrels),
        "cold_share_in_candidates": (
            n_cold_in_cands / (n_pos - n_seen_before) if n_pos > n_seen_before else float("nan")
        ),
    }
    held = {u: sorted(v) for u, v in qrels.items()}
    cand_recall = candidate_recall(ctx, held, cfg.candidates)
    # Structural channels cannot exist without video content, and a channel with quota 0 is off: "n/a", not
    # a measured zero.
    absent = {c for c in CHANNELS if cfg.candidates.quota(c) == 0}
    if not ds.catalog.has_content:
        absent |= STRUCTURE_CHANNELS
    cand_recall = {c: (float("nan") if c in absent else v) for c, v in cand_recall.items()}
    return WindowResult(
        index,
        test_start,
        test_end,
        list(cutoffs),
        test_users,
        qrels,
        runs,
        summary,
        per_user,
        ceiling,
        cand_recall,
        {sy.name: report for sy in systems if (report := sy.report()) is not None},
        rows,
    )


def _pooled(
    windows: Sequence[WindowResult], n_boot: int, n_perm: int, seed: int
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, np.ndarray]], np.ndarray]:
    """Metrics pooled over windows (one row per user and window), CIs and tests clustered by user."""
    clusters = np.concatenate([np.array(w.users, dtype=object) for w in windows]).astype(str)
    systems = list(windows[0].summary)
    per_user = {
        s: {m: np.concatenate([w.per_user[s][m] for w in windows]) for m in windows[0].per_user[s]}
        for s in systems
    }
    summary: dict[str, dict[str, Any]] = {}
    for s in systems:
        res: dict[str, Any] = {"n_users": len(clusters), "scope": windows[0].summary[s]["scope"]}
        for m, arr in per_user[s].items():
            res[m] = float(arr.mean())
            res[f"{m}_ci"] = list(cluster_bootstrap_ci(arr, clusters, n_boot=n_boot, seed=seed))
        summary[s] = res
    best = max(summary, key=lambda s: float(summary[s]["ndcg_at_10"]))
    for s in systems:
        summary[s]["p_vs_best_ndcg_at_10"] = (
            None
            if s == best
            else clustered_randomization_test(
                per_user[best]["ndcg_at_10"], per_user[s]["ndcg_at_10"], clusters, n_perm=n_perm, seed=seed
            )
        )
    return summary, per_user, clusters


def _headline(
    windows: Sequence[WindowResult],
    summary: dict[str, dict[str, Any]],
    per_user: dict[str, dict[str, np.ndarray]],
    clusters: np.ndarray,
    cfg: ExperimentConfig,
) -> dict[str, Any] | None:
    """The best LightGBM system against the best other system (every baseline, both scopes), pooled."""
    lgbm = [s for s in summary if s.startswith("lgbm_")]
    others = [s for s in summary if not s.startswith("lgbm_")]
    if not lgbm or not others:
        return None
    model = max(lgbm, key=lambda s: summary[s]["ndcg_at_10"])
    base = max(others, key=lambda s: summary[s]["ndcg_at_10"])
    a, b = per_user[model]["ndcg_at_10"], per_user[base]["ndcg_at_10"]
    reps = cluster_bootstrap_means([a, b], clusters, n_boot=cfg.n_boot, seed=cfg.seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = reps[:, 0] / reps[:, 1]
    per_window = []
    for w in windows:
        wa, wb = w.per_user[model]["ndcg_at_10"], w.per_user[base]["ndcg_at_10"]
        per_window.append(
            {
                "window": w.index,
                "model_ndcg_at_10": float(wa.mean()),
                "baseline_ndcg_at_10": float(wb.mean()),
                "ratio": float(wa.mean() / wb.mean()) if wb.mean() > 0 else None,
                "p_value": paired_randomization_test(wa, wb, n_perm=cfg.n_perm, seed=cfg.seed),
            }
        )
    ratio = float(a.mean() / b.mean()) if b.mean() > 0 else None
    p = clustered_randomization_test(a, b, clusters, n_perm=cfg.n_perm, seed=cfg.seed)
    return {
        "model": model,
        "baseline": base,
        "model_ndcg_at_10": float(a.mean()),
        "baseline_ndcg_at_10": float(b.mean()),
        "ratio": ratio,
        "ratio_ci": [float(np.nanquantile(ratios, 0.025)), float(np.nanquantile(ratios, 0.975))],
        "p_value": p,
        "per_window": per_window,
        "target_met": bool(ratio is not None and ratio >= 1.5 and p < 0.01),
    }


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
    try:
        return _run_loaded(cfg, ds, run_dir, say)
    finally:
        if isinstance(ds.neighbours, IndexNeighbours):
            ds.neighbours.close()


def _run_loaded(
    cfg: ExperimentConfig, ds: Dataset, run_dir: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    if not ds.catalog.has_content:
        bad = [s for s in cfg.systems if make_system(s).needs_content]
        if bad:
            raise ConfigError(
                f"{cfg.source_file}: system(s) {', '.join(bad)} need video content; this data has none"
            )
    schema = FeatureSchema.for_config(cfg.aggregates)
    starts = [_time_at(ds.events, q) for q in cfg.test_windows]
    windows: list[WindowResult] = []
    for w, q in enumerate(cfg.test_windows):
        # Rolling origin: every window keeps the first window's training snapshots, shifted by its offset.
        shift = q - cfg.test_windows[0]
        cutoffs = [_time_at(ds.events, c + shift) for c in cfg.train_cutoffs]
        end = starts[w + 1] if w + 1 < len(starts) else None
        windows.append(_run_window(cfg, ds, schema, w, cutoffs, starts[w], end, run_dir, say))
    first = windows[0]
    if len(windows) == 1:
        summary: dict[str, dict[str, Any]] = first.summary
        per_user = first.per_user
        clusters = np.array(first.users, dtype=str)
    else:
        summary, per_user, clusters = _pooled(windows, cfg.n_boot, cfg.n_perm, cfg.seed)
    best = max(summary, key=lambda s: float(summary[s]["ndcg_at_10"]))
    n_users = sum(len(w.users) for w in windows)
    cand_recall = {
        c: float(np.sum([w.candidate_recall[c] * len(w.users) for w in windows]) / max(n_users, 1))
        for c in first.candidate_recall
    }
    result: dict[str, Any] = {
        "name": cfg.name,
        "data_kind": ds.kind,
        "systems": summary,
        "best_system": best,
        "candidate_recall": cand_recall,
        "models": first.models,
        "split": {"train_cutoffs": [str(c) for c in first.cutoffs], "test_start": str(first.start)},
        "n_test_users": len(first.users),
        "catalog_size": len(ds.catalog),
        "n_events": ds.events.height,
        "feature_schema_version": schema.version,
        "notes": ds.notes,
        "run_dir": str(run_dir),
        "baseline_config": asdict(cfg.baselines),
        "windows": [
            {
                "window": w.index,
                "test_start": str(w.start),
                "test_end": str(w.end) if w.end else None,
                "train_cutoffs": [str(c) for c in w.cutoffs],
                "n_test_users": len(w.users),
                "systems": w.summary,
                "ceiling": w.ceiling,
                "candidate_recall": w.candidate_recall,
                "models": w.models,
            }
            for w in windows
        ],
        "pooled": len(windows) > 1,
    }
    n_pos = sum(w.ceiling["n_positives"] for w in windows)
    seen = sum(w.ceiling["share_seen_before_window"] * w.ceiling["n_positives"] for w in windows)
    inside = sum(w.ceiling["share_in_candidates"] * w.ceiling["n_positives"] for w in windows)
    result["ceiling_pooled"] = {
        "n_positives": n_pos,
        "share_seen_before_window": seen / n_pos if n_pos else float("nan"),
        "share_in_candidates": inside / n_pos if n_pos else float("nan"),
        "reachable_in_candidates": inside / seen if seen else float("nan"),
    }
    head = _headline(windows, summary, per_user, clusters, cfg)
    if head is not None:
        result["headline"] = head
    if {"lgbm_structure", "lgbm_engagement"} <= set(summary):
        a, b = per_user["lgbm_structure"]["ndcg_at_10"], per_user["lgbm_engagement"]["ndcg_at_10"]
        base = float(b.mean())
        result["structure_effect"] = {
            "ndcg_at_10_delta": float(a.mean() - base),
            # Paired: the interval of the mean per-user difference, over the same user resamples.
            "ndcg_at_10_delta_ci": list(
                bootstrap_ci(a - b, n_boot=cfg.n_boot, seed=cfg.seed)
                if len(windows) == 1
                else cluster_bootstrap_ci(a - b, clusters, n_boot=cfg.n_boot, seed=cfg.seed)
            ),
            "ndcg_at_10_relative": float((a.mean() - base) / base) if base > 0 else None,
            "p_value": (
                paired_randomization_test(a, b, n_perm=cfg.n_perm, seed=cfg.seed)
                if len(windows) == 1
                else clustered_randomization_test(a, b, clusters, n_perm=cfg.n_perm, seed=cfg.seed)
            ),
        }
    rows = [r for w in windows for r in w.rows]
    qrels = [(w.index, u, v) for w in windows for u, vs in w.qrels.items() for v in sorted(vs)]
    _write_run(run_dir, cfg, ds, result, rows, qrels)
    return result


def _write_run(
    run_dir: Path,
    cfg: ExperimentConfig,
    ds: Dataset,
    result: dict[str, Any],
    rows: list[dict[str, Any]],
    qrels: list[tuple[int, str, str]],
) -> None:
    assert cfg.source_file is not None
    shutil.copyfile(cfg.source_file, run_dir / "config.toml")
    (run_dir / "data_version.json").write_text(json.dumps(data_version(ds.inputs), indent=2))
    (run_dir / "results.json").write_text(json.dumps(result, indent=2, default=str))
    pl.DataFrame(
        rows,
        schema={
            "window": pl.Int32,
            "system": pl.String,
            "user_id": pl.String,
            "rank": pl.Int32,
            "video_id": pl.String,
            "score": pl.Float64,
        },
    ).write_parquet(run_dir / "runs.parquet")
    pl.DataFrame(
        qrels, schema={"window": pl.Int32, "user_id": pl.String, "video_id": pl.String}, orient="row"
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
    if m not in res:
        return "—"
    lo, hi = res[f"{m}_ci"]
    return f"{res[m]:.4f} [{lo:.4f}, {hi:.4f}]"


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def _system_table(systems: dict[str, Any], conditional: bool) -> list[str]:
    head = "| system | scope | NDCG@10 [95% CI] | Recall@10 | Recall@50 | MAP | coverage@10 | p vs best |"
    sep = "|---|---|---|---|---|---|---|---|"
    if conditional:
        head += " NDCG@10 conditional |"
        sep += "---|"
    lines = [head, sep]
    best = max(systems, key=lambda s: systems[s]["ndcg_at_10"])
    for s, r in systems.items():
        p = r["p_vs_best_ndcg_at_10"]
        cells = [
            _fmt_ci(r, m) for m in ("ndcg_at_10", "recall_at_10", "recall_at_50", "map", "coverage_at_10")
        ]
        name = f"**{s}**" if s == best else s
        pv = "best" if p is None else f"{p:.4f}"
        row = f"| {name} | {r.get('scope', 'candidates')} | {' | '.join(cells)} | {pv} |"
        if conditional:
            row += f" {_fmt(r.get('ndcg_at_10_conditional'))} |"
        lines.append(row)
    return lines


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
    windows = result.get("windows", [])
    lines += [f"- {n}" for n in result["notes"]]
    lines += [
        f"- events: {result['n_events']}, catalog: {result['catalog_size']} videos, "
        f"test windows: {len(windows)}, test users per window: "
        f"{', '.join(str(w['n_test_users']) for w in windows) or result['n_test_users']}",
        "- split (time-based, rolling origin): each window trains on snapshots before its start and tests on "
        "the likes inside it; relevant = liked in the window",
        f"- feature schema version {result['feature_schema_version']}",
        "- scope `candidates`: the system re-ranks the shared candidate set of each test user (every "
        "`candidates` system ranks the same set); scope `catalogue`: the baseline ranks every video with an "
        "event before the window (seen videos excluded). Metrics are **end-to-end**: against every like in "
        "the window, including likes no candidate set holds. `NDCG@10 conditional` counts only likes inside "
        "the candidates, over users with at least one: it measures ranking alone, not the system.",
        "- baselines (fitted on likes before each window's start; hyperparameters fixed in the config, not "
        "tuned on test windows): "
        + ", ".join(f"{k}={v}" for k, v in result.get("baseline_config", {}).items()),
        "",
    ]
    head = result.get("headline")
    if head:
        ratio = "n/a" if head["ratio"] is None else f"{head['ratio']:.2f}x"
        lo, hi = head["ratio_ci"]
        verdict = "met" if head["target_met"] else "NOT met"
        lines += [
            "## Best model against the best baseline",
            "",
            f"{'Pooled over ' + str(len(windows)) + ' windows' if result.get('pooled') else 'Test window'}: "
            f"`{head['model']}` NDCG@10 {head['model_ndcg_at_10']:.4f} vs `{head['baseline']}` "
            f"{head['baseline_ndcg_at_10']:.4f} — ratio {ratio} [95% CI {lo:.2f}, {hi:.2f}], "
            f"p = {head['p_value']:.4f}. Target (>= 1.5x with p < 0.01): **{verdict}**. The baseline is the "
            "best of every non-LightGBM system on these same windows (a choice made on test data, which only "
            "makes the comparison harder for the model).",
            "",
            "| window | model NDCG@10 | baseline NDCG@10 | ratio | p (paired, users) |",
            "|---|---|---|---|---|",
        ]
        for w in head["per_window"]:
            lines.append(
                f"| {w['window']} | {w['model_ndcg_at_10']:.4f} | {w['baseline_ndcg_at_10']:.4f} | "
                f"{_fmt(w['ratio'], 2)} | {w['p_value']:.4f} |"
            )
        lines.append("")
    if result.get("pooled"):
        lines += [
            "## Pooled over windows (one row per user and window)",
            "",
            *_system_table(result["systems"], conditional=False),
            "",
            "Pooled intervals: percentile bootstrap resampling users with all their windows; p: sign-flip "
            "test flipping each user's windows together, against the best system.",
            "",
        ]
    lines += [
        "## Ceiling (what any ranker of these candidates could reach)",
        "",
        "| window | users | test likes | on videos seen before the window | inside the candidates | "
        "reachable likes inside the candidates | perfect NDCG@10 of the candidates | perfect NDCG@10 of "
        "the catalogue |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for w in windows:
        c = w["ceiling"]
        lines.append(
            f"| {w['window']} | {c['n_users']} | {c['n_positives']} | "
            f"{_fmt(c['share_seen_before_window'], 3)} | {_fmt(c['share_in_candidates'], 3)} | "
            f"{_fmt(c['reachable_in_candidates'], 3)} | "
            f"{_fmt(c['perfect_ndcg_at_10_candidates'])} | {_fmt(c['perfect_ndcg_at_10_catalogue'])} |"
        )
    cp = result.get("ceiling_pooled")
    if cp and len(windows) > 1:
        lines.append(
            f"| pooled | | {cp['n_positives']} | {_fmt(cp['share_seen_before_window'], 3)} | "
            f"{_fmt(cp['share_in_candidates'], 3)} | {_fmt(cp['reachable_in_candidates'], 3)} | | |"
        )
    lines += [
        "",
        "Shares are over likes (micro); perfect NDCG@10 puts every like inside the set first and is "
        "end-to-end (likes outside the set still count in the ideal).",
        "",
    ]
    lines += [
        "## Cold videos (likes on videos with no event before the window)",
        "",
        "| window | system | NDCG@10 (cold likes only) | Recall@50 (cold likes only) |",
        "|---|---|---|---|",
    ]
    for w in windows:
        c = w["ceiling"]
        for s, r in w["systems"].items():
            if r.get("ndcg_at_10_cold") is not None:
                lines.append(
                    f"| {w['window']} | {s} | {_fmt(r['ndcg_at_10_cold'])} | {_fmt(r['recall_at_50_cold'])} |"
                )
        lines.append(
            f"\nWindow {w['window']}: {c.get('n_cold_positives')} cold likes of {c.get('cold_users')} users; "
            f"{_fmt(c.get('cold_share_in_candidates'), 3)} of them inside the candidates.\n"
        )
    lines.append("")
    for w in windows:
        lines += [
            f"## Window {w['window']}: test [{w['test_start']}, {w['test_end'] or 'end of data'})",
            "",
            f"Training snapshots as of {', '.join(w['train_cutoffs'])}.",
            "",
            *_system_table(w["systems"], conditional=True),
            "",
        ]
    lines += [
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
    chans = list(result["candidate_recall"])
    lines += [
        "## Candidate recall (mean over users of the share of their likes in the window in each channel)",
        "",
        "n/a: the channel cannot exist on this data (structural channels need video content) or is off in "
        "this config (quota 0).",
        "",
        "| channel | " + " | ".join(f"window {w['window']}" for w in windows) + " |",
        "|---|" + "---|" * len(windows),
    ]
    for c in chans:
        lines.append(f"| {c} | " + " | ".join(_fmt(w["candidate_recall"][c]) for w in windows) + " |")
    lines += [
        "",
        "## Models",
        "",
        "`valid_ndcg_at_10` is **conditional**: LightGBM's validation NDCG over training requests with at "
        "least one like among their candidates, not comparable with the end-to-end test numbers above.",
        "",
    ]
    for w in windows:
        lines += [f"- window {w['window']} {k}: {json.dumps(v)}" for k, v in w["models"].items()]
    lines += ["", "![metrics](metrics.png)", "", "![candidate recall](candidate_recall.png)", ""]
    return "\n".join(lines)
