"""The encoder pipeline: video file -> decode -> transitions -> shots -> backbone -> heads -> SV6D record.

``Encoder`` ties one backbone (by name or instance) to one set of heads; ``record.encoder`` records the
backbone name and version, the head version and the backbone fingerprint, so stored vectors can always be
traced to what produced them.

Default ``video_id``: ``"v" + sha256(first 4 MiB of the file + its size in bytes)[:20]``. It is stable across
renames and copies of the same bytes, cheap on large files, and distinct for files that differ in size or in
their first megabytes (containers put headers and the first GOPs there). Pass ``video_id`` to use your own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from encoder.backbone import Backbone, get_backbone
from encoder.decode import MIN_CLIP_S
from encoder.heads import Heads, check_heads_backbone, project_block, project_window, style_profile
from encoder.types import BackboneOutput, DecodedVideo, Shot, Transition
from sv6d.dimensions import DIMENSIONS
from sv6d.errors import ConfigError, VideoInputError
from sv6d.record import EncoderInfo, Segment, SV6DRecord

if TYPE_CHECKING:
    from encoder.decode import DecodeConfig
    from encoder.spec import EncoderSpec
    from encoder.transitions import ThumbStats, TransitionConfig

# Backbone settings that place or pace the work without changing records: the worker's, not the spec's.
BACKBONE_RUNTIME = ("device", "batch_size")
ID_HASH_BYTES = 4 * 1024 * 1024  # how much of the file the default video_id hashes


def default_video_id(path: str | os.PathLike[str]) -> str:
    """Stable content id of a file: sha256 over its first ``ID_HASH_BYTES`` and its size (see module doc)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(ID_HASH_BYTES)
    except OSError as exc:
        raise VideoInputError(p, f"cannot read file to compute its id ({exc.strerror or exc})") from None
    digest = hashlib.sha256(head + size.to_bytes(8, "little")).hexdigest()
    return "v" + digest[:20]


def compose_text(title: str | None, caption: str | None, hashtags: Sequence[str] | None) -> str | None:
    """The one string the text model sees: title, caption and ``#hashtags``, in that order; None if empty."""
    tags = " ".join("#" + h.lstrip("#") for h in (hashtags or []) if h.strip())
    parts = [x.strip() for x in (title, caption, tags) if x and x.strip()]
    return " \n".join(parts) if parts else None


def decode_config_for(backbone: Backbone) -> DecodeConfig:
    """How videos are decoded for ``backbone``: its own ``decode_config()`` when it samples its own frames
    (the VLM: its rate, cap and resolution), the evidence defaults for the evidence backbone, and deblocked
    pictures for any other (skipping the deblocking filter is measured to keep the evidence backbone's
    results; a learned model was trained on deblocked pictures)."""
    from encoder.decode import DecodeConfig

    own = getattr(backbone, "decode_config", None)
    if callable(own):
        cfg: DecodeConfig = own()
        return cfg
    if backbone.name == "evidence":
        return DecodeConfig()
    return DecodeConfig(skip_loop_filter=False)


def decode_threads() -> int:
    """Videos ``Encoder.encode_files`` decodes at once: half the cores (FFmpeg threads each decoder too)."""
    return max(1, (os.cpu_count() or 2) // 2)


@dataclasses.dataclass
class _Measured:
    decoded: DecodedVideo
    transitions: list[Transition]
    shots: list[Shot]
    hook_window: tuple[float, float]
    text: str | None

    def item(self) -> tuple[DecodedVideo, list[Transition], list[Shot], tuple[float, float], str | None]:
        """What ``Backbone.encode`` takes, as one tuple (an item of a backbone's ``encode_batch``)."""
        return (self.decoded, self.transitions, self.shots, self.hook_window, self.text)


class Encoder:
    """Decode, detect transitions, measure with a backbone, project with heads, return an ``SV6DRecord``.

    ``backbone``: a name (``"evidence"`` default, ``"vlm"``) or a ``Backbone`` instance. ``heads``: a
    ``Heads`` instance; default for the evidence backbone: ``encoder.evidence.default_heads`` (the fixed
    layout, with the packaged trained hook heads for the hook; other backbones must be given heads, or provide
    ``default_heads()``). Heads whose manifest names another backbone fingerprint are refused. ``hook_s``:
    the hook window ``[0, hook_s]``; a video shorter than it has the whole video as its hook
    (``record.hook_window``); one shorter than ``encoder.decode.MIN_CLIP_S`` is refused (VideoInputError).
    ``decode_config`` / ``transition_config``: ``encoder.decode.DecodeConfig`` and
    ``encoder.transitions.TransitionConfig`` (defaults when None). ``overlap``: when the backbone offers a
    frame sink (the evidence backbone does), ``encode_file`` measures analysis frames in a worker thread
    while decoding runs; the record is the same either way. ``opencv_threads``: OpenCV's
    own thread pool size, set process-wide (``cv2.setNumThreads``) when the encoder is made; None leaves it
    alone. The default 1: the encoder runs its own threads over small pictures, where OpenCV's parallel loops
    cost more than they share out (measured on the 13 real videos: CPU -9 %, wall -3 % against OpenCV's
    default of one thread per core); batch workers set the same. ``feature_cache``: an
    ``encoder.contrastive.cache.FeatureCache`` of this backbone's fingerprint; when given, every encode keeps
    its backbone output there (keyed by video id), so heads can be trained or swapped without decoding again.
    """

    def __init__(
        self,
        backbone: str | Backbone = "evidence",
        heads: Heads | None = None,
        hook_s: float = 3.0,
        decode_config: Any = None,
        transition_config: TransitionConfig | None = None,
        dim: int = 64,
        overlap: bool = True,
        opencv_threads: int | None = 1,
        feature_cache: Any = None,
    ) -> None:
        if not hook_s > 0:
            raise ConfigError(f"hook_s must be > 0 seconds, got {hook_s}")
        if opencv_threads is not None:
            import cv2

            cv2.setNumThreads(int(opencv_threads))
        self.backbone: Backbone = get_backbone(backbone) if isinstance(backbone, str) else backbone
        if heads is None:
            make = getattr(self.backbone, "default_heads", None)
            if callable(make):
                heads = make()
            elif self.backbone.name == "evidence":
                from encoder.evidence.default_heads import default_evidence_heads

                heads = default_evidence_heads(dim, self.backbone.fingerprint())
            else:
                raise ConfigError(f"backbone {self.backbone.name!r} needs heads: pass heads=... to Encoder")
        check_heads_backbone(heads, self.backbone.fingerprint(), self.backbone.name)
        self.heads: Heads = heads
        self.hook_s = float(hook_s)
        cfg = decode_config if decode_config is not None else decode_config_for(self.backbone)
        # A clip shorter than the hook window (a 1-3 s loop or meme) is encoded with the whole clip as its
        # hook (record.hook_window says so); only what is too short to measure is refused, naming the file.
        self.decode_config = dataclasses.replace(cfg, min_duration_s=max(cfg.min_duration_s, MIN_CLIP_S))
        self.transition_config = transition_config
        self.overlap = overlap
        self.feature_cache = feature_cache
        #: The spec this encoder was built from (``from_spec``), else None.
        self.spec: EncoderSpec | None = None

    @classmethod
    def from_spec(
        cls,
        spec: EncoderSpec | dict[str, Any],
        feature_store: str | os.PathLike[str] | None = None,
        **runtime: Any,
    ) -> Encoder:
        """The encoder an ``encoder.spec.EncoderSpec`` describes (the one way every engine builds it).

        ``feature_store``: a feature store root (a data directory's ``features/``); when given and the spec
        keeps features, every encode keeps its backbone output there under ``features_fingerprint``.
        ``runtime``: keyword arguments that change how, not what, is computed (``overlap``,
        ``opencv_threads``; for the VLM ``device`` and ``batch_size``, ``BACKBONE_RUNTIME``).
        Heads whose version is not the spec's ``head_version`` are refused."""
        from encoder.spec import EncoderSpec

        if isinstance(spec, dict):
            spec = EncoderSpec.from_json(spec)
        unknown = set(runtime) - {"overlap", "opencv_threads", "transition_config", *BACKBONE_RUNTIME}
        if unknown:
            raise ConfigError(f"Encoder.from_spec: unknown runtime option(s) {sorted(unknown)}")
        placement = {k: runtime.pop(k) for k in BACKBONE_RUNTIME if runtime.get(k) is not None}
        runtime = {k: v for k, v in runtime.items() if k not in BACKBONE_RUNTIME}
        if placement and spec.backbone.name != "vlm":
            raise ConfigError(f"{', '.join(sorted(placement))} only apply to the vlm backbone")
        backbone = get_backbone(spec.backbone.name, **spec.backbone.kwargs(), **placement)
        heads = None
        if spec.heads is not None:
            from encoder.contrastive.heads import load_heads

            heads = load_heads(spec.heads)
            if spec.head_version is not None and heads.version != spec.head_version:
                raise ConfigError(
                    f"heads at {spec.heads} are version {heads.version!r}, the encoder spec names "
                    f"{spec.head_version!r}: point the spec at the heads it was made with"
                )
        encoder = cls(
            backbone=backbone,
            heads=heads,
            hook_s=spec.hook_s,
            decode_config=spec.decode_config(),
            dim=spec.dim,
            **runtime,
        )
        if (
            spec.heads is None
            and spec.head_version is not None
            and encoder.heads.version != spec.head_version
        ):
            raise ConfigError(
                f"the {spec.backbone.name} backbone's default heads are version {encoder.heads.version!r}, "
                f"the encoder spec names {spec.head_version!r} (records made with another release's packaged "
                "heads: `sv6d upgrade` brings a data directory's records to these)"
            )
        encoder.spec = spec
        if feature_store is not None and spec.keep_features:
            from encoder.contrastive.cache import FeatureCache

            encoder.feature_cache = FeatureCache(Path(feature_store), encoder.features_fingerprint)
        return encoder

    @property
    def features_fingerprint(self) -> str:
        """What keys this encoder's backbone features in a feature store: the backbone fingerprint, plus a
        hash of the analysis sampling when it is not the default (the same backbone sampling differently
        measures different features)."""
        from encoder.decode import DecodeConfig

        fp = self.backbone.fingerprint()
        default = DecodeConfig() if self.backbone.name == "evidence" else DecodeConfig(skip_loop_filter=False)
        default = dataclasses.replace(default, min_duration_s=self.decode_config.min_duration_s)
        if self.decode_config == default:
            return fp
        blob = repr(dataclasses.astuple(self.decode_config)).encode()
        return f"{fp}-s{hashlib.sha256(blob).hexdigest()[:8]}"

    @property
    def info(self) -> EncoderInfo:
        """What ``record.encoder`` holds: backbone name + version, head version, backbone fingerprint."""
        return EncoderInfo(
            name=self.backbone.name,
            version=self.backbone.version,
            head_version=self.heads.version,
            fingerprint=self.backbone.fingerprint(),
        )

    def encode_file(
        self,
        path: str | os.PathLike[str],
        video_id: str | None = None,
        title: str | None = None,
        caption: str | None = None,
        hashtags: Sequence[str] | None = None,
        creator: str | None = None,
        created_at: datetime | None = None,
    ) -> SV6DRecord:
        """Encode one video file into an SV6D record (VideoInputError names the file when it is unusable)."""
        from encoder.decode import decode
        from encoder.transitions import ThumbStatsStream

        # A backbone that offers a frame sink measures analysis frames while decoding runs (on the core
        # that decoding leaves idle), instead of after it; so are the transition detector's per-thumbnail
        # statistics (in a thread of their own).
        make_sink = getattr(self.backbone, "frame_sink", None) if self.overlap else None
        sink = make_sink() if callable(make_sink) else None
        stream = ThumbStatsStream(background=True) if self.overlap else None
        try:
            decoded = decode(
                path, self.decode_config, sink=sink, on_thumbs=stream.add if stream is not None else None
            )
            # the sink's worker goes on with what needs no shots while this thread detects transitions
            after_decode = getattr(sink, "after_decode", None)
            if callable(after_decode):
                after_decode(decoded)
            return self.encode_decoded(
                decoded,
                video_id=video_id or default_video_id(path),
                title=title,
                caption=caption,
                hashtags=hashtags,
                creator=creator,
                created_at=created_at,
                source=str(path),
                frame_sink=sink,
                thumb_stats=stream.result() if stream is not None else None,
            )
        finally:
            if sink is not None:
                sink.close()
            if stream is not None:
                stream.close()

    def encode_decoded(
        self,
        decoded: DecodedVideo,
        video_id: str | None = None,
        title: str | None = None,
        caption: str | None = None,
        hashtags: Sequence[str] | None = None,
        creator: str | None = None,
        created_at: datetime | None = None,
        source: str | None = None,
        frame_sink: Any = None,
        thumb_stats: ThumbStats | None = None,
    ) -> SV6DRecord:
        """Encode an already decoded video (``video_id`` defaults to the file's content id, else its stem).
        ``frame_sink``: the backbone's ``frame_sink()`` that ``decode`` fed, if any (its measurements are
        used instead of measuring the frames again); ``thumb_stats``: ``encoder.transitions.thumb_stats`` of
        the thumbnails when already computed (a ``ThumbStatsStream`` that ``decode`` fed)."""
        item = self._measure(decoded, title, caption, hashtags, thumb_stats)
        args = (item.decoded, item.transitions, item.shots, item.hook_window)
        if frame_sink is not None:
            out = self.backbone.encode(*args, text=item.text, frame_sink=frame_sink)  # type: ignore[call-arg]
        else:
            out = self.backbone.encode(*args, text=item.text)
        return self._finish(out, item, video_id, title, caption, hashtags, creator, created_at, source)

    def _measure(
        self,
        decoded: DecodedVideo,
        title: str | None = None,
        caption: str | None = None,
        hashtags: Sequence[str] | None = None,
        thumb_stats: ThumbStats | None = None,
    ) -> _Measured:
        """Transitions, shots, hook window and text of a decoded video: what the backbone is given."""
        from encoder.transitions import detect_transitions, shots_from_transitions

        info = decoded.info
        if info.duration_s < MIN_CLIP_S:
            raise VideoInputError(
                info.path, f"too short to measure ({info.duration_s:.2f} s; the minimum is {MIN_CLIP_S:g} s)"
            )
        transitions = detect_transitions(decoded, self.transition_config, stats=thumb_stats)
        shots = shots_from_transitions(transitions, info.duration_s)
        hook_window = (0.0, min(self.hook_s, info.duration_s))
        return _Measured(decoded, transitions, shots, hook_window, compose_text(title, caption, hashtags))

    def _finish(
        self,
        out: BackboneOutput,
        item: _Measured,
        video_id: str | None,
        title: str | None,
        caption: str | None,
        hashtags: Sequence[str] | None,
        creator: str | None,
        created_at: datetime | None,
        source: str | None,
    ) -> SV6DRecord:
        info = item.decoded.info
        if video_id is None:
            video_id = default_video_id(info.path) if Path(info.path).is_file() else Path(info.path).stem
        if self.feature_cache is not None:
            meta = {
                "source": source or info.path,
                "duration_s": info.duration_s,
                "hook_window": item.hook_window,
            }
            self.feature_cache.put(video_id, out, meta)
        return self._record(
            out, item.decoded, video_id, source or info.path, title, caption, hashtags, creator, created_at
        )

    def _segments(self, out: BackboneOutput) -> list[Segment]:
        if not out.segments:
            return []
        per_dim = [
            project_window(self.heads, "segment", d, np.stack([w.features[d] for w in out.segments]))
            for d in DIMENSIONS
        ]
        return [
            Segment(start_s=w.start_s, end_s=w.end_s, vectors=np.stack([p[i] for p in per_dim]))
            for i, w in enumerate(out.segments)
        ]

    def can_reproject(self, record: SV6DRecord, features: BackboneOutput) -> bool:
        """Whether ``reproject`` gives ``record`` exactly as encoding its video again would: the features
        are this backbone's (same fingerprint as the record's) and were measured over this encoder's hook
        window."""
        hook_end = min(self.hook_s, record.duration_s)
        return (
            record.encoder.fingerprint == self.backbone.fingerprint()
            and abs(features.hook.end_s - hook_end) < 1e-6
            and features.hook.start_s == 0.0
        )

    def reproject_from(self, record: SV6DRecord, cache: Any) -> SV6DRecord | None:
        """``record`` re-projected from its video's features in ``cache`` (a ``FeatureCache``), or None when
        the cache lacks them or they cannot give what encoding again would (``can_reproject``)."""
        if record.video_id not in cache:
            return None
        features = cache.get(record.video_id)[0]
        return self.reproject(record, features) if self.can_reproject(record, features) else None

    def reproject(self, record: SV6DRecord, features: BackboneOutput) -> SV6DRecord:
        """``record`` with its vectors projected again, by this encoder's heads, from its video's kept
        backbone ``features`` (``feature_cache``): no decoding. Identity, tags and energy stay (they do not
        depend on the heads); ``record.encoder`` becomes this encoder's. Refused (ConfigError) when
        ``can_reproject`` is false."""
        if not self.can_reproject(record, features):
            raise ConfigError(
                f"video {record.video_id}: its kept features (backbone {record.encoder.fingerprint}, hook "
                f"{features.hook.start_s:g}-{features.hook.end_s:g} s) are not this encoder's "
                f"({self.backbone.fingerprint()}, hook {self.hook_s:g} s): encode it again"
            )
        return record.model_copy(
            update={
                "encoder": self.info,
                "video": project_block(self.heads, features.video, "video", features.video),
                "hook": project_block(self.heads, features.hook, "hook", features.video),
                "hook_style": style_profile(self.heads, features.hook, features.video),
                "segments": self._segments(features),
            }
        )

    def _decode_and_measure(self, path: str | os.PathLike[str]) -> _Measured:
        from encoder.decode import decode
        from encoder.transitions import ThumbStatsStream

        stream = ThumbStatsStream(background=True) if self.overlap else None
        try:
            decoded = decode(path, self.decode_config, on_thumbs=stream.add if stream is not None else None)
            return self._measure(decoded, thumb_stats=stream.result() if stream is not None else None)
        finally:
            if stream is not None:
                stream.close()

    def encode_files(self, paths: Sequence[str | os.PathLike[str]]) -> list[SV6DRecord | Exception]:
        """Encode several files, each to its record or to the exception that stopped it (one bad file does
        not stop the others). A backbone with ``encode_batch`` (the VLM) runs them through the model in
        batches; any other encodes them one by one, as ``encode_file`` does."""
        batch = getattr(self.backbone, "encode_batch", None)
        results: list[SV6DRecord | Exception] = []
        if not callable(batch) or len(paths) < 2:
            for path in paths:
                try:
                    results.append(self.encode_file(path))
                except Exception as exc:  # recorded against its file by the caller
                    results.append(exc)
            return results
        # Decoding and transition detection run in C without the GIL: the batch's videos are decoded side by
        # side, so the model does not wait on one decoder at a time.
        from concurrent.futures import ThreadPoolExecutor

        def attempt(path: str | os.PathLike[str]) -> _Measured | Exception:
            try:
                return self._decode_and_measure(path)
            except Exception as exc:
                return exc

        with ThreadPoolExecutor(max_workers=min(len(paths), decode_threads())) as pool:
            measured = list(pool.map(attempt, paths))
        ready = [m for m in measured if isinstance(m, _Measured)]
        outs: list[BackboneOutput | Exception]
        try:
            outs = list(batch([r.item() for r in ready]))
        except Exception:
            # A video the batch cannot take (memory, a model error) must not fail the others: each alone.
            outs = []
            for r in ready:
                try:
                    outs.append(batch([r.item()])[0])
                except Exception as exc:
                    outs.append(exc)
        done = iter(outs)
        for path, m in zip(paths, measured, strict=True):
            if isinstance(m, Exception):
                results.append(m)
                continue
            out = next(done)
            if isinstance(out, Exception):
                results.append(out)
                continue
            try:
                results.append(
                    self._finish(out, m, default_video_id(path), None, None, None, None, None, str(path))
                )
            except Exception as exc:
                results.append(exc)
        return results

    def _record(
        self,
        out: BackboneOutput,
        decoded: DecodedVideo,
        video_id: str,
        source: str,
        title: str | None,
        caption: str | None,
        hashtags: Sequence[str] | None,
        creator: str | None,
        created_at: datetime | None,
    ) -> SV6DRecord:
        info = decoded.info
        return SV6DRecord(
            video_id=video_id,
            source=source,
            duration_s=info.duration_s,
            fps=info.fps,
            width=info.width,
            height=info.height,
            title=title,
            caption=caption,
            hashtags=[h.lstrip("#") for h in (hashtags or []) if h.strip()],
            creator=creator,
            created_at=created_at,
            encoder=self.info,
            hook_window=(out.hook.start_s, out.hook.end_s),
            video=project_block(self.heads, out.video, "video", out.video),
            hook=project_block(self.heads, out.hook, "hook", out.video),
            hook_style=style_profile(self.heads, out.hook, out.video),
            segments=self._segments(out),
            tags=out.tags,
            energy=out.energy,
            energy_hz=out.energy_hz,
        )
