"""Qdrant backend through qdrant-client: in-process (``:memory:`` or a path) or a server / cluster by URL.

Layout (named vectors, ``Distance.DOT`` everywhere so that scores equal the FAISS inner products; cosine
distance would re-normalise the weighted query and change the scores):
- collection ``<name>``: one point per video, id = uuid5 of the video id, vectors ``video_<dimension>`` and
  ``hook_<dimension>`` (six each) and the concatenations ``video_all`` / ``hook_all`` (weighted search);
- collection ``<name>_segments``: one point per segment (id = uuid5 of ``video_id#index``), vectors
  ``segment_<dimension>`` and ``segment_all``.
Payload: video_id, tags (``"dimension:label"`` keywords), duration_s, orientation, created_ts (UTC epoch
seconds), creator, the hook window, and on video points the record JSON without vectors; segment points carry
the same filter fields plus seg_index, start_s, end_s. Payload indexes are created for every filter field.

Atomicity: a batch is one ``upsert`` per collection (``wait=True``); Qdrant applies a single upsert request
as a unit per shard, but the two collections are written one after the other.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from indexer.base import Candidate, Filters, Level, VectorIndex, check_batch, not_found
from sv6d.dimensions import DIMENSIONS
from sv6d.errors import ConfigError
from sv6d.record import SV6DRecord

_NAMESPACE = uuid.UUID("6f1c1e5e-8d6b-4a51-9d43-5e0c3a1f2b77")
DEFAULT_COLLECTION = "sv6d"
_KEYWORD_FIELDS = ("video_id", "tags", "orientation", "creator")
_FLOAT_FIELDS = ("duration_s", "created_ts")


def point_id(video_id: str, segment: int | None = None) -> str:
    """Deterministic point id: uuid5 of the video id (and the segment index for segment points)."""
    key = video_id if segment is None else f"{video_id}#{segment}"
    return str(uuid.uuid5(_NAMESPACE, key))


class QdrantIndex(VectorIndex):
    """Qdrant backend. Exactly one of ``location`` (``":memory:"``), ``path`` or ``url`` selects the client.

    Cluster parameters (``shard_number``, ``replication_factor``, ``write_consistency_factor``) and
    ``on_disk`` (vectors on disk) apply when the collections are created.
    """

    def __init__(
        self,
        *,
        location: str | None = None,
        path: str | None = None,
        url: str | None = None,
        api_key: str | None = None,
        collection: str = DEFAULT_COLLECTION,
        shard_number: int | None = None,
        replication_factor: int | None = None,
        write_consistency_factor: int | None = None,
        on_disk: bool = False,
        timeout: int | None = None,
    ) -> None:
        from qdrant_client import QdrantClient

        given = {k: v for k, v in {"location": location, "path": path, "url": url}.items() if v}
        if len(given) != 1:
            raise ConfigError(
                f"Qdrant needs exactly one of location=':memory:', path or url; got {sorted(given) or 'none'}"
            )
        if api_key and not url:
            raise ConfigError("Qdrant api_key is only used with url (a server); in-process mode has no key")
        self.collection = collection
        self.segments_collection = f"{collection}_segments"
        self._create_opts = {
            "shard_number": shard_number,
            "replication_factor": replication_factor,
            "write_consistency_factor": write_consistency_factor,
        }
        self.on_disk = on_disk
        self.client = QdrantClient(location=location, path=path, url=url, api_key=api_key, timeout=timeout)
        self._dim: int | None = None
        if self.client.collection_exists(self.collection):
            info = self.client.get_collection(self.collection)
            vectors = info.config.params.vectors
            if isinstance(vectors, dict) and "video_all" in vectors:
                self._dim = int(vectors["video_all"].size) // len(DIMENSIONS)

    @property
    def dim(self) -> int | None:
        return self._dim

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ schema

    def _ensure_collections(self, d: int) -> None:
        from qdrant_client import models

        if self._dim is not None:
            return

        def vectors(level: str) -> dict[str, Any]:
            params = {
                f"{level}_{dim.value}": models.VectorParams(
                    size=d, distance=models.Distance.DOT, on_disk=self.on_disk
                )
                for dim in DIMENSIONS
            }
            params[f"{level}_all"] = models.VectorParams(
                size=6 * d, distance=models.Distance.DOT, on_disk=self.on_disk
            )
            return params

        opts: dict[str, Any] = {k: v for k, v in self._create_opts.items() if v is not None}
        for name, config in (
            (self.collection, {**vectors("video"), **vectors("hook")}),
            (self.segments_collection, vectors("segment")),
        ):
            if not self.client.collection_exists(name):
                self.client.create_collection(name, vectors_config=config, **opts)
                with warnings.catch_warnings():
                    # Local mode filters without indexes and says so once per call; servers use them.
                    warnings.filterwarnings("ignore", message="Payload indexes have no effect")
                    for field in _KEYWORD_FIELDS:
                        self.client.create_payload_index(name, field, models.PayloadSchemaType.KEYWORD)
                    for field in _FLOAT_FIELDS:
                        self.client.create_payload_index(name, field, models.PayloadSchemaType.FLOAT)
        self._dim = d

    # ------------------------------------------------------------------ writes

    @staticmethod
    def _filter_payload(r: SV6DRecord) -> dict[str, Any]:
        return {
            "video_id": r.video_id,
            "tags": sorted({f"{t.dimension.value}:{t.label}" for t in r.tags}),
            "duration_s": r.duration_s,
            "orientation": r.orientation,
            "created_ts": r.created_at.timestamp() if r.created_at is not None else None,
            "creator": r.creator,
        }

    @staticmethod
    def _named(level: str, block: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {f"{level}_{d.value}": block[i].tolist() for i, d in enumerate(DIMENSIONS)}
        out[f"{level}_all"] = block.ravel().tolist()
        return out

    def upsert(self, records: Sequence[SV6DRecord]) -> int:
        """Insert or replace records by video id (old segments of replaced videos are removed)."""
        from qdrant_client import models

        records = list(records)
        d = check_batch(records, self._dim)
        if not records:
            return 0
        self._ensure_collections(d)
        points, seg_points = [], []
        for r in records:
            payload = self._filter_payload(r)
            payload.update(
                {
                    "hook_start_s": r.hook_window[0],
                    "hook_end_s": r.hook_window[1],
                    "record": r.model_dump_json(exclude={"video", "hook", "segments"}),
                }
            )
            vectors = {**self._named("video", r.video), **self._named("hook", r.hook)}
            points.append(models.PointStruct(id=point_id(r.video_id), vector=vectors, payload=payload))
            for j, s in enumerate(r.segments):
                sp = self._filter_payload(r)
                sp.update({"seg_index": j, "start_s": s.start_s, "end_s": s.end_s})
                seg_points.append(
                    models.PointStruct(
                        id=point_id(r.video_id, j), vector=self._named("segment", s.vectors), payload=sp
                    )
                )
        self._delete_segments([r.video_id for r in records])
        self.client.upsert(self.collection, points=points, wait=True)
        if seg_points:
            self.client.upsert(self.segments_collection, points=seg_points, wait=True)
        return len(records)

    def _delete_segments(self, video_ids: list[str]) -> None:
        from qdrant_client import models

        if not self.client.collection_exists(self.segments_collection):
            return
        self.client.delete(
            self.segments_collection,
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
        self._delete_segments(found)
        return len(found)

    # ------------------------------------------------------------------ reads

    def count(self) -> int:
        if self._dim is None:
            return 0
        return int(self.client.count(self.collection, exact=True).count)

    def contains(self, video_id: str) -> bool:
        if self._dim is None:
            return False
        return bool(self.client.retrieve(self.collection, [point_id(video_id)], with_payload=False))

    def get(self, video_id: str) -> SV6DRecord:
        from qdrant_client import models

        if self._dim is None:
            raise not_found(video_id)
        pts = self.client.retrieve(
            self.collection,
            [point_id(video_id)],
            with_payload=["record"],
            with_vectors=["video_all", "hook_all"],
        )
        if not pts:
            raise not_found(video_id)
        p = pts[0]
        vec = p.vector if isinstance(p.vector, dict) else {}
        d = self._dim
        data = json.loads((p.payload or {})["record"])
        data["video"] = np.asarray(vec["video_all"], dtype=np.float32).reshape(6, d)
        data["hook"] = np.asarray(vec["hook_all"], dtype=np.float32).reshape(6, d)
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
            )
            segs.extend(batch)
            if offset is None:
                break
        segs.sort(key=lambda s: (s.payload or {})["seg_index"])
        data["segments"] = [
            {
                "start_s": (s.payload or {})["start_s"],
                "end_s": (s.payload or {})["end_s"],
                "vectors": np.asarray(s.vector["segment_all"], dtype=np.float32).reshape(6, d),  # type: ignore[index,call-overload]
            }
            for s in segs
        ]
        return SV6DRecord.model_validate(data)

    @staticmethod
    def _filter(filters: Filters, exclude: frozenset[str]) -> Any:
        from qdrant_client import models

        must: list[Any] = [
            models.FieldCondition(key="tags", match=models.MatchValue(value=t.key)) for t in filters.tags
        ]
        if filters.min_duration_s is not None or filters.max_duration_s is not None:
            must.append(
                models.FieldCondition(
                    key="duration_s",
                    range=models.Range(gte=filters.min_duration_s, lte=filters.max_duration_s),
                )
            )
        if filters.orientation is not None:
            must.append(
                models.FieldCondition(key="orientation", match=models.MatchValue(value=filters.orientation))
            )
        if filters.created_after is not None:
            must.append(
                models.FieldCondition(
                    key="created_ts", range=models.Range(gt=filters.created_after.timestamp())
                )
            )
        if filters.creator is not None:
            must.append(models.FieldCondition(key="creator", match=models.MatchValue(value=filters.creator)))
        must_not: list[Any] = []
        if exclude:
            must_not.append(models.FieldCondition(key="video_id", match=models.MatchAny(any=sorted(exclude))))
        if not must and not must_not:
            return None
        return models.Filter(must=must or None, must_not=must_not or None)

    def _candidates(
        self, level: Level, qvec: np.ndarray, n: int, filters: Filters, exclude: frozenset[str]
    ) -> list[Candidate]:
        if self._dim is None:
            return []
        d = self._dim
        using = f"{level}_all"
        collection = self.segments_collection if level == "segment" else self.collection
        fields = ["video_id", "seg_index", "start_s", "end_s"] if level == "segment" else ["video_id"]
        if level == "hook":
            fields += ["hook_start_s", "hook_end_s"]
        res = self.client.query_points(
            collection,
            query=qvec.tolist(),
            using=using,
            limit=n,
            query_filter=self._filter(filters, exclude),
            with_payload=fields,
            with_vectors=[using],
        )
        out = []
        for p in res.points:
            pl = p.payload or {}
            vec = p.vector[using] if isinstance(p.vector, dict) else p.vector
            block = np.asarray(vec, dtype=np.float32).reshape(6, d)
            if level == "segment":
                out.append(
                    Candidate(pl["video_id"], block, (pl["start_s"], pl["end_s"]), int(pl["seg_index"]))
                )
            elif level == "hook":
                out.append(Candidate(pl["video_id"], block, (pl["hook_start_s"], pl["hook_end_s"])))
            else:
                out.append(Candidate(pl["video_id"], block))
        return out
