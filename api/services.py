"""Long-lived objects behind the routes: the index (one writer, lock-free readers), the job queue and
worker, the event store, the recommender, the text searcher, the thumbnail cache and the metrics.

Concurrency: there is one index object per process. Writes (ingest, delete) hold ``write_lock``; the FAISS
backend commits each batch as a new generation and swaps its snapshot in one assignment, so a search running
meanwhile reads either the old or the new generation, never a half-applied batch.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from api.jobs import EncoderLike, JobStore, JobWorker
from api.metrics import Metrics
from api.settings import Settings
from indexer.base import VectorIndex
from sv6d.errors import ConfigError, ConflictError
from sv6d.record import SV6DRecord, with_ingest_time

log = logging.getLogger("api")


def open_configured_index(settings: Settings) -> VectorIndex:
    """The index the settings name: FAISS under the data dir by default, or a Qdrant location."""
    from indexer.factory import open_index

    loc = settings.index_location
    if loc and ("://" in loc or loc.startswith("qdrant:") or loc == ":memory:"):
        return open_index(loc, **settings.index_options())
    return open_index(loc, None if loc else settings.data_dir, settings.index_recipe)


def conflict_message(video_id: str) -> str:
    return f"video_id {video_id!r} is already in use by a stored video; send replace=true to replace it"


class Services:
    """Everything a request may need; built once per app in the lifespan."""

    def __init__(
        self,
        settings: Settings,
        index: VectorIndex | None = None,
        encoder_factory: Callable[[], EncoderLike] | None = None,
        start_worker: bool = True,
    ) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.index = index if index is not None else open_configured_index(settings)
        self._own_index = index is None
        self.write_lock = threading.Lock()
        self.events_lock = threading.Lock()
        self.media_dir = settings.data_dir / "media"
        self.media_dir.mkdir(parents=True, exist_ok=True)
        self._encoder_factory = encoder_factory
        self._encoder: EncoderLike | None = None
        self._encoder_lock = threading.Lock()
        self._bound = False
        self.jobs = JobStore(settings.jobs_dir)
        requeued, failed = self.jobs.recover(settings.job_max_attempts)
        if requeued or failed:
            log.warning("ingest recovery: %d job(s) re-queued, %d marked failed", requeued, failed)
        self.worker = JobWorker(
            self.jobs,
            self.encoder,
            self.write_record,
            settings.limits.max_duration_s,
            shown_source=self.public_source,
        )
        if start_worker:
            self.worker.start()
        self.metrics = Metrics(
            lambda: float(self.index.count()), lambda: float(self.jobs.queue_length()), self.jobs.counts
        )
        from ranker.events import EventStore

        self.events = EventStore(settings.data_dir)
        self.thumbs = LRUCache(256)
        # Signs media links (see api.media.media_signature); links die with the process, which is the point.
        self.media_secret = secrets.token_bytes(32)
        self._recommender: Any = None
        self._recommender_key: tuple[Any, ...] | None = None
        self._catalog: Any = None
        self._catalog_key: tuple[Any, ...] | None = None
        self._recommender_lock = threading.Lock()
        self._feature_logger: Any = None
        if settings.log_features:
            from ranker.features import FeatureLogger
            from ranker.training import FEATURE_LOG_DIR

            self._feature_logger = FeatureLogger(settings.data_dir / FEATURE_LOG_DIR)
        self._model: Any = None
        self._model_note = ""
        self.reload_model()
        self.text = TextSearch(settings, lambda: getattr(self.encoder(), "heads", None))

    # ------------------------------------------------------------------ index writes

    def write_record(self, record: SV6DRecord, replace: bool = True) -> None:
        """Store ``record``; with ``replace=False`` a video already stored under its id is a ConflictError
        (checked under the write lock, so two jobs naming one id cannot both win)."""
        with self.write_lock:
            if not replace and self.index.contains(record.video_id):
                raise ConflictError(conflict_message(record.video_id))
            self.index.upsert(with_ingest_time([record]))
            self._bind_encoder()

    def _bind_encoder(self) -> None:
        """Record the encoder that wrote into the data directory, the first time (see ``encoder_spec``)."""
        if self._bound or self._encoder_factory is not None or self._encoder is None:
            return
        from encoder.spec import bind_data_dir, data_dir_spec

        spec = getattr(self._encoder, "spec", None)
        if spec is not None and data_dir_spec(self.settings.data_dir) is None:
            bind_data_dir(self.settings.data_dir, spec)
        self._bound = True

    def delete_video(self, video_id: str) -> int:
        with self.write_lock:
            return self.index.delete([video_id])

    def public_source(self, source: str) -> str:
        """``source`` as a response may show it (see ``api.media.public_source``)."""
        from api.media import public_source

        return public_source(source, self.media_dir, self.settings.media_roots)

    # ------------------------------------------------------------------ encoder

    def encoder(self) -> EncoderLike:
        """The encoder, built on first use (loading it costs seconds; many deployments only search)."""
        with self._encoder_lock:
            if self._encoder is None:
                if self._encoder_factory is not None:
                    self._encoder = self._encoder_factory()
                else:
                    from encoder.pipeline import Encoder
                    from sv6d.datadir import features_dir

                    self._encoder = Encoder.from_spec(
                        self.encoder_spec(), feature_store=features_dir(self.settings.data_dir)
                    )
            return self._encoder

    def encoder_spec(self) -> Any:
        """The data directory's encoder (its manifest's ``EncoderSpec``), so that the API ingests exactly as
        ``sv6d ingest`` does; for a data directory that records none, the settings' (``encoder_spec``, else
        ``encoder_backbone``, ``heads_dir`` and ``hook_s``), recorded as its encoder with the first write."""
        from encoder.spec import EncoderSpec, data_dir_spec

        current = data_dir_spec(self.settings.data_dir)
        configured = (
            EncoderSpec.load(self.settings.encoder_spec)
            if self.settings.encoder_spec is not None
            else EncoderSpec.from_options(
                self.settings.encoder_backbone, None, self.settings.heads_dir, self.settings.hook_s
            )
        )
        if current is None:
            return configured
        if not configured.resolved().same_encoder(current) and (
            self.settings.encoder_spec is not None or self.settings.heads_dir is not None
        ):
            log.warning(
                "encoder: the settings name %s, the data directory %s holds records of %s: ingesting with "
                "the data directory's (change it with `sv6d upgrade`)",
                configured.describe(),
                self.settings.data_dir,
                current.describe(),
            )
        return current

    # ------------------------------------------------------------------ ranker model

    def _read_model(self) -> tuple[Any, str]:
        """(model, "") for the configured or newest saved model, else (None, why the blend is used)."""
        from ranker.model import RankerModel, SchemaMismatchError, check_schema
        from ranker.registry import latest_model, models_dir
        from ranker.training import serving_schema

        explicit = self.settings.ranker_model_dir
        path = Path(explicit) if explicit is not None else latest_model(self.settings.data_dir)
        if path is None:
            where = models_dir(self.settings.data_dir)
            log.info("ranker: no trained model in %s; recommend serves the fallback blend", where)
            return None, "no trained model (sv6d ranker train): scores are the fallback blend"
        schema = serving_schema()
        try:
            model = RankerModel.load(path)
            check_schema(model.schema_version, model.feature_names, schema, where=f"model {path.name}")
        except SchemaMismatchError as exc:
            note = f"{exc}; refused, scores are the fallback blend"
            log.warning("ranker: %s", note)
            return None, note
        except Exception as exc:  # a damaged model folder must not take the service down
            note = f"model {path.name} could not be loaded ({type(exc).__name__}); scores are the blend"
            log.warning("ranker: %s: %s", note, exc)
            return None, note
        log.info("ranker: model %s loaded (feature schema %s)", model.model_id, model.schema_version)
        return model, ""

    def reload_model(self) -> tuple[Any, str]:
        """Load the newest saved model (or the configured one); the next request is scored by it."""
        model, note = self._read_model()
        with self._recommender_lock:
            self._model, self._model_note = model, note
            self._recommender = None
        return model, note

    def model_status(self) -> tuple[Any, str]:
        """(the model that scores, or None; why there is none)."""
        with self._recommender_lock:
            return self._model, self._model_note

    # ------------------------------------------------------------------ recommender

    def recommender(self) -> Any:
        """A ranker ``Recommender`` over every stored video and the events.

        The item catalog follows the index incrementally (``ItemCatalog.with_records`` for added and removed
        ids; a full rebuild only when the same ids were re-upserted); a change in events alone reuses it.
        """
        from datetime import UTC, datetime

        from ranker.candidates import IndexNeighbours
        from ranker.catalog import ItemCatalog
        from ranker.context import build_context
        from ranker.serve import Recommender
        from ranker.training import SERVING_CANDIDATES

        events_path = self.events.path
        events_mtime = events_path.stat().st_mtime_ns if events_path.exists() else 0
        index_key = (getattr(self.index, "generation", None), self.index.count())
        with self._recommender_lock:
            if self._recommender is not None and self._recommender_key == (index_key, events_mtime):
                return self._recommender
            catalog = self._catalog if self._catalog_key == index_key else None
            if catalog is None:
                now = set(self.index.video_ids())
                if not now:
                    raise ConfigError("the index is empty: ingest videos before asking for recommendations")
                old = set(self._catalog.video_ids) if self._catalog is not None else set()
                if self._catalog is not None and now != old:
                    catalog = self._catalog.with_records(
                        [self.index.get(v) for v in sorted(now - old)], removed=old - now
                    )
                else:  # first build, or the same ids re-upserted (new vectors): rebuild
                    catalog = ItemCatalog.from_records([self.index.get(v) for v in sorted(now)])
                self._catalog, self._catalog_key = catalog, index_key
            ctx = build_context(
                self.events.read(), catalog, datetime.now(UTC), neighbours=IndexNeighbours(self.index)
            )
            self._recommender = Recommender(
                ctx,
                self._model,
                SERVING_CANDIDATES,
                logger=self._feature_logger,
                fallback_note=self._model_note,
            )
            self._recommender_key = (index_key, events_mtime)
            return self._recommender

    def close(self) -> None:
        self.worker.stop()
        self.jobs.close()
        if self._own_index:
            self.index.close()


class LRUCache:
    """A small thread-safe LRU for rendered thumbnail strips."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Any, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> bytes | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: bytes) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


@dataclass
class TextQuery:
    """How free text was read: the (6, d) hook query (None when the text matches no structure or no stored
    hook shows it), the labels it was read as (label, dimension or None, MiniLM cosine; best first), its
    match score (the best of those cosines) against the threshold, the method, and why there is no query."""

    method: Literal["text_heads", "label_examples"]
    read_as: list[tuple[str, str | None, float]]
    match_score: float
    threshold: float
    vector: np.ndarray | None = None
    reason: str | None = None


class TextSearch:
    """Free text -> a hook query, with a calibrated match score; text that matches no structure gets none.

    Heads with a text side for every dimension (``settings.heads_dir`` when set, else the encoder's own heads:
    for the evidence backbone the packaged hook heads, the same ``project_text`` that ``sv6d eval-hooks
    --real`` measures) project the text into each dimension's space, provided their size is the index's. The
    text is read as the labels of their ``TextAnchors`` (``read_text``: each label's best sentence cosine).
    Otherwise (the documented fallback) the text and every vocabulary label's definition go through MiniLM;
    labels whose cosine with the text is at least ``text_label_threshold`` (or the best 3 when none is) are
    what the text was read as, and the query is the per-dimension mean of the hook vectors of stored videos
    carrying those labels in their hooks.

    Either way, when the best cosine is below ``text_match_threshold`` the text names no structure we know:
    no query, and a reason. Why 0.3 (``Settings.text_match_threshold``): chosen on the query sets of
    ``sv6d.hookbench.text_queries`` (never the held-out renders): the 12 real queries score 0.31-0.86 with the
    hook heads' style sentences and 0.37-0.57 with the vocabulary definitions; nonsense ("xyzzy", "the
    quarterly tax report", "purple elephant banana", "hello world", "cats", "recipe for lasagna") at most
    0.25 and 0.27. It is also where the hook heads' own relevance (``RELEVANCE_LO``) reaches zero, i.e. where
    ``project_text`` already sends the query to the direction no video points to.
    """

    TOP_LABELS = 3

    def __init__(self, settings: Settings, encoder_heads: Callable[[], Any] | None = None) -> None:
        self.threshold = settings.text_label_threshold
        self.match_threshold = settings.text_match_threshold
        self.heads_dir = settings.heads_dir
        self._encoder_heads = encoder_heads
        self._heads: Any = None
        self._labels: list[str] | None = None
        self._label_vecs: np.ndarray | None = None
        self._lock = threading.Lock()

    def _label_matrix(self) -> tuple[list[str], np.ndarray]:
        with self._lock:
            if self._label_vecs is None:
                from encoder.contrastive.text import TextEncoder, label_text
                from sv6d.vocabulary import default_vocabulary

                labels = sorted(default_vocabulary().labels)
                self._label_vecs = TextEncoder.shared().embed([label_text(lab) for lab in labels])
                self._labels = labels
            assert self._labels is not None
            return self._labels, self._label_vecs

    def read_labels(self, text: str) -> list[tuple[str, float]]:
        """(vocabulary label, cosine) pairs the text is read as, best first."""
        from encoder.contrastive.text import TextEncoder

        labels, mat = self._label_matrix()
        q = TextEncoder.shared().embed([text])[0]
        sims = mat @ q
        order = np.argsort(-sims, kind="stable")
        picked = [int(i) for i in order if sims[i] >= self.threshold][: 2 * self.TOP_LABELS]
        if not picked:
            picked = [int(i) for i in order[: self.TOP_LABELS]]
        return [(labels[i], float(sims[i])) for i in picked]

    def text_heads(self, index_dim: int | None) -> Any:
        """Heads whose text side can query an index of ``index_dim`` (None when there are none)."""
        from sv6d.dimensions import DIMENSIONS

        with self._lock:
            if self._heads is None:
                if self.heads_dir:
                    from encoder.contrastive.heads import load_heads

                    self._heads = load_heads(self.heads_dir)
                elif self._encoder_heads is not None:
                    self._heads = self._encoder_heads()
                self._heads = self._heads if self._heads is not None else False
            heads = self._heads
        if heads is False or not callable(getattr(heads, "project_text", None)):
            return None
        if not all(d in getattr(heads, "text_heads", {}) for d in DIMENSIONS):
            return None
        return heads if index_dim is None or int(heads.dim) == int(index_dim) else None

    def query(self, text: str, index_dim: int | None) -> TextQuery:
        """Read ``text``; the trained text side's query when there is one (see the class docstring)."""
        from sv6d.dimensions import DIMENSIONS
        from sv6d.vocabulary import default_vocabulary

        heads = self.text_heads(index_dim)
        read = heads.read_text(text) if heads is not None and hasattr(heads, "read_text") else None
        if read is None:
            vocab = default_vocabulary()
            read = [(lab, vocab.labels[lab].dimension.value, s) for lab, s in self.read_labels(text)]
        reading = [(lab, d, round(s, 4)) for lab, d, s in read[: 2 * self.TOP_LABELS]]
        best_label, _, best = read[0]
        method: Literal["text_heads", "label_examples"] = "label_examples" if heads is None else "text_heads"
        out = TextQuery(method, reading, round(best, 4), self.match_threshold)
        if best < self.match_threshold:
            what = "opening style" if method == "text_heads" else "vocabulary label"
            out.reason = (
                f"the text names no structure we know: its best match is the {what} {best_label!r} at "
                f"{best:.2f}, and a match needs >= {self.match_threshold:.2f}"
            )
        elif heads is not None:
            out.vector = np.stack([heads.project_text(d, [text])[0] for d in DIMENSIONS]).astype(np.float32)
        return out
