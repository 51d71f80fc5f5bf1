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


@pytest.mark.parametrize("path", ["/v1/search/hooks", "/v1/videos", *SEARCHES[1:], "/v1/recommend"])
def test_deeply_nested_json_is_a_4xx_and_the_connection_stays_usable(client, path):
    deep = b"[" * 1000 + b"]" * 1000
    r = client.post(path, content=deep, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    _problem(r, r.status_code)
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
