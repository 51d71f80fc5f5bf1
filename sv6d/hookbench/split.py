"""The benchmark's split manifest (``split.toml`` beside this module, or a file of the same shape)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from sv6d.errors import ConfigError

DEFAULT_SPLIT = Path(__file__).with_name("split.toml")


@dataclass(frozen=True)
class Split:
    """Source file names per side, and which files hold the same footage."""

    version: int
    train: tuple[str, ...]
    heldout: tuple[str, ...]
    same_footage: tuple[tuple[str, ...], ...] = ()
    validation: tuple[str, ...] = ()  # training sources kept apart to stop training on (never held-out ones)

    def side(self, name: str) -> str:
        """``"train"`` or ``"heldout"`` for a source file name (ConfigError when the split lacks it)."""
        if name in self.train:
            return "train"
        if name in self.heldout:
            return "heldout"
        raise ConfigError(f"source {name!r} is in neither side of the hook benchmark split")

    def footage(self, name: str) -> str:
        """One id per footage: the first name of its ``same_footage`` group, else the name itself."""
        for group in self.same_footage:
            if name in group:
                return group[0]
        return name


def load_split(path: str | Path | None = None) -> Split:
    """Read a split manifest; the sides must be disjoint and a same-footage group must sit on one side."""
    p = Path(path) if path is not None else DEFAULT_SPLIT
    try:
        data = tomllib.loads(p.read_text())
        split = Split(
            version=int(data["version"]),
            train=tuple(str(x) for x in data["train"]),
            heldout=tuple(str(x) for x in data["heldout"]),
            same_footage=tuple(tuple(str(x) for x in g) for g in data.get("same_footage", [])),
            validation=tuple(str(x) for x in data.get("validation", [])),
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{p}: not a readable hook benchmark split ({exc})") from None
    both = set(split.train) & set(split.heldout)
    if both:
        raise ConfigError(f"{p}: sources on both sides of the split: {sorted(both)}")
    outside = sorted(set(split.validation) - set(split.train))
    if outside:
        raise ConfigError(f"{p}: validation sources must be training sources: {outside}")
    for group in split.same_footage:
        if len({split.side(n) for n in group}) > 1:
            raise ConfigError(f"{p}: same-footage group {list(group)} spans both sides of the split")
    return split
