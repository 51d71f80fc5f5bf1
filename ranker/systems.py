"""The systems an offline experiment compares, behind one interface.

A ``System`` is prepared once per test window (``prepare``: train or fit on what is known before the window)
and then ranks each test user's shared candidates (``rank_candidates``); systems that can rank the whole
catalogue known at the window's start also answer ``rank_catalogue`` (reported as ``<name>_catalogue``).

- heuristics: ``popularity`` (the video's plays over the first aggregate window), ``recency`` (newest
  first), ``structural`` (mean similarity to the user's positives over the six dimensions);
- LightGBM lambdarank models over feature groups: ``lgbm_engagement``, ``lgbm_structure``, ``lgbm_cold``,
  ``lgbm_collab`` (trained on the same snapshot rows, each on its groups);
- collaborative baselines (``ranker.baselines``): ``pop_decay``, ``itemknn``, ``ease``, ``als``, ``bpr``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ranker.aggregates import AggregateConfig
from ranker.baselines import BASELINES, BaselineConfig, LikeData, like_data, rank_items, score_users
from ranker.candidates import CandidateSet
from ranker.context import RankingContext
from ranker.features import (
    COLD_GROUPS,
    COLLAB_GROUPS,
    ENGAGEMENT_GROUPS,
    FeatureSchema,
    plays_feature,
    similarity_features,
)
from ranker.model import RankerModel, train_ranker

#: How many items a system returns per user.
RUN_DEPTH = 100
#: Suffix of a system's run over the whole catalogue known at the cutoff (not only the shared candidates).
CATALOGUE_SUFFIX = "_catalogue"

TrainingRows = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass
class Window:
    """What the systems of one test window may use: everything known before the window's start.

    ``training`` computes the labelled rows of the window's training snapshots (features, labels, groups);
    it runs once, on first use, and every LightGBM system trains on the same rows."""

    ctx: RankingContext  # as of the window's start
    events: pl.DataFrame
    schema: FeatureSchema
    aggregates: AggregateConfig
    baselines: BaselineConfig
    test_users: list[str]
    seed: int
    model_dir: Path
    training: Callable[[], TrainingRows]
    say: Callable[[str], None] = lambda _m: None
    _rows: TrainingRows | None = field(default=None, repr=False)
    _likes: LikeData | None = field(default=None, repr=False)

    def training_rows(self) -> TrainingRows:
        if self._rows is None:
            self._rows = self.training()
        return self._rows

    def likes(self) -> LikeData:
        """The binary likes before the window's start (what the collaborative baselines fit)."""
        if self._likes is None:
            ctx = self.ctx
            cat = ctx.catalog
            self._likes = like_data(
                self.events, cat.index, len(cat), ctx.users.user_ids, ctx.as_of, self.baselines
            )
        return self._likes


class System(ABC):
    """One ranking system of an experiment."""

    #: Whether the system needs video content (vectors, tags); a catalog from events alone has none.
    needs_content: bool = False
    #: Whether the system also ranks the whole catalogue (``rank_catalogue``).
    ranks_catalogue: bool = False

    def __init__(self, name: str) -> None:
        self.name = name

    def prepare(self, window: Window) -> None:  # noqa: B027 - heuristics have nothing to prepare
        """Train or fit on what ``window`` knows (called once per window, before any ranking)."""

    @abstractmethod
    def rank_candidates(self, user: int, cands: CandidateSet, feats: np.ndarray) -> np.ndarray:
        """Indices into ``cands`` (at most ``RUN_DEPTH``), best first, for test user number ``user``
        (``feats``: the candidates' features under the window's schema)."""

    def rank_catalogue(self, user: int, allowed: np.ndarray) -> np.ndarray:
        """Catalog positions among ``allowed`` (at most ``RUN_DEPTH``), best first."""
        raise NotImplementedError(f"{self.name} ranks only the shared candidates")

    def report(self) -> dict[str, Any] | None:
        """What the results record about the prepared system (a model's training metrics), if anything."""
        return None


def _unprepared(system: System) -> RuntimeError:
    return RuntimeError(f"system {system.name!r} ranks only after prepare(window)")


def _by_score(scores: np.ndarray) -> np.ndarray:
    # Ties broken by candidate order, which is deterministic, so every metric sees the same list.
    return np.argsort(-scores, kind="stable")[:RUN_DEPTH]


class Heuristic(System):
    """A score read from the candidates' features, higher first."""

    def __init__(self, name: str, score: Callable[[Window, np.ndarray], np.ndarray]) -> None:
        super().__init__(name)
        self._score = score
        self._window: Window | None = None

    def prepare(self, window: Window) -> None:
        self._window = window

    def rank_candidates(self, user: int, cands: CandidateSet, feats: np.ndarray) -> np.ndarray:
        if self._window is None:
            raise _unprepared(self)
        return _by_score(self._score(self._window, feats))


def _popularity(window: Window, feats: np.ndarray) -> np.ndarray:
    col = window.schema.names.index(plays_feature("v", window.aggregates.windows[0][0]))
    return np.nan_to_num(feats[:, col], nan=0.0)


def _recency(window: Window, feats: np.ndarray) -> np.ndarray:
    return np.nan_to_num(-feats[:, window.schema.names.index("age_days")], nan=-np.inf)


def _structural(window: Window, feats: np.ndarray) -> np.ndarray:
    names = window.schema.names
    sims = feats[:, [names.index(n) for n in similarity_features("sim_pos_video")]]
    known = ~np.isnan(sims).all(axis=1)
    out = np.full(len(feats), -np.inf)
    out[known] = np.nanmean(sims[known], axis=1)
    return out


class Structural(Heuristic):
    needs_content = True

    def __init__(self, name: str) -> None:
        super().__init__(name, _structural)


class LightGBM(System):
    """A LightGBM lambdarank model over some feature groups, trained on the window's snapshot rows."""

    def __init__(
        self, name: str, groups: Callable[[FeatureSchema], list[str]], *, needs_content: bool
    ) -> None:
        super().__init__(name)
        self._groups = groups
        self.needs_content = needs_content
        self.model: RankerModel | None = None
        self._schema: FeatureSchema | None = None

    def prepare(self, window: Window) -> None:
        x, y, g = window.training_rows()
        self._schema = window.schema
        self.model = train_ranker(x, y, g, window.schema, self._groups(window.schema), seed=window.seed)
        self.model.save(window.model_dir / "models" / self.name)
        window.say(f"{self.name}: {self.model.metrics}")

    def rank_candidates(self, user: int, cands: CandidateSet, feats: np.ndarray) -> np.ndarray:
        if self.model is None or self._schema is None:
            raise _unprepared(self)
        return _by_score(self.model.predict(feats, self._schema))

    def report(self) -> dict[str, Any] | None:
        return self.model.metrics if self.model is not None else None


class Baseline(System):
    """A collaborative baseline (``ranker.baselines``) fitted on the likes before the window: it re-ranks the
    shared candidates and ranks the whole catalogue known at the cutoff, popularity breaking ties."""

    ranks_catalogue = True

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._scores: np.ndarray | None = None
        self._pop: np.ndarray | None = None

    def prepare(self, window: Window) -> None:
        likes = window.likes()
        self._pop = likes.item_pop
        t0 = time.perf_counter()
        self._scores = score_users(self.name, likes, window.test_users, window.baselines, seed=window.seed)
        window.say(f"baseline {self.name}: fitted and scored in {time.perf_counter() - t0:.1f} s")

    def rank_candidates(self, user: int, cands: CandidateSet, feats: np.ndarray) -> np.ndarray:
        if self._scores is None or self._pop is None:
            raise _unprepared(self)
        sc = self._scores[user][cands.positions]
        # Re-ranking the shared candidates: the candidate order breaks ties after popularity.
        return np.lexsort((np.arange(len(cands)), -self._pop[cands.positions], -sc))[:RUN_DEPTH]

    def rank_catalogue(self, user: int, allowed: np.ndarray) -> np.ndarray:
        if self._scores is None or self._pop is None:
            raise _unprepared(self)
        return rank_items(self._scores[user], allowed, self._pop, RUN_DEPTH)


def _select(
    groups: Callable[[FeatureSchema], set[str] | frozenset[str]],
) -> Callable[[FeatureSchema], list[str]]:
    return lambda schema: schema.select(groups(schema))


# Every system by name, in the order the config validation lists them.
SYSTEM_FACTORIES: dict[str, Callable[[], System]] = {
    "popularity": lambda: Heuristic("popularity", _popularity),
    "recency": lambda: Heuristic("recency", _recency),
    "structural": lambda: Structural("structural"),
    "lgbm_engagement": lambda: LightGBM(
        "lgbm_engagement", _select(lambda _s: ENGAGEMENT_GROUPS), needs_content=False
    ),
    # Every feature but the collaborative ones (added later, so this system keeps its feature list).
    "lgbm_structure": lambda: LightGBM(
        "lgbm_structure", _select(lambda s: set(s.groups) - COLLAB_GROUPS - COLD_GROUPS), needs_content=True
    ),
    "lgbm_collab": lambda: LightGBM(
        "lgbm_collab", _select(lambda _s: ENGAGEMENT_GROUPS | COLLAB_GROUPS), needs_content=False
    ),
    "lgbm_cold": lambda: LightGBM(
        "lgbm_cold", _select(lambda s: set(s.groups) - COLLAB_GROUPS), needs_content=True
    ),
    **{name: (lambda name=name: Baseline(name)) for name in BASELINES},  # type: ignore[misc]
}
SYSTEMS: tuple[str, ...] = tuple(SYSTEM_FACTORIES)


def make_system(name: str) -> System:
    """The system called ``name`` (one of ``SYSTEMS``)."""
    return SYSTEM_FACTORIES[name]()
