"""The embedded default backend: FAISS indexes + the parquet catalog in one data directory.

This module searches. ``indexer.faiss_store`` holds the generations on disk (commits, compaction, bulk-load
validation) and ``indexer.faiss_recipes`` FAISS itself (GPU flag, recipes and their tuning).

One FAISS index per level (video, hook, segment) over the concatenation of the six unit vectors (size 6·d),
inner-product metric. ``Flat`` (exact, the default) is a bare ``IndexFlatIP`` whose labels are row positions
and whose storage is the level's matrix (held once). Other recipes (a FAISS factory string: ``HNSW32``,
``IVF1024,PQ32x8``...) carry the catalog's int64 iids (sids for segments): IVF indexes store them natively,
others are wrapped in ``IDMap2`` (IDMap's id bookkeeping assumes the inner index renumbers on removal, which
IVF does not). They keep the exact vectors beside the index and re-rank ``k · rerank_factor``
candidates exactly.

Storage, generations and durability: see ``indexer.faiss_store``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexer.base import VectorIndex
from indexer.catalog import Catalog, WriterLock, clean_leftovers, read_manifest
from indexer.faiss_recipes import (
    DEFAULT_NPROBE_FRACTION,
    DEFAULT_PROBE_DIM,
    QUANTIZER_EF_SEARCH,
    default_ef_search,
    faiss_module,
    has_gpu,
    ivf_of,
    min_train_points,
    recipe_defaults,
    validate_recipe,
)
from indexer.faiss_store import (
    GenerationStore,
    Snapshot,
    blocks_equal,
    bulk_column,
    bulk_ids,
    bulk_positive,
    bulk_strings,
    bulk_vectors,
)
from indexer.hits import Candidate, CandidateBatch, hook_style_from_json
from indexer.query import Filters, Level, QueryError, check_batch, check_page, not_found
from sv6d.dimensions import DIMENSIONS
from sv6d.errors import ConfigError
from sv6d.record import EncoderInfo, SV6DRecord

# Per-query exclusions up to this many points are answered by over-fetching, beyond by a selector per query.
MAX_OVERFETCH = 4096


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
            self._store = GenerationStore(self.directory, recipe)
            self._snap = self._store.load()
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

    def refresh(self) -> None:
        """Switch to the newest committed generation (no-op when it is the one loaded)."""
        manifest = read_manifest(self.directory)
        if manifest is not None and manifest.generation != self._snap.manifest.generation:
            self._swap(self._store.load())

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

    def hook_style_of(self, video_id: str) -> dict[str, float]:
        snap = self._snap
        pos = snap.catalog.position(video_id)
        if pos is None:
            raise not_found(video_id)
        return hook_style_from_json(snap.catalog.videos["record"][pos])

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
        ivf = ivf_of(data.index)
        if ivf is not None:
            out["nprobe"] = self._nprobe(ivf)
        elif "HNSW" in self.recipe.upper():
            out["efSearch"] = int(self.search_params.get("efSearch", default_ef_search(data.index.ntotal)))
        return out

    def _nprobe(self, ivf: Any) -> int:
        nprobe = self.search_params.get("nprobe", max(1, ivf.nlist // DEFAULT_NPROBE_FRACTION))
        return int(min(nprobe, ivf.nlist))

    def _search_parameters(self, index: Any, sel: Any) -> Any:
        faiss = faiss_module()
        ivf = ivf_of(index)
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
        # Slabs answer single-dimension queries: exact under Flat (filters included: its labels are row
        # positions too), approximate otherwise and then only unfiltered.
        groups = self._single_dimension_groups(q, d) if self.exact or sel is None else {None: list(range(nq))}
        if None in groups and len(groups) == 1:
            _, labels = index.search(q, fetch, params=params)
        else:
            labels = np.empty((nq, fetch), dtype=np.int64)
            for j, rows in groups.items():
                if j is None:
                    _, labels[rows] = index.search(q[rows], fetch, params=params)
                    continue
                part = np.ascontiguousarray(q[rows, j * d : (j + 1) * d])
                if self.exact:
                    _, labels[rows] = data.slab(j, d).search(part, fetch, params=params)
                    continue
                _, found = data.slab(j, d, approximate=True).search(part, fetch)
                # Row positions to the ids the whole-level index answers with.
                labels[rows] = np.where(found >= 0, snap.level_ids(level)[np.maximum(found, 0)], -1)
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
        """Query rows by the one dimension they weigh (searched on that dimension's slab); the others under
        None (searched on the whole level)."""
        nq = len(qvecs)
        if nq == 0 or d == 0:
            return {None: list(range(nq))}
        weighed = np.any(qvecs.reshape(nq, len(DIMENSIONS), d) != 0, axis=2)
        single = weighed.sum(axis=1) == 1
        groups: dict[int | None, list[int]] = {}
        for i in range(nq):
            groups.setdefault(int(weighed[i].argmax()) if single[i] else None, []).append(i)
        return groups

    @staticmethod
    def _points_of(snap: Snapshot, level: Level, video_ids: frozenset[str]) -> np.ndarray:
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
        snap: Snapshot, level: Level, allowed: np.ndarray, exclude: frozenset[str]
    ) -> np.ndarray:
        vmask = np.zeros(len(snap.v_ids), dtype=bool)
        vmask[allowed] = True
        for vid in exclude:
            pos = snap.catalog.position(vid)
            if pos is not None:
                vmask[pos] = False
        return vmask[snap.s_vpos] if level == "segment" else vmask

    def _selector(self, snap: Snapshot, level: Level, mask: np.ndarray) -> tuple[Any, np.ndarray]:
        """An ``IDSelectorBitmap`` over the index's labels (row positions for Flat, else iids / sids);
        the bitmap array is returned too, as it must outlive the search."""
        faiss = faiss_module()
        if self.exact:
            bits = mask
        else:
            ids = snap.level_ids(level)
            bits = np.zeros(int(ids.max()) + 1 if ids.size else 0, dtype=bool)
            bits[ids[mask]] = True
        bitmap = np.ascontiguousarray(np.packbits(bits, bitorder="little"))
        return faiss.IDSelectorBitmap(bitmap.size, faiss.swig_ptr(bitmap)), bitmap

    def _materialize_many(self, snap: Snapshot, level: Level, rows: list[np.ndarray]) -> list[CandidateBatch]:
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

    def _materialize(self, snap: Snapshot, level: Level, rows: np.ndarray) -> CandidateBatch:
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
                self._gpu_cache[key] = faiss_module().index_cpu_to_all_gpus(index)
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
        ids = [r.video_id for r in records]
        self._swap(self._store.write_batch(self._snap, part, ids, encoders, d, new_vectors, sids))
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
        ids = bulk_ids(video_ids)
        n = len(ids)
        d = bulk_vectors("video", video, n, ids)
        same = hook is None or hook is video
        if not same:
            assert hook is not None
            if bulk_vectors("hook", hook, n, ids) != d:
                raise QueryError(f"upsert_arrays: hook has vectors of size {hook.shape[-1]}, video {d}")
            same = blocks_equal(hook, video)
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
        ts = bulk_column("created_ts", np.nan if created_ts is None else created_ts, n, np.float64)
        part = Catalog.part_of_columns(
            ids,
            self._snap.manifest.next_iid,
            encoder=encoder,
            source=bulk_strings("source", source, n),
            duration_s=bulk_positive("duration_s", duration_s, n, ids, np.float64),
            fps=bulk_positive("fps", fps, n, ids, np.float64),
            width=bulk_positive("width", width, n, ids, np.int64),
            height=bulk_positive("height", height, n, ids, np.int64),
            hook_window=windows,
            creator=bulk_strings("creator", creator, n, optional=True),
            created_ts=ts,
        )
        new_vectors: dict[str, np.ndarray | None] = {
            "video": video.reshape(n, 6 * d),
            "hook": None if same else np.asarray(hook).reshape(n, 6 * d),
            "segment": np.zeros((0, 6 * d), dtype=np.float32),
        }
        encoders = {(encoder.name, encoder.head_version)}
        sids = np.zeros(0, dtype=np.int64)
        self._swap(self._store.write_batch(self._snap, part, ids, encoders, d, new_vectors, sids))
        return n

    def delete(self, video_ids: Iterable[str]) -> int:
        """Remove videos (unknown ids ignored) in one atomic generation; returns how many were removed."""
        self._require_writer()
        snap, n = self._store.delete(self._snap, video_ids)
        if n:
            self._swap(snap)
        return n

    def _swap(self, snap: Snapshot) -> None:
        """Make a committed generation the one searched (threads searching the old snapshot finish on it)."""
        self._snap = snap
        self._gpu_cache.clear()
