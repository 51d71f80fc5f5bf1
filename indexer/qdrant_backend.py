"""Qdrant backend through qdrant-client: in-process (``:memory:`` or a path) or a server / cluster by URL.

Layout (named vectors, ``Distance.DOT`` everywhere so that scores equal the FAISS inner products; cosine
distance would re-normalise the weighted query and change the scores):
- videos: one point per video, id = uuid5 of the video id, vectors ``video_<dimension>`` and
  ``hook_<dimension>`` (six each) and the concatenations ``video_all`` / ``hook_all`` (weighted search);
- segments: one point per segment (id = uuid5 of ``video_id#index``), vectors ``segment_<dimension>`` and
  ``segment_all``.
Payload: video_id, tags (``"dimension:label"`` keywords), duration_s, orientation, created_at (RFC 3339,
UTC), creator, the hook window, and on video points the record JSON without vectors; segment points carry
the same filter fields plus seg_index, start_s, end_s. Payload indexes are created for every filter field.

Names and aliases: the live names ``<collection>`` and ``<collection>_segments`` are aliases onto versioned
collections ``<collection>__v<N>`` and ``<collection>__v<N>_segments``. Every read and write goes through the
aliases, so a re-index (:meth:`QdrantIndex.rebuild`: new heads, a new encoder version) is built into the next
version beside the live one, then both aliases are switched in one ``update_collection_aliases`` request
(Qdrant applies it atomically) and the old version is dropped. A store created before aliases existed (a
concrete collection under the live name) is read as is; its first rebuild replaces it (that one switch is
not atomic: the old collection must be deleted before an alias can take its name).

Cluster settings (:class:`QdrantConfig`): shard number, replication factor, write consistency factor, read
consistency on searches, vectors on disk, int8 scalar quantization with rescoring, HNSW parameters. Every
collection is created from :func:`collection_specs`, so a test can assert what a cluster would receive.
Local mode accepts the same calls and ignores what only a server does (sharding, quantization, HNSW).

Atomicity: a batch is one ``upsert`` per collection (``wait=True``); Qdrant applies a single upsert request
as a unit per shard, but the two collections are written one after the other.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from indexer.base import VectorIndex
from indexer.hits import Candidate, hook_style_from_json
from indexer.qdrant_layout import (
    PAYLOAD_INDEXES,
    SCROLL_PAGE,
    FilterSpec,
    candidate_fields,
    candidate_of,
    filter_spec,
    hook_tags_from_json,
    point_id,
    record_of,
    record_points,
    vector_names,
)
from indexer.query import Filters, Level, QueryError, check_batch, check_page, not_found
from sv6d.dimensions import DIMENSIONS
from sv6d.errors import ConfigError
from sv6d.record import SV6DRecord

__all__ = ["PAYLOAD_INDEXES", "QdrantConfig", "QdrantIndex", "collection_specs", "point_id"]

DEFAULT_COLLECTION = "sv6d"
SEGMENTS_SUFFIX = "_segments"
ReadConsistencyName = Literal["all", "majority", "quorum"]
Quantization = Literal["none", "int8"]


class QdrantConfig(BaseModel):
    """Collection and search settings for a Qdrant server or cluster (local mode accepts and ignores most).

    Creation-time settings (shards, replication, on-disk, quantization, HNSW) apply when a collection
    version is created; change them with :meth:`QdrantIndex.rebuild`. Search-time settings
    (``read_consistency``, ``rescore``, ``oversampling``, ``hnsw_ef``) apply to every query.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    shard_number: int | None = Field(default=None, ge=1, description="Shards per collection (None: server)")
    replication_factor: int | None = Field(default=None, ge=1, description="Copies of each shard")
    write_consistency_factor: int | None = Field(
        default=None, ge=1, description="Replicas that must acknowledge a write"
    )
    read_consistency: int | ReadConsistencyName | None = Field(
        default=None, description="Replicas a search must agree with: a number, 'majority', 'quorum' or 'all'"
    )
    on_disk: bool = Field(default=False, description="Original vectors memory-mapped from disk")
    on_disk_payload: bool = Field(default=False, description="Payload (record JSON) kept on disk")
    quantization: Quantization = Field(default="none", description="'int8': scalar quantization")
    quantile: float = Field(default=0.99, ge=0.5, le=1.0, description="int8 range: this quantile of values")
    always_ram: bool = Field(default=True, description="Quantized vectors pinned in RAM")
    rescore: bool = Field(default=True, description="Re-score quantized candidates with the originals")
    oversampling: float = Field(default=2.0, ge=1.0, description="Quantized candidates per result")
    hnsw_m: int = Field(default=16, ge=0, description="HNSW links per node (0 disables the graph)")
    hnsw_ef_construct: int = Field(default=128, ge=4, description="HNSW build beam width")
    hnsw_ef: int | None = Field(default=None, ge=1, description="HNSW search beam width (None: server)")
    exact_search: bool = Field(default=False, description="Scan every point instead of the HNSW graph")

    @model_validator(mode="after")
    def _consistent(self) -> QdrantConfig:
        w, r = self.write_consistency_factor, self.replication_factor
        if w is not None and r is not None and w > r:
            raise ValueError(f"write_consistency_factor {w} exceeds replication_factor {r}")
        rc = self.read_consistency
        if isinstance(rc, int) and (rc < 1 or (r is not None and rc > r)):
            raise ValueError(f"read_consistency {rc} must be in [1, replication_factor={r}]")
        return self

    @classmethod
    def parse(cls, base: QdrantConfig | Mapping[str, Any] | None = None, **overrides: Any) -> QdrantConfig:
        """A config from an object or mapping plus keyword overrides; errors name the field (ConfigError)."""
        data: dict[str, Any] = {}
        if isinstance(base, QdrantConfig):
            data.update(base.model_dump(exclude_unset=True))
        elif base is not None:
            data.update(base)
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ())) or "config"
            cause = err.get("ctx", {}).get("error", err["msg"])
            valid = ", ".join(sorted(cls.model_fields))
            hint = f" (valid settings: {valid})" if err["type"] == "extra_forbidden" else ""
            raise ConfigError(f"Qdrant setting {where}: {cause}{hint}") from None


#: Keyword options ``QdrantIndex`` (and ``open_index`` for a Qdrant location) accept besides the client's.
QDRANT_CONFIG_FIELDS = frozenset(QdrantConfig.model_fields)


@dataclass(frozen=True)
class CollectionSpec:
    """Everything sent to create one collection: the REST ``CreateCollection`` body and payload indexes."""

    name: str
    create: Any  # qdrant_client.models.CreateCollection (typed Any: qdrant_client is imported lazily)
    payload_indexes: dict[str, Any] = field(default_factory=dict)

    def create_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``QdrantClient.create_collection`` (same for local mode and a server)."""
        body = self.create
        kwargs = {
            "vectors_config": body.vectors,
            "shard_number": body.shard_number,
            "replication_factor": body.replication_factor,
            "write_consistency_factor": body.write_consistency_factor,
            "on_disk_payload": body.on_disk_payload,
            "hnsw_config": body.hnsw_config,
            "quantization_config": body.quantization_config,
        }
        return {k: v for k, v in kwargs.items() if v is not None}


def _level_vectors(level: str, d: int, config: QdrantConfig) -> dict[str, Any]:
    from qdrant_client import models

    return {
        name: models.VectorParams(
            size=len(DIMENSIONS) * d if name.endswith("_all") else d,
            distance=models.Distance.DOT,
            on_disk=config.on_disk,
        )
        for name in vector_names(level)
    }


def collection_specs(name: str, d: int, config: QdrantConfig) -> tuple[CollectionSpec, CollectionSpec]:
    """The video and segment collections ``name`` and ``name + "_segments"`` for vectors of size ``d``.

    Built in one place so that what a cluster receives (shards, replication, on-disk, int8 quantization,
    HNSW, payload index types) can be asserted without a server."""
    from qdrant_client import models

    quantization = None
    if config.quantization == "int8":
        # always_ram (rather than the newer `memory` enum) because Qdrant 1.13 servers know only this flag.
        quantization = models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, quantile=config.quantile, always_ram=config.always_ram
            )
        )
    schema_types = {
        "keyword": models.PayloadSchemaType.KEYWORD,
        "float": models.PayloadSchemaType.FLOAT,
        "datetime": models.PayloadSchemaType.DATETIME,
    }
    indexes = {f: schema_types[t] for f, t in PAYLOAD_INDEXES.items()}

    def spec(collection: str, vectors: dict[str, Any]) -> CollectionSpec:
        body = models.CreateCollection(
            vectors=vectors,
            shard_number=config.shard_number,
            replication_factor=config.replication_factor,
            write_consistency_factor=config.write_consistency_factor,
            on_disk_payload=config.on_disk_payload,
            hnsw_config=models.HnswConfigDiff(m=config.hnsw_m, ef_construct=config.hnsw_ef_construct),
            quantization_config=quantization,
        )
        return CollectionSpec(collection, body, dict(indexes))

    videos = spec(name, {**_level_vectors("video", d, config), **_level_vectors("hook", d, config)})
    segments = spec(name + SEGMENTS_SUFFIX, _level_vectors("segment", d, config))
    return videos, segments


def search_params(config: QdrantConfig) -> Any:
    """``models.SearchParams`` for every query: HNSW beam and, with quantization, rescoring (or None)."""
    from qdrant_client import models

    quant = None
    if config.quantization != "none":
        quant = models.QuantizationSearchParams(
            ignore=False, rescore=config.rescore, oversampling=config.oversampling
        )
    if quant is None and config.hnsw_ef is None and not config.exact_search:
        return None
    params = models.SearchParams(hnsw_ef=config.hnsw_ef, quantization=quant)
    if config.exact_search:
        # Set only when asked, so that servers receive the same body as before the setting existed.
        params.exact = True
    return params


def read_consistency(config: QdrantConfig) -> Any:
    """The ``consistency=`` argument of reads: an int or a ``models.ReadConsistencyType`` (or None)."""
    from qdrant_client import models

    rc = config.read_consistency
    if rc is None or isinstance(rc, int):
        return rc
    return models.ReadConsistencyType(rc)


@dataclass(frozen=True)
class RebuildResult:
    """What :meth:`QdrantIndex.rebuild` did: the versions before and after, and how many videos it wrote."""

    alias: str
    previous: str | None
    current: str
    videos: int
    dropped: tuple[str, ...]


def _batches(records: Iterable[SV6DRecord], size: int) -> Iterator[list[SV6DRecord]]:
    it = iter(records)
    while batch := list(islice(it, size)):
        yield batch


class QdrantIndex(VectorIndex):
    """Qdrant backend. Exactly one of ``location`` (``":memory:"``), ``path`` or ``url`` selects the client.

    Cluster and search settings come as a :class:`QdrantConfig` (``config=``) and/or as keyword options of
    the same names (``shard_number=6, quantization="int8", read_consistency="majority"``...); keywords win.
    """

    def __init__(
        self,
        *,
        location: str | None = None,
        path: str | None = None,
        url: str | None = None,
        api_key: str | None = None,
        collection: str = DEFAULT_COLLECTION,
        timeout: int | None = None,
        config: QdrantConfig | Mapping[str, Any] | None = None,
        **settings: Any,
    ) -> None:
        from qdrant_client import QdrantClient

        given = {k: v for k, v in {"location": location, "path": path, "url": url}.items() if v}
        if len(given) != 1:
            raise ConfigError(
                f"Qdrant needs exactly one of location=':memory:', path or url; got {sorted(given) or 'none'}"
            )
        if api_key and not url:
            raise ConfigError("Qdrant api_key is only used with url (a server); in-process mode has no key")
        if not re.fullmatch(r"[A-Za-z0-9_-]+", collection or ""):
            raise ConfigError(f"Qdrant collection name {collection!r} must be letters, digits, '_' or '-'")
        self.config = QdrantConfig.parse(config, **settings)
        self.collection = collection
        self.segments_collection = collection + SEGMENTS_SUFFIX
        self.client = QdrantClient(location=location, path=path, url=url, api_key=api_key, timeout=timeout)
        self._dim: int | None = None
        self._live: str | None = None
        self.refresh()

    @property
    def dim(self) -> int | None:
        return self._dim

    @property
    def exact(self) -> bool:
        # int8 candidates without rescoring carry quantized scores: widen and re-rank them exactly.
        return not (self.config.quantization != "none" and not self.config.rescore)

    @property
    def live_collection(self) -> str | None:
        """The concrete collection the live alias points at (None before the first write)."""
        return self._live

    def close(self) -> None:
        self.client.close()

    def refresh(self) -> None:
        """Re-resolve the live alias (another process may have switched it) and the vector size."""
        aliases = self._aliases()
        if self.collection in aliases:
            self._live = aliases[self.collection]
        elif self.client.collection_exists(self.collection):
            self._live = self.collection  # a store from before aliases: a concrete collection
        else:
            self._live, self._dim = None, None
            return
        vectors = self.client.get_collection(self._live).config.params.vectors
        if isinstance(vectors, dict) and "video_all" in vectors:
            self._dim = int(vectors["video_all"].size) // len(DIMENSIONS)

    # ------------------------------------------------------------------ schema

    def _aliases(self) -> dict[str, str]:
        return {a.alias_name: a.collection_name for a in self.client.get_aliases().aliases}

    def _next_version(self) -> str:
        pattern = re.compile(rf"{re.escape(self.collection)}__v(\d+)")
        names = [c.name for c in self.client.get_collections().collections]
        taken = [int(m.group(1)) for n in names if (m := pattern.fullmatch(n))]
        return f"{self.collection}__v{max(taken, default=0) + 1}"

    def _create(self, name: str, d: int, config: QdrantConfig) -> None:
        for spec in collection_specs(name, d, config):
            self.client.create_collection(spec.name, **spec.create_kwargs())
            with warnings.catch_warnings():
                # Local mode filters without indexes and says so once per call; servers use them.
                warnings.filterwarnings("ignore", message="Payload indexes have no effect")
                for field_name, schema in spec.payload_indexes.items():
                    self.client.create_payload_index(spec.name, field_name, schema, wait=True)

    def _switch_operations(self, new: str, old_aliases: Mapping[str, str]) -> list[Any]:
        """Delete-then-create for both aliases, sent as one request so readers never see a gap."""
        from qdrant_client import models

        ops: list[Any] = []
        for alias, target in ((self.collection, new), (self.segments_collection, new + SEGMENTS_SUFFIX)):
            if alias in old_aliases:
                ops.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)))
            ops.append(
                models.CreateAliasOperation(
                    create_alias=models.CreateAlias(collection_name=target, alias_name=alias)
                )
            )
        return ops

    def _ensure_collections(self, d: int) -> None:
        if self._dim is not None:
            return
        new = self._next_version()
        self._create(new, d, self.config)
        self.client.update_collection_aliases(change_aliases_operations=self._switch_operations(new, {}))
        self._live, self._dim = new, d

    # ------------------------------------------------------------------ writes

    def upsert(self, records: Sequence[SV6DRecord]) -> int:
        """Insert or replace records by video id (old segments of replaced videos are removed)."""
        records = list(records)
        d = check_batch(records, self._dim)
        if not records:
            return 0
        self._ensure_collections(d)
        self._write(records, self.collection, self.segments_collection)
        return len(records)

    def _write(self, records: list[SV6DRecord], videos: str, segments: str) -> None:
        from qdrant_client import models

        points: list[Any] = []
        seg_points: list[Any] = []
        for r in records:
            video, segs = record_points(r)
            points.append(models.PointStruct(id=video.id, vector=video.vectors, payload=video.payload))
            seg_points.extend(models.PointStruct(id=s.id, vector=s.vectors, payload=s.payload) for s in segs)
        self._delete_segments([r.video_id for r in records], segments)
        self.client.upsert(videos, points=points, wait=True)
        if seg_points:
            self.client.upsert(segments, points=seg_points, wait=True)

    def _delete_segments(self, video_ids: list[str], segments: str) -> None:
        """Remove the segment points of ``video_ids`` (the segments collection always exists by now)."""
        from qdrant_client import models

        self.client.delete(
            segments,
            points_selector=models.FilterSelector(
                filter=models.Filter(
                    must=[models.FieldCondition(key="video_id", match=models.MatchAny(any=video_ids))]
                )
            ),
            wait=True,
        )

    def delete(self, video_ids: Iterable[str]) -> int:
        from qdrant_client import models

        ids = list(dict.fromkeys(video_ids))
        if not ids or self._dim is None:
            return 0
        present = self.client.retrieve(self.collection, [point_id(v) for v in ids], with_payload=["video_id"])
        found = [p.payload["video_id"] for p in present if p.payload]
        if not found:
            return 0
        self.client.delete(
            self.collection,
            points_selector=models.PointIdsList(points=[point_id(v) for v in found]),
            wait=True,
        )
        self._delete_segments(found, self.segments_collection)
        return len(found)

    def rebuild(
        self,
        records: Iterable[SV6DRecord],
        *,
        config: QdrantConfig | Mapping[str, Any] | None = None,
        batch_size: int = 256,
        drop_old: bool = True,
    ) -> RebuildResult:
        """Re-index into a new collection version beside the live one, then switch the aliases atomically.

        ``records`` may be a generator (read once, in batches of ``batch_size``); queries meanwhile keep
        answering from the live version. ``config`` (default: this index's) may change creation settings
        (quantization, shards...) and the vector size may change (new heads). On any error the new version
        is deleted and the live one is untouched. The old version is dropped after the switch unless
        ``drop_old`` is False."""
        if batch_size < 1:
            raise QueryError(f"batch_size must be >= 1, got {batch_size}")
        cfg = self.config if config is None else QdrantConfig.parse(config)
        new = self._next_version()
        d: int | None = None
        seen: set[str] = set()
        try:
            for batch in _batches(records, batch_size):
                d = check_batch(batch, d)
                if not seen:
                    self._create(new, d, cfg)
                seen.update(r.video_id for r in batch)
                self._write(batch, new, new + SEGMENTS_SUFFIX)
            if d is None:
                raise QueryError("rebuild got no records: the live collection is kept as it is")
        except BaseException:
            for name in (new, new + SEGMENTS_SUFFIX):
                if self.client.collection_exists(name) and name not in self._aliases().values():
                    self.client.delete_collection(name)
            raise
        old_aliases = self._aliases()
        previous = old_aliases.get(self.collection, self._live)
        old_names = [previous, previous + SEGMENTS_SUFFIX] if previous else []
        if previous == self.collection:
            # A pre-alias store: its concrete collections hold the names the aliases need.
            self.client.delete_collection(self.collection)
            if self.segments_collection not in old_aliases:
                self.client.delete_collection(self.segments_collection)
            old_names = []
        self.client.update_collection_aliases(
            change_aliases_operations=self._switch_operations(new, old_aliases)
        )
        self._live, self._dim, self.config = new, d, cfg
        dropped: list[str] = []
        if drop_old:
            for name in old_names:
                if self.client.collection_exists(name) and name not in self._aliases().values():
                    self.client.delete_collection(name)
                    dropped.append(name)
        return RebuildResult(self.collection, previous, new, len(seen), tuple(dropped))

    # ------------------------------------------------------------------ reads

    def count(self) -> int:
        if self._dim is None:
            return 0
        return int(self.client.count(self.collection, exact=True).count)

    def contains(self, video_id: str) -> bool:
        if self._dim is None:
            return False
        return bool(
            self.client.retrieve(
                self.collection,
                [point_id(video_id)],
                with_payload=False,
                consistency=read_consistency(self.config),
            )
        )

    def video_ids(self, offset: int = 0, limit: int | None = None) -> list[str]:
        """Stored ids in ascending order: one payload-only scroll (the ``video_id`` field, no vectors).

        Points are keyed by a hash of the id, so the order comes from sorting what the scroll reads."""
        offset, limit = check_page(offset, limit)
        if self._dim is None:
            return []
        ids: list[str] = []
        cursor = None
        while True:
            batch, cursor = self.client.scroll(
                self.collection,
                limit=SCROLL_PAGE,
                offset=cursor,
                with_payload=["video_id"],
                with_vectors=False,
                consistency=read_consistency(self.config),
            )
            ids.extend(str((p.payload or {})["video_id"]) for p in batch)
            if cursor is None:
                break
        ids.sort()
        return ids[offset:] if limit is None else ids[offset : offset + limit]

    def _record_jsons(self, video_ids: Sequence[str]) -> dict[str, str]:
        """video_id -> stored record JSON (no vectors, no segments) of those stored, in one request."""
        if self._dim is None or not video_ids:
            return {}
        pts = self.client.retrieve(
            self.collection,
            [point_id(v) for v in video_ids],
            with_payload=["video_id", "record"],
            with_vectors=False,
            consistency=read_consistency(self.config),
        )
        return {str(p.payload["video_id"]): str(p.payload["record"]) for p in pts if p.payload}

    def _record_json(self, video_id: str) -> str:
        """The stored record JSON alone; NotFoundError when absent."""
        found = self._record_jsons([video_id]).get(video_id)
        if found is None:
            raise not_found(video_id)
        return found

    def hook_tags_of(self, video_id: str) -> frozenset[tuple[str, str]]:
        """(dimension, label) of the tags overlapping the hook window, from the stored record JSON alone."""
        return hook_tags_from_json(self._record_json(video_id))

    def hook_style_of(self, video_id: str) -> dict[str, float]:
        """The opening-style profile, from the stored record JSON alone."""
        return hook_style_from_json(self._record_json(video_id))

    def hook_styles_of(self, video_ids: Sequence[str]) -> list[dict[str, float]]:
        """The profiles of many videos in one request (a hook search's top hits); empty for absent ids."""
        found = self._record_jsons(video_ids)
        return [hook_style_from_json(found[v]) if v in found else {} for v in video_ids]

    def get(self, video_id: str) -> SV6DRecord:
        from qdrant_client import models

        if self._dim is None:
            raise not_found(video_id)
        consistency = read_consistency(self.config)
        pts = self.client.retrieve(
            self.collection,
            [point_id(video_id)],
            with_payload=["record"],
            with_vectors=["video_all", "hook_all"],
            consistency=consistency,
        )
        if not pts:
            raise not_found(video_id)
        p = pts[0]
        vec = p.vector if isinstance(p.vector, dict) else {}
        segs, offset = [], None
        flt = models.Filter(
            must=[models.FieldCondition(key="video_id", match=models.MatchValue(value=video_id))]
        )
        while True:
            batch, offset = self.client.scroll(
                self.segments_collection,
                scroll_filter=flt,
                limit=256,
                offset=offset,
                with_payload=["seg_index", "start_s", "end_s"],
                with_vectors=["segment_all"],
                consistency=consistency,
            )
            segs.extend(batch)
            if offset is None:
                break
        rows = [(s.payload or {}, s.vector["segment_all"]) for s in segs]  # type: ignore[index,call-overload]
        return record_of((p.payload or {})["record"], vec["video_all"], vec["hook_all"], rows, self._dim)

    @staticmethod
    def _filter(filters: Filters, exclude: frozenset[str]) -> Any:
        return client_filter(filter_spec(filters, exclude))

    def _candidates(
        self, level: Level, qvec: np.ndarray, n: int, filters: Filters, exclude: frozenset[str]
    ) -> list[Candidate]:
        if self._dim is None:
            return []
        d = self._dim
        using = f"{level}_all"
        collection = self.segments_collection if level == "segment" else self.collection
        fields = candidate_fields(level)
        res = self.client.query_points(
            collection,
            query=qvec.tolist(),
            using=using,
            limit=n,
            query_filter=self._filter(filters, exclude),
            search_params=search_params(self.config),
            consistency=read_consistency(self.config),
            with_payload=fields,
            with_vectors=[using],
        )
        vec = [p.vector[using] if isinstance(p.vector, dict) else p.vector for p in res.points]
        return [candidate_of(level, p.payload or {}, v, d) for p, v in zip(res.points, vec, strict=True)]


def client_filter(spec: FilterSpec) -> Any:
    """A ``qdrant_client.models.Filter`` from the neutral form (None when it holds no condition)."""
    from qdrant_client import models

    if not spec:
        return None

    def condition(c: Any) -> Any:
        if c.value is not None:
            return models.FieldCondition(key=c.key, match=models.MatchValue(value=c.value))
        if c.any is not None:
            return models.FieldCondition(key=c.key, match=models.MatchAny(any=list(c.any)))
        if c.after is not None:
            return models.FieldCondition(key=c.key, range=models.DatetimeRange(gt=c.after))
        return models.FieldCondition(key=c.key, range=models.Range(gte=c.gte, lte=c.lte))

    return models.Filter(
        must=[condition(c) for c in spec.must] or None, must_not=[condition(c) for c in spec.must_not] or None
    )
