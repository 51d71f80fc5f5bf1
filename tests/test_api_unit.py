"""The API through TestClient: auth, every endpoint, problem details, limits, path refusals, jobs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.jobs import JobStore
from api.main import create_app
from api.settings import Limits, Settings
from indexer.factory import open_index
from indexer.synthetic import make_records
from sv6d.errors import ConfigError

KEY = "k" * 24
N_VIDEOS = 40


def _problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status
    assert "Traceback" not in r.text
    return body


@pytest.fixture(scope="module")
def records():
    return make_records(N_VIDEOS, d=16, seed=7)


def _settings(tmp: Path, **kw) -> Settings:
    base = {"data_dir": tmp / "data", "api_keys": [KEY], "media_roots": [tmp / "media"]}
    base.update(kw)
    (tmp / "media").mkdir(exist_ok=True)
    return Settings(**base)


@pytest.fixture
def client(tmp_path, records):
    settings = _settings(tmp_path)
    index = open_index(None, settings.data_dir)
    index.upsert(records)
    app = create_app(settings, index=index)
    with TestClient(app, headers={"X-API-Key": KEY}, raise_server_exceptions=False) as c:
        yield c
    index.close()


# ----------------------------------------------------------------------------------------------- auth


def test_requests_without_or_with_a_wrong_key_are_refused(client):
    del client.headers["X-API-Key"]
    body = _problem(client.post("/v1/search/hooks", json={"video_id": "v1"}), 401)
    assert "missing API key" in body["detail"]
    _problem(client.get("/v1/videos/v1", headers={"X-API-Key": "x" * 24}), 401)
    assert client.get("/v1/videos/v1", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert client.get("/healthz").status_code == 200  # liveness stays public


def test_auth_can_be_turned_off_explicitly(tmp_path, records):
    settings = _settings(tmp_path, api_keys=[], auth_disabled=True)
    index = open_index(None, settings.data_dir)
    index.upsert(records[:5])
    with TestClient(create_app(settings, index=index)) as c:
        assert c.get("/v1/videos/v1").status_code == 200
    index.close()


def test_settings_refuse_unsafe_values(tmp_path):
    with pytest.raises(ValidationError, match="no api_keys are set"):
        Settings(environment="production", data_dir=tmp_path)
    with pytest.raises(ValidationError, match="shorter than 16"):
        Settings(api_keys=["short"], data_dir=tmp_path)
    with pytest.raises(ValidationError, match="cors_origins"):
        Settings(environment="production", api_keys=[KEY], cors_origins="*", data_dir=tmp_path)
    with pytest.raises(ValidationError, match="less than or equal to 1000"):
        Limits(max_k=5000)


def test_keys_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SV6D_API_KEYS", f"{KEY},{'z' * 20}")
    monkeypatch.setenv("SV6D_LIMITS__MAX_K", "7")
    s = Settings(data_dir=tmp_path)
    assert s.key_bytes() == [KEY.encode(), b"z" * 20]
    assert s.limits.max_k == 7


def test_app_refuses_a_public_bind_without_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"non-loopback address '0\.0\.0\.0'"):
        create_app(Settings(data_dir=tmp_path, auth_disabled=True), host="0.0.0.0")
    with pytest.raises(ConfigError, match="without API keys"):
        create_app(Settings(data_dir=tmp_path), host="10.1.2.3")
    create_app(Settings(data_dir=tmp_path, auth_disabled=True), host="::1")  # loopback is fine


# ----------------------------------------------------------------------------------------------- search


def test_hook_search_by_video_id(client):
    from indexer.query import DEFAULT_HOOK_WEIGHTS

    r = client.post("/v1/search/hooks", json={"video_id": "v3", "k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"] == "video_id"
    hits = body["hits"]
    assert len(hits) == 5
    assert "v3" not in [h["video_id"] for h in hits]
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    for h in hits:
        assert set(h["scores"]) == {
            "subject",
            "aesthetics",
            "camera",
            "editing",
            "narrative",
            "dissemination",
        }
        assert h["window"] is not None
        assert h["window"][1] > h["window"][0]
        # no weights given: the hook search's defaults (DEFAULT_HOOK_WEIGHTS), the raw weighted sum
        weighted = sum(DEFAULT_HOOK_WEIGHTS[d] * s for d, s in h["scores"].items())
        assert h["score"] == pytest.approx(weighted, abs=1e-4)


def test_weights_change_the_score(client):
    only_editing = {d: 0 for d in ("subject", "aesthetics", "camera", "narrative", "dissemination")}
    r = client.post("/v1/search/hooks", json={"video_id": "v3", "k": 3, "weights": only_editing})
    for h in r.json()["hits"]:
        assert h["score"] == pytest.approx(h["scores"]["editing"], abs=1e-5)
    body = _problem(client.post("/v1/search/hooks", json={"video_id": "v3", "weights": {"colour": 1}}), 422)
    assert body["errors"][0]["field"] == "body.weights.colour"
    # the answer names the weights used: the request's, a dimension it left out at 1 (indexer.Weights)
    r = client.post("/v1/search/hooks", json={"video_id": "v3", "k": 3, "weights": {"camera": 2}})
    assert r.json()["weights"] == {**dict.fromkeys(only_editing, 1.0), "editing": 1.0, "camera": 2.0}
    all_zero = {**only_editing, "editing": 0}
    body = _problem(client.post("/v1/search/hooks", json={"video_id": "v3", "weights": all_zero}), 422)
    assert "weights are all zero" in body["detail"]


def test_hook_search_blends_the_opening_style_and_takes_its_share(tmp_path, records):
    """Stored videos with opening-style profiles: hits carry ``style`` and the order blends it in; ``style``
    0 gives the vectors' order; a share outside 0-1 is a 422 naming the field."""
    profiles = [{"montage": 1.0}, {"caption_hook": 0.9, "montage": 0.1}]
    settings = _settings(tmp_path)
    index = open_index(None, settings.data_dir)
    index.upsert([r.model_copy(update={"hook_style": profiles[i % 2]}) for i, r in enumerate(records)])
    app = create_app(settings, index=index)
    with TestClient(app, headers={"X-API-Key": KEY}, raise_server_exceptions=False) as client:
        q = {"video_id": records[3].video_id, "k": 10}
        blended = client.post("/v1/search/hooks", json=q).json()["hits"]
        plain = client.post("/v1/search/hooks", json={**q, "style": 0}).json()["hits"]
        assert all(h["style"] is not None for h in blended)
        assert all(h["style"] is None for h in plain)
        assert [h["score"] for h in plain] == sorted((h["score"] for h in plain), reverse=True)
        odd = {r.video_id for i, r in enumerate(records) if i % 2}
        assert sum(h["video_id"] in odd for h in blended[:5]) > sum(h["video_id"] in odd for h in plain[:5])
        body = _problem(client.post("/v1/search/hooks", json={**q, "style": 1.5}), 422)
        assert body["errors"][0]["field"] == "body.style"
    index.close()


def test_filters_apply_inside_the_search(client, records):
    portrait = {r.video_id for r in records if r.orientation == "portrait"}
    r = client.post(
        "/v1/search/hooks", json={"video_id": "v3", "k": 50, "filters": {"orientation": "portrait"}}
    )
    got = {h["video_id"] for h in r.json()["hits"]}
    assert got
    assert got <= portrait
    assert len(got) == len(portrait - {"v3"})


def test_similar_at_video_and_segment_level(client):
    r = client.post("/v1/search/similar", json={"video_id": "v3", "k": 4})
    assert r.status_code == 200
    assert r.json()["level"] == "video"
    assert all(h["window"] is None for h in r.json()["hits"])
    r = client.post("/v1/search/similar", json={"video_id": "v3", "k": 4, "level": "segment"})
    assert all(h["segment_index"] is not None for h in r.json()["hits"])
    _problem(client.post("/v1/search/similar", json={"video_id": "v3", "level": "hook"}), 422)
    assert "nope" in _problem(client.post("/v1/search/similar", json={"video_id": "nope"}), 404)["detail"]


def test_unknown_video_is_404_and_bad_bodies_name_the_field(client):
    assert "'nope'" in _problem(client.post("/v1/search/hooks", json={"video_id": "nope"}), 404)["detail"]
    body = _problem(client.post("/v1/search/hooks", json={"video_id": "v1", "k": 0}), 422)
    assert body["errors"][0]["field"] == "body.k"
    body = _problem(client.post("/v1/search/hooks", json={"k": 3}), 422)
    assert "exactly one of video_id or text" in body["detail"]
    _problem(
        client.post("/v1/search/hooks", content=b"{not json", headers={"content-type": "application/json"}),
        422,
    )
    body = _problem(
        client.post("/v1/search/hooks", content=b"x", headers={"content-type": "text/plain"}), 415
    )
    assert "text/plain" in body["detail"]


@pytest.mark.slow
def test_text_search_reads_vocabulary_labels(client):
    r = client.post("/v1/search/hooks", json={"text": "a text caption overlaid on the first seconds", "k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "label_examples"
    assert "text_overlay" in [x["label"] for x in body["read_as"]]
    assert len(body["hits"]) == 5


# ----------------------------------------------------------------------------------------------- limits


def test_k_and_body_size_limits(tmp_path, records):
    settings = _settings(tmp_path, limits=Limits(max_k=5, max_body_bytes=2000, max_batch=3))
    index = open_index(None, settings.data_dir)
    index.upsert(records[:10])
    with TestClient(create_app(settings, index=index), headers={"X-API-Key": KEY}) as c:
        assert (
            "at most 5"
            in _problem(c.post("/v1/search/hooks", json={"video_id": "v1", "k": 6}), 422)["detail"]
        )
        body = _problem(c.post("/v1/search/similar", json={"video_id": "v1", "pad": "x" * 5000}), 413)
        assert "2000 bytes" in body["detail"]
        events = [_event(f"e{i}") for i in range(4)]
        assert "batch limit of 3" in _problem(c.post("/v1/events", json={"events": events}), 422)["detail"]
        # Chunked bodies (no Content-Length) are cut while streaming.
        r = c.post(
            "/v1/events",
            content=iter([b'{"events": [' + b" " * 3000, b"]}"]),
            headers={"content-type": "application/json"},
        )
        _problem(r, 413)
    index.close()


# ----------------------------------------------------------------------------------------------- videos


def test_get_list_and_delete_a_video(client, records):
    r = client.get("/v1/videos/v5")
    assert r.status_code == 200
    body = r.json()
    assert body["video_id"] == "v5"
    assert body["vectors"] is None
    assert body["dimensions"][0]["dimension"] == "subject"
    assert len(body["tags"]) == len(records[5].tags)
    with_vectors = client.get("/v1/videos/v5", params={"include_vectors": True}).json()
    assert len(with_vectors["vectors"]["hook"]["camera"]) == 16
    listing = client.get("/v1/videos", params={"limit": 10}).json()
    assert listing["total"] == N_VIDEOS
    assert len(listing["video_ids"]) == 10
    assert client.delete("/v1/videos/v5").json() == {"video_id": "v5", "deleted": True}
    _problem(client.get("/v1/videos/v5"), 404)
    _problem(client.delete("/v1/videos/v5"), 404)
    assert client.get("/v1/videos").json()["total"] == N_VIDEOS - 1


def test_thumbnails_are_refused_for_media_outside_the_service(client):
    # Synthetic records' sources are not files under a media root: no file is ever opened for them.
    body = _problem(client.get("/v1/videos/v1/thumbs"), 404)
    assert "not available" in body["detail"]


# ----------------------------------------------------------------------------------------------- events


def _event(eid: str, user: str = "u1", video: str = "v1", like: bool = True) -> dict:
    return {
        "event_id": eid,
        "user_id": user,
        "video_id": video,
        "ts": "2024-05-01T12:00:00Z",
        "play_time_s": 4.0,
        "video_duration_s": 10.0,
        "like": like,
    }


def test_events_are_idempotent_by_event_id(client):
    batch = {"events": [_event("a"), _event("b", video="v2"), _event("a")]}
    assert client.post("/v1/events", json=batch).json() == {"received": 3, "added": 2, "duplicates": 1}
    assert client.post("/v1/events", json=batch).json()["added"] == 0
    body = _problem(client.post("/v1/events", json={"events": [{"event_id": "x"}]}), 422)
    assert {e["field"] for e in body["errors"]} >= {"body.events.0.user_id", "body.events.0.ts"}


def test_recommend_for_history_and_user(client):
    r = client.post("/v1/recommend", json={"positive": ["v1", "v2"], "negative": ["v9"], "k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scorer"] == "fallback_blend"
    assert len(body["items"]) == 5
    assert all(i["channels"] for i in body["items"])
    assert not {"v1", "v2", "v9"} & {i["video_id"] for i in body["items"]}
    client.post("/v1/events", json={"events": [_event(f"u{i}", video=f"v{i}") for i in range(6)]})
    r = client.post("/v1/recommend", json={"user_id": "u1", "k": 4})
    assert r.status_code == 200
    assert len(r.json()["items"]) == 4
    assert "nope" in _problem(client.post("/v1/recommend", json={"positive": ["nope"]}), 404)["detail"]
    _problem(client.post("/v1/recommend", json={"user_id": "u1", "positive": ["v1"]}), 422)


# ----------------------------------------------------------------------------------------------- ops


def test_health_ready_metrics_and_openapi(client):
    client.post("/v1/search/hooks", json={"video_id": "v1", "k": 2})
    assert client.get("/readyz").json()["videos"] == N_VIDEOS
    text = client.get("/metrics").text
    assert 'sv6d_http_requests_total{method="POST",route="/v1/search/hooks",status="200"} 1.0' in text
    assert "sv6d_http_request_duration_seconds_bucket" in text
    assert f"sv6d_index_videos {float(N_VIDEOS)}" in text
    assert "sv6d_ingest_queue_length 0.0" in text
    doc = client.get("/openapi.json").json()
    for path in (
        "/v1/videos",
        "/v1/videos/{video_id}",
        "/v1/jobs/{job_id}",
        "/v1/search/hooks",
        "/v1/search/similar",
        "/v1/recommend",
        "/v1/events",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in doc["paths"], path
    assert {"HookSearchRequest", "PathIngestRequest", "RecommendRequest", "EventBatch"} <= set(
        doc["components"]["schemas"]
    )
    assert "/v1/ping" not in doc["paths"]
    assert client.get("/").headers["content-type"].startswith("text/html")
    icon = client.get("/favicon.ico")  # browsers ask the root for it: no 404 in their consoles
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert "/favicon.ico" not in doc["paths"]


def test_unexpected_errors_are_a_bare_500(tmp_path, records, caplog):
    settings = _settings(tmp_path, auth_disabled=True)
    index = open_index(None, settings.data_dir)
    app = create_app(settings, index=index)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internal detail")

    with TestClient(app, raise_server_exceptions=False) as c:
        body = _problem(c.get("/boom"), 500)
    assert "secret" not in str(body)
    assert "secret internal detail" in caplog.text  # logged server-side
    index.close()


# ----------------------------------------------------------------------------------------------- ingest


def test_path_ingest_refuses_paths_outside_the_media_roots(client, tmp_path):
    media = tmp_path / "media"
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"x")
    (media / "escape.mp4").symlink_to(outside)
    (media / "dir").mkdir()
    from tests.helpers_video import cut_video

    cut_video(media / "dir" / "ok.mp4", [5, 5])
    cases = {
        "../outside.mp4": "'..'",
        "dir/../dir/ok.mp4": "'..'",
        str(outside): "outside the configured media roots",
        "/etc/passwd": "outside the configured media roots",
        "escape.mp4": "symlink",
        str(media / "escape.mp4"): "outside the configured media roots",
        "missing.mp4": "no such file",
    }
    for path, reason in cases.items():
        body = _problem(client.post("/v1/videos", json={"path": path}), 403)
        assert reason in body["detail"], (path, body)
    ok = client.post("/v1/videos", json={"path": "dir/ok.mp4"})
    assert ok.status_code == 202, ok.text


def test_path_ingest_is_off_without_media_roots(tmp_path):
    settings = Settings(data_dir=tmp_path / "d", auth_disabled=True)
    with TestClient(create_app(settings)) as c:
        assert "no media roots" in _problem(c.post("/v1/videos", json={"path": "a.mp4"}), 403)["detail"]
        _problem(c.get("/v1/jobs/nope"), 404)


def test_jobs_survive_a_restart(tmp_path):
    store = JobStore(tmp_path)
    store.create("path", "/m/a.mp4", None, None, "job-a")
    store.create("path", "/m/b.mp4", None, None, "job-b")
    assert store.claim_next().id == "job-a"  # running when the service "dies"
    store.close()

    store = JobStore(tmp_path)
    assert store.recover(max_attempts=2) == (1, 0)
    a = store.get("job-a")
    assert (a.state, a.attempts) == ("queued", 1)
    assert store.get("job-b").state == "queued"  # queued jobs stay queued
    assert store.claim_next().id == "job-a"
    store.close()

    store = JobStore(tmp_path)
    assert store.recover(max_attempts=2) == (0, 1)
    a = store.get("job-a")
    assert a.state == "failed"
    assert "gave up after 2 attempt(s)" in a.error
    assert store.queue_length() == 1
    store.close()


@pytest.mark.slow
def test_upload_ingest_runs_as_a_job_and_serves_thumbnails(tmp_path):
    from tests.helpers_video import cut_video

    settings = _settings(tmp_path, auth_disabled=True, limits=Limits(max_upload_bytes=2_000_000))
    video = tmp_path / "clip.mp4"
    cut_video(video, [15, 15, 15])
    long_video = tmp_path / "long.mp4"
    cut_video(long_video, [40, 40])
    with TestClient(create_app(settings)) as c:
        r = c.post(
            "/v1/videos",
            files={"file": ("clip.mp4", video.read_bytes(), "video/mp4")},
            data={"video_id": "clip1", "title": "a clip"},
        )
        assert r.status_code == 202, r.text
        job = _wait_job(c, r.json()["job_id"])
        assert job["state"] == "succeeded", job
        assert job["video_id"] == "clip1"
        assert job["progress"] == 1.0
        stored = c.get("/v1/videos/clip1").json()
        assert stored["duration_s"] == pytest.approx(4.5, abs=0.2)
        thumbs = c.get("/v1/videos/clip1/thumbs", params={"n": 3})
        assert thumbs.status_code == 200, thumbs.text
        assert thumbs.headers["content-type"] == "image/jpeg"
        assert thumbs.content[:2] == b"\xff\xd8"
        import io

        from PIL import Image

        img = Image.open(io.BytesIO(thumbs.content))
        assert img.height == 90
        assert img.width == 3 * 135
        # Too long: the job fails with the reason.
        with_limit = c.app.state.services.worker
        with_limit.max_duration_s = 6.0
        r = c.post("/v1/videos", files={"file": ("long.mp4", long_video.read_bytes(), "video/mp4")})
        job = _wait_job(c, r.json()["job_id"])
        assert job["state"] == "failed"
        assert "exceeds the limit of 6 s" in job["error"]
        assert str(tmp_path) not in job["error"]
        # Not a video: refused before it is accepted, with the decoder's reason, never a traceback.
        r = c.post("/v1/videos", files={"file": ("x.mp4", b"not a video at all", "video/mp4")})
        assert _problem(r, 422)["errors"][0]["field"] == "body.file"
        # Over the upload limit.
        _problem(c.post("/v1/videos", files={"file": ("big.mp4", b"0" * 2_100_000, "video/mp4")}), 413)
        media_files = list((settings.data_dir / "media").iterdir())
        assert len(media_files) == 1  # only the ingested clip's media is kept
        c.delete("/v1/videos/clip1")
        assert not list((settings.data_dir / "media").iterdir())


def _wait_job(c: TestClient, job_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = c.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")


def test_searches_keep_working_while_ingest_writes(client, records):
    services = client.app.state.services
    extra = make_records(60, d=16, seed=8, prefix="w")
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(0, len(extra), 6):
                with services.write_lock:
                    services.index.upsert(extra[i : i + 6])
        except BaseException as exc:  # surfaced by the assert below
            errors.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    seen_counts = set()
    while t.is_alive():
        r = client.post("/v1/search/hooks", json={"video_id": "v1", "k": 10})
        assert r.status_code == 200, r.text
        assert len(r.json()["hits"]) == 10
        seen_counts.add(client.get("/readyz").json()["videos"])
    t.join()
    assert not errors
    # Every count a reader saw is a whole number of batches: never a half-applied batch.
    assert all((n - N_VIDEOS) % 6 == 0 for n in seen_counts)
    assert client.get("/readyz").json()["videos"] == N_VIDEOS + 60
