"""``EncoderSpec``: the one description an encoder is built from, everywhere.

The CLI, the local worker pool (``encoder.batch.build_encoder``), the Ray engine and the API build their
encoder with ``Encoder.from_spec(spec)``; a spec is saved as JSON beside trained heads (``SPEC_NAME`` in the
heads folder) and in each data directory's manifest (``sv6d.datadir``), so a data directory names the encoder
its records came from and every later ingest into it uses that encoder.

A spec holds:

- ``backbone``: which backbone and its options, typed per backbone (``EvidenceOptions``, ``VLMOptions``;
  chosen by ``name``). Options that change the vectors belong here, options that only change where or how
  fast the work runs (device, batch size) do not: they are arguments of the process that runs it.
- ``heads``: a saved heads folder, or None for the backbone's default heads; ``head_version``: the version
  those heads must have (filled in by ``resolved``; a folder whose heads have another version is refused).
- ``hook_s``: the hook window ``[0, hook_s]``.
- ``sampling``: how frames are sampled for analysis (``encoder.decode.DecodeConfig`` fields; None: the
  backbone's default).
- ``dim``: the size d of the default heads (trained heads carry their own).
- ``keep_features``: whether an encode into a data directory keeps the backbone features in the data
  directory's feature store, so new heads can re-project them without decoding again (``sv6d upgrade``).
- ``fingerprint``: the backbone fingerprint seen when the spec was resolved (informative: the records'
  ``encoder.fingerprint`` is what resume and upgrade compare).

Relative ``heads`` paths are resolved against the folder of the JSON file they were read from (a spec beside
its heads says ``"heads": "."``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from encoder.backbone import BACKBONES
from sv6d.errors import ConfigError
from sv6d.record_io import atomic_write_bytes

if TYPE_CHECKING:
    from encoder.pipeline import Encoder

SPEC_NAME = "encoder.json"
SPEC_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvidenceOptions(_Strict):
    """The evidence backbone (CPU, default): no options; its constants are in its fingerprint."""

    name: Literal["evidence"] = "evidence"

    def kwargs(self) -> dict[str, Any]:
        return {}


class VLMOptions(_Strict):
    """The VLM backbone (``encoder.vlm.backbone.VLMBackbone``): a local Qwen-VL-family checkpoint and how
    frames reach it. The fields and their rules are those of ``encoder.vlm.options.VLMOptions`` (one home:
    this model is how a spec carries them as JSON, and is checked against that one); the settings that do not
    change records (device, videos per forward pass) are the worker's, not the spec's."""

    name: Literal["vlm"] = "vlm"
    checkpoint: str = Field(description="Local Qwen-VL-family checkpoint folder")
    fps: float = Field(default=2.0, description="Frames per second sampled for the model")
    max_frames: int = Field(default=32, description="Most frames per video")
    resolution: int | None = Field(default=448, description="Frame size as a square's side (most pixels)")
    dtype: str = Field(default="auto", description="auto (bf16 on GPU, else fp32) or a dtype")
    generate_tags: bool = Field(default=False, description="Also generate tags as JSON")

    @model_validator(mode="after")
    def _checked_by_the_backbone(self) -> VLMOptions:
        from encoder.vlm.options import VLMOptions as BackboneVLMOptions

        BackboneVLMOptions.from_mapping(self.kwargs())  # ConfigError naming the bad value
        return self

    def kwargs(self) -> dict[str, Any]:
        return self.model_dump(exclude={"name"})


BackboneOptions = Annotated[EvidenceOptions | VLMOptions, Field(discriminator="name")]


class SamplingSpec(_Strict):
    """Analysis sampling (``encoder.decode.DecodeConfig`` fields that change the measurements)."""

    sample_fps: float = Field(default=4.0, gt=0)
    max_frames: int = Field(default=256, ge=1)
    analysis_max_side: int | None = Field(default=320, ge=16)
    thumb_width: int = Field(default=128, ge=8)
    audio: bool = True


class EncoderSpec(_Strict):
    """Everything that decides an encoder's records (see the module docstring)."""

    spec_version: Literal[1] = 1
    backbone: BackboneOptions = Field(default_factory=EvidenceOptions)
    heads: str | None = None
    head_version: str | None = None
    hook_s: float = Field(default=3.0, gt=0)
    sampling: SamplingSpec | None = None
    dim: int = Field(default=64, ge=2)
    keep_features: bool = True
    fingerprint: str | None = None

    # ------------------------------------------------------------------ building

    @classmethod
    def from_options(
        cls,
        backbone: str = "evidence",
        checkpoint: str | Path | None = None,
        heads: str | Path | None = None,
        hook_s: float = 3.0,
        vlm: dict[str, Any] | None = None,
        **extra: Any,
    ) -> EncoderSpec:
        """A spec from the CLI's flat options (``vlm``: VLM settings, ``VLMOptions`` field -> value, None
        values left out); the error names what is inconsistent."""
        vlm = {k: v for k, v in (vlm or {}).items() if v is not None}
        if backbone != "vlm" and vlm:
            raise ConfigError(f"VLM settings ({', '.join(sorted(vlm))}) only apply to backbone vlm")
        if backbone not in BACKBONES:
            raise ConfigError(f"unknown backbone {backbone!r}; valid backbones: {', '.join(BACKBONES)}")
        if backbone == "vlm" and checkpoint is None:
            raise ConfigError("backbone vlm needs a checkpoint (a local Qwen-VL-family checkpoint folder)")
        if backbone == "evidence" and checkpoint is not None:
            raise ConfigError("a checkpoint only applies to backbone vlm")
        options: dict[str, Any] = {"name": backbone}
        if checkpoint is not None:
            options["checkpoint"] = str(Path(checkpoint).expanduser().resolve())
        options.update(vlm)
        try:
            return cls.model_validate(
                {
                    "backbone": options,
                    "heads": str(Path(heads).expanduser().resolve()) if heads is not None else None,
                    "hook_s": hook_s,
                    **extra,
                }
            )
        except ValidationError as exc:
            raise ConfigError(f"invalid encoder spec: {_errors(exc)}") from None

    def changed(
        self,
        backbone: str | None = None,
        checkpoint: str | Path | None = None,
        heads: str | Path | None = None,
        hook_s: float | None = None,
    ) -> EncoderSpec:
        """This spec with the given settings changed (the rest kept), unresolved again. A new ``backbone``
        starts from that backbone's default options (plus ``checkpoint``)."""
        data = self.model_dump(mode="json", exclude={"head_version", "fingerprint"})
        if backbone is not None and backbone != self.backbone.name:
            data["backbone"] = {"name": backbone}
        if checkpoint is not None:
            data["backbone"] = {
                **data["backbone"],
                "checkpoint": str(Path(checkpoint).expanduser().resolve()),
            }
        if heads is not None:
            data["heads"] = str(Path(heads).expanduser().resolve())
        if hook_s is not None:
            data["hook_s"] = hook_s
        return EncoderSpec.from_json(data, where="the new encoder spec")

    def build(self, **runtime: Any) -> Encoder:
        """``Encoder.from_spec(self, **runtime)``."""
        from encoder.pipeline import Encoder

        return Encoder.from_spec(self, **runtime)

    def resolved(self) -> EncoderSpec:
        """This spec with ``head_version`` and ``fingerprint`` filled in from the encoder it builds."""
        encoder = self.build(opencv_threads=None)
        return self.model_copy(
            update={"head_version": encoder.heads.version, "fingerprint": encoder.backbone.fingerprint()}
        )

    def decode_config(self) -> Any:
        """The ``DecodeConfig`` of this spec (None: the encoder's default for the backbone)."""
        if self.sampling is None:
            return None
        import dataclasses

        from encoder.decode import DecodeConfig

        base = DecodeConfig() if self.backbone.name == "evidence" else DecodeConfig(skip_loop_filter=False)
        return dataclasses.replace(base, **self.sampling.model_dump())

    # ------------------------------------------------------------------ identity

    def same_encoder(self, other: EncoderSpec) -> bool:
        """Whether both specs make the same records (the heads' version stands for their folder, which may
        move; the fingerprints are compared when both are known)."""
        skip = {"heads", "fingerprint", "keep_features"}
        a, b = self.model_dump(exclude=skip), other.model_dump(exclude=skip)
        if self.fingerprint and other.fingerprint and self.fingerprint != other.fingerprint:
            return False
        return a == b

    def describe(self) -> str:
        """One line for messages: backbone, heads version, hook window."""
        heads = self.head_version or (self.heads or "default heads")
        return f"{self.backbone.name} backbone, heads {heads}, hook {self.hook_s:g} s"

    # ------------------------------------------------------------------ JSON

    def to_json(self, relative_to: str | Path | None = None) -> dict[str, Any]:
        """The spec as JSON data; with ``relative_to``, a heads folder under it is written relative to it."""
        data = self.model_dump(mode="json")
        if relative_to is not None and self.heads is not None:
            base = Path(relative_to).resolve()
            heads = Path(self.heads).resolve()
            if heads == base or base in heads.parents:
                data["heads"] = str(heads.relative_to(base)) or "."
        return data

    @classmethod
    def from_json(cls, data: Any, base: str | Path | None = None, where: str = "encoder spec") -> EncoderSpec:
        """Parse JSON data (relative ``heads`` resolved against ``base``); ConfigError names ``where``."""
        name = data.get("backbone", {}).get("name") if isinstance(data, dict) else None
        if isinstance(data, dict) and isinstance(data.get("backbone"), dict) and name not in BACKBONES:
            raise ConfigError(f"unknown backbone {name!r}; valid backbones: {', '.join(BACKBONES)}")
        try:
            spec = cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{where}: invalid encoder spec: {_errors(exc)}") from None
        if spec.heads is not None and base is not None and not Path(spec.heads).is_absolute():
            spec = spec.model_copy(update={"heads": str((Path(base) / spec.heads).resolve())})
        return spec

    def save(self, path: str | Path) -> Path:
        """Write the spec as JSON (atomically); a folder means ``<folder>/encoder.json``."""
        target = Path(path)
        if target.is_dir():
            target = target / SPEC_NAME
        blob = json.dumps(self.to_json(relative_to=target.parent), indent=2, sort_keys=True).encode()

        def write(tmp: Path) -> None:
            tmp.write_bytes(blob)

        atomic_write_bytes(target, write)
        return target

    @classmethod
    def load(cls, path: str | Path) -> EncoderSpec:
        """Read a spec saved by ``save`` (a folder means ``<folder>/encoder.json``)."""
        target = Path(path)
        if target.is_dir():
            target = target / SPEC_NAME
        try:
            data = json.loads(target.read_text())
        except OSError as exc:
            raise ConfigError(f"{target}: cannot read the encoder spec ({exc.strerror or exc})") from None
        except ValueError as exc:
            raise ConfigError(f"{target}: the encoder spec is not JSON ({exc})") from None
        return cls.from_json(data, base=target.parent, where=str(target))


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'spec'}: {e['msg']}" for e in exc.errors())


def save_beside_heads(spec: EncoderSpec, heads_dir: str | Path) -> Path:
    """Save ``spec`` (its heads being ``heads_dir``) as ``heads_dir/encoder.json``."""
    heads = Path(heads_dir).resolve()
    return spec.model_copy(update={"heads": str(heads)}).save(heads / SPEC_NAME)


# ---------------------------------------------------------------------- a data directory's encoder


def data_dir_spec(data_dir: str | Path) -> EncoderSpec | None:
    """The encoder spec a data directory's manifest records (None when it records none)."""
    from sv6d.datadir import manifest_path, read_data_manifest

    raw = read_data_manifest(data_dir).encoder
    if raw is None:
        return None
    return EncoderSpec.from_json(raw, base=Path(data_dir).resolve(), where=str(manifest_path(data_dir)))


def bind_data_dir(data_dir: str | Path, spec: EncoderSpec, **manifest: Any) -> EncoderSpec:
    """Record ``spec`` (resolved) as the data directory's encoder, with any other manifest fields in
    ``manifest`` (one atomic write: ``sv6d upgrade`` switches generation and encoder together). A heads folder
    outside the data directory is copied into ``DATA_DIR/heads/<version>`` first, so the directory carries
    its encoder. Returns the spec as recorded."""
    import dataclasses
    import re
    import shutil

    from sv6d.datadir import read_data_manifest, write_data_manifest

    root = Path(data_dir).resolve()
    spec = spec if spec.head_version is not None and spec.fingerprint is not None else spec.resolved()
    if spec.heads is not None:
        heads = Path(spec.heads).resolve()
        if root not in heads.parents:
            name = re.sub(r"[^A-Za-z0-9._+-]+", "_", spec.head_version or heads.name)
            target = root / "heads" / name
            if not (target / "heads.json").is_file():
                tmp = target.with_name(f".{target.name}.tmp")
                shutil.rmtree(tmp, ignore_errors=True)
                shutil.copytree(heads, tmp)
                tmp.replace(target)
            spec = spec.model_copy(update={"heads": str(target)})
    current = read_data_manifest(root)
    write_data_manifest(
        root, dataclasses.replace(current, encoder=spec.to_json(relative_to=root), **manifest)
    )
    return spec


def spec_for_data_dir(data_dir: str | Path, requested: EncoderSpec | None = None) -> EncoderSpec:
    """The encoder that writes into ``data_dir``: the one its manifest records, else ``requested`` (or the
    default spec), which is then recorded. A ``requested`` spec that makes other records than the recorded
    one is refused: changing a data directory's encoder is ``sv6d upgrade``'s work (it re-projects or
    re-encodes everything, then switches the index), never a mix of two encoders in one index."""
    current = data_dir_spec(data_dir)
    if current is None:
        return bind_data_dir(data_dir, requested or EncoderSpec())
    if requested is not None:
        wanted = requested if requested.head_version is not None else requested.resolved()
        if not wanted.same_encoder(current):
            raise ConfigError(
                f"{data_dir} holds records of {current.describe()}; this run asks for {wanted.describe()}: "
                f"change the data directory's encoder with `sv6d upgrade --data-dir {data_dir}` "
                "(same options), or use another data directory"
            )
    return current
