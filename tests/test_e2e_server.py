"""End to end: the real server under uvicorn on a loopback port, real ingest of generated videos, search,
recommend, delete over HTTP, and the search page driven in headless Chromium."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from api.main import create_app
from api.server import uvicorn_config
from api.settings import Limits, Settings

pytestmark = pytest.mark.slow
KEY = "e2e-key-0123456789abcdef"
SHOTS = ([12, 18, 15], [30, 15], [10, 10, 10, 15], [20, 25], [15, 15, 15])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """uvicorn.Server in a thread, stopped through ``should_exit`` (how uvicorn handles SIGTERM)."""

    def __init__(self, app, port: int) -> None:
        config = uvicorn_config(app, "127.0.0.1", port, Limits(), log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, dict[str, str]]]:
    from tests.helpers_video import cut_video

    root = tmp_path_factory.mktemp("e2e")
    media = root / "media"
    media.mkdir()
    for i, shots in enumerate(SHOTS):
        cut_video(media / f"video{i}.mp4", shots)
    settings = Settings(data_dir=root / "data", api_keys=[KEY], media_roots=[media])
    with ServerThread(create_app(settings), _free_port()) as srv:
        headers = {"X-API-Key": KEY}
        with httpx.Client(base_url=srv.url, headers=headers, timeout=60) as c:
            jobs = [
                c.post("/v1/videos", json={"path": f"video{i}.mp4", "video_id": f"vid{i}"}).json()["job_id"]
                for i in range(len(SHOTS))
            ]
            for job_id in jobs:
                job = _wait(c, job_id)
                assert job["state"] == "succeeded", job
        yield srv.url, headers


def _wait(c: httpx.Client, job_id: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = c.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


def test_ingest_search_recommend_delete_over_http(server):
    url, headers = server
    with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
        assert c.get("/readyz").json()["videos"] == len(SHOTS)
        r = c.post("/v1/search/hooks", json={"video_id": "vid0", "k": 3})
        assert r.status_code == 200, r.text
        hits = r.json()["hits"]
        assert len(hits) == 3
        assert all(h["window"] == [0.0, 3.0] for h in hits)
        r = c.post("/v1/search/similar", json={"video_id": "vid1", "k": 2, "level": "segment"})
        assert r.status_code == 200
        assert len(r.json()["hits"]) == 2
        event = {"user_id": "ann", "ts": "2024-06-01T10:00:00Z", "play_time_s": 4.0, "like": True}
        batch = [{**event, "event_id": f"e{i}", "video_id": f"vid{i}"} for i in (0, 1)]
        assert c.post("/v1/events", json={"events": batch}).json()["added"] == 2
        r = c.post("/v1/recommend", json={"user_id": "ann", "k": 2})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert len(items) == 2
        assert not {"vid0", "vid1"} & {i["video_id"] for i in items}
        strip = c.get("/v1/videos/vid2/thumbs", params={"n": 4})
        assert strip.status_code == 200
        assert strip.headers["content-type"] == "image/jpeg"
        assert c.delete("/v1/videos/vid4").json()["deleted"] is True
        assert c.get("/v1/videos/vid4").status_code == 404
        # Sources show as paths under the media root, never the server's layout; registered media stays.
        assert c.get("/v1/videos/vid3").json()["source"] == "video3.mp4"
        again = c.post("/v1/videos", json={"path": "video4.mp4", "video_id": "vid4"})
        assert again.status_code == 202, again.text
        assert _wait(c, again.json()["job_id"])["state"] == "succeeded"
        assert c.get("/v1/videos/vid0", headers={"X-API-Key": "wrong-key-0123456789"}).status_code == 401
        metrics = c.get("/metrics").text
        assert 'route="/v1/search/hooks",status="200"' in metrics


def _chrome() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip(
            "Debian chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        )
    return browser, driver


def test_search_page_in_headless_chromium(server, tmp_path):
    browser, driver_path = _chrome()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    url, headers = server
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    drv = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        drv.get(url + "/")
        drv.execute_script("localStorage.setItem('sv6d-api-key', arguments[0]);", headers["X-API-Key"])
        drv.get(url + "/")
        wait = WebDriverWait(drv, 30)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#video-select option")) >= 4)
        Select(drv.find_element(By.ID, "video-select")).select_by_value("vid0")
        drv.find_element(By.ID, "search").click()
        wait.until(ec.presence_of_all_elements_located((By.CSS_SELECTOR, "#results .card")))
        cards = drv.find_elements(By.CSS_SELECTOR, "#results .card")
        assert len(cards) >= 2
        assert "vid0" not in [c.get_attribute("data-video-id") for c in cards]
        assert len(cards[0].find_elements(By.CSS_SELECTOR, ".bar")) == 6
        # The thumbnail strip is fetched with the key and shown as a blob image.
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#results .card img").get_attribute("src"))
        assert (
            drv.find_element(By.CSS_SELECTOR, "#results .card img").get_attribute("src").startswith("blob:")
        )
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .card .timeline .hook"))
        shot = tmp_path / "search_page.png"
        drv.save_screenshot(str(shot))
        assert shot.stat().st_size > 5000
    finally:
        drv.quit()
