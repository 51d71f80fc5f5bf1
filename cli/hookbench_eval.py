"""``sv6d eval-hooks --real``: similar-hook search on real footage re-cut into known opening styles.

Every source of the split is re-cut into every style (``sv6d.hookbench.render``); each side of the split
(training sources, held-out sources) is searched on its own: every clip queries the other clips of its side.
A hit is relevant when it has the query's opening style. Reported per side: P@5 overall and by style, the
share of the top 5 that is the query's own footage opened another way (content leaking in; chance is
(styles - 1) / (clips - 1)), for the encoder's search (the real index, exact ``Flat``, the given weights), for
each dimension alone, and for the two baselines of ``sv6d.hookbench.baselines``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sv6d.dimensions import DIMENSIONS
from sv6d.hookbench import RENDER_VERSION, STYLES, RenderedClip, Split, render_benchmark
from sv6d.hookbench.render import PROBE_STYLES
from sv6d.record import SV6DRecord

K = 5
SIDES = ("heldout", "train")


@dataclass(frozen=True)
class Clip:
    clip: RenderedClip
    side: str
    footage: str


def _style_order(item: tuple[str, Any]) -> tuple[int, int]:
    name = item[0]
    if name in STYLES:
        return 0, STYLES.index(name)
    return 1, PROBE_STYLES.index(name) if name in PROBE_STYLES else len(PROBE_STYLES)


def _metrics(clips: Sequence[Clip], rankings: Mapping[str, Sequence[str]], k: int = K) -> dict[str, Any]:
    """P@k overall and by style, and the same-footage share of the top k, from each query's ranked hits."""
    by_id = {c.clip.clip_id: c for c in clips}
    per_style: dict[str, list[float]] = defaultdict(list)
    same_footage: list[float] = []
    for c in clips:
        hits = [h for h in rankings[c.clip.clip_id] if h != c.clip.clip_id][:k]
        per_style[c.clip.style].append(sum(by_id[h].clip.style == c.clip.style for h in hits) / k)
        same_footage.append(sum(by_id[h].footage == c.footage for h in hits) / k)
    all_p = [p for v in per_style.values() for p in v]
    return {
        f"p_at_{k}": round(float(np.mean(all_p)), 4),
        f"same_footage_at_{k}": round(float(np.mean(same_footage)), 4),
        # the listed styles in their order, then any other (the probe styles) in theirs
        "by_style": {s: round(float(np.mean(v)), 4) for s, v in sorted(per_style.items(), key=_style_order)},
        "queries": len(all_p),
    }


def _rank_by_similarity(ids: Sequence[str], sim: np.ndarray) -> dict[str, list[str]]:
    out = {}
    for i, qid in enumerate(ids):
        order = np.argsort(-sim[i], kind="stable")
        out[qid] = [ids[j] for j in order if j != i]
    return out


def _records(
    clips: Sequence[Clip],
    encode: Callable[[RenderedClip], SV6DRecord],
    cache: Path | None,
    refresh: Callable[[SV6DRecord], SV6DRecord | None] | None = None,
) -> dict[str, SV6DRecord]:
    """Each clip's record: from ``cache`` (a records file), brought up to date by ``refresh`` (None: encode
    the clip again), else encoded; the file is rewritten when anything changed."""
    from sv6d.record_io import read_records, write_records

    done: dict[str, SV6DRecord] = {}
    if cache is not None and cache.is_file():
        done = {r.video_id: r for r in read_records(cache)}
    changed = False
    if refresh is not None:
        for vid, r in list(done.items()):
            fresh = refresh(r)
            if fresh is None:
                del done[vid]
            elif fresh is not r:
                done[vid] = fresh
                changed = True
    missing = [c for c in clips if c.clip.clip_id not in done]
    for c in missing:
        done[c.clip.clip_id] = encode(c.clip)
    if cache is not None and (missing or changed):
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_records(cache, list(done.values()))
    return done


# Hits of the hook search that the edit-rhythm stage re-orders (``indexer.rhythm``).
RHYTHM_TOP_N = 30


def search_rankings(
    records: Sequence[SV6DRecord],
    weights: Mapping[str, float] | None,
    k: int,
    rhythm: Sequence[tuple[float, float]] = (),
) -> list[dict[str, list[str]]]:
    """Each record's similar hooks among the others, through the real index (FAISS ``Flat``: exact): the
    plain ranking, then one per ``(alpha, timing)`` of ``rhythm`` with the top ``RHYTHM_TOP_N`` hits
    re-ordered by edit rhythm (``indexer.rhythm.rerank_hooks``)."""
    import tempfile

    from indexer import Weights, open_index
    from indexer.rhythm import rerank_hooks

    w = Weights.of(weights, "hook")
    by_id = {r.video_id: r for r in records}
    out: list[dict[str, list[str]]] = [{} for _ in range(1 + len(rhythm))]
    with (
        tempfile.TemporaryDirectory(prefix="sv6d-hookbench-") as tmp,
        open_index(f"faiss://{tmp}", recipe="Flat") as index,
    ):
        index.upsert(list(records))
        for r in records:
            hits = index.similar_hooks(r.video_id, k=max(k, RHYTHM_TOP_N) if rhythm else k, weights=weights)
            out[0][r.video_id] = [h.video_id for h in hits[:k]]
            for i, (alpha, timing) in enumerate(rhythm, 1):
                ranked = rerank_hooks(r, hits, by_id.__getitem__, w, alpha, timing)
                out[i][r.video_id] = [h.video_id for h in ranked[:k]]
    return out


RHYTHM_GRID = tuple((a, t) for a in (0.01, 0.02, 0.05, 0.1, 0.2, 0.4) for t in (0.0, 0.5, 0.75, 1.0))


def tune_rhythm(
    records: Sequence[SV6DRecord], clips: Sequence[Clip], weights: Mapping[str, float] | None
) -> tuple[float, float]:
    """The ``(alpha, timing)`` of ``RHYTHM_GRID`` with the best P@5 (ties: fewer same-footage hits, then the
    grid's order). Run it on training sources only."""
    ranked = search_rankings(records, weights, K, RHYTHM_GRID)[1:]

    def key(i: int) -> tuple[float, float, int]:
        m = _metrics(clips, ranked[i])
        return (m[f"p_at_{K}"], -m[f"same_footage_at_{K}"], -i)

    return RHYTHM_GRID[max(range(len(RHYTHM_GRID)), key=key)]


def weighted_rankings(records: Sequence[SV6DRecord], weights: np.ndarray) -> dict[str, list[str]]:
    """The index's ranking in NumPy: Σ_d w_d cos(q_d, x_d) over hook vectors (for weight sweeps)."""
    ids = [r.video_id for r in records]
    blocks = np.stack([r.hook for r in records])  # (n, 6, d), unit rows
    cos = np.einsum("idk,jdk->ijd", blocks, blocks)
    return _rank_by_similarity(ids, cos @ weights)


def _style_similarities(records: Sequence[SV6DRecord]) -> np.ndarray:
    """(n, n) similarities of the records' opening-style profiles (``sv6d.record.style_similarity``)."""
    from sv6d.record import style_similarity

    return np.array([[style_similarity(a.hook_style, b.hook_style) for b in records] for a in records])


def text_recall(
    clips: Sequence[Clip], records: Sequence[SV6DRecord], heads: Any, weights: Mapping[str, float] | None
) -> dict[str, Any] | None:
    """Text -> hook recall@10 with one plain-English query per style (``sv6d.hookbench.text_queries``),
    through the heads' text side (None when the heads have none), and the best hit's score for each query
    and for nonsense queries (a calibrated reading gives nonsense lower scores than real queries)."""
    from sv6d.hookbench.text_queries import NONSENSE_QUERIES, TEXT_QUERIES

    if not callable(getattr(heads, "project_text", None)) or len(getattr(heads, "text_heads", {})) < 6:
        return None
    from indexer import Weights

    w = Weights.of(weights, "hook").array.astype(np.float64)  # the hook search's own reading of the weights
    blocks = np.stack([r.hook for r in records])  # (n, 6, d)

    def scores(text: str) -> np.ndarray:
        q = np.stack([heads.project_text(d, [text])[0] for d in DIMENSIONS])  # (6, d)
        return np.einsum("ndk,dk->nd", blocks, q) @ w / w.sum()  # weighted mean of cosines

    styles = [c.clip.style for c in clips]
    recall, top = {}, {}
    for style, text in TEXT_QUERIES.items():
        if style not in styles:
            continue
        s = scores(text)
        order = np.argsort(-s, kind="stable")[:10]
        relevant = sum(1 for i in order if styles[i] == style)
        recall[style] = round(relevant / min(10, styles.count(style)), 4)
        top[style] = round(float(s[order[0]]), 4)
    if not recall:  # no style of these clips has a written query (the probe styles)
        return None
    nonsense = {t: round(float(scores(t).max()), 4) for t in NONSENSE_QUERIES}
    return {
        "recall_at_10": round(float(np.mean(list(recall.values()))), 4),
        "by_style": recall,
        "best_score": top,
        "nonsense_best_score": nonsense,
    }


def tune_weights(
    records: Sequence[SV6DRecord], clips: Sequence[Clip], grid: Sequence[float] = (0.0, 0.5, 1.0, 2.0, 4.0)
) -> dict[str, float]:
    """Coordinate ascent over per-dimension weights on ``grid`` maximising P@5 (ties: fewer same-footage
    hits). Run it on training sources only."""
    w = np.ones(len(DIMENSIONS))

    def score(weights: np.ndarray) -> tuple[float, float]:
        if not (weights > 0).any():
            return (-1.0, 0.0)
        m = _metrics(clips, weighted_rankings(records, weights))
        return (m[f"p_at_{K}"], -m[f"same_footage_at_{K}"])

    best = score(w)
    for _ in range(3):
        improved = False
        for d in range(len(DIMENSIONS)):
            for value in grid:
                trial = w.copy()
                trial[d] = value
                s = score(trial)
                if s > best:
                    best, w, improved = s, trial, True
        if not improved:
            break
    return {dim.value: float(x) for dim, x in zip(DIMENSIONS, w, strict=True)}


def run_benchmark(
    videos_dir: Path,
    work_dir: Path,
    split: Split,
    encoder: Any,
    weights: Mapping[str, float] | None = None,
    styles: Sequence[str] = STYLES,
    seed: int = 0,
    sides: Sequence[str] = SIDES,
    tune: bool = False,
    on_progress: Callable[[str], None] | None = None,
    rhythm: tuple[float, float] | None = None,
    tune_rhythm_on_train: bool = False,
) -> dict[str, Any]:
    """Render (cached in ``work_dir``), encode (cached per encoder identity), search and score; the
    ``--json`` document of ``sv6d eval-hooks --real``. ``rhythm`` = ``(alpha, timing)`` (or chosen on the
    training sources with ``tune_rhythm_on_train``) adds the system ``encoder_rhythm``: the encoder's search
    with its top hits re-ordered by edit rhythm (``indexer.rhythm``)."""
    from indexer import Weights
    from sv6d.hookbench import baselines

    names = [
        n for n in (*split.train, *split.heldout) if split.side(n) in sides or tune or tune_rhythm_on_train
    ]
    render_dir = work_dir / f"{RENDER_VERSION}-seed{seed}"
    rendered = render_benchmark(
        videos_dir,
        render_dir,
        names,
        styles,
        seed,
        on_progress=(lambda c: on_progress(f"render {c.clip_id}")) if on_progress else None,
    )
    clips = [Clip(c, split.side(c.source), split.footage(c.source)) for c in rendered]

    info = encoder.info
    # Records are kept per backbone and hook window; other heads re-project them from the kept features.
    ident = hashlib.sha1(
        json.dumps([info.name, info.version, info.fingerprint, encoder.hook_s]).encode()
    ).hexdigest()[:16]

    if getattr(encoder, "feature_cache", False) is None:
        from encoder.contrastive.cache import FeatureCache

        # the backbone's raw features are kept beside the clips: heads are trained on them (sv6d heads)
        encoder.feature_cache = FeatureCache(render_dir / "features", info.fingerprint)

    def encode(c: RenderedClip) -> SV6DRecord:
        if on_progress:
            on_progress(f"encode {c.clip_id}")
        return encoder.encode_file(c.path, video_id=c.clip_id)

    def refresh(r: SV6DRecord) -> SV6DRecord | None:
        """``r`` as this encoder makes it: as it is, re-projected by these heads from the kept features
        (the same vectors as encoding again: ``Encoder.can_reproject``), or None (encode again)."""
        if r.encoder == info:
            return r
        cache = getattr(encoder, "feature_cache", None)
        return encoder.reproject_from(r, cache) if cache is not None else None

    records = _records(clips, encode, render_dir / f"records-{ident}.parquet", refresh)

    feature_cache = render_dir / "baselines.npz"
    feats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if feature_cache.is_file():
        with np.load(feature_cache) as z:
            feats = {str(i): (z["hist"][n], z["struct"][n]) for n, i in enumerate(z["ids"])}
    missing = [c for c in clips if c.clip.clip_id not in feats]
    for c in missing:
        frames = baselines.hook_frames(c.clip.path)
        feats[c.clip.clip_id] = (baselines.colour_histogram(frames), baselines.structural(frames))
    if missing:  # written only when something was added, and atomically (a kill leaves the old file)
        ids_all = sorted(feats)
        tmp = feature_cache.with_name("baselines.tmp.npz")
        np.savez(
            tmp,
            ids=np.array(ids_all),
            hist=np.stack([feats[i][0] for i in ids_all]),
            struct=np.stack([feats[i][1] for i in ids_all]),
        )
        tmp.replace(feature_cache)
    train_struct = np.stack([feats[c.clip.clip_id][1] for c in clips if c.side == "train"])
    mu, sd = train_struct.mean(0), train_struct.std(0) + 1e-9

    tuned: dict[str, float] | None = None
    if tune:
        train_clips = [c for c in clips if c.side == "train"]
        tuned = tune_weights([records[c.clip.clip_id] for c in train_clips], train_clips)
        weights = tuned
    if tune_rhythm_on_train:
        train_clips = [c for c in clips if c.side == "train"]
        rhythm = tune_rhythm([records[c.clip.clip_id] for c in train_clips], train_clips, weights)

    out: dict[str, Any] = {
        "benchmark": {
            "render_version": RENDER_VERSION,
            "seed": seed,
            "split_version": split.version,
            "styles": list(styles),
            "k": K,
            "encoder": {
                "backbone": info.name,
                "backbone_version": info.version,
                "heads": info.head_version,
                "fingerprint": info.fingerprint,
            },
            "weights": Weights.of(weights, "hook").as_dict(),
            "weights_tuned_on_train": tuned is not None,
            "rhythm": None
            if rhythm is None
            else {
                "alpha": rhythm[0],
                "timing": rhythm[1],
                "top_n": RHYTHM_TOP_N,
                "tuned_on_train": tune_rhythm_on_train,
            },
        }
    }
    for side in sides:
        side_clips = [c for c in clips if c.side == side]
        if not side_clips:
            continue
        recs = [records[c.clip.clip_id] for c in side_clips]
        ids = [c.clip.clip_id for c in side_clips]
        hist = np.stack([feats[i][0] for i in ids])
        z = (np.stack([feats[i][1] for i in ids]) - mu) / sd
        dist = np.linalg.norm(z[:, None, :] - z[None, :, :], axis=-1)
        ranked = search_rankings(recs, weights, K, [rhythm] if rhythm is not None else [])
        rows: dict[str, Any] = {
            "encoder": _metrics(side_clips, ranked[0]),
            **({"encoder_rhythm": _metrics(side_clips, ranked[1])} if rhythm is not None else {}),
            # the two parts of the default search apart: the six dimensions' score, the style profile
            "encoder_vectors_only": _metrics(
                side_clips, weighted_rankings(recs, Weights.of(weights, "hook").array.astype(np.float64))
            ),
            "encoder_style_only": _metrics(side_clips, _rank_by_similarity(ids, _style_similarities(recs))),
            "baseline_colour_histogram": _metrics(side_clips, _rank_by_similarity(ids, hist @ hist.T)),
            "baseline_structural": _metrics(side_clips, _rank_by_similarity(ids, -dist)),
        }
        for i, d in enumerate(DIMENSIONS):
            one = np.zeros(len(DIMENSIONS))
            one[i] = 1.0
            rows[f"dimension_{d.value}"] = _metrics(side_clips, weighted_rankings(recs, one))
        text = text_recall(side_clips, recs, encoder.heads, weights)
        if text is not None:
            rows["text_queries"] = text
        n_sources = len({c.footage for c in side_clips})
        rows["chance"] = {
            f"p_at_{K}": round((len(side_clips) / max(1, len(styles)) - 1) / (len(side_clips) - 1), 4),
            f"same_footage_at_{K}": round(
                (len(side_clips) / max(1, n_sources) - 1) / (len(side_clips) - 1), 4
            ),
        }
        out[side] = {"clips": len(side_clips), "sources": n_sources, "systems": rows}
    return out


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def hook_features(
    videos_dir: Path,
    work_dir: Path,
    split: Split,
    seeds: Sequence[int],
    encoder: Any,
    on_progress: Callable[[str], None] | None = None,
) -> list[tuple[Clip, dict]]:
    """The training sources' clips (one render per seed) with their hook heads' input per dimension
    (``encoder.heads.hook_head_input``: the raw hook features beside their difference from the whole clip's),
    encoded once into each render's feature cache."""
    from encoder.contrastive.cache import FeatureCache
    from encoder.heads import hook_head_input

    fingerprint = encoder.backbone.fingerprint()
    out: list[tuple[Clip, dict]] = []
    for seed in seeds:
        render_dir = work_dir / f"{RENDER_VERSION}-seed{seed}"
        rendered = render_benchmark(
            videos_dir,
            render_dir,
            list(split.train),
            seed=seed,
            on_progress=(lambda c: on_progress(f"render {c.clip_id}")) if on_progress else None,
        )
        cache = FeatureCache(render_dir / "features", fingerprint)
        encoder.feature_cache = cache
        for c in rendered:
            if c.clip_id not in cache:
                if on_progress:
                    on_progress(f"encode {c.clip_id}")
                encoder.encode_file(c.path, video_id=c.clip_id)
            features, _ = cache.get(c.clip_id)
            hook, video = features.hook.features, features.video.features
            inputs = {d: hook_head_input(hook[d], video[d]) for d in DIMENSIONS}
            out.append((Clip(c, "train", split.footage(c.source)), inputs))
    return out


# Generated openings that are one of the benchmark's styles train as that style; the others as themselves.
GENERATED_AS_STYLE = {
    "fade_in_from_black": "fade_from_black",
    "cold_open_flash": "flash_open",
    "slow_push_in_quiet": "slow_push_in",
    "whip_pans_beat": "whip_pan",
}
GENERATED_SEED = 1  # never 0: the generated corpus that sv6d eval-hooks scores is seed 0
HOOK_GENERATED_VIDEOS = 30  # generated videos in the hook heads' training part (train_hook_heads says why)


def generated_hook_features(folder: Path, n: int, on_progress: Callable[[str], None] | None = None) -> list:
    """(label, hook heads' input) of the first ``n`` videos of the seed-``GENERATED_SEED`` generated corpus in
    ``folder`` (generated and encoded there when missing), labelled by ``GENERATED_AS_STYLE``."""
    from encoder.contrastive.cache import FeatureCache
    from encoder.contrastive.workflow import encode_entries
    from encoder.evidence.backbone import EvidenceBackbone
    from sv6d.synth.corpus import generate_corpus, read_manifest

    generate_corpus(folder, n=n, seed=GENERATED_SEED)
    entries = read_manifest(folder)[:n]
    backbone = EvidenceBackbone()
    cache = FeatureCache(folder / "features", backbone.fingerprint())
    if on_progress:
        on_progress(f"encode {len(entries)} generated videos")
    encode_entries(backbone, entries, cache)
    from encoder.heads import hook_head_input

    out = []
    for e in entries:
        features = cache.get(e.video_id)[0]
        hook, video = features.hook.features, features.video.features
        label = GENERATED_AS_STYLE.get(e.archetype, e.archetype)
        out.append((label, {d: hook_head_input(hook[d], video[d]) for d in DIMENSIONS}))
    return out


def hook_train_config(hidden: int = 128, epochs: int = 150, seed: int = 0) -> Any:
    """How the evidence backbone's hook heads are trained (``sv6d train-hook-heads``): the six heads together
    on the weighted similarity a hook search ranks by with no weights given (``DEFAULT_HOOK_WEIGHTS``), with
    input dropout and clipped inputs, every epoch run and the best on the validation sources kept. Chosen by
    source-grouped 3-fold cross-validation on the training sources only (P@5 within folds): joint 0.49 against
    0.45 for the same heads trained one by one and 0.33 for the earlier recipe (each head alone, no dropout,
    hard negatives, text alignment into the video space, stopped early)."""
    from encoder.contrastive.train import TrainConfig
    from encoder.evidence.default_heads import HOOK_HEADS_DIM
    from indexer.query import DEFAULT_HOOK_WEIGHTS

    return TrainConfig(
        dim=HOOK_HEADS_DIM,
        hidden=hidden,
        epochs=epochs,
        batch_size=128,
        weight_decay=1e-3,
        hard_negatives=0,
        patience=epochs,
        seed=seed,
        input_dropout=0.2,
        input_clip=2.5,
        joint_weights=DEFAULT_HOOK_WEIGHTS.as_dict(),
    )


def train_hook_heads(
    videos_dir: Path,
    work_dir: Path,
    split: Split,
    seeds: Sequence[int],
    config: Any,
    command: str,
    on_progress: Callable[[str], None] | None = None,
    generated_videos: int = HOOK_GENERATED_VIDEOS,
) -> tuple[Any, Any]:
    """Contrastive hook heads for the evidence backbone, trained on real footage: the training sources of the
    split re-cut into every opening style (one render per seed), labelled by style in every dimension, trained
    as ``config`` says (``hook_train_config``); the split's ``validation`` sources (a part of the training
    side) pick the number of epochs, then the heads are trained again for that many on the training and
    validation sources together (source-grouped 3-fold P@5 on the training side, mean of 3 training seeds:
    0.506 with this refit, 0.492 without). ``generated_videos``: that many videos of a generated corpus (seed
    ``GENERATED_SEED``) join the training part, so the heads keep the generated openings apart too. Measured
    (evidence-1.8, joint heads, before the refit): with 0 the seed-0 generated corpus's similar-hook p@10 is
    0.746, with 30 0.825 and with 100 0.895; source-grouped 3-fold P@5 on the real training sources (mean of
    3 training seeds) is 0.487 with 0, 0.492 with 30 and 0.437 with 100 (two seeds). With the refit: 30 gives
    0.506 and p@10 0.781, 60 gives 0.474 (two seeds) and p@10 0.873. The shipped heads use 30: real footage
    first.
    Returns the ``ContrastiveHeads``, whose manifest names the data (hashes), the command, the seeds and the
    backbone fingerprint they were trained on, and the opening-style model (``encoder.style``) trained on the
    same clips (training and validation sources, the generated videos), saved beside them."""
    from encoder.contrastive.train import train_heads
    from encoder.heads import HOOK_AND_CONTRAST, FixedLayoutHeads
    from encoder.pipeline import Encoder
    from encoder.style import train_style_model
    from sv6d.errors import ConfigError

    if not split.validation:
        raise ConfigError("the split names no validation sources (a part of train) to stop training on")
    encoder = Encoder(heads=FixedLayoutHeads())  # the raw features are what is kept; heads do not matter
    rows = hook_features(videos_dir, work_dir, split, seeds, encoder, on_progress)
    train = [r for r in rows if r[0].clip.source not in split.validation]
    val = [r for r in rows if r[0].clip.source in split.validation]

    generated = []
    if generated_videos > 0:
        folder = work_dir / f"generated-seed{GENERATED_SEED}"
        generated = generated_hook_features(folder, generated_videos, on_progress)

    def labelled(part: list[tuple[str, dict]]) -> dict:
        return {d: (np.stack([f[d] for _, f in part]), [lab for lab, _ in part]) for d in DIMENSIONS}

    train_rows = [(c.clip.style, f) for c, f in train] + generated
    val_rows = [(c.clip.style, f) for c, f in val]
    chosen = train_heads(labelled(train_rows), labelled(val_rows), config, progress=False)
    # Refit: the validation sources picked the number of epochs; the heads are then trained on them too.
    metrics = chosen.manifest["metrics"].values()
    picked = chosen.manifest.get("joint") or max(metrics, key=lambda m: m["best_epoch"])
    refit = dataclasses.replace(config, epochs=int(picked["best_epoch"]), select_epoch=False)
    heads = train_heads(labelled(train_rows + val_rows), labelled(val_rows), refit, progress=False)
    style = train_style_model(train_rows + val_rows, seed=config.seed)
    heads.manifest["selection"] = {
        "epochs": int(picked["best_epoch"]),
        "val_map": picked["val_map"],
        "then_trained_on": "training and validation sources",
    }
    data = hashlib.sha256()
    for name in sorted(split.train):
        data.update(f"{name}:{_sha256_file(videos_dir / name)}\n".encode())
    heads.manifest.update(
        {
            "trained_for": "hook",
            "input": HOOK_AND_CONTRAST,
            "backbone": {"name": "evidence", "fingerprint": encoder.backbone.fingerprint()},
            "data": {
                "render_version": RENDER_VERSION,
                "split_version": split.version,
                "seeds": list(seeds),
                "train_sources": sorted({c.clip.source for c, _ in rows}),
                "validation_sources": sorted(split.validation),
                "clips": {"train": len(train) + len(val), "validation": len(val)},
                "generated": {
                    "seed": GENERATED_SEED,
                    "videos": len(generated),
                    "as_style": GENERATED_AS_STYLE,
                },
                "sources_sha256": data.hexdigest(),
                "clips_sha256": hashlib.sha256(
                    "\n".join(sorted(c.clip.clip_id for c, _ in rows)).encode()
                ).hexdigest(),
            },
            "command": command,
            "style": style.version,
        }
    )
    style.manifest.update({"trained_with": heads.version, "data": heads.manifest["data"], "command": command})
    return heads, style
