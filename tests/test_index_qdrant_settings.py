"""The service's Qdrant settings from the environment (the names infra/ sets) reach the index, and the
metrics credential Prometheus uses opens /metrics and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.main import create_app
from api.settings import Settings
from indexer.factory import QDRANT_OPTIONS, open_index
from indexer.qdrant_backend import QdrantConfig, QdrantIndex
from indexer.synthetic import make_records

API_KEY = "a" * 24
METRICS_KEY = "m" * 24


def test_qdrant_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "SV6D_INDEX_LOCATION": "http://qdrant-0:6333",
        "SV6D_INDEX_API_KEY": "q" * 24,
        "SV6D_QDRANT_SHARD_NUMBER": "6",
        "SV6D_QDRANT_REPLICATION_FACTOR": "2",
        "SV6D_QDRANT_WRITE_CONSISTENCY_FACTOR": "1",
        "SV6D_QDRANT_READ_CONSISTENCY": "majority",
        "SV6D_QDRANT_ON_DISK": "true",
        "SV6D_QDRANT_QUANTIZATION": "int8",
        "SV6D_QDRANT_OVERSAMPLING": "3",
        "SV6D_QDRANT_RESCORE": "true",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.index_options() == {
        "api_key": "q" * 24,
        "shard_number": 6,
        "replication_factor": 2,
        "write_consistency_factor": 1,
        "read_consistency": "majority",
        "on_disk": True,
        "quantization": "int8",
        "oversampling": 3.0,
        "rescore": True,
    }
    monkeypatch.setenv("SV6D_QDRANT_READ_CONSISTENCY", "2")
    assert Settings(_env_file=None).index_options()["read_consistency"] == 2  # type: ignore[call-arg]


def test_the_options_open_a_qdrant_index_with_that_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {
        "SV6D_INDEX_LOCATION": "qdrant::memory:",
        "SV6D_INDEX_API_KEY": "q" * 24,  # a server's key: not passed to in-process mode
        "SV6D_QDRANT_SHARD_NUMBER": "4",
        "SV6D_QDRANT_REPLICATION_FACTOR": "2",
        "SV6D_QDRANT_ON_DISK": "true",
        "SV6D_QDRANT_COLLECTION": "catalogue",
    }.items():
        monkeypatch.setenv(k, v)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    options = settings.index_options()
    assert "api_key" not in options
    assert set(options) <= QDRANT_OPTIONS  # what the factory accepts today
    with open_index(settings.index_location, **options) as ix:
        assert isinstance(ix, QdrantIndex)
        assert ix.collection == "catalogue"
        assert ix.config == QdrantConfig(shard_number=4, replication_factor=2, on_disk=True)
        ix.upsert(make_records(3, 8, seed=1))
        assert ix.count() == 3
    # The quantization settings go straight to the backend (the factory passes them on once it lists them).
    monkeypatch.setenv("SV6D_QDRANT_QUANTIZATION", "int8")
    monkeypatch.setenv("SV6D_QDRANT_READ_CONSISTENCY", "all")
    opts = Settings(_env_file=None).index_options()  # type: ignore[call-arg]
    with QdrantIndex(location=":memory:", **opts) as ix:
        assert (ix.config.quantization, ix.config.read_consistency) == ("int8", "all")


def test_faiss_locations_take_no_qdrant_options_and_bad_combinations_fail_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SV6D_QDRANT_SHARD_NUMBER", "6")
    assert Settings(data_dir=tmp_path).index_options() == {}
    monkeypatch.setenv("SV6D_QDRANT_REPLICATION_FACTOR", "1")
    monkeypatch.setenv("SV6D_QDRANT_WRITE_CONSISTENCY_FACTOR", "2")
    with pytest.raises(ValidationError, match="write_consistency_factor 2 exceeds replication_factor 1"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.delenv("SV6D_QDRANT_WRITE_CONSISTENCY_FACTOR")
    monkeypatch.setenv("SV6D_QDRANT_QUANTIZATION", "int4")
    with pytest.raises(ValidationError, match="qdrant_quantization"):
        Settings(_env_file=None)  # type: ignore[call-arg]


# ------------------------------------------------------------------------------------------ /metrics


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    settings = Settings(data_dir=tmp_path / "data", api_keys=[API_KEY], metrics_keys=[METRICS_KEY])  # type: ignore[arg-type]
    index = open_index("qdrant::memory:")
    index.upsert(make_records(4, 8, seed=2))
    with TestClient(create_app(settings, index=index), raise_server_exceptions=False) as c:
        yield c
    index.close()


def test_metrics_take_the_prometheus_bearer_token_which_opens_nothing_else(client: TestClient) -> None:
    bearer = {"Authorization": f"Bearer {METRICS_KEY}"}
    r = client.get("/metrics", headers=bearer)
    assert r.status_code == 200, r.text
    assert "sv6d_index_videos 4.0" in r.text
    assert client.get("/metrics", headers={"X-API-Key": API_KEY}).status_code == 200
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 24}).status_code == 401
    assert client.get("/v1/videos/v0", headers=bearer).status_code == 401
    assert client.get("/v1/videos/v0", headers={"X-API-Key": METRICS_KEY}).status_code == 401
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json()["videos"] == 4


def test_short_metrics_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="keys at positions \\[0\\] are shorter than 16"):
        Settings(data_dir=tmp_path, metrics_keys=["short"])  # type: ignore[arg-type]
