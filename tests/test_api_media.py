"""The media route: only stored videos' files under the upload folder or a media root, opened by an API key
or a signed link for that video that has not expired, served with HTTP range requests."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.media import media_signature
from api.settings import Settings
from indexer.factory import open_index
from indexer.synthetic import make_records

KEY = "media-key-0123456789abcdef"


@pytest.fixture
def client(tmp_path):
    media, outside = tmp_path / "media", tmp_path / "outside"
    media.mkdir()
    outside.mkdir()
    (media / "clip.mp4").write_bytes(bytes(range(256)) * 8)
    (outside / "secret.mp4").write_bytes(b"not yours")
    (media / "escape.mp4").symlink_to(outside / "secret.mp4")
    sources = {
        "inside": str(media / "clip.mp4"),
        "symlink": str(media / "escape.mp4"),
        "outside": str(outside / "secret.mp4"),
        "system": "/etc/passwd",
        "relative": "clip.mp4",
        "url": "synthetic://v",
    }
    base = make_records(len(sources), d=16, seed=3)
    records = [
        r.model_copy(update={"video_id": vid, "source": src})
        for r, (vid, src) in zip(base, sources.items(), strict=True)
    ]
    settings = Settings(data_dir=tmp_path / "data", api_keys=[KEY], media_roots=[media])
    index = open_index(None, settings.data_dir)
    index.upsert(records)
    with TestClient(create_app(settings, index=index), raise_server_exceptions=False) as c:
        yield c
    index.close()


def test_a_signed_link_plays_ranges_of_that_video_only(client):
    link = client.get("/v1/videos/inside/media-link", headers={"X-API-Key": KEY})
    assert link.status_code == 200, link.text
    url = link.json()["url"]
    whole = client.get(url)
    assert whole.status_code == 200
    assert whole.headers["accept-ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=256-511"})
    assert part.status_code == 206
    assert part.content == bytes(range(256))
    assert part.headers["content-range"] == "bytes 256-511/2048"
    assert client.get(url, headers={"Range": "bytes=5000-"}).status_code == 416
    assert client.get(url.replace("/inside/", "/outside/")).status_code == 401


def test_expired_or_incomplete_links_and_missing_keys_are_refused(client):
    secret = client.app.state.services.media_secret
    past = int(time.time()) - 5
    expired = client.get(f"/v1/videos/inside/media?exp={past}&sig={media_signature(secret, 'inside', past)}")
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]
    assert client.get("/v1/videos/inside/media?exp=99999999999").status_code == 401
    assert client.get("/v1/videos/inside/media?sig=abc").status_code == 401
    assert client.get("/v1/videos/inside/media?exp=1&sig=zz\u00e9").status_code == 422
    assert client.get("/v1/videos/inside/media").status_code == 401
    assert client.get("/v1/videos/inside/media", headers={"X-API-Key": KEY}).status_code == 200


@pytest.mark.parametrize("video_id", ["symlink", "outside", "system", "relative", "url"])
def test_files_outside_the_media_roots_are_never_served(client, video_id):
    headers = {"X-API-Key": KEY}
    r = client.get(f"/v1/videos/{video_id}/media", headers=headers)
    assert r.status_code == 404, r.text
    assert "not yours" not in r.text
    assert "root:" not in r.text
    assert client.get(f"/v1/videos/{video_id}/media-link", headers=headers).status_code == 404
