"""The items a ranker can recommend, as dense arrays indexed by position (fast feature assembly).

Content is optional: a catalog built from engagement alone (KuaiRand) has no vectors, tags, creators or
upload times, and every feature that needs them is null.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from sv6d.dimensions import DIMENSIONS
from sv6d.errors import ConfigError
from sv6d.record import SV6DRecord
from sv6d.vocabulary import default_vocabulary


def tag_label_order() -> tuple[list[str], np.ndarray]:
    """Vocabulary labels in a fixed order and the dimension index of each."""
    vocab = default_vocabulary()
    labels = sorted(vocab.labels, key=lambda lab: (DIMENSIONS.index(vocab.labels[lab].dimension), lab))
    dims = np.array([DIMENSIONS.index(vocab.labels[lab].dimension) for lab in labels], dtype=np.int16)
    return labels, dims


@dataclass
class ItemCatalog:
    """Items by position: ids, optional (N, 6, d) video and hook vectors, tags as a multi-hot matrix."""

    video_ids: list[str]
    video: np.ndarray | None = None  # (N, 6, d) float32, unit rows
    hook: np.ndarray | None = None  # (N, 6, d) float32, unit rows
    tags: np.ndarray | None = None  # (N, L) bool over ``tag_labels``
    creator: list[str | None] | None = None
    created_at_s: np.ndarray | None = None  # (N,) epoch seconds, NaN when unknown
    duration_s: np.ndarray | None = None  # (N,) seconds, NaN when unknown
    tag_labels: list[str] = field(default_factory=list)
    tag_dims: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))

    def __post_init__(self) -> None:
        self.index: dict[str, int] = {v: i for i, v in enumerate(self.video_ids)}
        if len(self.index) != len(self.video_ids):
            raise ValueError("catalog video ids are not unique")
        n = len(self.video_ids)
        if self.created_at_s is None:
            self.created_at_s = np.full(n, np.nan)
        if self.duration_s is None:
            self.duration_s = np.full(n, np.nan)
        creators = self.creator or [None] * n
        names = sorted({c for c in creators if c is not None})
        self.creator_names = names
        lookup = {c: i for i, c in enumerate(names)}
        self.creator_idx = np.array(
            [lookup.get(c, -1) if c is not None else -1 for c in creators], dtype=np.int64
        )
        # Concatenated unit rows: a dot product of two rows divided by 6 is the mean per-dimension cosine.
        self.video_flat = None if self.video is None else self.video.reshape(n, -1)

    def __len__(self) -> int:
        return len(self.video_ids)

    @property
    def has_content(self) -> bool:
        return self.video is not None

    def positions(self, video_ids: Sequence[str]) -> np.ndarray:
        """Positions of the ids that exist in the catalog (unknown ids are dropped)."""
        return np.array([self.index[v] for v in video_ids if v in self.index], dtype=np.int64)

    @classmethod
    def from_records(cls, records: Sequence[SV6DRecord]) -> ItemCatalog:
        """A catalog with content from SV6D records."""
        labels, dims = tag_label_order()
        col = {lab: i for i, lab in enumerate(labels)}
        tags = np.zeros((len(records), len(labels)), dtype=bool)
        for i, r in enumerate(records):
            for t in r.tags:
                if t.label in col:
                    tags[i, col[t.label]] = True
        created = np.array(
            [r.created_at.timestamp() if r.created_at is not None else np.nan for r in records],
            dtype=np.float64,
        )
        return cls(
            video_ids=[r.video_id for r in records],
            video=np.stack([r.video for r in records]).astype(np.float32),
            hook=np.stack([r.hook for r in records]).astype(np.float32),
            tags=tags,
            creator=[r.creator for r in records],
            created_at_s=created,
            duration_s=np.array([r.duration_s for r in records], dtype=np.float64),
            tag_labels=labels,
            tag_dims=dims,
        )

    def with_records(self, added: Sequence[SV6DRecord] = (), removed: Iterable[str] = ()) -> ItemCatalog:
        """A new catalog: this one without ``removed`` ids, with ``added`` records upserted (appended, or in
        place of the same id). This catalog is left untouched (requests in flight keep using it).

        Cost: one numpy copy of the arrays plus Python work per added record, instead of rebuilding every
        record (``from_records``), which at 100k videos means reading 100k records back from the index.
        """
        if self.video is None and added:
            raise ConfigError("a content-free catalog (from events) cannot take records")
        new = ItemCatalog.from_records(list(added)) if added else None
        drop = set(removed) | (set(new.video_ids) if new is not None else set())
        keep = np.array([v not in drop for v in self.video_ids], dtype=bool)
        if new is None and keep.all():
            return self

        def cat(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
            if a is None:
                return None
            return a[keep] if b is None else np.concatenate([a[keep], b.astype(a.dtype)])

        ids = [v for v, k in zip(self.video_ids, keep, strict=True) if k]
        creators = [c for c, k in zip(self.creator or [None] * len(self), keep, strict=True) if k]
        if new is not None:
            if (
                self.video is not None
                and new.video is not None
                and new.video.shape[1:] != self.video.shape[1:]
            ):
                raise ConfigError(
                    f"added records have vectors {new.video.shape[1:]}, the catalog {self.video.shape[1:]}"
                )
            ids += new.video_ids
            creators += new.creator or [None] * len(new)
        return ItemCatalog(
            video_ids=ids,
            video=cat(self.video, None if new is None else new.video),
            hook=cat(self.hook, None if new is None else new.hook),
            tags=cat(self.tags, None if new is None else new.tags),
            creator=creators,
            created_at_s=cat(self.created_at_s, None if new is None else new.created_at_s),
            duration_s=cat(self.duration_s, None if new is None else new.duration_s),
            tag_labels=self.tag_labels,
            tag_dims=self.tag_dims,
        )

    @classmethod
    def from_events(cls, events: pl.DataFrame) -> ItemCatalog:
        """A content-free catalog of every video seen in ``events`` (duration: median known value)."""
        per = (
            events.group_by("video_id", maintain_order=True)
            .agg(pl.col("video_duration_s").median().alias("duration_s"))
            .sort("video_id")
        )
        return cls(
            video_ids=per["video_id"].to_list(),
            duration_s=per["duration_s"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        )
