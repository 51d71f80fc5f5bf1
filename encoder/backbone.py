"""The backbone interface and the one chooser for it.

A backbone turns a decoded video and its shots into raw per-dimension features for the whole video, the
hook window and each shot, plus evidence-backed tags. Heads (``encoder.heads``) map raw features to the
record's unit vectors of size d.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from encoder.types import BackboneOutput, DecodedVideo, Shot, Transition

BackboneName = Literal["evidence", "vlm"]
BACKBONES: tuple[str, ...] = ("evidence", "vlm")


@runtime_checkable
class Backbone(Protocol):
    name: str
    version: str

    def fingerprint(self) -> str:
        """A stable hash of the backbone and its preprocessing settings (keys the feature cache)."""
        ...

    def encode(
        self,
        decoded: DecodedVideo,
        transitions: list[Transition],
        shots: list[Shot],
        hook_window: tuple[float, float],
        text: str | None = None,
    ) -> BackboneOutput:
        """Raw features for video, hook and each shot, and tags with evidence."""
        ...


def get_backbone(name: str = "evidence", **options: Any) -> Backbone:
    """Build a backbone by name; the error names the valid choices. ``vlm`` needs ``checkpoint=DIR``."""
    if name == "evidence":
        from encoder.evidence.backbone import EvidenceBackbone

        return EvidenceBackbone(**options)
    if name == "vlm":
        from encoder.vlm.backbone import VLMBackbone

        return VLMBackbone(**options)
    raise ValueError(f"unknown backbone {name!r}; valid backbones: {', '.join(BACKBONES)}")
