"""Service settings: pydantic-settings, environment variables prefixed ``SV6D_`` and an optional ``.env``.

Outside ``development`` the settings refuse unsafe values (no keys without ``auth_disabled``, wildcard CORS);
binding to a non-loopback address without keys is refused in every environment (``check_bind``).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from indexer.qdrant_backend import DEFAULT_COLLECTION, QdrantConfig
from indexer.query import MAX_K
from sv6d.errors import ConfigError

Environment = Literal["development", "production"]
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})
_QDRANT_DEFAULTS = QdrantConfig()
#: Settings fields ``qdrant_<name>`` that become ``open_index`` options ``<name>`` for a Qdrant location.
QDRANT_SETTING_PREFIX = "qdrant_"


class Limits(BaseModel):
    """Maxima on what one request may ask for or send."""

    max_upload_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    max_duration_s: float = Field(default=600.0, gt=0)
    max_k: int = Field(default=100, ge=1, le=MAX_K)
    max_batch: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, gt=0, description="Largest JSON body (uploads aside)")
    max_thumbs: int = Field(default=8, ge=1, le=32)
    max_header_bytes: int = Field(
        default=16 * 1024, ge=1024, le=1024 * 1024, description="Largest total of request header lines"
    )


def _split_list(value: object) -> object:
    """Accept comma-separated strings (``SV6D_API_KEYS=a,b``) as well as JSON lists."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [v.strip() for v in text.split(",") if v.strip()]
    return value


class Settings(BaseSettings):
    """What the service reads from its environment (``SV6D_<NAME>``; limits as ``SV6D_LIMITS__MAX_K``).

    Qdrant: ``SV6D_INDEX_API_KEY`` and ``SV6D_QDRANT_<NAME>`` (``SHARD_NUMBER``, ``REPLICATION_FACTOR``,
    ``WRITE_CONSISTENCY_FACTOR``, ``READ_CONSISTENCY``, ``ON_DISK``, ``ON_DISK_PAYLOAD``, ``QUANTIZATION``,
    ``RESCORE``, ``OVERSAMPLING``, ``HNSW_EF``, ``COLLECTION``, ``TIMEOUT``), passed on by ``index_options``.
    ``SV6D_METRICS_KEYS``: tokens that open /metrics and nothing else (Prometheus' credential).
    """

    model_config = SettingsConfigDict(
        env_prefix="SV6D_", env_file=".env", env_nested_delimiter="__", extra="ignore"
    )

    environment: Environment = "development"
    host: str = Field(default="127.0.0.1", description="Address `sv6d serve` binds to")
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path("data")
    index_location: str | None = Field(
        default=None,
        description="FAISS directory (default DATA_DIR/index) or a Qdrant URL (http:// or https://)",
    )
    index_recipe: str = "Flat"
    index_api_key: SecretStr | None = Field(default=None, description="The Qdrant server's API key")
    # Qdrant collection and search settings (a Qdrant location only; see indexer.qdrant_backend.QdrantConfig).
    qdrant_collection: str = Field(default=DEFAULT_COLLECTION, description="The live alias name")
    qdrant_shard_number: int | None = Field(default=None, ge=1)
    qdrant_replication_factor: int | None = Field(default=None, ge=1)
    qdrant_write_consistency_factor: int | None = Field(default=None, ge=1)
    qdrant_read_consistency: int | Literal["all", "majority", "quorum"] | None = None
    qdrant_on_disk: bool = _QDRANT_DEFAULTS.on_disk
    qdrant_on_disk_payload: bool = _QDRANT_DEFAULTS.on_disk_payload
    qdrant_quantization: Literal["none", "int8"] = _QDRANT_DEFAULTS.quantization
    qdrant_rescore: bool = _QDRANT_DEFAULTS.rescore
    qdrant_oversampling: float = Field(default=_QDRANT_DEFAULTS.oversampling, ge=1.0)
    qdrant_hnsw_ef: int | None = Field(default=None, ge=1)
    qdrant_timeout: int | None = Field(default=None, ge=1, description="Seconds per Qdrant request")
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    metrics_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Keys accepted on /metrics only (Prometheus' bearer token), besides the API keys",
    )
    auth_disabled: bool = False
    media_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    encoder_backbone: str = "evidence"
    hook_s: float = Field(default=3.0, gt=0)
    encoder_spec: Path | None = Field(
        default=None,
        description="An encoder spec (encoder.json, or a heads folder holding one) for a data directory that "
        "records no encoder yet; one that does ingests with its own (sv6d upgrade changes it)",
    )
    ranker_model_dir: Path | None = Field(
        default=None, description="A saved ranker model folder; default: the newest under DATA_DIR/models"
    )
    log_features: bool = Field(
        default=True, description="Log each recommend request's candidate features (training data)"
    )
    heads_dir: Path | None = Field(
        default=None,
        description="Trained heads: text search, and the encoder of a data directory that records none",
    )
    text_label_threshold: float = Field(default=0.35, ge=-1, le=1)
    text_match_threshold: float = Field(
        default=0.3,
        ge=-1,
        le=1,
        description="Text search: below this best label cosine the text matches no structure (empty result "
        "with a reason); chosen on the real and nonsense query sets of sv6d.hookbench.text_queries",
    )
    job_max_attempts: int = Field(default=2, ge=1)

    @field_validator("api_keys", "metrics_keys", "media_roots", "cors_origins", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("api_keys", "metrics_keys")
    @classmethod
    def _keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        short = [i for i, k in enumerate(value) if len(k.get_secret_value()) < 16]
        if short:
            raise ValueError(f"keys at positions {short} are shorter than 16 characters")
        return value

    @model_validator(mode="after")
    def _safe(self) -> Settings:
        if self.environment != "development":
            if not self.api_keys and not self.auth_disabled:
                raise ValueError(
                    "environment is 'production' but no api_keys are set: set SV6D_API_KEYS "
                    "(or SV6D_AUTH_DISABLED=true explicitly)"
                )
            if "*" in self.cors_origins:
                raise ValueError("cors_origins '*' is refused outside development: list the origins")
        qdrant = {
            name: getattr(self, f"{QDRANT_SETTING_PREFIX}{name}")
            for name in QdrantConfig.model_fields
            if f"{QDRANT_SETTING_PREFIX}{name}" in type(self).model_fields
        }
        try:
            QdrantConfig.parse(**qdrant)
        except ConfigError as exc:
            # Cross-field checks (write consistency <= replication...) fail at start-up, not at first write.
            raise ValueError(str(exc).replace("Qdrant setting ", "SV6D_QDRANT_")) from None
        return self

    @property
    def auth_required(self) -> bool:
        return not self.auth_disabled

    @property
    def index_dir(self) -> Path:
        """The FAISS directory (only meaningful when the location is not a URL)."""
        from sv6d.datadir import index_dir

        return Path(self.index_location) if self.index_location else index_dir(self.data_dir)

    @property
    def index_is_url(self) -> bool:
        return bool(self.index_location) and str(self.index_location).startswith(("http://", "https://"))

    @property
    def index_is_qdrant(self) -> bool:
        loc = str(self.index_location or "")
        return self.index_is_url or loc.startswith(("qdrant:", "qdrant+")) or loc == ":memory:"

    def index_options(self) -> dict[str, Any]:
        """Keyword options for ``indexer.open_index(settings.index_location, **options)``.

        For a Qdrant location: ``api_key`` (SV6D_INDEX_API_KEY, servers only), ``collection`` and every
        ``SV6D_QDRANT_<NAME>`` that was set, as option ``<name>`` (unset ones keep the backend's defaults).
        A FAISS location takes none: the Qdrant settings are ignored there, so one ConfigMap can serve both.
        """
        if not self.index_is_qdrant:
            return {}
        options: dict[str, Any] = {}
        if self.index_api_key is not None and self.index_is_url:
            options["api_key"] = self.index_api_key.get_secret_value()
        for name in sorted(self.model_fields_set):
            if name.startswith(QDRANT_SETTING_PREFIX):
                options[name.removeprefix(QDRANT_SETTING_PREFIX)] = getattr(self, name)
        return options

    def metrics_key_bytes(self) -> list[bytes]:
        """Keys accepted on /metrics: the API keys and the metrics-only keys."""
        return self.key_bytes() + [k.get_secret_value().encode() for k in self.metrics_keys]

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    def key_bytes(self) -> list[bytes]:
        return [k.get_secret_value().encode() for k in self.api_keys]


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, host: str | None) -> None:
    """Refuse to serve without keys on a non-loopback address (auth off or no keys configured)."""
    if host is None or is_loopback(host):
        return
    if settings.auth_disabled or not settings.api_keys:
        raise ConfigError(
            f"refusing to listen on non-loopback address {host!r} without API keys: set SV6D_API_KEYS "
            "(and leave SV6D_AUTH_DISABLED unset), or bind to 127.0.0.1"
        )
