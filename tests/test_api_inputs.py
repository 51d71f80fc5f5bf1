"""Inputs that used to give a 500 or pass silently: each is a 4xx problem document naming the field."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from indexer.factory import open_index
from indexer.synthetic import make_records
from tests.test_api_unit import KEY, _problem, _settings

SEARCHES = ("/v1/search/hooks", "/v1/search/similar")


@pytest.fixture
def client(tmp_path):
    settings = _settings(tmp_path)
    index = open_index(None, settings.data_dir)
    index.upsert(make_records(12, d=16, seed=7))
    with TestClient(
        create_app(settings, index=index), headers={"X-API-Key": KEY}, raise_server_exceptions=False
    ) as c:
        yield c
    index.close()


def _fields(body: dict) -> set[str]:
    return {e["field"] for e in body.get("errors", [])}


@pytest.mark.parametrize("path", SEARCHES)
@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        ({"dimension": "camera", "label": "no_such_label"}, "unknown tag label 'no_such_label'"),
        ({"dimension": "camera", "label": "fade"}, "belongs to dimension 'editing'"),
    ],
)
def test_tag_filters_outside_the_vocabulary_are_422(client, path, tag, reason):
    body = _problem(client.post(path, json={"video_id": "v1", "filters": {"tags": [tag]}}), 422)
    assert _fields(body) == {"body.filters.tags.0.label"}
    assert reason in body["detail"]


def test_tag_filters_are_checked_on_text_search_too(client):
    tags = [{"dimension": "camera", "label": "fade"}]
    body = _problem(
        client.post("/v1/search/hooks", json={"text": "a hard cut", "filters": {"tags": tags}}), 422
    )
    assert _fields(body) == {"body.filters.tags.0.label"}


def test_tag_filters_are_checked_on_clip_search_too(client):
    params = '{"filters": {"tags": [{"dimension": "camera", "label": "fade"}]}}'
    r = client.post("/v1/search/hooks", files={"clip": ("a.mp4", b"x", "video/mp4")}, data={"params": params})
    assert _fields(_problem(r, 422)) == {"body.params.filters.tags.0.label"}


def test_a_known_tag_filter_still_works(client):
    r = client.post(
        "/v1/search/hooks",
        json={"video_id": "v1", "filters": {"tags": [{"dimension": "editing", "label": "hard_cut"}]}},
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", SEARCHES)
def test_min_duration_above_max_duration_is_422(client, path):
    filters = {"min_duration_s": 20, "max_duration_s": 5}
    body = _problem(client.post(path, json={"video_id": "v1", "filters": filters}), 422)
    assert _fields(body) == {"body.filters.max_duration_s"}


@pytest.mark.parametrize(
    "path", ["/v1/search/hooks", "/v1/videos", "/v1/search/similar", "/v1/recommend", "/v1/events"]
)
def test_deeply_nested_json_is_a_4xx_and_the_connection_stays_usable(client, path):
    deep = b"[" * 1000 + b"]" * 1000
    r = client.post(path, content=deep, headers={"content-type": "application/json"})
    body = _problem(r, 422)
    assert _fields(body) == {"body"}
    assert "nested too deeply" in body["detail"]
    nested = b'{"video_id": "v1", "weights": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1001
    r = client.post(path, content=nested, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert client.post("/v1/search/hooks", json={"video_id": "v1"}).status_code == 200


@pytest.mark.parametrize("value", ["5", True, 5.0])
@pytest.mark.parametrize(
    ("path", "extra"),
    [("/v1/search/hooks", {"video_id": "v1"}), ("/v1/search/similar", {"video_id": "v1"})],
)
def test_k_must_be_an_integer_not_a_string_or_boolean(client, path, extra, value):
    body = _problem(client.post(path, json={**extra, "k": value}), 422)
    assert _fields(body) == {"body.k"}


def test_strict_types_elsewhere(client):
    body = _problem(client.post("/v1/recommend", json={"positive": ["v1"], "k": "3"}), 422)
    assert _fields(body) == {"body.k"}
    body = _problem(
        client.post("/v1/search/hooks", json={"video_id": "v1", "weights": {"camera": True}}), 422
    )
    assert _fields(body) == {"body.weights.camera"}
    body = _problem(
        client.post("/v1/search/similar", json={"video_id": "v1", "filters": {"min_duration_s": "2"}}), 422
    )
    assert _fields(body) == {"body.filters.min_duration_s"}
    params = {"params": '{"k": "4"}'}
    r = client.post("/v1/search/hooks", files={"clip": ("a.mp4", b"x", "video/mp4")}, data=params)
    assert _fields(_problem(r, 422)) == {"body.params.k"}
    # Integers are still fine where floats are expected.
    assert (
        client.post("/v1/search/hooks", json={"video_id": "v1", "weights": {"camera": 2}}).status_code == 200
    )


# ----------------------------------------------------------------------------------------------- leaks


def test_a_clip_search_error_does_not_show_the_servers_temporary_path(client, tmp_path):
    r = client.post("/v1/search/hooks", files={"clip": ("a.mp4", b"not a video", "video/mp4")})
    body = _problem(r, 422)
    assert _fields(body) == {"body.clip"}
    assert body["detail"].startswith("body.clip: a.mp4: ")
    assert str(tmp_path) not in r.text
    assert "/tmp" not in r.text


def test_a_stored_video_does_not_show_the_servers_file_layout(client, tmp_path):
    services = client.app.state.services
    media = tmp_path / "media"
    base = make_records(3, d=16, seed=9, prefix="s")
    sources = [media / "dir" / "a.mp4", services.media_dir / "tmpabc.mp4", tmp_path / "cli" / "b.mp4"]
    services.write_record(base[0].model_copy(update={"source": str(sources[0])}))
    services.write_record(base[1].model_copy(update={"source": str(sources[1])}))
    services.write_record(base[2].model_copy(update={"source": str(sources[2])}))
    shown = [client.get(f"/v1/videos/{r.video_id}").json()["source"] for r in base]
    # Under a media root: the path a client would send to ingest it; an upload: "upload"; else the name.
    assert shown == ["dir/a.mp4", "upload", "b.mp4"]


# ----------------------------------------------------------------------------------------------- ingest


def test_a_non_video_upload_is_refused_before_it_is_accepted(client):
    r = client.post("/v1/videos", files={"file": ("x.mp4", b"not a video at all", "video/mp4")})
    body = _problem(r, 422)
    assert _fields(body) == {"body.file"}
    assert "/tmp" not in r.text
    assert not list(client.app.state.services.media_dir.iterdir())  # nothing kept
    assert client.app.state.services.jobs.queue_length() == 0


@pytest.mark.parametrize(("name", "content"), [("empty.mp4", b""), ("data.csv", b"a,b\n1,2\n3,4\n")])
def test_a_non_video_path_is_refused_before_it_is_accepted(client, tmp_path, name, content):
    (tmp_path / "media" / name).write_bytes(content)
    r = client.post("/v1/videos", json={"path": name})
    body = _problem(r, 422)
    assert _fields(body) == {"body.path"}
    assert body["detail"].startswith(f"body.path: {name}: ")
    assert str(tmp_path) not in r.text
    assert client.app.state.services.jobs.queue_length() == 0


def _video(tmp_path, name: str = "clip.mp4", shots=(10, 10)):
    from tests.helpers_video import cut_video

    path = tmp_path / "media" / name
    cut_video(path, list(shots))
    return path


def test_a_custom_video_id_in_use_is_409_unless_replace_is_asked(client, tmp_path):
    path = _video(tmp_path)
    before = client.get("/v1/videos/v1").json()
    body = _problem(client.post("/v1/videos", json={"path": path.name, "video_id": "v1"}), 409)
    assert "replace" in body["detail"]
    assert "body.video_id" in body["detail"]
    up = {"file": ("clip.mp4", path.read_bytes(), "video/mp4")}
    _problem(client.post("/v1/videos", files=up, data={"video_id": "v1"}), 409)
    assert client.get("/v1/videos/v1").json() == before  # nothing stored was touched
    assert client.app.state.services.jobs.queue_length() == 0
    r = client.post("/v1/videos", json={"path": path.name, "video_id": "v1", "replace": True})
    assert r.status_code == 202, r.text
    body = _problem(client.post("/v1/videos", json={"path": path.name, "replace": "yes"}), 422)
    assert _fields(body) == {"body.replace"}


def test_a_job_whose_video_id_was_taken_meanwhile_does_not_overwrite_it(client):
    from sv6d.errors import ConflictError

    services = client.app.state.services
    other = make_records(1, d=16, seed=11, prefix="v")[0]  # a different video under the id "v0"
    before = services.index.get("v0")
    with pytest.raises(ConflictError, match="replace=true"):
        services.write_record(other, replace=False)
    assert services.index.get("v0").source == before.source
    assert (services.index.get("v0").video[0] == before.video[0]).all()


# ----------------------------------------------------------------------------------------------- events


def _event(eid: str = "e1", **kw) -> dict:
    return {"event_id": eid, "user_id": "u1", "video_id": "v1", "ts": "2024-05-01T12:00:00Z", **kw}


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"video_id": "nope"}, "body.events.1.video_id", "not in the index"),
        ({"ts": "2024-05-01T12:00:00"}, "body.events.1.ts", "needs a time zone"),
        ({"ts": "2999-01-01T00:00:00Z"}, "body.events.1.ts", "in the future"),
        ({"like": "yes"}, "body.events.1.like", "boolean"),
        ({"play_time_s": "4"}, "body.events.1.play_time_s", "number"),
    ],
)
def test_events_refuse_unknown_videos_future_or_naive_times_and_coerced_types(client, change, field, reason):
    batch = {"events": [_event("ok"), _event("bad", **change)]}
    body = _problem(client.post("/v1/events", json=batch), 422)
    assert _fields(body) == {field}
    assert reason in body["detail"]
    # Nothing of a refused batch is stored.
    assert client.post("/v1/events", json={"events": [_event("ok")]}).json()["added"] == 1


def test_events_accept_any_time_zone_and_a_little_clock_skew(client):
    from datetime import UTC, datetime, timedelta

    soon = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()
    batch = {"events": [_event("a", ts="2024-05-01T14:00:00+02:00"), _event("b", ts=soon)]}
    r = client.post("/v1/events", json=batch)
    assert r.status_code == 200, r.text
    assert r.json()["added"] == 2


# ----------------------------------------------------------------------------------------------- document


def test_the_openapi_document_states_the_services_limits(tmp_path):
    from api.settings import Limits

    settings = _settings(tmp_path, limits=Limits(max_k=7, max_batch=3, max_thumbs=5))
    with TestClient(create_app(settings), headers={"X-API-Key": KEY}) as c:
        doc = c.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    for name in ("HookSearchRequest", "ClipSearchParams", "SimilarRequest", "RecommendRequest"):
        assert schemas[name]["properties"]["k"]["maximum"] == 7, name
    assert schemas["EventBatch"]["properties"]["events"]["maxItems"] == 3
    thumbs = doc["paths"]["/v1/videos/{video_id}/thumbs"]["get"]["parameters"]
    assert next(p for p in thumbs if p["name"] == "n")["schema"]["maximum"] == 5


# ----------------------------------------------------------------------------------------------- server


def _raw(url: str, request: bytes, piece: int = 0) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` on a fresh connection (whole, or in pieces of ``piece`` bytes); read the answer."""
    import socket
    import time
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        for i in range(0, len(request), piece or len(request)):
            try:
                s.sendall(request[i : i + (piece or len(request))])
            except OSError:  # the server answered and closed before the rest arrived
                break
            time.sleep(0.002 if piece else 0)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_requests_the_http_layer_refuses_get_problem_documents(tmp_path):
    import json

    from tests.test_e2e_server import ServerThread, _free_port

    settings = _settings(tmp_path)
    with ServerThread(create_app(settings), _free_port()) as server:
        big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n"
        for piece in (0, 4096):  # a head that arrives whole, or in pieces (as over a real network)
            status, headers, body = _raw(server.url, big, piece)
            assert status == 431, (piece, body)
            assert headers["content-type"] == "application/problem+json"
            assert json.loads(body)["status"] == 431
        fine = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Ok: " + b"a" * 8000
        status, _, _ = _raw(server.url, fine + b"\r\n\r\n")
        assert status == 200
        status, headers, body = _raw(server.url, b"NOT HTTP AT ALL\r\n\r\n")
        assert status == 400
        assert headers["content-type"] == "application/problem+json"
        assert "Traceback" not in body.decode()


# ----------------------------------------------------------------------------------------------- recommend


def test_recommendations_come_in_the_order_of_the_scores_shown(tmp_path):
    settings = _settings(tmp_path)
    index = open_index(None, settings.data_dir)
    index.upsert(make_records(40, d=16, seed=7))
    with TestClient(create_app(settings, index=index), headers={"X-API-Key": KEY}) as c:
        for history in (["v1", "v2"], ["v3"], ["v10", "v20", "v30"]):
            items = c.post("/v1/recommend", json={"positive": history, "k": 10}).json()["items"]
            scores = [i["score"] for i in items]
            assert scores == sorted(scores, reverse=True), (history, scores)
            # The ranker's own score stays visible; the first item has nothing above it to be unlike.
            assert all(isinstance(i["relevance"], float) for i in items)
            assert items[0]["score"] == pytest.approx(items[0]["relevance"])
            assert max(i["relevance"] for i in items) == pytest.approx(items[0]["relevance"])
    index.close()


# ----------------------------------------------------------------------------------------------- jobs


@pytest.fixture
def idle_jobs(client):
    """The client with its ingest worker stopped, so that queued jobs stay queued until the test runs them."""
    client.app.state.services.worker.stop()
    return client.app.state.services.jobs


def test_jobs_can_be_listed_newest_first_and_by_state(client, idle_jobs):
    for i in range(5):
        idle_jobs.create("path", f"/m/{i}.mp4", None, None, f"job-{i}")
    idle_jobs.update("job-1", state="failed", stage="failed", error="no")
    listing = client.get("/v1/jobs", params={"limit": 3}).json()
    assert listing["total"] == 5
    assert [j["job_id"] for j in listing["jobs"]] == ["job-4", "job-3", "job-2"]
    failed = client.get("/v1/jobs", params={"state": "failed"}).json()
    assert [j["job_id"] for j in failed["jobs"]] == ["job-1"]
    assert failed["total"] == 1
    body = _problem(client.get("/v1/jobs", params={"state": "lost"}), 422)
    assert _fields(body) == {"query.state"}


def test_a_queued_job_can_be_cancelled_and_a_finished_one_cannot(client, idle_jobs):
    services = client.app.state.services
    upload = services.media_dir / "tmpq.mp4"
    upload.write_bytes(b"x")
    idle_jobs.create("upload", str(upload), None, None, "job-q")
    r = client.delete("/v1/jobs/job-q")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "cancelled"
    assert not upload.exists()  # the service's copy of an upload goes with its job
    assert idle_jobs.claim_next() is None  # never picked up
    assert "already cancelled" in _problem(client.delete("/v1/jobs/job-q"), 409)["detail"]
    _problem(client.delete("/v1/jobs/nope"), 404)


def test_a_running_job_is_cancelled_before_it_stores_anything(client, idle_jobs, tmp_path):
    services = client.app.state.services
    path = _video(tmp_path)
    idle_jobs.create("path", str(path), "new-video", None, "job-r")
    job = idle_jobs.claim_next()
    r = client.delete("/v1/jobs/job-r")
    assert r.status_code == 202, r.text
    assert (r.json()["state"], r.json()["stage"]) == ("running", "cancelling")
    services.worker.run_one(job)
    assert client.get("/v1/jobs/job-r").json()["state"] == "cancelled"
    assert not services.index.contains("new-video")


def test_metrics_count_jobs_by_state(client, idle_jobs):
    idle_jobs.create("path", "/m/a.mp4", None, None, "job-a")
    idle_jobs.create("path", "/m/b.mp4", None, None, "job-b")
    idle_jobs.update("job-a", state="failed", stage="failed", error="no")
    text = client.get("/metrics").text
    assert 'sv6d_ingest_jobs{state="failed"} 1.0' in text
    assert 'sv6d_ingest_jobs{state="queued"} 1.0' in text
    assert 'sv6d_ingest_jobs{state="succeeded"} 0.0' in text


# ----------------------------------------------------------------------------------------------- ingest time


def _undated(prefix: str):
    return [r.model_copy(update={"created_at": None}) for r in make_records(2, d=16, seed=5, prefix=prefix)]


def test_every_stored_video_has_a_time_and_created_after_finds_undated_ingests(client):
    from datetime import UTC, datetime, timedelta

    services = client.app.state.services
    before = datetime.now(UTC) - timedelta(seconds=1)
    for record in _undated("n"):
        services.write_record(record)  # what an ingest job does with an encoded video
    shown = client.get("/v1/videos/n0").json()["created_at"]
    assert shown is not None
    assert datetime.fromisoformat(shown) >= before
    r = client.post(
        "/v1/search/similar",
        json={"video_id": "v1", "k": 20, "filters": {"created_after": before.isoformat()}},
    )
    assert {h["video_id"] for h in r.json()["hits"]} == {"n0", "n1"}


def test_cli_indexing_gives_undated_videos_their_ingest_time(tmp_path):
    from cli.workflows import index_records

    with open_index(None, tmp_path) as index:
        index_records(index, _undated("c"))
        assert all(index.get(v).created_at is not None for v in ("c0", "c1"))


def test_the_connection_stays_usable_after_an_unexpected_error(tmp_path):
    import socket

    from tests.test_e2e_server import ServerThread, _free_port

    app = create_app(_settings(tmp_path, auth_disabled=True))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internal detail")

    def exchange(s: socket.socket, path: str) -> tuple[int, bytes]:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            assert chunk, f"the server closed the connection instead of answering {path}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        while len(body) < length:
            body += s.recv(65536)
        return int(head.split()[1]), body

    with ServerThread(app, _free_port()) as server:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            status, body = exchange(s, "/boom")
            assert status == 500
            assert b"secret" not in body
            assert exchange(s, "/healthz")[0] == 200  # same connection
