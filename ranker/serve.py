"""Serving: candidates → features → LightGBM scores → diversity re-rank (MMR).

Without a trained model the score is a documented blend (``fallback_scores``) and the result says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ranker.candidates import CandidateConfig, CandidateSet, generate_candidates
from ranker.context import RankingContext, Request
from ranker.features import FeatureLogger, FeatureSchema, assemble_features
from ranker.model import RankerModel
from sv6d.errors import ConfigError

# MMR trade-off: 1.0 is pure relevance. 0.8 keeps relevance dominant while a candidate whose closest
# already-picked item is a near-duplicate (mean per-dimension cosine near 1) loses about a fifth of the range.
DEFAULT_MMR_LAMBDA = 0.8
# MMR considers only this many times k of the best-scored candidates (the tail cannot reach the top k anyway).
MMR_POOL_FACTOR = 5
FALLBACK_NOTE = "no trained model: scores are the fallback blend (see ranker.serve.fallback_scores)"


@dataclass
class Recommendation:
    video_id: str
    score: float  # what the list is sorted by: relevance less the diversity penalty (see mmr_ranked)
    channels: list[str]
    relevance: float = float("nan")  # the ranker (or fallback) score, before the diversity re-rank


@dataclass
class RecommendResult:
    items: list[Recommendation]
    scorer: str  # "lightgbm" or "fallback_blend"
    note: str = ""
    n_candidates: int = 0
    request_id: str | None = None
    features: np.ndarray | None = field(default=None, repr=False)
    model_id: str | None = None  # the saved model that scored (``RankerModel.model_id``), None for the blend


def _percentile(x: np.ndarray) -> np.ndarray:
    """Rank percentile in [0, 1]; missing values sit at the middle (no evidence either way)."""
    out = np.full(len(x), 0.5)
    known = ~np.isnan(x)
    if known.sum() > 1:
        r = np.argsort(np.argsort(x[known], kind="stable"), kind="stable")
        out[known] = r / (known.sum() - 1)
    return out


def fallback_scores(features: np.ndarray, schema: FeatureSchema) -> np.ndarray:
    """The blend used without a model: 0.5·structure + 0.3·quality + 0.2·popularity, each a rank percentile.

    structure = mean of ``sim_pos_video_*`` (similarity to the user's positive profile); quality = smoothed
    like rate over all history (``v_all_like``); popularity = ``v_<first window>_plays_log``.
    """
    col = {n: i for i, n in enumerate(schema.names)}
    sims = features[:, [col[n] for n in schema.names if n.startswith("sim_pos_video_")]]
    struct = np.full(len(features), np.nan)
    has = ~np.isnan(sims).all(axis=1)
    struct[has] = np.nanmean(sims[has], axis=1)
    like = features[:, col["v_all_like"]] if "v_all_like" in col else np.full(len(features), np.nan)
    plays_name = next((n for n in schema.names if n.startswith("v_") and n.endswith("_plays_log")), None)
    plays = features[:, col[plays_name]] if plays_name else np.full(len(features), np.nan)
    return (
        0.5 * _percentile(struct) + 0.3 * _percentile(like) + 0.2 * _percentile(np.nan_to_num(plays, nan=0.0))
    )


def mmr(order: np.ndarray, scores: np.ndarray, vectors: np.ndarray | None, k: int, lam: float) -> np.ndarray:
    """Maximal marginal relevance over ``order`` (indices into ``scores``/``vectors``, best first).

    Each step picks argmax ``lam·rel − (1−lam)·max(0, max_sim_to_picked)``, rel = min-max scaled score, sim =
    the mean per-dimension cosine of the (6·d) concatenated unit rows: likeness costs, unlikeness earns
    nothing (so no later pick can outscore an earlier one). Without vectors the order is kept.
    """
    return mmr_ranked(order, scores, vectors, k, lam)[0]


def mmr_ranked(
    order: np.ndarray, scores: np.ndarray, vectors: np.ndarray | None, k: int, lam: float
) -> tuple[np.ndarray, np.ndarray]:
    """``mmr``'s picks and the value each was picked by, on the scale of ``scores``: its score less its
    diversity penalty ``(1−lam)/lam · span · max(0, max_sim)`` (span = the pool's score range). The values
    never increase down the list (a pick's penalty only grows as items are picked), so they can be shown as
    the scores the list is sorted by; the first pick's value is its score."""
    if vectors is None or lam >= 1.0 or len(order) <= 1:
        top = order[:k]
        return top, scores[top].astype(np.float64)
    pool = order[: max(k * MMR_POOL_FACTOR, k)]
    s = scores[pool]
    span = float(s.max() - s.min())
    rel = (s - s.min()) / span if span > 0 else np.ones(len(pool))
    v = vectors[pool]
    sim = (v @ v.T) / 6.0
    picked: list[int] = []
    values: list[float] = []
    penalty = np.zeros(len(pool))
    free = np.ones(len(pool), dtype=bool)
    for _ in range(min(k, len(pool))):
        val = np.where(free, lam * rel - (1 - lam) * penalty, -np.inf)
        j = int(np.argmax(val))
        picked.append(j)
        # An affine map of val (slope span/lam > 0): same order, on the scores' scale; -penalty if lam is 0.
        values.append(
            float(s[j] - (1 - lam) / lam * (span or 1.0) * penalty[j]) if lam > 0 else float(val[j])
        )
        free[j] = False
        penalty = np.maximum(penalty, sim[j])
    return pool[picked], np.asarray(values)


class Recommender:
    """A context (as of a time), an optional model, candidate quotas and the diversity setting."""

    def __init__(
        self,
        ctx: RankingContext,
        model: RankerModel | None = None,
        candidate_config: CandidateConfig | None = None,
        mmr_lambda: float = DEFAULT_MMR_LAMBDA,
        logger: FeatureLogger | None = None,
        fallback_note: str | None = None,
    ) -> None:
        if not 0.0 <= mmr_lambda <= 1.0:
            raise ConfigError(f"mmr_lambda must be in [0, 1], got {mmr_lambda}")
        self.ctx = ctx
        self.schema = FeatureSchema.for_config(ctx.config)
        self.model = model
        if model is not None:
            model.columns(self.schema)  # fail at construction, not at the first request
        self.candidate_config = candidate_config or CandidateConfig()
        self.mmr_lambda = mmr_lambda
        self.logger = logger
        self.fallback_note = fallback_note or FALLBACK_NOTE

    def score(self, req: Request, cands: CandidateSet) -> tuple[np.ndarray, np.ndarray]:
        """(features, scores) for ``cands`` under the model, or the fallback blend without one."""
        feats = assemble_features(self.ctx, req, cands, self.schema)
        if self.model is None:
            return feats, fallback_scores(feats, self.schema)
        return feats, self.model.predict(feats, self.schema)

    def recommend(
        self,
        user_id: str | None = None,
        history: Sequence[str] | None = None,
        k: int = 10,
        seed: str | None = None,
        negatives: Sequence[str] = (),
    ) -> RecommendResult:
        """Top ``k`` for a user id or a history (most recent first), each with its score and channels."""
        if (user_id is None) == (history is None):
            raise ConfigError("recommend needs exactly one of user_id or history")
        if k <= 0:
            raise ConfigError(f"k must be positive, got {k}")
        if user_id is not None:
            req = self.ctx.request_for_user(str(user_id), seed=seed)
        else:
            req = self.ctx.request_for_history(list(history or []), negatives=negatives, seed=seed)
        cands = generate_candidates(self.ctx, req, self.candidate_config)
        if len(cands) == 0:
            return RecommendResult([], "none", "no candidates (empty catalog or everything seen)")
        feats, scores = self.score(req, cands)
        order = np.argsort(-scores, kind="stable")
        flat = self.ctx.catalog.video_flat
        vecs = None if flat is None else flat[cands.positions]
        top, shown = mmr_ranked(order, scores, vecs, k, self.mmr_lambda)
        ids = self.ctx.catalog.video_ids
        items = [
            Recommendation(
                ids[int(cands.positions[i])],
                float(v),
                cands.channel_names(int(i)),
                relevance=float(scores[i]),
            )
            for i, v in zip(top, shown, strict=True)
        ]
        scorer = "lightgbm" if self.model is not None else "fallback_blend"
        note = "" if self.model else self.fallback_note
        rid = None
        if self.logger is not None:
            rank = np.full(len(cands), -1)
            rank[top] = np.arange(len(top))
            rid = self.logger.log(
                self.schema, req.user_id, [ids[int(p)] for p in cands.positions], feats, scores, rank
            )
        model_id = self.model.model_id if self.model is not None else None
        return RecommendResult(items, scorer, note, len(cands), rid, feats, model_id)


def recommend(
    ctx: RankingContext,
    user_id: str | None = None,
    history: Sequence[str] | None = None,
    k: int = 10,
    model: RankerModel | None = None,
    **kwargs: object,
) -> RecommendResult:
    """One-shot ``Recommender(ctx, model).recommend(...)``; build a Recommender to serve many requests."""
    return Recommender(ctx, model).recommend(user_id=user_id, history=history, k=k, **kwargs)  # type: ignore[arg-type]
