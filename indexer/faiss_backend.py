"""The embedded default backend: FAISS index files + the parquet catalog in one data directory.

One FAISS index per level (video, hook, segment) over the concatenation of the six unit vectors (size 6·d),
inner-product metric; ids are the catalog's int64 iids (sids for segments): IVF indexes store them natively,
other recipes are wrapped in ``IDMap2`` (IDMap's id bookkeeping assumes the inner index renumbers on removal,
which IVF does not, so IVF must not be wrapped).
The recipe is a FAISS factory string: ``Flat`` (exact, the default), ``HNSW32``, ``IVF1024,PQ32x8``...

Exact vectors: with ``Flat`` the index storage itself is the matrix (a zero-copy view); other recipes keep the
matrix in ``<level>.gN.npy`` (memory-mapped when read) and re-rank ``k · rerank_factor`` candidates exactly.

Durability: every batch writes new generation files (temp + fsync + rename) and then the manifest, which names
them; a crash leaves the previous manifest in force and the new files as leftovers, removed by the next
writer. One writer per directory (``flock``); readers load the generation the manifest names and can
``refresh()`` to a newer one.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from indexer.base import (
    LEVELS,
    Candidate,
    Filters,
    Level,
    QueryError,
    VectorIndex,
    check_batch,
    not_found,
)
from indexer.catalog import (
    Catalog,
    Manifest,
    WriterLock,
    clean_leftovers,
    read_manifest,
    write_manifest,
)
from sv6d.errors import ConfigError
from sv6d.record import SV6DRecord
from sv6d.record_io import atomic_write_bytes

# faiss warns below 39 training points per centroid; we refuse to train with fewer.
MIN_POINTS_PER_CENTROID = 39
# Syntax check of a recipe before d is known: a size that most sub-quantizer counts divide.
DEFAULT_PROBE_DIM = 6 * 5040
DEFAULT_EF_SEARCH = 128
DEFAULT_NPROBE_FRACTION = 16


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


@dataclass
class _LevelData:
    index: Any  # IDMap2 over the recipe
    matrix: np.ndarray  # (n, 6d) rows aligned with the catalog's rows of this level


@dataclass
class _Snapshot:
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

    @classmethod
    def build(cls, manifest: Manifest, catalog: Catalog, levels: dict[str, _LevelData]) -> _Snapshot:
        v, s = catalog.videos, catalog.segments
        return cls(
            manifest,
            catalog,
            levels,
            v["iid"].to_numpy().astype(np.int64),
            v["video_id"].to_list(),
            v.select("hook_start_s", "hook_end_s").to_numpy().astype(np.float64).reshape(-1, 2),
            s["sid"].to_numpy().astype(np.int64),
            s["iid"].to_numpy().astype(np.int64),
            s["seg_index"].to_numpy().astype(np.int64),
            s.select("start_s", "end_s").to_numpy().astype(np.float64).reshape(-1, 2),
        )


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


class FaissIndex(VectorIndex):
    """FAISS backend over a data directory (``<data_dir>``, files directly inside it).

    ``recipe`` None means the stored index's recipe, or ``Flat`` for a new one.
    ``read_only=True`` opens without the writer lock (many readers, one writer). ``search_params`` sets
    ``nprobe`` (IVF) and ``efSearch`` (HNSW); ``rerank_factor`` the exact re-rank depth of ANN recipes.
    """

    def __init__(
        self,
        data_dir: str | Path,
        recipe: str | None = None,
        *,
        read_only: bool = False,
        search_params: dict[str, int] | None = None,
        rerank_factor: int = 10,
        use_gpu: bool | None = None,
    ) -> None:
        self.directory = Path(data_dir)
        self.read_only = read_only
        self.search_params = dict(search_params or {})
        unknown = set(self.search_params) - {"nprobe", "efSearch"}
        if unknown:
            raise ConfigError(f"unknown FAISS search_params {sorted(unknown)}; valid: efSearch, nprobe")
        self.rerank_factor = int(rerank_factor)
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
            self._snap = self._load()
            manifest = self._snap.manifest
            if recipe is None:
                recipe = manifest.recipe if manifest.generation > 0 else "Flat"
            if manifest.generation > 0 and manifest.recipe != recipe:
                raise ConfigError(
                    f"{self.directory} holds an index built with recipe {manifest.recipe!r}, "
                    f"not {recipe!r}: open it with recipe={manifest.recipe!r} or use another data dir"
                )
            validate_recipe(recipe, 6 * manifest.dim if manifest.dim else DEFAULT_PROBE_DIM)
            self.recipe = recipe
            if not read_only:
                clean_leftovers(self.directory, manifest.files.values())
        except BaseException:
            self.close()
            raise

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
        return self._snap.catalog.row(video_id) is not None

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
        catalog = Catalog.read(self.directory, manifest.files)
        levels = {}
        for level in LEVELS:
            index = faiss.read_index(str(self.directory / manifest.files[f"index_{level}"]))
            if manifest.recipe.strip() == "Flat":
                matrix = _flat_view(index)
            else:
                matrix = np.load(self.directory / manifest.files[f"vectors_{level}"], mmap_mode="r")
            levels[level] = _LevelData(index, matrix)
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
        row = snap.catalog.row(video_id)
        if row is None:
            raise not_found(video_id)
        pos = int(np.searchsorted(snap.v_iids, row["iid"]))
        d = snap.manifest.dim or 0
        data = json.loads(row["record"])
        segs = snap.catalog.segments.filter(pl.col("iid") == row["iid"]).sort("seg_index")
        seg_rows = np.searchsorted(snap.s_sids, segs["sid"].to_numpy())
        seg_matrix = snap.levels["segment"].matrix
        data["segments"] = [
            {"start_s": s0, "end_s": s1, "vectors": np.asarray(seg_matrix[r]).reshape(6, d)}
            for s0, s1, r in zip(segs["start_s"].to_list(), segs["end_s"].to_list(), seg_rows, strict=True)
        ]
        data["video"] = np.asarray(snap.levels["video"].matrix[pos]).reshape(6, d)
        data["hook"] = np.asarray(snap.levels["hook"].matrix[pos]).reshape(6, d)
        return SV6DRecord.model_validate(data)

    def _search_parameters(self, index: Any, sel: Any) -> Any:
        faiss = _faiss()
        ivf = _ivf_of(index)
        if ivf is not None:
            nprobe = self.search_params.get("nprobe", max(1, ivf.nlist // DEFAULT_NPROBE_FRACTION))
            params = faiss.SearchParametersIVF(sel=sel, nprobe=int(nprobe))
            if isinstance(faiss.downcast_index(index), faiss.IndexPreTransform):
                return faiss.SearchParametersPreTransform(index_params=params)
            return params
        inner = faiss.downcast_index(index.index)
        if isinstance(inner, faiss.IndexHNSW):
            return faiss.SearchParametersHNSW(
                sel=sel, efSearch=int(self.search_params.get("efSearch", DEFAULT_EF_SEARCH))
            )
        return faiss.SearchParameters(sel=sel) if sel is not None else None

    def _candidates(
        self, level: Level, qvec: np.ndarray, n: int, filters: Filters, exclude: frozenset[str]
    ) -> list[Candidate]:
        faiss = _faiss()
        snap = self._snap
        data = snap.levels.get(level)
        if data is None or data.matrix.shape[0] == 0:
            return []
        if not data.index.is_trained:
            raise QueryError(self._untrained_message(level, data.matrix.shape[0]))
        rows = snap.catalog.matching_videos(filters, exclude)
        sel = None
        if rows is not None:
            ids = rows["iid"].to_numpy().astype(np.int64)
            if level == "segment":
                ids = snap.s_sids[np.isin(snap.s_iids, ids)]
            if ids.size == 0:
                return []
            ids = np.ascontiguousarray(ids, dtype=np.int64)
            sel = faiss.IDSelectorBatch(ids.size, faiss.swig_ptr(ids))
        params = self._search_parameters(data.index, sel)
        index = self._gpu_index(level, data.index) if sel is None else data.index
        n = min(n, data.index.ntotal)
        _, labels = index.search(qvec.reshape(1, -1), n, params=params)
        found = labels[0][labels[0] >= 0]
        return self._materialize(snap, level, found)

    def _materialize(self, snap: _Snapshot, level: Level, ids: np.ndarray) -> list[Candidate]:
        d6 = 6 * (snap.manifest.dim or 0)
        matrix = snap.levels[level].matrix
        out = []
        if level == "segment":
            rows = np.searchsorted(snap.s_sids, ids)
            vpos = np.searchsorted(snap.v_iids, snap.s_iids[rows])
            blocks = np.asarray(matrix[rows])
            for i, r in enumerate(rows):
                w = snap.s_windows[r]
                out.append(
                    Candidate(
                        snap.v_ids[vpos[i]],
                        np.asarray(blocks[i]).reshape(6, d6 // 6),
                        (float(w[0]), float(w[1])),
                        int(snap.s_index[r]),
                    )
                )
            return out
        pos = np.searchsorted(snap.v_iids, ids)
        for p in pos:
            w = snap.hook_windows[p] if level == "hook" else None
            window = (float(w[0]), float(w[1])) if w is not None else None
            out.append(Candidate(snap.v_ids[p], np.asarray(matrix[p]).reshape(6, d6 // 6), window))
        return out

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
        snap = self._snap
        d = check_batch(records, snap.manifest.dim)
        if not records:
            return 0
        encoders = {(r.encoder.name, r.encoder.head_version) for r in records}
        m = snap.manifest
        if m.encoder is not None:
            encoders.add((m.encoder, m.head_version or ""))
        if len(encoders) > 1:
            shown = ", ".join(f"{n}/{h}" for n, h in sorted(encoders))
            raise ConfigError(
                f"records come from different encoders or head versions ({shown}); vectors of different "
                "heads are not comparable: index them into separate data directories"
            )
        validate_recipe(self.recipe, 6 * d)
        catalog, iids, sids = snap.catalog.apply(records, m.next_iid, m.next_sid, ())
        new_vectors = {
            "video": np.stack([r.video.ravel() for r in records]),
            "hook": np.stack([r.hook.ravel() for r in records]),
            "segment": np.stack([s.vectors.ravel() for r in records for s in r.segments])
            if sids.size
            else np.zeros((0, 6 * d), dtype=np.float32),
        }
        new_ids = {"video": iids, "hook": iids, "segment": sids}
        manifest = replace(
            m,
            generation=m.generation + 1,
            dim=d,
            recipe=self.recipe,
            encoder=next(iter(encoders))[0],
            head_version=next(iter(encoders))[1],
            next_iid=int(m.next_iid + len(records)),
            next_sid=int(m.next_sid + sids.size),
            files=dict(m.files),
        )
        self._commit(snap, catalog, manifest, new_ids, new_vectors)
        return len(records)

    def delete(self, video_ids: Iterable[str]) -> int:
        """Remove videos (unknown ids ignored) in one atomic generation; returns how many were removed."""
        self._require_writer()
        snap = self._snap
        ids = [v for v in dict.fromkeys(video_ids) if snap.catalog.row(v) is not None]
        if not ids:
            return 0
        m = snap.manifest
        catalog, _, _ = snap.catalog.apply([], m.next_iid, m.next_sid, ids)
        d6 = 6 * (m.dim or 0)
        empty = {lv: np.zeros((0, d6), dtype=np.float32) for lv in LEVELS}
        no_ids = {lv: np.zeros(0, dtype=np.int64) for lv in LEVELS}
        self._commit(
            snap, catalog, replace(m, generation=m.generation + 1, files=dict(m.files)), no_ids, empty
        )
        return len(ids)

    def _commit(
        self,
        snap: _Snapshot,
        catalog: Catalog,
        manifest: Manifest,
        new_ids: dict[str, np.ndarray],
        new_vectors: dict[str, np.ndarray],
    ) -> None:
        gen = manifest.generation
        levels: dict[str, _LevelData] = {}
        for level in LEVELS:
            kept_ids = (
                catalog.segments["sid"].to_numpy() if level == "segment" else catalog.videos["iid"].to_numpy()
            ).astype(np.int64)
            old = snap.levels.get(level)
            old_ids = snap.s_sids if level == "segment" else snap.v_iids
            removed = old_ids[~np.isin(old_ids, kept_ids)] if old is not None else np.zeros(0, np.int64)
            if old is not None and removed.size == 0 and new_ids[level].size == 0:
                levels[level] = old  # unchanged: the manifest keeps naming the old files
                continue
            levels[level] = self._next_level(
                old, old_ids, removed, new_ids[level], new_vectors[level], manifest
            )
            index_name = f"{level}.g{gen:08d}.faiss"
            index = levels[level].index
            atomic_write_bytes(self.directory / index_name, _index_writer(index))
            manifest.files[f"index_{level}"] = index_name
            if not self.exact:
                vec_name = f"{level}.g{gen:08d}.npy"
                mat = levels[level].matrix
                atomic_write_bytes(self.directory / vec_name, _npy_writer(mat))
                manifest.files[f"vectors_{level}"] = vec_name
        manifest.files.update(catalog.write(self.directory, gen))
        write_manifest(self.directory, manifest)  # the commit point
        previous = set(snap.manifest.files.values())
        self._snap = _Snapshot.build(manifest, catalog, levels)
        self._gpu_cache.clear()
        clean_leftovers(self.directory, set(manifest.files.values()) | previous)

    def _next_level(
        self,
        old: _LevelData | None,
        old_ids: np.ndarray,
        removed: np.ndarray,
        add_ids: np.ndarray,
        add_vecs: np.ndarray,
        manifest: Manifest,
    ) -> _LevelData:
        """The level after removing ``removed`` and adding the new vectors; the old level is left intact."""
        faiss = _faiss()
        total_dim = 6 * (manifest.dim or 0)
        keep = np.ones(old_ids.size, dtype=bool) if old is None else ~np.isin(old_ids, removed)
        old_matrix = old.matrix if old is not None else np.zeros((0, total_dim), dtype=np.float32)
        matrix = np.ascontiguousarray(
            np.concatenate([np.asarray(old_matrix)[keep], add_vecs.astype(np.float32)]), dtype=np.float32
        )
        ids = np.concatenate([old_ids[keep], add_ids]).astype(np.int64)

        def rebuild() -> Any:
            index = validate_recipe(self.recipe, total_dim)
            if not index.is_trained:
                if matrix.shape[0] < min_train_points(self.recipe):
                    return index  # stays empty and untrained: searching it says how many vectors it needs
                index.train(matrix)
            if matrix.shape[0]:
                index.add_with_ids(matrix, ids)
            return index

        if self.exact:
            index = rebuild()
            return _LevelData(index, _flat_view(index))
        if old is None or not old.index.is_trained or old.index.ntotal != old_ids.size:
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
