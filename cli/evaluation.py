"""Evaluations on the generated corpus: tags and cuts against its ground truth, similar hooks by archetype."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sv6d.record import SV6DRecord
    from sv6d.synth.corpus import ManifestEntry

Pairs = list[tuple["ManifestEntry", "SV6DRecord"]]


def corpus_pairs(
    data_dir: Path,
    corpus_dir: Path | None = None,
    workers: int = 2,
    encoder_options: dict[str, Any] | None = None,
    on_progress: Callable[[str, str], None] | None = None,
) -> Pairs:
    """Each corpus video with its record, encoding (resumably) into ``<corpus>/records`` what is missing.

    With no ``corpus_dir``, the default corpus ``<data_dir>/corpus`` is generated or reused. The corpus's
    records stay apart from the user's own records and index.
    """
    from encoder.batch import ShardStore, encode_batch, source_key
    from sv6d.errors import SV6DError
    from sv6d.synth.corpus import default_corpus, read_manifest

    folder = Path(corpus_dir) if corpus_dir is not None else default_corpus(data_dir)
    entries = read_manifest(folder)
    shard_dir = folder / "records"
    # Records from another encoder (a changed backbone, its settings, heads or hook window) are re-encoded,
    # never evaluated (encode_batch asks its workers which encoder they are).
    result = encode_batch(
        [e.path for e in entries],
        shard_dir,
        workers=workers,
        encoder_options=encoder_options,
        on_progress=on_progress,
    )
    by_source = {r.source: r for r in ShardStore(shard_dir).read_all()}
    pairs = [(e, by_source[source_key(e.path)]) for e in entries if source_key(e.path) in by_source]
    if not pairs:
        reasons = "; ".join(f["error"] for f in result.failed[:3])
        raise SV6DError(f"no video of the corpus in {folder} could be encoded ({reasons})")
    return pairs


def _transitions(tags: Any) -> list[Any]:
    """Hard cuts and fades as transitions, from tags (records) or truth tags alike."""
    from encoder.types import Transition

    out = []
    for t in tags:
        if t.label == "hard_cut":
            mid = (t.start_s + t.end_s) / 2
            out.append(Transition("cut", mid, mid, 1.0))
        elif t.label == "fade":
            out.append(Transition("fade", t.start_s, t.end_s, 1.0))
    return out


def transition_scores(predicted: Any, truth: Any, fps: float) -> dict[str, Any]:
    """Hard-cut and fade tags (of a record, or true tags) scored as transitions: ``cuts`` (hard cuts within
    ±2 frames and fades/dissolves by overlapping span, each matching only its own class), and the two
    classes alone (``hard_cuts``, ``gradual``), as ``CutScore`` s."""
    from encoder.cut_eval import Truth, score_transitions

    pred, true = _transitions(predicted), _transitions(truth)
    cuts = [t.start_s for t in true if t.kind == "cut"]
    spans = [(t.start_s, t.end_s) for t in true if t.kind != "cut"]
    return {
        "cuts": score_transitions(pred, Truth(fps=fps, cuts_s=cuts, gradual_s=spans)),
        "hard_cuts": score_transitions(
            [t for t in pred if t.kind == "cut"], Truth(fps=fps, cuts_s=cuts, gradual_s=[])
        ),
        "gradual": score_transitions(
            [t for t in pred if t.kind != "cut"], Truth(fps=fps, cuts_s=[], gradual_s=spans)
        ),
    }


def eval_tags(pairs: Pairs) -> dict[str, Any]:
    """Tag P/R/F1 per dimension and overall (Hungarian matching on temporal IoU >= 0.5, labels the
    generator controls), and transition P/R/F1: ``cuts`` scores hard cuts (±2 frames) and fades/dissolves
    (overlapping spans) together, ``hard_cuts`` and ``gradual`` each class alone."""
    from encoder.cut_eval import CutScore
    from sv6d.synth import TRUTH_LABELS
    from sv6d.tag_metrics import evaluate_tags

    metrics = evaluate_tags([r.tags for _, r in pairs], [e.truth for e, _ in pairs], labels=set(TRUTH_LABELS))
    out: dict[str, Any] = metrics.to_json()
    totals = {k: CutScore(0, 0, 0) for k in ("cuts", "hard_cuts", "gradual")}
    for entry, record in pairs:
        for k, score in transition_scores(record.tags, entry.truth, float(entry.fps)).items():
            totals[k] = totals[k] + score
    out.update({k: v.as_dict() for k, v in totals.items()})
    out["videos"] = len(pairs)
    return out


def eval_hooks(pairs: Pairs, k: int = 10) -> dict[str, Any]:
    """Similar-hook precision@k by archetype: a hit is relevant when it shares the query's archetype.

    Exact search (FAISS ``Flat``) over the corpus's hook vectors, equal weights, the query excluded."""
    from indexer import open_index

    archetype = {r.video_id: e.archetype for e, r in pairs}
    per_archetype: dict[str, list[float]] = defaultdict(list)
    with (
        tempfile.TemporaryDirectory(prefix="sv6d-eval-hooks-") as tmp,
        open_index(f"faiss://{tmp}", recipe="Flat") as index,
    ):
        index.upsert([r for _, r in pairs])
        for entry, record in pairs:
            hits = index.similar_hooks(record.video_id, k=k)
            relevant = sum(1 for h in hits if archetype.get(h.video_id) == entry.archetype)
            per_archetype[entry.archetype].append(relevant / k)
    scores = [s for v in per_archetype.values() for s in v]
    return {
        f"precision_at_{k}": round(sum(scores) / len(scores), 4),
        "archetypes": {a: round(sum(v) / len(v), 4) for a, v in sorted(per_archetype.items())},
        "videos": len(pairs),
    }
