"""What a search asks for: levels, per-dimension weights, filters, and the validators of a request.

Every backend, the API, the CLI and the ranker read a search request through this module, so that a request
means the same thing wherever it is made. ``indexer.base`` holds the index interface that answers it and
``indexer.hits`` what it answers with.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sv6d.dimensions import DIMENSION_INDEX, DIMENSIONS, Dimension
from sv6d.errors import NotFoundError, SV6DError, VocabularyError
from sv6d.record import SV6DRecord
from sv6d.vocabulary import default_vocabulary

Level = Literal["video", "hook", "segment"]
LEVELS: tuple[str, ...] = get_args(Level)
Orientation = Literal["portrait", "landscape", "square"]
MAX_K = 1000
DIMENSION_NAMES: tuple[str, ...] = tuple(d.value for d in DIMENSIONS)

Query = np.ndarray | Mapping[str, Any] | str | SV6DRecord


class QueryError(SV6DError, ValueError):
    """A search request that cannot be answered as given (bad vectors, weights, k, level or filters)."""


class Weights(Mapping[str, float]):
    """Search weights: one non-negative weight per dimension, the one meaning of weights everywhere.

    - A dimension left out weighs **1**; a weight of 0 leaves the dimension out of the score. At least one
      dimension weighs more than 0.
    - The score of a stored point ``x`` for a query ``q`` is ``Σ_d w_d · cos(q_d, x_d)`` (the raw weighted
      sum: ``Hit.score``); the score shown to people is its weighted mean, ``score / Weights.total`` (-1..1).
    - No weights at all (None or an empty mapping) mean all six dimensions at 1, except for hook searches,
      which then use ``DEFAULT_HOOK_WEIGHTS``, the weights the hook heads were trained for
      (``Weights.of(None, "hook")``).

    A ``Weights`` is a read-only mapping over all six dimension names (in ``DIMENSIONS`` order), so it can
    go wherever a mapping of weights goes and reads the same under any convention. Build one with
    ``Weights.of`` (parses and validates a mapping), ``Weights.uniform()`` or ``Weights.only(dimension)``.
    """

    __slots__ = ("_array", "_values")

    def __init__(self, values: Sequence[float] | np.ndarray) -> None:
        arr = np.asarray(values, dtype=np.float32).ravel()
        if arr.shape != (len(DIMENSIONS),):
            raise QueryError(f"weights need one value per dimension ({len(DIMENSIONS)}), got {arr.size}")
        bad = [
            f"{DIMENSIONS[i].value}={float(v)!r}" for i, v in enumerate(arr) if not math.isfinite(v) or v < 0
        ]
        if bad:
            raise QueryError(f"weights must be finite numbers >= 0, got {', '.join(bad)}")
        if not (arr > 0).any():
            raise QueryError("weights are all zero: at least one dimension must weigh more than 0")
        arr.setflags(write=False)
        self._array = arr
        self._values = tuple(float(v) for v in arr)

    @classmethod
    def of(cls, weights: WeightsArg, level: str | None = None) -> Weights:
        """Read weights given by dimension name (names are checked; unnamed dimensions weigh 1).

        None or an empty mapping: all dimensions at 1, or ``DEFAULT_HOOK_WEIGHTS`` when ``level`` is
        ``"hook"``. A ``Weights`` is returned as it is."""
        if isinstance(weights, Weights):
            return weights
        if not weights:
            return DEFAULT_HOOK_WEIGHTS if level == "hook" else UNIFORM_WEIGHTS
        if not isinstance(weights, Mapping):
            raise QueryError(f"weights must be a mapping of dimension name to number, got {weights!r}")
        w = [1.0] * len(DIMENSIONS)
        for name, value in weights.items():
            try:
                dim = Dimension.parse(name)
            except ValueError as exc:
                raise QueryError(f"weights: {exc}") from None
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise QueryError(f"weight of {dim.value!r} must be a number, got {value!r}") from None
            if not math.isfinite(v) or v < 0:
                raise QueryError(f"weight of {dim.value!r} must be a finite number >= 0, got {value!r}")
            w[DIMENSION_INDEX[dim]] = v
        return cls(w)

    @classmethod
    def uniform(cls) -> Weights:
        """Every dimension at 1."""
        return UNIFORM_WEIGHTS

    @classmethod
    def only(cls, dimension: str | Dimension) -> Weights:
        """One dimension at 1, the others at 0: the score is that dimension's cosine."""
        try:
            dim = Dimension.parse(dimension)
        except ValueError as exc:
            raise QueryError(f"weights: {exc}") from None
        w = np.zeros(len(DIMENSIONS), dtype=np.float32)
        w[DIMENSION_INDEX[dim]] = 1.0
        return cls(w)

    @property
    def array(self) -> np.ndarray:
        """The weights as a read-only (6,) float32 array in ``DIMENSIONS`` order."""
        return self._array

    @property
    def total(self) -> float:
        """Σ_d w_d: divides a raw score into the weighted mean of the per-dimension cosines."""
        return float(self._array.sum(dtype=np.float64))

    def as_dict(self) -> dict[str, float]:
        """All six weights by dimension name."""
        return dict(zip(DIMENSION_NAMES, self._values, strict=True))

    def __getitem__(self, name: str) -> float:
        try:
            return self._values[DIMENSION_INDEX[Dimension.parse(name)]]
        except ValueError:
            raise KeyError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(DIMENSION_NAMES)

    def __len__(self) -> int:
        return len(DIMENSION_NAMES)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Weights):
            return self._values == other._values
        return super().__eq__(other)

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"Weights({self.as_dict()})"


WeightsArg = Weights | Mapping[str, float] | None

UNIFORM_WEIGHTS = Weights([1.0] * len(DIMENSIONS))
# Hook searches that name no weights use these: the weights the evidence backbone's packaged hook heads were
# trained for (they are trained together on this weighted similarity: cli.hookbench_eval.hook_train_config;
# their manifest's "joint" names them). All six at 1: in source-grouped cross-validation on the training
# sources of the real-footage hook benchmark, uniform weights (P@5 0.53) did as well as the earlier tuned
# ones (0, 0.5, 1, 2, 0, 1: 0.49) once the heads learn together what each dimension adds. Changing them means
# training the hook heads again. Any weights given replace them whole, and a dimension those leave out
# weighs 1.
DEFAULT_HOOK_WEIGHTS = Weights.of(
    {
        "subject": 1.0,
        "aesthetics": 1.0,
        "camera": 1.0,
        "editing": 1.0,
        "narrative": 1.0,
        "dissemination": 1.0,
    }
)


class TagFilter(BaseModel):
    """One required tag: the video must carry ``label`` in ``dimension`` (anywhere in its timeline)."""

    model_config = ConfigDict(frozen=True)

    dimension: Dimension
    label: str

    @model_validator(mode="after")
    def _known(self) -> TagFilter:
        default_vocabulary().spec(self.label, self.dimension)
        return self

    @property
    def key(self) -> str:
        return f"{self.dimension.value}:{self.label}"


class Filters(BaseModel):
    """Restrictions applied inside the index search. Every field set must hold (AND)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tags: tuple[TagFilter, ...] = ()
    min_duration_s: float | None = Field(default=None, ge=0)
    max_duration_s: float | None = Field(default=None, ge=0)
    orientation: Orientation | None = None
    created_after: datetime | None = None
    creator: str | None = None

    @field_validator("tags", mode="before")
    @classmethod
    def _parse_tags(cls, value: Any) -> Any:
        """Accept ``"editing:hard_cut"`` strings, (dimension, label) pairs or dicts."""
        out = []
        for t in value or ():
            if isinstance(t, str):
                if ":" not in t:
                    raise ValueError(f"tag filter {t!r} must be 'dimension:label'")
                dim, label = t.split(":", 1)
                out.append({"dimension": dim, "label": label})
            elif isinstance(t, tuple | list):
                out.append({"dimension": t[0], "label": t[1]})
            else:
                out.append(t)
        return tuple(out)

    @field_validator("created_after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _range(self) -> Filters:
        lo, hi = self.min_duration_s, self.max_duration_s
        if lo is not None and hi is not None and hi < lo:
            raise ValueError(f"max_duration_s {hi} is below min_duration_s {lo}")
        return self

    @property
    def is_empty(self) -> bool:
        return self == Filters()


def as_filters(filters: Filters | Mapping[str, Any] | None) -> Filters:
    """Filters from a ``Filters``, a mapping of its fields or None; errors name the field."""
    if filters is None:
        return Filters()
    if isinstance(filters, Filters):
        return filters
    try:
        return Filters.model_validate(dict(filters))
    except ValidationError as exc:
        err = exc.errors()[0]
        cause = err.get("ctx", {}).get("error")
        where = ".".join(str(p) for p in err.get("loc", ()))
        msg = f"filters.{where}: {cause if cause is not None else err['msg']}"
        if isinstance(cause, VocabularyError):
            raise VocabularyError(msg) from None
        raise QueryError(msg) from None


def parse_level(level: str) -> Level:
    if level not in LEVELS:
        raise QueryError(f"unknown level {level!r}; valid levels: {', '.join(LEVELS)}")
    return level  # type: ignore[return-value]


def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= int(k) <= MAX_K:
        raise QueryError(f"k must be an integer in [1, {MAX_K}], got {k!r}")
    return int(k)


def check_page(offset: int, limit: int | None) -> tuple[int, int | None]:
    if isinstance(offset, bool) or not isinstance(offset, int | np.integer) or offset < 0:
        raise QueryError(f"offset must be an integer >= 0, got {offset!r}")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 0
    ):
        raise QueryError(f"limit must be an integer >= 0 or None, got {limit!r}")
    return int(offset), None if limit is None else int(limit)


def query_block(query: np.ndarray | Mapping[str, Any], dim: int) -> np.ndarray:
    """Validate six query vectors (a (6, d) block or a dict per dimension) and L2-normalise each row."""
    if isinstance(query, Mapping):
        unknown = [str(k) for k in query if str(k).strip().lower() not in set(DIMENSION_NAMES)]
        if unknown:
            valid = ", ".join(DIMENSION_NAMES)
            raise QueryError(f"query names unknown dimension(s) {unknown}; valid dimensions: {valid}")
        norm = {Dimension.parse(k): v for k, v in query.items()}
        missing = [d.value for d in DIMENSIONS if d not in norm]
        if missing:
            raise QueryError(f"query lacks vectors for dimension(s) {missing}")
        try:
            arr = np.stack([np.asarray(norm[d], dtype=np.float32).ravel() for d in DIMENSIONS])
        except ValueError as exc:
            raise QueryError(f"query vectors have different sizes: {exc}") from None
    else:
        arr = np.asarray(query, dtype=np.float32)
        if arr.ndim == 1 and arr.size == len(DIMENSIONS) * dim:
            arr = arr.reshape(len(DIMENSIONS), dim)
    if arr.ndim != 2 or arr.shape != (len(DIMENSIONS), dim):
        raise QueryError(f"query vectors must have shape (6, {dim}) for this index, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise QueryError("query vectors contain NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1)
    zero = [DIMENSIONS[i].value for i in np.flatnonzero(norms == 0)]
    if zero:
        raise QueryError(f"query vector of {', '.join(zero)} is all zeros: it has no direction to compare")
    return np.ascontiguousarray(arr / norms[:, None], dtype=np.float32)


def check_batch(records: Sequence[SV6DRecord], dim: int | None) -> int:
    """Validate a batch before any write: same d everywhere, matching the index, no duplicate ids."""
    if not records:
        return dim or 0
    seen: set[str] = set()
    for r in records:
        if not isinstance(r, SV6DRecord):
            raise QueryError(f"upsert takes SV6DRecord objects, got {type(r).__name__}")
        if r.video_id in seen:
            raise QueryError(f"batch contains video_id {r.video_id!r} twice")
        seen.add(r.video_id)
    dims = {r.dim for r in records}
    if len(dims) > 1:
        raise QueryError(f"batch mixes vector sizes {sorted(dims)}; one index holds one size")
    d = dims.pop()
    if dim is not None and d != dim:
        raise QueryError(f"records have vectors of size {d}, this index holds size {dim}")
    return d


def not_found(video_id: str) -> NotFoundError:
    return NotFoundError(f"video_id {video_id!r} is not in the index")
