"""How six per-dimension features are read out of one forward pass of a Qwen-VL-family model.

Sequence layout (one video, one pass), in the checkpoint's own chat turn (``encoder.vlm.chat``)::

    [system turn]<|im_start|>user\\n{prompt}[ Title: …]            ← the template's text before the video
    [<t s> ]<|vision_start|> pads(patch 0) … <|vision_end|>      ← temporal patches, in time order
    … after the last patch of a window: six short queries, one per dimension ("Camera:" …)
    <|im_end|>\\n<|im_start|>assistant\\n                         ← the template's text after the video
    … then the six queries of the whole video, where the model's answer begins

Each window (video, hook, each shot) gets a *read point* right after its last temporal patch, where its six
queries are inserted into the stream. Every dimension's feature of a window is the concatenation of three
blocks of the text model's hidden size H (so f = 3H for every level, and one head serves all levels):

1. ``mean``  – mean of the hidden states of the window's visual tokens at layer L_d (attention-free pooling),
2. ``delta`` – mean absolute change between consecutive temporal patches' mean states at layer L_d (how much
   the picture moves or cuts inside the window; editing and camera need change, not content),
3. ``query`` – final-layer hidden state of the last token of dimension d's query at the window's read point.

Why this is safe for the hook: the vision tower attends only within each temporal patch (``cu_seqlens`` per
frame pair) and the language model is causal, so a visual token of patch k and a query placed after patch k
depend only on the prompt and patches 0..k. The hook window starts at 0 and its read point is placed right
after its last patch, so all three hook blocks depend on hook frames only; ``tests/test_vlm_backbone.py``
perturbs every frame after the hook and checks the hook features are unchanged. Shot ``mean``/``delta`` blocks
are shot-local; a shot's ``query`` block also sees the shots before it (context, by causality), which is
deliberate: it is the model's reading of the shot in its place in the video.

Why per-dimension layers (L_d = round(fraction · depth)): low-level properties (colour, exposure) are most
linearly readable in early layers, motion in middle layers, semantics (who, what story) in late layers —
the usual finding of probing studies on vision-language models. The fractions are part of the fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sv6d.dimensions import DIMENSIONS, Dimension

READOUT_VERSION = "readout-2"

DIMENSION_QUERIES: dict[Dimension, str] = {
    Dimension.SUBJECT: " Subject:",
    Dimension.AESTHETICS: " Aesthetics:",
    Dimension.CAMERA: " Camera movement:",
    Dimension.EDITING: " Editing rhythm:",
    Dimension.NARRATIVE: " Narrative:",
    Dimension.DISSEMINATION: " Dissemination:",
}

LAYER_FRACTION: dict[Dimension, float] = {
    Dimension.SUBJECT: 1.0,
    Dimension.AESTHETICS: 0.34,
    Dimension.CAMERA: 0.5,
    Dimension.EDITING: 0.5,
    Dimension.NARRATIVE: 1.0,
    Dimension.DISSEMINATION: 0.67,
}

PROMPT = (
    "Describe the structure of this video: subject, aesthetics, camera, editing, narrative, dissemination."
)


def layer_for(dimension: Dimension, num_layers: int) -> int:
    """Index into ``hidden_states`` (0 = embeddings, num_layers = last layer) read for ``dimension``."""
    return max(1, min(num_layers, round(LAYER_FRACTION[dimension] * num_layers)))


def window_patches(patch_times_s: np.ndarray, start_s: float, end_s: float) -> list[int]:
    """Temporal patches whose frames all fall in ``[start_s, end_s)``; else the patch nearest the window.

    A patch straddling the window end is left out, so that no frame after the window can reach a feature.
    """
    first, last = patch_times_s[:, 0], patch_times_s[:, -1]
    inside = np.flatnonzero((first >= start_s - 1e-6) & (last < end_s - 1e-6))
    if len(inside):
        return inside.tolist()
    mid = patch_times_s.mean(axis=1)
    return [int(np.abs(mid - 0.5 * (start_s + end_s)).argmin())]


@dataclass
class Window:
    key: str  # "video", "hook" or "shot:<i>"
    start_s: float
    end_s: float
    patches: list[int]


@dataclass
class Layout:
    """The token sequence of one video and where everything sits in it."""

    input_ids: list[int] = field(default_factory=list)
    mm_token_type_ids: list[int] = field(default_factory=list)
    # (first, last + 1) of each temporal patch's visual tokens in ``input_ids``
    patch_spans: list[tuple[int, int]] = field(default_factory=list)
    # grid rows (t, h, w) of each contiguous run of patches (one ``video_grid_thw`` row per run)
    grid_rows: list[tuple[int, int, int]] = field(default_factory=list)
    # position of the last token of each (window key, dimension) query
    query_pos: dict[tuple[str, Dimension], int] = field(default_factory=dict)


class LayoutBuilder:
    """Builds the sequence for one video, given the tokenizer's ids for the pieces of text."""

    def __init__(self, tokenize, special: dict[str, int], per_patch_timestamps: bool) -> None:  # type: ignore[no-untyped-def]
        self.tokenize = tokenize  # str -> list[int], no special tokens added
        self.special = special
        # Qwen3-VL expects "<t seconds>" + vision_start + pads + vision_end for every temporal patch.
        self.per_patch_timestamps = per_patch_timestamps
        self._query_ids = {d: self.tokenize(q) for d, q in DIMENSION_QUERIES.items()}

    def build(
        self,
        grid_hw: tuple[int, int],
        tokens_per_patch: int,
        patch_mid_s: np.ndarray,
        windows: list[Window],
        before_ids: list[int],
        after_ids: list[int],
    ) -> Layout:
        """The sequence: ``before_ids`` (the chat turn up to the video), the patches with each window's
        queries after its last patch, ``after_ids`` (the turn's end, the assistant's opening), then the
        whole video's queries."""
        lay = Layout()

        def add_text(ids: list[int]) -> None:
            lay.input_ids.extend(ids)
            lay.mm_token_type_ids.extend([0] * len(ids))

        def add_queries(w: Window) -> None:
            for d in DIMENSIONS:
                add_text(self._query_ids[d])
                lay.query_pos[(w.key, d)] = len(lay.input_ids) - 1

        add_text(before_ids)
        reads: dict[int, list[Window]] = {}
        for w in windows:
            reads.setdefault(max(w.patches), []).append(w)
        num_patches = len(patch_mid_s)
        run_start = 0
        in_run = False
        for k in range(num_patches):
            if self.per_patch_timestamps or not in_run:
                if self.per_patch_timestamps:
                    add_text(self.tokenize(f"<{patch_mid_s[k]:.1f} seconds>"))
                add_text([self.special["<|vision_start|>"]])
                run_start, in_run = k, True
            s = len(lay.input_ids)
            lay.input_ids.extend([self.special["<|video_pad|>"]] * tokens_per_patch)
            lay.mm_token_type_ids.extend([2] * tokens_per_patch)
            lay.patch_spans.append((s, s + tokens_per_patch))
            ends_run = self.per_patch_timestamps or k in reads or k == num_patches - 1
            if ends_run:
                add_text([self.special["<|vision_end|>"]])
                lay.grid_rows.append((k - run_start + 1, *grid_hw))
                in_run = False
            for w in reads.get(k, []):
                if w.key != "video":
                    add_queries(w)
        add_text(after_ids)
        for w in windows:
            if w.key == "video":
                add_queries(w)
        return lay


def pool_window(
    hidden_states: tuple, batch_index: int, layout: Layout, window: Window, num_layers: int
) -> dict[Dimension, np.ndarray]:
    """The (3H,) feature of each dimension for ``window`` (see the module docstring for the blocks)."""
    import torch

    feats: dict[Dimension, np.ndarray] = {}
    spans = [layout.patch_spans[k] for k in window.patches]
    for d in DIMENSIONS:
        hs = hidden_states[layer_for(d, num_layers)][batch_index]
        per_patch = torch.stack([hs[a:b].float().mean(dim=0) for a, b in spans])
        mean = per_patch.mean(dim=0)
        if len(spans) > 1:
            delta = (per_patch[1:] - per_patch[:-1]).abs().mean(dim=0)
        else:
            delta = torch.zeros_like(mean)
        query = hidden_states[num_layers][batch_index, layout.query_pos[(window.key, d)]].float()
        feats[d] = torch.cat([mean, delta, query]).cpu().numpy().astype(np.float32)
    return feats
