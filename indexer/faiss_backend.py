"""The embedded default backend: FAISS indexes + the parquet catalog in one data directory.

One FAISS index per level (video, hook, segment) over the concatenation of the six unit vectors (size 6·d),
inner-product metric. ``Flat`` (exact, the default) is a bare ``IndexFlatIP`` whose labels are row positions
and whose storage is the level's matrix (held once). Other recipes (a FAISS factory string: ``HNSW32``,
``IVF1024,PQ32x8``...) carry the catalog's int64 iids (sids for segments): IVF indexes store them natively,
others are wrapped in ``IDMap2`` (IDMap's id bookkeeping assumes the inner index renumbers on removal, which
IVF does not). They keep the exact vectors beside the index and re-rank ``k · rerank_factor``
candidates exactly.

On disk (layout 2), every generation appends what its batch changed: ``videos|tags|segments.gN.parquet``
(the new rows), ``vectors_<level>.gN.npy`` (the new vectors, in catalog row order) and ``removed.gN.npy``
(iids removed); ANN recipes also write their index once per batch (``<level>.gN.faiss``). Flat has no index
file: loading adds the vectors to a fresh ``IndexFlatIP``. When parts pile up (``MAX_PARTS``) or removals
hide ``MAX_DEAD_FRACTION`` of the rows, a commit writes every live row as one part instead (compaction).
Layout-1 directories (one full file per table and level) are read and compacted by their next write.

Durability: the generation's files are written first (temp + fsync + rename), then the manifest naming them
(the commit point); a crash leaves the previous manifest in force and the new files as leftovers, removed
by the next writer. In memory a commit builds a new snapshot and swaps it in, so threads searching the old
one never see a half-applied batch. One writer per directory (``flock``); readers load the generation the
manifest names and ``refresh()`` to a newer one.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from indexer.base import VectorIndex
from indexer.catalog import (
    Catalog,
    Manifest,
    WriterLock,
    clean_leftovers,
    generation_key,
    part_files,
    read_manifest,
    removed_iids,
    write_manifest,
)
from indexer.hits import Candidate, CandidateBatch
from indexer.query import LEVELS, Filters, Level, QueryError, check_batch, check_page, not_found
from sv6d.dimensions import DIMENSIONS
from sv6d.errors import ConfigError
from sv6d.record import UNIT_NORM_TOLERANCE, EncoderInfo, SV6DRecord
from sv6d.record_io import atomic_write_bytes

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
# On-disk layout written by this version (see catalog.Manifest.layout).
LAYOUT = 2
# Compaction: rewrite every live row as one part when parts pile up or removals hide a quarter of the rows.
MAX_PARTS = 32
MAX_DEAD_FRACTION = 0.25
# Per-query exclusions up to this many points are answered by over-fetching, beyond by a selector per query.
MAX_OVERFETCH = 4096
# Training sample of IVF / PQ recipes: k-means cost grows with the sample, and past ~64 points per centroid
# the centroids barely move (faiss itself subsamples to 256 per centroid).
TRAIN_POINTS_PER_CENTROID = 64
MIN_TRAIN_SAMPLE = 65_536
# Rows per chunk when validating bulk vectors: bounds the temporaries (a (n, 768) bool mask at 1M is 768 MB).
CHECK_CHUNK = 65_536
MAX_VIDEO_ID_LENGTH = 256


def _faiss() -> Any:
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
    faiss = _faiss()
    if not isinstance(recipe, str) or not recipe.strip():
        raise ConfigError(f"FAISS recipe must be a non-empty factory string, got {recipe!r}")
    if recipe.strip().upper().startswith("IDMAP"):
        raise ConfigError(f"FAISS recipe {recipe!r}: leave out IDMap, the index adds IDMap2 itself")
    try:
        index = faiss.index_factory(total_dim, recipe.strip(), faiss.METRIC_INNER_PRODUCT)
        ivf = _ivf_of(index)
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


@dataclass
class _LevelData:
    index: Any  # Flat: a bare IndexFlatIP whose labels are row positions; other recipes: ids (iids / sids)
    matrix: np.ndarray  # (n, 6d) float32 rows aligned with the catalog's rows of this level
    # Flat only: an IndexFlatIP over one dimension's columns, built on first use. A query that weighs a single
    # dimension (the ranker's per-dimension neighbours) scans a sixth of the level there, with the same
    # labels (row positions), selectors and exact re-scoring.
    slabs: dict[int, Any] = field(default_factory=dict)

    def slab(self, j: int, d: int) -> Any:
        index = self.slabs.get(j)
        if index is None:
            index = _faiss().IndexFlatIP(d)
            if self.matrix.shape[0]:
                index.add(np.ascontiguousarray(self.matrix[:, j * d : (j + 1) * d]))
            self.slabs[j] = index
        return index


@dataclass
class _Snapshot:
    """One committed generation in memory: never mutated, replaced whole by a commit or a refresh."""

    manifest: Manifest
    catalog: Catalog
    levels: dict[str, _LevelData]
    v_iids: np.ndarray
    v_ids: list[str]
    hook_windows: np.ndarray
    s_sids: np.ndarray
    s_iids: np.ndarray
    s_index: np.ndarray
    s_windows: np.ndarray
    s_vpos: np.ndarray  # row in ``videos`` of each segment's video

    @classmethod
    def build(cls, manifest: Manifest, catalog: Catalog, levels: dict[str, _LevelData]) -> _Snapshot:
        v, s = catalog.videos, catalog.segments
        v_iids = catalog.v_iids
        s_iids = catalog.seg_iids
        return cls(
            manifest,
            catalog,
            levels,
            v_iids,
            v["video_id"].to_list(),
            v.select("hook_start_s", "hook_end_s").to_numpy().astype(np.float64).reshape(-1, 2),
            s["sid"].to_numpy().astype(np.int64),
            s_iids,
            s["seg_index"].to_numpy().astype(np.int64),
            s.select("start_s", "end_s").to_numpy().astype(np.float64).reshape(-1, 2),
            np.searchsorted(v_iids, s_iids).astype(np.int64),
        )

    def level_ids(self, level: str) -> np.ndarray:
        return self.s_sids if level == "segment" else self.v_iids


def _ivf_of(index: Any) -> Any:
    """The IVF index inside ``index`` (itself or under a pre-transform such as OPQ), else None."""
    faiss = _faiss()
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexPreTransform):
        index = faiss.downcast_index(index.index)
    return index if isinstance(index, faiss.IndexIVF) else None


def _flat_view(index: Any) -> np.ndarray:
    """The vectors of an ``IDMap2,Flat`` index as a numpy view of its storage (no copy)."""
    faiss = _faiss()
    inner = faiss.downcast_index(index.index)
    n, d = inner.ntotal, inner.d
    if n == 0:
        return np.zeros((0, d), dtype=np.float32)
    return faiss.rev_swig_ptr(inner.get_xb(), n * d).reshape(n, d)


def _flat_level(matrix: np.ndarray, total_dim: int) -> _LevelData:
    """A bare ``IndexFlatIP`` over ``matrix`` (labels = row positions); the level's matrix becomes a view of
    the index storage, so the vectors are held once."""
    index = _faiss().IndexFlatIP(total_dim)
    if matrix.shape[0]:
        index.add(np.ascontiguousarray(matrix, dtype=np.float32))
    n = index.ntotal
    view = _faiss().rev_swig_ptr(index.get_xb(), n * total_dim).reshape(n, total_dim) if n else matrix[:0]
    return _LevelData(index, view)


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


class FaissIndex(VectorIndex):
    """FAISS backend over a data directory (``<data_dir>``, files directly inside it).

    ``recipe`` None means the stored index's recipe, or ``Flat`` for a new one.
    ``read_only=True`` opens without the writer lock (many readers, one writer). ``search_params`` sets
    ``nprobe`` (IVF) and ``efSearch`` (HNSW); ``rerank_factor`` the exact re-rank depth of ANN recipes
    (defaults per recipe family: ``recipe_defaults``).
    """

    def __init__(
        self,
        data_dir: str | Path,
        recipe: str | None = None,
        *,
        read_only: bool = False,
        search_params: dict[str, int] | None = None,
        rerank_factor: int | None = None,
        use_gpu: bool | None = None,
    ) -> None:
        self.directory = Path(data_dir)
        self.read_only = read_only
        self._user_search_params = dict(search_params or {})
        unknown = set(self._user_search_params) - {"nprobe", "efSearch"}
        if unknown:
            raise ConfigError(f"unknown FAISS search_params {sorted(unknown)}; valid: efSearch, nprobe")
        self._user_rerank_factor = rerank_factor
        self.use_gpu = has_gpu() if use_gpu is None else (use_gpu and has_gpu())
        if use_gpu and not self.use_gpu:
            warnings.warn(
                "FAISS GPU requested but none is available; using the CPU", RuntimeWarning, stacklevel=2
            )
        self._gpu_cache: dict[tuple[int, str], Any] = {}
        self._lock: WriterLock | None = None
        if not read_only:
            self._lock = WriterLock(self.directory)
        try:
            manifest = read_manifest(self.directory)
            stored = manifest.recipe if manifest is not None and manifest.generation > 0 else None
            if recipe is None:
                recipe = stored or "Flat"
            if stored is not None and stored != recipe:
                raise ConfigError(
                    f"{self.directory} holds an index built with recipe {stored!r}, "
                    f"not {recipe!r}: open it with recipe={stored!r} or use another data dir"
                )
            dim = manifest.dim if manifest is not None else None
            validate_recipe(recipe, 6 * dim if dim else DEFAULT_PROBE_DIM)
            self.recipe = recipe
            defaults = recipe_defaults(recipe)
            self.search_params = {**defaults.search_params, **self._user_search_params}
            self.rerank_factor = int(rerank_factor if rerank_factor is not None else defaults.rerank_factor)
            self._snap = self._load()
            if not read_only:
                clean_leftovers(self.directory, self._snap.manifest.files.values())
        except BaseException:
            self.close()
            raise

    def tune(self, search_params: dict[str, int] | None = None, rerank_factor: int | None = None) -> None:
        """Change query-time search settings: ``search_params`` (``efSearch``, ``nprobe``) are merged over the
        current ones; ``rerank_factor`` (>= 1) sets the exact re-rank depth of ANN recipes."""
        params = dict(search_params or {})
        unknown = set(params) - {"nprobe", "efSearch"}
        if unknown:
            raise ConfigError(f"unknown FAISS search_params {sorted(unknown)}; valid: efSearch, nprobe")
        bad = {k: v for k, v in params.items() if isinstance(v, bool) or not isinstance(v, int) or v < 1}
        if bad:
            raise ConfigError(f"FAISS search_params must be integers >= 1, got {bad}")
        if rerank_factor is not None and (
            isinstance(rerank_factor, bool) or not isinstance(rerank_factor, int) or rerank_factor < 1
        ):
            raise ConfigError(f"rerank_factor must be an integer >= 1, got {rerank_factor!r}")
        self.search_params = {**self.search_params, **params}
        if rerank_factor is not None:
            self.rerank_factor = rerank_factor

    # ------------------------------------------------------------------ state

    @property
    def dim(self) -> int | None:
        return self._snap.manifest.dim

    @property
    def generation(self) -> int:
        return self._snap.manifest.generation

    @property
    def exact(self) -> bool:
        return self.recipe.strip() == "Flat"

    def count(self) -> int:
        return len(self._snap.catalog)

    def contains(self, video_id: str) -> bool:
        return video_id in self._snap.catalog.iid_of

    def _load(self) -> _Snapshot:
        """Read the generation the manifest names; retry when a writer replaced it meanwhile."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for attempt in range(20):
            manifest = read_manifest(self.directory)
            if manifest is None:
                return _Snapshot.build(Manifest(), Catalog(), {})
            try:
                return self._load_generation(manifest)
            except FileNotFoundError:
                # A writer committed a newer generation and removed this one's files: read the new manifest.
                time.sleep(0.01 * (attempt + 1))
        raise ConfigError(f"{self.directory}: could not read a consistent generation (files keep changing)")

    def _load_generation(self, manifest: Manifest) -> _Snapshot:
        faiss = _faiss()
        files = manifest.files
        raw = Catalog.read(self.directory, files, apply_removed=False)
        removed = removed_iids(self.directory, files)
        catalog = raw.without(removed)
        total_dim = 6 * (manifest.dim or 0)
        flat = manifest.recipe.strip() == "Flat"
        levels: dict[str, _LevelData] = {}
        for level in LEVELS:
            if level == "hook" and manifest.hook_is_video:
                levels["hook"] = levels["video"]
                continue
            legacy = manifest.layout < LAYOUT
            index = None
            if legacy:
                index = faiss.read_index(str(self.directory / files[f"index_{level}"]))
                if flat:
                    matrix = np.array(_flat_view(index))
                else:
                    matrix = np.load(self.directory / files[f"vectors_{level}"])
            else:
                names = sorted(part_files(files, f"vectors_{level}", ".npy"), key=generation_key)
                mats = [np.load(self.directory / name) for name in names]
                matrix = np.concatenate(mats) if mats else np.zeros((0, total_dim), dtype=np.float32)
                if removed.size:
                    point_iids = raw.seg_iids if level == "segment" else raw.v_iids
                    matrix = matrix[~np.isin(point_iids, removed)]
                if not flat:
                    name = files.get(f"index_{level}")
                    index = (
                        faiss.read_index(str(self.directory / name))
                        if name is not None
                        else validate_recipe(manifest.recipe, total_dim)
                    )
            rows = catalog.segments.height if level == "segment" else catalog.videos.height
            if matrix.shape[0] != rows or (index is not None and not flat and index.ntotal != rows):
                raise ConfigError(
                    f"{self.directory}: generation {manifest.generation} is inconsistent: the {level} level "
                    f"holds {matrix.shape[0]} vectors for {rows} catalog rows; rebuild the index"
                )
            levels[level] = _flat_level(matrix, total_dim) if flat else _LevelData(index, matrix)
        return _Snapshot.build(manifest, catalog, levels)

    def refresh(self) -> None:
        """Switch to the newest committed generation (no-op when it is the one loaded)."""
        manifest = read_manifest(self.directory)
        if manifest is not None and manifest.generation != self._snap.manifest.generation:
            self._snap = self._load()
            self._gpu_cache.clear()

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self._gpu_cache.clear()

    # ------------------------------------------------------------------ reads

    def get(self, video_id: str) -> SV6DRecord:
        snap = self._snap
        pos = snap.catalog.position(video_id)
        if pos is None:
            raise not_found(video_id)
        row = snap.catalog.videos.row(pos, named=True)
        d = snap.manifest.dim or 0
        data = json.loads(row["record"])
        segs = snap.catalog.segment_rows(row["iid"]).sort("seg_index")
        seg_rows = np.searchsorted(snap.s_sids, segs["sid"].to_numpy())
        seg_matrix = snap.levels["segment"].matrix
        data["segments"] = [
            {"start_s": s0, "end_s": s1, "vectors": np.asarray(seg_matrix[r]).reshape(6, d)}
            for s0, s1, r in zip(segs["start_s"].to_list(), segs["end_s"].to_list(), seg_rows, strict=True)
        ]
        data["video"] = np.asarray(snap.levels["video"].matrix[pos]).reshape(6, d)
        data["hook"] = np.asarray(snap.levels["hook"].matrix[pos]).reshape(6, d)
        return SV6DRecord.model_validate(data)

    def _stored_block(self, video_id: str, level: Level) -> np.ndarray:
        snap = self._snap
        pos = snap.catalog.position(video_id)
        if pos is None:
            raise not_found(video_id)
        d = snap.manifest.dim or 0
        matrix = snap.levels["hook" if level == "hook" else "video"].matrix
        return np.array(matrix[pos], dtype=np.float32).reshape(6, d)

    def hook_tags_of(self, video_id: str) -> frozenset[tuple[str, str]]:
        tags = self._snap.catalog.hook_tags(video_id)
        if tags is None:
            raise not_found(video_id)
        return tags

    def video_ids(self, offset: int = 0, limit: int | None = None) -> list[str]:
        offset, limit = check_page(offset, limit)
        ordered = self._snap.catalog.sorted_ids
        return list(ordered.slice(offset, limit).to_list())

    def effective_search_params(self, level: Level = "video") -> dict[str, int]:
        """The search settings a query of ``level`` uses now: ``efSearch`` / ``nprobe`` (set, or the
        defaults for this index's size) and ``rerank_factor``."""
        out = {"rerank_factor": int(self.rerank_factor)}
        data = self._snap.levels.get(level)
        if data is None:
            return out
        ivf = _ivf_of(data.index)
        if ivf is not None:
            out["nprobe"] = self._nprobe(ivf)
        elif "HNSW" in self.recipe.upper():
            out["efSearch"] = int(self.search_params.get("efSearch", default_ef_search(data.index.ntotal)))
        return out

    def _nprobe(self, ivf: Any) -> int:
        nprobe = self.search_params.get("nprobe", max(1, ivf.nlist // DEFAULT_NPROBE_FRACTION))
        return int(min(nprobe, ivf.nlist))

    def _search_parameters(self, index: Any, sel: Any) -> Any:
        faiss = _faiss()
        ivf = _ivf_of(index)
        if ivf is not None:
            nprobe = self._nprobe(ivf)
            params = faiss.SearchParametersIVF(sel=sel, nprobe=nprobe)
            if isinstance(faiss.downcast_index(ivf.quantizer), faiss.IndexHNSW):
                qparams = faiss.SearchParametersHNSW(efSearch=max(QUANTIZER_EF_SEARCH, nprobe))
                params.quantizer_params = qparams
                params.keep_alive = qparams  # SWIG does not own the pointer: it must outlive the search
            if isinstance(faiss.downcast_index(index), faiss.IndexPreTransform):
                outer = faiss.SearchParametersPreTransform(index_params=params)
                outer.keep_alive = params
                return outer
            return params
        inner = faiss.downcast_index(index)
        if isinstance(inner, faiss.IndexIDMap2):
            inner = faiss.downcast_index(inner.index)
        if isinstance(inner, faiss.IndexHNSW):
            ef = self.search_params.get("efSearch", default_ef_search(inner.ntotal))
            return faiss.SearchParametersHNSW(sel=sel, efSearch=int(ef))
        return faiss.SearchParameters(sel=sel) if sel is not None else None

    def _candidates(
        self, level: Level, qvec: np.ndarray, n: int, filters: Filters, exclude: frozenset[str]
    ) -> list[Candidate]:
        return self._candidate_batches(level, qvec.reshape(1, -1), n, filters, [exclude])[0].candidates()

    def _candidate_batches(
        self, level: Level, qvecs: np.ndarray, n: int, filters: Filters, excludes: Sequence[frozenset[str]]
    ) -> list[CandidateBatch]:
        """One FAISS search for the whole batch. Filters (and exclusions shared by every query) become an
        id selector; the other exclusions are answered by fetching as many more candidates as the excluded
        videos have points and dropping them, which is exact and keeps the fast unfiltered path."""
        snap = self._snap
        d = snap.manifest.dim or 0
        empty = CandidateBatch([], np.zeros((0, 6, d), dtype=np.float32))
        data = snap.levels.get(level)
        nq = len(qvecs)
        if data is None or data.matrix.shape[0] == 0:
            return [empty] * nq
        if not data.index.is_trained:
            raise QueryError(self._untrained_message(level, data.matrix.shape[0]))
        common = frozenset.intersection(*excludes) if excludes else frozenset()
        allowed = snap.catalog.matching_positions(filters)
        shared_ex = common if allowed is not None else frozenset()
        rows_of: dict[frozenset[str], np.ndarray] = {}  # a batch often shares one exclusion list
        extra_rows = []
        for ex in excludes:
            key = ex - shared_ex
            if key not in rows_of:
                rows_of[key] = self._points_of(snap, level, key)
            extra_rows.append(rows_of[key])
        over = max((r.size for r in extra_rows), default=0)
        if over > MAX_OVERFETCH:
            # Long per-query exclusion lists: one selector per query instead of over-fetching.
            return [
                self._candidate_batches(level, qvecs[i : i + 1], n, filters, [excludes[i]])[0]
                for i in range(nq)
            ]
        sel, keep_alive = None, None
        if allowed is not None:
            mask = self._allowed_rows(snap, level, allowed, shared_ex)
            if not mask.any():
                return [empty] * nq
            sel, keep_alive = self._selector(snap, level, mask)
        params = self._search_parameters(data.index, sel)
        index = self._gpu_index(level, data.index) if sel is None else data.index
        fetch = min(n + over, data.index.ntotal)
        q = np.ascontiguousarray(qvecs, dtype=np.float32)
        groups = self._single_dimension_groups(q, d)
        if None in groups and len(groups) == 1:
            _, labels = index.search(q, fetch, params=params)
        else:
            labels = np.empty((nq, fetch), dtype=np.int64)
            for j, rows in groups.items():
                if j is None:
                    _, labels[rows] = index.search(q[rows], fetch, params=params)
                else:
                    part = np.ascontiguousarray(q[rows, j * d : (j + 1) * d])
                    _, labels[rows] = data.slab(j, d).search(part, fetch, params=params)
        del keep_alive
        keep = labels >= 0
        rows = labels if self.exact else np.searchsorted(snap.level_ids(level), labels)
        # One exclusion test per distinct exclusion list (a batch often shares one), over all its queries.
        by_list: dict[int, list[int]] = {}
        for i, ex_rows in enumerate(extra_rows):
            if ex_rows.size:
                by_list.setdefault(id(ex_rows), []).append(i)
        for members in by_list.values():
            keep[members] &= ~np.isin(rows[members], extra_rows[members[0]])
        return self._materialize_many(snap, level, [rows[i][keep[i]][:n] for i in range(nq)])

    def _single_dimension_groups(self, qvecs: np.ndarray, d: int) -> dict[int | None, list[int]]:
        """Query rows by the one dimension they weigh (Flat only: searched on that dimension's slab, exact);
        the others under None (searched on the whole level)."""
        nq = len(qvecs)
        if not self.exact or nq == 0 or d == 0:
            return {None: list(range(nq))}
        weighed = np.any(qvecs.reshape(nq, len(DIMENSIONS), d) != 0, axis=2)
        single = weighed.sum(axis=1) == 1
        groups: dict[int | None, list[int]] = {}
        for i in range(nq):
            groups.setdefault(int(weighed[i].argmax()) if single[i] else None, []).append(i)
        return groups

    @staticmethod
    def _points_of(snap: _Snapshot, level: Level, video_ids: frozenset[str]) -> np.ndarray:
        """Rows of ``level`` that belong to ``video_ids`` (stored ones; others are ignored)."""
        if not video_ids:
            return np.zeros(0, dtype=np.int64)
        pos = [p for p in (snap.catalog.position(v) for v in video_ids) if p is not None]
        vpos = np.asarray(pos, dtype=np.int64)
        if level != "segment" or vpos.size == 0:
            return vpos
        return np.flatnonzero(np.isin(snap.s_vpos, vpos))

    @staticmethod
    def _allowed_rows(
        snap: _Snapshot, level: Level, allowed: np.ndarray, exclude: frozenset[str]
    ) -> np.ndarray:
        vmask = np.zeros(len(snap.v_ids), dtype=bool)
        vmask[allowed] = True
        for vid in exclude:
            pos = snap.catalog.position(vid)
            if pos is not None:
                vmask[pos] = False
        return vmask[snap.s_vpos] if level == "segment" else vmask

    def _selector(self, snap: _Snapshot, level: Level, mask: np.ndarray) -> tuple[Any, np.ndarray]:
        """An ``IDSelectorBitmap`` over the index's labels (row positions for Flat, else iids / sids);
        the bitmap array is returned too, as it must outlive the search."""
        faiss = _faiss()
        if self.exact:
            bits = mask
        else:
            ids = snap.level_ids(level)
            bits = np.zeros(int(ids.max()) + 1 if ids.size else 0, dtype=bool)
            bits[ids[mask]] = True
        bitmap = np.ascontiguousarray(np.packbits(bits, bitorder="little"))
        return faiss.IDSelectorBitmap(bitmap.size, faiss.swig_ptr(bitmap)), bitmap

    def _materialize_many(
        self, snap: _Snapshot, level: Level, rows: list[np.ndarray]
    ) -> list[CandidateBatch]:
        """``_materialize`` for several row lists, with one gather of their vectors."""
        if len(rows) == 1:
            return [self._materialize(snap, level, rows[0])]
        sizes = np.cumsum([len(r) for r in rows])[:-1]
        whole = self._materialize(snap, level, np.concatenate(rows))
        starts = [0, *sizes.tolist()]
        ends = [*sizes.tolist(), len(whole)]
        return [
            CandidateBatch(
                whole.video_ids[a:b],
                whole.blocks[a:b],
                whole.windows[a:b] if whole.windows is not None else None,
                whole.segment_index[a:b] if whole.segment_index is not None else None,
            )
            for a, b in zip(starts, ends, strict=True)
        ]

    def _materialize(self, snap: _Snapshot, level: Level, rows: np.ndarray) -> CandidateBatch:
        d = snap.manifest.dim or 0
        blocks = np.ascontiguousarray(snap.levels[level].matrix[rows], dtype=np.float32).reshape(-1, 6, d)
        v_ids = snap.v_ids
        if level == "segment":
            vpos = snap.s_vpos[rows].tolist()
            return CandidateBatch([v_ids[p] for p in vpos], blocks, snap.s_windows[rows], snap.s_index[rows])
        windows = snap.hook_windows[rows] if level == "hook" else None
        return CandidateBatch([v_ids[p] for p in rows.tolist()], blocks, windows)

    def _gpu_index(self, level: str, index: Any) -> Any:
        """A GPU copy for unfiltered searches when a GPU exists; selectors stay on the CPU index."""
        if not self.use_gpu or not self.exact:
            return index
        key = (self._snap.manifest.generation, level)
        if key not in self._gpu_cache:
            try:
                self._gpu_cache[key] = _faiss().index_cpu_to_all_gpus(index)
            except Exception as exc:
                warnings.warn(
                    f"cannot move the {level} index to the GPU ({exc}); using the CPU", stacklevel=2
                )
                self.use_gpu = False
                return index
        return self._gpu_cache[key]

    def _untrained_message(self, level: str, n: int) -> str:
        return (
            f"the {level} index (recipe {self.recipe!r}) is not trained: it holds {n} vectors and needs "
            f"{min_train_points(self.recipe)} to train; add more records or use recipe 'Flat'"
        )

    # ------------------------------------------------------------------ writes

    def _require_writer(self) -> None:
        if self._lock is None:
            raise ConfigError(f"{self.directory} is open read-only: open it without read_only to write")

    def upsert(self, records: Sequence[SV6DRecord]) -> int:
        """Insert or replace ``records`` in one atomic generation; returns how many were written."""
        self._require_writer()
        records = list(records)
        d = check_batch(records, None if self.count() == 0 else self._snap.manifest.dim)
        if not records:
            return 0
        encoders = {(r.encoder.name, r.encoder.head_version) for r in records}
        part = Catalog.part_of(records, self._snap.manifest.next_iid, self._snap.manifest.next_sid)
        sids = part.segments["sid"].to_numpy().astype(np.int64)
        video = np.stack([r.video.ravel() for r in records]).astype(np.float32)
        # Hooks equal to the video vectors are stored once (Manifest.hook_is_video).
        same = all(np.array_equal(r.hook, r.video) for r in records)
        new_vectors: dict[str, np.ndarray | None] = {
            "video": video,
            "hook": None if same else np.stack([r.hook.ravel() for r in records]).astype(np.float32),
            "segment": np.stack([s.vectors.ravel() for r in records for s in r.segments]).astype(np.float32)
            if sids.size
            else np.zeros((0, 6 * d), dtype=np.float32),
        }
        self._write_batch(part, [r.video_id for r in records], encoders, d, new_vectors, sids)
        return len(records)

    def upsert_arrays(
        self,
        video_ids: Sequence[str],
        video: np.ndarray,
        hook: np.ndarray | None = None,
        *,
        encoder: EncoderInfo,
        duration_s: float | np.ndarray,
        hook_window: tuple[float, float] | np.ndarray = (0.0, 3.0),
        width: int | np.ndarray = 1080,
        height: int | np.ndarray = 1920,
        fps: float | np.ndarray = 30.0,
        source: str | Sequence[str] = "bulk",
        creator: str | Sequence[str | None] | None = None,
        created_ts: float | np.ndarray | None = None,
    ) -> int:
        """Bulk load of precomputed vectors: insert or replace ``len(video_ids)`` videos in one atomic
        generation, without one SV6DRecord per video. Same validation and result as ``upsert`` of the
        equivalent records (no tags, no segments): ``get`` returns those records, searches the same hits.

        ``video`` and ``hook`` are (n, 6, d) float32 blocks of unit rows (``hook`` None: each hook is its
        video's vectors, stored once). Metadata are scalars (one value for every video) or one value per
        video: ``duration_s``, ``hook_window`` ((2,) or (n, 2)), ``width``, ``height``, ``fps``, ``source``,
        ``creator``, ``created_ts`` (UTC epoch seconds; None or NaN: no date). ANN recipes copy the vectors;
        ``Flat`` copies them into its index: the arrays may be reused after the call.
        Raises QueryError naming the argument (and the row) of any bad input; nothing is written then."""
        self._require_writer()
        ids = _check_ids(video_ids)
        n = len(ids)
        d = _check_vectors("video", video, n, ids)
        same = hook is None or hook is video
        if not same:
            assert hook is not None
            if _check_vectors("hook", hook, n, ids) != d:
                raise QueryError(f"upsert_arrays: hook has vectors of size {hook.shape[-1]}, video {d}")
            same = _blocks_equal(hook, video)
        stored = None if self.count() == 0 else self._snap.manifest.dim
        if stored is not None and d != stored:
            raise QueryError(f"upsert_arrays: vectors of size {d}, this index holds size {stored}")
        if n == 0:
            return 0
        windows = np.asarray(hook_window, dtype=np.float64)
        windows = np.broadcast_to(windows, (n, 2)) if windows.shape == (2,) else windows
        if windows.shape != (n, 2):
            raise QueryError(f"upsert_arrays: hook_window must be (2,) or ({n}, 2), got {windows.shape}")
        bad = ~((windows[:, 0] >= 0) & (windows[:, 0] < windows[:, 1]))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise QueryError(
                f"upsert_arrays: hook_window[{i}] (video_id {ids[i]!r}) is {windows[i].tolist()}: "
                "it must satisfy 0 <= start < end"
            )
        ts = _column("created_ts", np.nan if created_ts is None else created_ts, n, np.float64)
        part = Catalog.part_of_columns(
            ids,
            self._snap.manifest.next_iid,
            encoder=encoder,
            source=_strings("source", source, n),
            duration_s=_positive("duration_s", duration_s, n, ids, np.float64),
            fps=_positive("fps", fps, n, ids, np.float64),
            width=_positive("width", width, n, ids, np.int64),
            height=_positive("height", height, n, ids, np.int64),
            hook_window=windows,
            creator=_strings("creator", creator, n, optional=True),
            created_ts=ts,
        )
        new_vectors: dict[str, np.ndarray | None] = {
            "video": video.reshape(n, 6 * d),
            "hook": None if same else np.asarray(hook).reshape(n, 6 * d),
            "segment": np.zeros((0, 6 * d), dtype=np.float32),
        }
        encoders = {(encoder.name, encoder.head_version)}
        self._write_batch(part, ids, encoders, d, new_vectors, np.zeros(0, dtype=np.int64))
        return n

    def _write_batch(
        self,
        part: Catalog,
        video_ids: Sequence[str],
        encoders: set[tuple[str, str]],
        d: int,
        new_vectors: dict[str, np.ndarray | None],
        sids: np.ndarray,
    ) -> None:
        """Commit a validated batch (its catalog rows and vectors) as the next generation."""
        snap = self._snap
        m = snap.manifest
        # An empty index is bound to no encoder, heads or size: after every record is deleted, vectors of new
        # heads (or another d) may come in.
        if m.encoder is not None and self.count() > 0:
            encoders = encoders | {(m.encoder, m.head_version or "")}
        if len(encoders) > 1:
            shown = ", ".join(f"{n}/{h}" for n, h in sorted(encoders))
            raise ConfigError(
                f"records come from different encoders or head versions ({shown}); vectors of different "
                "heads are not comparable: index them into separate data directories"
            )
        validate_recipe(self.recipe, 6 * d)
        new_ids = {"video": part.v_iids, "hook": part.v_iids, "segment": sids}
        manifest = replace(
            m,
            generation=m.generation + 1,
            dim=d,
            recipe=self.recipe,
            encoder=next(iter(encoders))[0],
            head_version=next(iter(encoders))[1],
            next_iid=int(m.next_iid + len(video_ids)),
            next_sid=int(m.next_sid + sids.size),
            files=dict(m.files),
        )
        removed = snap.catalog.iids_of(video_ids)
        self._commit(snap, part, removed, manifest, new_ids, new_vectors)

    def delete(self, video_ids: Iterable[str]) -> int:
        """Remove videos (unknown ids ignored) in one atomic generation; returns how many were removed."""
        self._require_writer()
        snap = self._snap
        removed = snap.catalog.iids_of(dict.fromkeys(video_ids))
        if not removed.size:
            return 0
        m = snap.manifest
        d6 = 6 * (m.dim or 0)
        empty: dict[str, np.ndarray | None] = {lv: np.zeros((0, d6), dtype=np.float32) for lv in LEVELS}
        empty["hook"] = None  # a removal keeps a hook level that is an alias of the video level
        no_ids = {lv: np.zeros(0, dtype=np.int64) for lv in LEVELS}
        part = Catalog.part_of([], m.next_iid, m.next_sid)
        manifest = replace(m, generation=m.generation + 1, files=dict(m.files))
        self._commit(snap, part, removed, manifest, no_ids, empty)
        return int(removed.size)

    def _commit(
        self,
        snap: _Snapshot,
        part: Catalog,
        removed: np.ndarray,
        manifest: Manifest,
        new_ids: dict[str, np.ndarray],
        vectors: dict[str, np.ndarray | None],
    ) -> None:
        """Apply a batch in memory (a new snapshot; the loaded one is left intact for readers), persist the
        generation's files, then the manifest (the commit point), then swap the snapshot in.

        ``vectors["hook"]`` None means the batch's hooks are its video vectors: the hook level then stays
        (or becomes, in an empty index) an alias of the video level; otherwise it is materialised."""
        gen = manifest.generation
        catalog = snap.catalog.without(removed).extended(part)
        total_dim = 6 * (manifest.dim or 0)
        was_alias = snap.manifest.hook_is_video or len(snap.catalog) == 0
        alias = was_alias and vectors["hook"] is None
        video_vectors = vectors["video"]
        assert video_vectors is not None
        new_vectors: dict[str, np.ndarray] = {
            level: video_vectors if v is None else v for level, v in vectors.items()
        }
        levels: dict[str, _LevelData] = {}
        changed: list[str] = []
        for level in LEVELS:
            if level == "hook" and alias:
                levels["hook"] = levels["video"]
                if "video" in changed:
                    changed.append("hook")
                continue
            # Leaving the alias: the old hook level is the video level, the right start for the hook vectors.
            old = snap.levels.get(level)
            old_ids = snap.level_ids(level)
            gone = np.isin(snap.s_iids if level == "segment" else snap.v_iids, removed)
            if old is not None and not gone.any() and new_ids[level].size == 0:
                levels[level] = old  # unchanged: the manifest keeps naming the old files
                continue
            changed.append(level)
            levels[level] = self._next_level(
                old, old_ids, ~gone, new_ids[level], new_vectors[level], total_dim
            )

        parts = len(part_files(manifest.files, "videos"))
        dead = manifest.dead_rows + int(removed.size)
        compact = (
            manifest.layout < LAYOUT
            or parts + 1 > MAX_PARTS
            or dead > MAX_DEAD_FRACTION * (len(catalog) + dead)
            or alias != snap.manifest.hook_is_video  # the hook level's files appear or go: rewrite all
        )
        stored = [lv for lv in LEVELS if not (alias and lv == "hook")]
        files = manifest.files
        if compact:
            # One part holding every live row replaces all parts and removal files.
            files = {k: v for k, v in files.items() if k.startswith("index_") and k != "index_hook"}
            files.update(catalog.write(self.directory, gen))
            for level in stored:
                files.update(self._write_vectors(level, gen, levels[level].matrix))
            dead = 0
        else:
            files.update(part.write(self.directory, gen, skip_empty=True))
            for level in stored:
                if new_vectors[level].shape[0]:
                    files.update(self._write_vectors(level, gen, new_vectors[level]))
            if removed.size:
                name = f"removed.g{gen:08d}.npy"
                atomic_write_bytes(self.directory / name, _npy_writer(removed.astype(np.int64)))
                files[f"removed.g{gen:08d}"] = name
        if not self.exact:
            for level in stored if compact else [lv for lv in changed if lv in stored]:
                index_name = f"{level}.g{gen:08d}.faiss"
                atomic_write_bytes(self.directory / index_name, _index_writer(levels[level].index))
                files[f"index_{level}"] = index_name
        manifest.files = files
        manifest.layout = LAYOUT
        manifest.dead_rows = dead
        manifest.hook_is_video = alias
        write_manifest(self.directory, manifest)  # the commit point
        previous = set(snap.manifest.files.values())
        self._snap = _Snapshot.build(manifest, catalog, levels)
        self._gpu_cache.clear()
        clean_leftovers(self.directory, set(manifest.files.values()) | previous)

    def _write_vectors(self, level: str, gen: int, matrix: np.ndarray) -> dict[str, str]:
        if matrix.shape[0] == 0:
            return {}
        name = f"vectors_{level}.g{gen:08d}.npy"
        atomic_write_bytes(self.directory / name, _npy_writer(matrix))
        return {f"vectors_{level}.g{gen:08d}": name}

    def _next_level(
        self,
        old: _LevelData | None,
        old_ids: np.ndarray,
        keep: np.ndarray,
        add_ids: np.ndarray,
        add_vecs: np.ndarray,
        total_dim: int,
    ) -> _LevelData:
        """The level after dropping the rows not in ``keep`` and adding the new vectors. The old level is
        left intact: readers of the loaded snapshot keep searching it while the batch is applied."""
        faiss = _faiss()
        old_matrix = old.matrix if old is not None else np.zeros((0, total_dim), dtype=np.float32)
        kept = old_matrix if keep.all() else np.asarray(old_matrix)[keep]
        if add_vecs.shape[0] == 0:
            matrix = kept
        elif kept.shape[0] == 0:
            # No concatenation (a full copy at scale): Flat copies into its index; ANN recipes keep the matrix
            # beside the index, so they take a copy (the caller may reuse its array).
            matrix = add_vecs if self.exact else np.array(add_vecs, dtype=np.float32)
        else:
            matrix = np.concatenate([kept, add_vecs.astype(np.float32, copy=False)])
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if self.exact:
            return _flat_level(matrix, total_dim)
        removed = np.ascontiguousarray(old_ids[~keep], dtype=np.int64)

        def rebuild() -> Any:
            index = validate_recipe(self.recipe, total_dim)
            if not index.is_trained:
                if matrix.shape[0] < min_train_points(self.recipe):
                    return index  # stays empty and untrained: searching it says how many vectors it needs
                index.train(train_sample(matrix, self.recipe))
            if matrix.shape[0]:
                index.add_with_ids(matrix, np.concatenate([old_ids[keep], add_ids]).astype(np.int64))
            return index

        if old is None or not old.index.is_trained or old.index.ntotal != keep.size:
            return _LevelData(rebuild(), matrix)
        index = faiss.clone_index(old.index)
        if removed.size:
            try:
                index.remove_ids(faiss.IDSelectorBatch(removed.size, faiss.swig_ptr(removed)))
            except RuntimeError:
                # HNSW cannot remove: rebuild from the exact vectors (correct, costly for large indexes).
                return _LevelData(rebuild(), matrix)
        if add_ids.size:
            index.add_with_ids(np.ascontiguousarray(add_vecs, dtype=np.float32), add_ids)
        return _LevelData(index, matrix)


def _npy_writer(array: np.ndarray) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with open(path, "wb") as fh:
            np.save(fh, np.asarray(array, dtype=np.float32))

    return write


def _index_writer(index: Any) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        _faiss().write_index(index, str(path))

    return write


def _check_ids(video_ids: Sequence[str]) -> list[str]:
    """Video ids of a bulk load: strings of 1..256 characters, each once."""
    ids = list(video_ids)
    for i, v in enumerate(ids):
        if not isinstance(v, str) or not 1 <= len(v) <= MAX_VIDEO_ID_LENGTH:
            raise QueryError(
                f"upsert_arrays: video_ids[{i}] is {v!r}: a video id is a string of 1 to "
                f"{MAX_VIDEO_ID_LENGTH} characters"
            )
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(v for v in ids if v in seen or seen.add(v))  # type: ignore[func-returns-value]
        raise QueryError(f"upsert_arrays: video_ids contains {dup!r} twice")
    return ids


def _check_vectors(name: str, block: Any, n: int, ids: Sequence[str]) -> int:
    """Check an (n, 6, d) float32 array of unit rows chunk by chunk (no full-size temporaries); returns d."""
    if (
        not isinstance(block, np.ndarray)
        or block.ndim != 3
        or block.shape[:2] != (n, 6)
        or block.shape[2] < 1
    ):
        shape = getattr(block, "shape", type(block).__name__)
        raise QueryError(f"upsert_arrays: {name} must be an array of shape ({n}, 6, d), got {shape}")
    if block.dtype != np.float32:
        raise QueryError(f"upsert_arrays: {name} must be float32, got {block.dtype}")
    for s in range(0, n, CHECK_CHUNK):
        chunk = block[s : s + CHECK_CHUNK]
        finite = np.asarray(np.isfinite(chunk).all(axis=2))
        norms = np.sqrt(np.einsum("ijk,ijk->ij", chunk, chunk, dtype=np.float64))
        bad = ~finite | (np.abs(norms - 1.0) > UNIT_NORM_TOLERANCE)
        if bad.any():
            i, j = (int(x) for x in np.argwhere(bad)[0])
            dim = DIMENSIONS[j].value
            if not finite[i, j]:
                problem = "contains NaN or infinite values"
            elif norms[i, j] == 0:
                problem = "is all zeros"
            else:
                problem = f"is not L2-normalised (norm {norms[i, j]:.4f})"
            raise QueryError(
                f"upsert_arrays: {name}[{s + i}] (video_id {ids[s + i]!r}): the {dim} vector {problem}"
            )
    return int(block.shape[2])


def _blocks_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return all(
        np.array_equal(a[s : s + CHECK_CHUNK], b[s : s + CHECK_CHUNK]) for s in range(0, len(a), CHECK_CHUNK)
    )


def _column(name: str, value: Any, n: int, dtype: Any) -> np.ndarray:
    """A scalar broadcast to n values, or n values; QueryError otherwise."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = np.full(n, arr)
    if arr.shape != (n,):
        raise QueryError(f"upsert_arrays: {name} must be one value or {n} values, got shape {arr.shape}")
    try:
        return arr.astype(dtype)
    except (TypeError, ValueError):
        raise QueryError(f"upsert_arrays: {name} must hold numbers, got {arr.dtype}") from None


def _positive(name: str, value: Any, n: int, ids: Sequence[str], dtype: Any) -> np.ndarray:
    raw = _column(name, value, n, np.float64)
    bad = ~(np.isfinite(raw) & (raw > 0))
    if dtype is np.int64:
        bad |= raw != np.round(raw)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        kind = "an integer" if dtype is np.int64 else "a number"
        raise QueryError(
            f"upsert_arrays: {name}[{i}] (video_id {ids[i]!r}) is {raw[i]!r}: it must be {kind} > 0"
        )
    return raw.astype(dtype)


def _strings(name: str, value: Any, n: int, *, optional: bool = False) -> list[Any]:
    """A string (or None when ``optional``) for every video, from one value or n values."""
    out = [value] * n if value is None or isinstance(value, str) else list(value)
    if len(out) != n:
        raise QueryError(f"upsert_arrays: {name} must be one value or {n} values, got {len(out)}")
    bad = next((i for i, v in enumerate(out) if not (isinstance(v, str) or (optional and v is None))), None)
    if bad is not None:
        raise QueryError(f"upsert_arrays: {name}[{bad}] is {out[bad]!r}, not a string")
    return out
