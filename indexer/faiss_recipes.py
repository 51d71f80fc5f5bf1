"""FAISS itself for the embedded backend: the lazy import, the GPU capability flag, and recipes (FAISS factory
strings) checked, trained and tuned per family."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from sv6d.errors import ConfigError

# faiss warns below 39 training points per centroid; we refuse to train with fewer.
MIN_POINTS_PER_CENTROID = 39
# Syntax check of a recipe before d is known: a size that most sub-quantizer counts divide.
DEFAULT_PROBE_DIM = 6 * 5040
DEFAULT_EF_SEARCH = 128
# HNSW recall at a fixed efSearch falls as the index grows (bench/search.py, 1M: 0.912 at 128, 0.974 at 256).
LARGE_EF_SEARCH = 256
LARGE_INDEX = 250_000
# efSearch of an HNSW coarse quantizer (``IVF4096_HNSW32,...``) when assigning vectors and probing cells: its
# default (16) misassigns vectors at 768 dimensions, which caps IVF recall whatever nprobe is.
QUANTIZER_EF_SEARCH = 128
DEFAULT_NPROBE_FRACTION = 16
# Training sample of IVF / PQ recipes: k-means cost grows with the sample, and past ~64 points per centroid
# the centroids barely move (faiss itself subsamples to 256 per centroid).
TRAIN_POINTS_PER_CENTROID = 64
MIN_TRAIN_SAMPLE = 65_536


def faiss_module() -> Any:
    import faiss

    return faiss


def _detect_gpu() -> bool:
    try:
        import faiss

        return bool(getattr(faiss, "get_num_gpus", lambda: 0)() > 0)
    except Exception as exc:  # a broken GPU build must not break the CPU path
        warnings.warn(f"FAISS GPU detection failed ({exc}); using the CPU", RuntimeWarning, stacklevel=2)
        return False


HAS_GPU: bool | None = None


def has_gpu() -> bool:
    """Capability flag: FAISS built with GPU support and at least one GPU visible (checked once)."""
    global HAS_GPU
    if HAS_GPU is None:
        HAS_GPU = _detect_gpu()
    return HAS_GPU


def validate_recipe(recipe: str, total_dim: int = DEFAULT_PROBE_DIM) -> Any:
    """Build the recipe's index with ``faiss.index_factory`` (inner product); ConfigError if it is invalid."""
    faiss = faiss_module()
    if not isinstance(recipe, str) or not recipe.strip():
        raise ConfigError(f"FAISS recipe must be a non-empty factory string, got {recipe!r}")
    if recipe.strip().upper().startswith("IDMAP"):
        raise ConfigError(f"FAISS recipe {recipe!r}: leave out IDMap, the index adds IDMap2 itself")
    try:
        index = faiss.index_factory(total_dim, recipe.strip(), faiss.METRIC_INNER_PRODUCT)
        ivf = ivf_of(index)
        if ivf is not None:
            quantizer = faiss.downcast_index(ivf.quantizer)
            if isinstance(quantizer, faiss.IndexHNSW):
                quantizer.hnsw.efSearch = QUANTIZER_EF_SEARCH
            if hasattr(ivf, "do_polysemous_training"):
                # Polysemous codes serve only Hamming pre-filtering, unused here; training them is slow.
                ivf.do_polysemous_training = False
            return index
        return faiss.IndexIDMap2(index)
    except Exception as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"invalid FAISS recipe {recipe!r} for vectors of size {total_dim}: {msg} "
            "(examples: 'Flat', 'HNSW32', 'IVF1024,PQ32x8', 'IVF4096,Flat')"
        ) from None


def min_train_points(recipe: str) -> int:
    """Vectors needed before an IVF/PQ recipe trains: 39 per k-means centroid (faiss warns below that)."""
    need = 0
    m = re.search(r"IVF(\d+)", recipe)
    if m:
        need = int(m.group(1)) * MIN_POINTS_PER_CENTROID
    for pq in re.finditer(r"(?:^|,)O?PQ(\d+)(?:x(\d+))?(?=,|$|_|np)", recipe):
        nbits = int(pq.group(2) or 8)
        need = max(need, (2**nbits) * MIN_POINTS_PER_CENTROID)
    return need


def train_sample(matrix: np.ndarray, recipe: str) -> np.ndarray:
    """The rows an untrained recipe trains on: all of them up to ``max(min_train_points, 64·nlist, 65536)``,
    else a seeded random subset of that size (rows kept in order)."""
    m = re.search(r"IVF(\d+)", recipe)
    nlist = int(m.group(1)) if m else 0
    size = max(min_train_points(recipe), TRAIN_POINTS_PER_CENTROID * nlist, MIN_TRAIN_SAMPLE)
    if matrix.shape[0] <= size:
        return matrix
    rows = np.sort(np.random.default_rng(0).choice(matrix.shape[0], size, replace=False))
    return np.ascontiguousarray(matrix[rows])


def ivf_of(index: Any) -> Any:
    """The IVF index inside ``index`` (itself or under a pre-transform such as OPQ), else None."""
    faiss = faiss_module()
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexPreTransform):
        index = faiss.downcast_index(index.index)
    return index if isinstance(index, faiss.IndexIVF) else None


@dataclass(frozen=True)
class RecipeDefaults:
    """Search defaults per recipe family (see ``recipe_defaults``)."""

    search_params: dict[str, int]
    rerank_factor: int


def default_ef_search(ntotal: int) -> int:
    """HNSW efSearch when none is set: 128 up to ``LARGE_INDEX`` vectors, 256 above."""
    return DEFAULT_EF_SEARCH if ntotal <= LARGE_INDEX else LARGE_EF_SEARCH


def recipe_defaults(recipe: str) -> RecipeDefaults:
    """Defaults chosen on ``bench/search.py --sweep`` (structured data, 6 x 128 dims, 1M videos, 2 cores):
    candidates are always re-ranked exactly on the stored vectors. All are query-time settings
    (``FaissIndex(search_params=..., rerank_factor=...)`` or ``FaissIndex.tune``).

    - ``Flat``: exact, no re-rank.
    - ``HNSW*``: efSearch 128 up to 250k vectors, 256 above (``default_ef_search``), re-rank 10·k
      candidates. efSearch is what buys recall (the candidates' scores are exact already): at 100k 128 gave
      recall@10 0.988; at 1M 128 gave 0.912 at 49x Flat's single-query speed, 256 gave 0.974 at 30x, 512
      gave 0.994 at 16x.
    - ``IVF*`` (incl. PQ / SQ codes and HNSW coarse quantizers): nprobe = nlist/16 (at least 1), re-rank
      20·k candidates; an HNSW coarse quantizer searches with efSearch max(128, nprobe). With weighted
      queries the cells cover the neighbours poorly: ``IVF2048_HNSW32,PQ96x8`` at 1M gave recall@10 0.87
      at nlist/16 (30x), 0.96 at nlist/8 (18x), 0.99 at nlist/4 (9x); use HNSW where recall matters.
    """
    r = recipe.strip().upper()
    if r == "FLAT":
        return RecipeDefaults({}, 1)
    if "IVF" in r:  # before HNSW: ``IVF4096_HNSW32,...`` is an IVF index with an HNSW coarse quantizer
        return RecipeDefaults({}, 20)
    if "HNSW" in r:
        return RecipeDefaults({}, 10)  # efSearch follows the index size: default_ef_search
    return RecipeDefaults({}, 10)
