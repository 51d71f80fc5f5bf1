"""A trained model behind the API: `sv6d ranker train` on logged events, loaded at start, on
POST /v1/admin/reload-model and on SIGHUP; a model of another feature schema is refused."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from indexer.factory import open_index
from indexer.synthetic import make_records
from ranker.events import EventStore
from ranker.features import read_feature_log
from ranker.model import MANIFEST, RankerModel
from ranker.registry import latest_model, list_models, new_model_id, save_model
from ranker.simulate import simulate_events
from ranker.training import FEATURE_LOG_DIR, feature_log_rows, serving_schema, train_data_dir

KEY = "k" * 24


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> Path:
    """A data directory with 40 indexed videos and simulated engagement, as the API would have logged it."""
    data_dir = tmp_path_factory.mktemp("platform") / "data"
    records = make_records(40, d=16, seed=7)
    with open_index(None, data_dir) as index:
        index.upsert(records)
    EventStore(data_dir).append(simulate_events(records, {"n_users": 60, "impressions": 20}, seed=1))
    return data_dir


@pytest.fixture(scope="module")
def trained(platform: Path) -> RankerModel:
    model, _ = train_data_dir(platform)
    return model


def _copy(platform: Path, tmp_path: Path, with_models: bool) -> Path:
    data_dir = tmp_path / "data"
    shutil.copytree(platform, data_dir, ignore=None if with_models else shutil.ignore_patterns("models"))
    return data_dir


def _client(data_dir: Path) -> TestClient:
    settings = Settings(data_dir=data_dir, api_keys=[KEY])
    return TestClient(create_app(settings), headers={"X-API-Key": KEY}, raise_server_exceptions=False)


def _sv6d(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, env=env
    )


@pytest.mark.slow
def test_cli_trains_a_model_that_the_api_loads_at_start(platform, tmp_path) -> None:
    data_dir = _copy(platform, tmp_path, with_models=False)
    out = _sv6d("ranker", "train", "--data-dir", str(data_dir), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["feature_schema_version"] == serving_schema().version
    assert Path(doc["path"]) == latest_model(data_dir)
    manifest = json.loads((Path(doc["path"]) / MANIFEST).read_text())
    assert manifest["training"]["events"] == EventStore(data_dir).read().height
    assert not [p for p in (data_dir / "models").iterdir() if p.name.startswith(".")]  # no temporary left
    with _client(data_dir) as c:
        body = c.post("/v1/recommend", json={"user_id": "su1", "k": 5}).json()
        assert body["scorer"] == "lightgbm"
        assert body["model"]["id"] == doc["id"]
        assert body["model"]["valid_ndcg_at_10"] == pytest.approx(doc["valid_ndcg_at_10"])
        assert body["note"] == ""
        assert len(body["items"]) == 5
    # The served request's candidates were logged with their features, for the next training.
    logged = read_feature_log(data_dir / FEATURE_LOG_DIR)
    assert set(logged["user_id"].to_list()) == {"su1"}
    assert sorted(logged["rank"].drop_nulls().to_list()) == [0, 1, 2, 3, 4]


def test_admin_reload_picks_the_newest_model_and_refuses_another_schema(
    platform, trained, tmp_path, caplog
) -> None:
    data_dir = _copy(platform, tmp_path, with_models=False)
    with _client(data_dir) as c:
        body = c.post("/v1/recommend", json={"user_id": "su2", "k": 3}).json()
        assert body["scorer"] == "fallback_blend"
        assert body["model"] is None
        assert "no trained model" in body["note"]
        assert c.post("/v1/admin/reload-model", headers={"X-API-Key": "x" * 24}).status_code == 401

        first = save_model(trained, data_dir)
        status = c.post("/v1/admin/reload-model").json()
        assert status["scorer"] == "lightgbm"
        assert status["model"]["id"] == first.name
        body = c.post("/v1/recommend", json={"user_id": "su2", "k": 3}).json()
        assert (body["scorer"], body["model"]["id"]) == ("lightgbm", first.name)

        # A newer model computed under another feature schema: refused, with a log line, and the blend serves.
        stale = data_dir / "models" / new_model_id("1")
        shutil.copytree(first, stale)
        manifest = json.loads((stale / MANIFEST).read_text())
        manifest["feature_schema_version"] = "1"
        (stale / MANIFEST).write_text(json.dumps(manifest))
        assert list_models(data_dir)[-1] == stale
        with caplog.at_level(logging.WARNING, logger="api"):
            status = c.post("/v1/admin/reload-model").json()
        assert status["scorer"] == "fallback_blend"
        assert status["model"] is None
        assert f"model {stale.name}: feature schema version '1' != current" in status["note"]
        assert any("refused" in r.getMessage() and stale.name in r.getMessage() for r in caplog.records)
        body = c.post("/v1/recommend", json={"user_id": "su2", "k": 3}).json()
        assert body["scorer"] == "fallback_blend"
        assert "refused" in body["note"]
        assert c.get("/v1/admin/model").json() == status


def test_feature_log_rows_are_labelled_by_later_likes(platform, tmp_path) -> None:
    data_dir = _copy(platform, tmp_path, with_models=False)
    with _client(data_dir) as c:
        top = c.post("/v1/recommend", json={"user_id": "su3", "k": 3}).json()["items"][0]["video_id"]
        later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
        event = {"event_id": "like-after", "user_id": "su3", "video_id": top, "ts": later, "like": True}
        assert c.post("/v1/events", json={"events": [event]}).json()["added"] == 1
    log = read_feature_log(data_dir / FEATURE_LOG_DIR)
    x, y, g = feature_log_rows(log, EventStore(data_dir).read(), serving_schema(), 7.0, group_offset=10)
    ids = log["video_id"].to_list()
    assert y.sum() == 1
    assert ids[int(np.flatnonzero(y)[0])] == top
    assert set(g.tolist()) == {10}
    assert x.shape == (log.height, len(serving_schema().names))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_sighup_reloads_the_model_under_uvicorn(platform, trained, tmp_path) -> None:
    data_dir = _copy(platform, tmp_path, with_models=False)
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    proc = subprocess.Popen(
        [*cmd, "--no-auth", "--log-level", "warning"], env=env, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        assert httpx.get(f"{base}/v1/admin/model").json()["scorer"] == "fallback_blend"
        saved = save_model(trained, data_dir)
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while httpx.get(f"{base}/v1/admin/model").json()["scorer"] != "lightgbm":
            assert time.monotonic() < deadline, "SIGHUP did not load the model"
            time.sleep(0.2)
        body = httpx.post(f"{base}/v1/recommend", json={"user_id": "su1", "k": 3}).json()
        assert (body["scorer"], body["model"]["id"]) == ("lightgbm", saved.name)
        assert proc.poll() is None  # SIGHUP did not stop the server
    finally:
        proc.terminate()
        proc.wait(timeout=30)
