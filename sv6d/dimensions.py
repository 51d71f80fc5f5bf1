"""The six SV6D dimensions: one closed enum used everywhere."""

from __future__ import annotations

from enum import StrEnum


class Dimension(StrEnum):
    SUBJECT = "subject"
    AESTHETICS = "aesthetics"
    CAMERA = "camera"
    EDITING = "editing"
    NARRATIVE = "narrative"
    DISSEMINATION = "dissemination"

    @classmethod
    def parse(cls, name: str | Dimension) -> Dimension:
        """Parse a dimension name; the error lists the valid names."""
        if isinstance(name, Dimension):
            return name
        try:
            return cls(str(name).strip().lower())
        except ValueError:
            valid = ", ".join(d.value for d in cls)
            raise ValueError(f"unknown dimension {name!r}; valid dimensions: {valid}") from None


# The canonical order: row i of every (6, d) vector block is DIMENSIONS[i].
DIMENSIONS: tuple[Dimension, ...] = tuple(Dimension)
DIMENSION_INDEX: dict[Dimension, int] = {d: i for i, d in enumerate(DIMENSIONS)}
