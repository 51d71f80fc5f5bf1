"""End to end: the real server under uvicorn on a loopback port, real ingest of generated videos, search,
recommend, delete over HTTP, media served with range requests, and the search page driven in headless
Chromium (screenshots under ``test-artifacts/page/``, checked for the elements they should show)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from api.main import create_app
from api.server import uvicorn_config
from api.settings import Limits, Settings

pytestmark = pytest.mark.slow
KEY = "e2e-key-0123456789abcdef"
SHOTS = ([12, 18, 15], [30, 15], [10, 10, 10, 15], [20, 25], [15, 15, 15])
TITLES = {1: "Two long shots", 2: "Quick-cut opener"}
PORTRAIT_ID = "tall5"
N_VIDEOS = len(SHOTS) + 1


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
    _portrait_video(media / "tall.mp4")
    settings = Settings(data_dir=root / "data", api_keys=[KEY], media_roots=[media])
    with ServerThread(create_app(settings), _free_port()) as srv:
        headers = {"X-API-Key": KEY}
        with httpx.Client(base_url=srv.url, headers=headers, timeout=60) as c:
            bodies = [{"path": f"video{i}.mp4", "video_id": f"vid{i}"} for i in range(len(SHOTS))]
            for i, title in TITLES.items():
                bodies[i]["title"] = title
            bodies.append({"path": "tall.mp4", "video_id": PORTRAIT_ID})
            jobs = [c.post("/v1/videos", json=b).json()["job_id"] for b in bodies]
            for job_id in jobs:
                job = _wait(c, job_id)
                assert job["state"] == "succeeded", job
        yield srv.url, headers


def _portrait_video(path) -> None:
    """A 64×96 (portrait) video of three shots: the orientation filter has something to find."""
    from tests.helpers_video import moving, scene, write_video

    frames = []
    for k, n in enumerate((10, 12, 20)):
        frames += moving(scene(300 + k, w=64, h=96), n)
    write_video(path, frames, fps=10)


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
        assert c.get("/readyz").json()["videos"] == N_VIDEOS
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


def test_media_is_served_with_ranges_behind_a_key_or_a_signed_link(server):
    url, headers = server
    with httpx.Client(base_url=url, timeout=60) as c:
        link = c.get("/v1/videos/vid1/media-link", headers=headers)
        assert link.status_code == 200, link.text
        body = link.json()
        assert body["hook_window"] == [0.0, 3.0]
        assert body["url"].startswith("/v1/videos/vid1/media?exp=")
        size = int(c.get(body["url"]).headers["content-length"])
        part = c.get(body["url"], headers={"Range": "bytes=0-99"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 0-99/{size}"
        assert part.headers["content-type"] == "video/mp4"
        assert len(part.content) == 100
        tail = c.get(body["url"], headers={"Range": f"bytes={size - 10}-"})
        assert tail.status_code == 206
        assert len(tail.content) == 10
        # With the key in a header and no link, too; without either, or with a link for another video, 401.
        assert c.get("/v1/videos/vid1/media", headers={**headers, "Range": "bytes=0-0"}).status_code == 206
        assert c.get("/v1/videos/vid1/media").status_code == 401
        assert c.get(body["url"].replace("vid1", "vid2", 1)).status_code == 401
        forged = body["url"].replace("exp=", "exp=1", 1)
        assert c.get(forged).status_code == 401
        assert c.get("/v1/videos/vid1/media-link").status_code == 401
        assert c.get("/v1/videos/nope/media-link", headers=headers).status_code == 404
        # The page: a strict content security policy (no inline script), nothing sniffed.
        page = c.get("/")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "default-src 'none'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in page.text
        assert " style=" not in page.text


# ---------------------------------------------------------------------------------------------- the page

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "page"


def _chrome() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip(
            "Debian chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        )
    return browser, driver


@pytest.fixture(scope="module")
def browser(server):
    path, driver_path = _chrome()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = path
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--autoplay-policy=no-user-gesture-required")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield drv
    finally:
        drv.quit()


class Page:
    """The search page in the browser: open it with the key, act on it, check what it shows."""

    def __init__(self, drv, url: str, key: str, size: tuple[int, int] = (1280, 1000)) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.drv = drv
        drv.set_window_size(*size)
        # The key goes in first (from a page of the same origin), so the page's own load runs with it and
        # everything it logs counts.
        drv.get(url + "/static/favicon.svg")
        drv.execute_script("localStorage.setItem('sv6d-api-key', arguments[0]);", key)
        drv.get_log("browser")
        drv.get(url + "/")
        self.wait = WebDriverWait(drv, 60)
        # Options get titles once the catalog's details are in.
        self.wait.until(lambda d: "Quick-cut opener" in d.find_element(By.ID, "video-select").text)

    def css(self, selector: str, within=None):
        return (within or self.drv).find_elements(By.CSS_SELECTOR, selector)

    def js(self, script: str, *args):
        return self.drv.execute_script(script, *args)

    def open_details(self, box_id: str) -> None:
        if not self.js("return document.getElementById(arguments[0]).open", box_id):
            self.drv.find_element(By.CSS_SELECTOR, f"#{box_id} summary").click()

    def choose(self, name: str, value: str) -> None:
        self.drv.find_element(By.CSS_SELECTOR, f"input[name={name}][value='{value}']").click()

    def search_video(self, video_id: str) -> list:
        from selenium.webdriver.support.ui import Select

        self.choose("mode", "video")
        Select(self.drv.find_element(By.ID, "video-select")).select_by_value(video_id)
        return self.run_search()

    def run_search(self) -> list:
        before = self.js("return document.getElementById('status').textContent")
        self.drv.find_element(By.ID, "search").click()
        self.wait.until(lambda d: d.find_element(By.ID, "status").text not in (before, "searching…"))
        return self.cards()

    def cards(self) -> list:
        return self.css("#cards .card")

    def card_ids(self) -> list[str]:
        return [c.get_attribute("data-video-id") for c in self.cards()]

    def wait_media(self, selector: str) -> None:
        """Every player matched has loaded its metadata (so its file came through range requests)."""
        self.wait.until(
            lambda d: d.execute_script(
                "const v=[...document.querySelectorAll(arguments[0])];"
                "return v.length>0 && v.every(x=>x.readyState>=1 && x.duration>0);",
                selector,
            )
        )

    def wait_timelines(self) -> None:
        self.wait.until(
            lambda d: all(c.find_elements(By.CSS_SELECTOR, ".timeline .lane[data-dim]") for c in self.cards())
        )

    def shot(self, name: str) -> Path:
        """A screenshot of the whole page (the window is stretched to its height, then put back)."""
        size = self.drv.get_window_size()
        height = self.js("return document.documentElement.scrollHeight")
        self.drv.set_window_size(size["width"], min(max(height + 140, size["height"]), 6000))
        try:
            path = ARTIFACTS / name
            self.drv.save_screenshot(str(path))
        finally:
            self.drv.set_window_size(size["width"], size["height"])
        assert path.stat().st_size > 10_000
        return path

    def console_errors(self) -> list[str]:
        """Errors the page logged: CSP violations, failed requests, uncaught exceptions."""
        return [e["message"] for e in self.drv.get_log("browser") if e["level"] == "SEVERE"]


def _boxes_overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"] - 0.5
        and b["x"] < a["x"] + a["width"] - 0.5
        and a["y"] < b["y"] + b["height"] - 0.5
        and b["y"] < a["y"] + a["height"] - 0.5
    )


def _check_timeline(page: Page, card) -> int:
    """A time axis whose tick labels keep apart; six lanes (after an "opening" lane when a text was read as
    opening styles), each a query row and a hit row; no two labels in a row intersect, and none runs out of
    its row. Returns how many labels it saw."""
    lanes = page.css(".timeline .lane[data-dim]", card)
    names = [lane.get_attribute("data-dim") for lane in lanes]
    assert names.index("opening") == 0 if "opening" in names else True
    assert [n for n in names if n != "opening"] == [
        "subject",
        "aesthetics",
        "camera",
        "editing",
        "narrative",
        "dissemination",
    ]
    ticks = [t.rect for t in page.css(".axis .tick", card)]
    assert len(ticks) >= 2
    for i, a in enumerate(ticks):
        assert not any(_boxes_overlap(a, b) for b in ticks[i + 1 :]), ticks
    seen = 0
    for lane in lanes:
        rows = page.css(".trow", lane)
        assert [r.get_attribute("data-who") for r in rows] == ["q", "h"]
        for row in rows:
            row_box = row.rect
            labels = [lab for lab in page.css(".tag .label", row) if lab.is_displayed()]
            boxes = [lab.rect for lab in labels]
            for i, a in enumerate(boxes):
                # Inside the row's width, and clear of every other label of the row.
                assert a["x"] >= row_box["x"] - 1
                assert a["x"] + a["width"] <= row_box["x"] + row_box["width"] + 1
                for b in boxes[i + 1 :]:
                    assert not _boxes_overlap(a, b), (lane.get_attribute("data-dim"), a, b)
            seen += len(labels)
    return seen


def test_page_plays_the_query_and_each_hit_hook(server, browser):
    url, headers = server
    page = Page(browser, url, headers["X-API-Key"])
    cards = page.search_video("vid0")
    assert len(cards) >= 3
    assert "vid0" not in page.card_ids()
    # The query's hook: shown, with a signed media link opened at the hook window, and loadable.
    query = browser.find_element(By.ID, "query-player")
    assert query.is_displayed()
    src = query.get_attribute("src")
    assert "/v1/videos/vid0/media?exp=" in src
    assert src.endswith("#t=0,3")
    assert "Play hook (0–3 s)" in browser.find_element(By.ID, "query-play").text
    page.wait_media("#query-player")
    # Each hit: its hook player with a time fragment, a title or file name, a score on its stated scale.
    page.wait_media("#cards .hit-player")
    for card in page.cards():
        player = page.css(".hit-player", card)[0]
        assert player.get_attribute("src").endswith("#t=0,3")
        assert player.get_attribute("data-hook-start") == "0"
        vid = card.get_attribute("data-video-id")
        name = "tall.mp4" if vid == PORTRAIT_ID else TITLES.get(int(vid[3:]), f"video{vid[3:]}.mp4")
        assert page.css("h3.title", card)[0].text == name
        score = float(page.css(".score strong", card)[0].text)
        assert -1.0 <= score <= 1.0
        assert page.css(".score span", card)[0].text == "match, −1…1"
        # the stored videos carry opening-style profiles: each hit says how alike the two openings are
        style = page.css(".score", card)[1]
        assert page.css("span", style)[0].text == "opening style"
        assert -1.0 <= float(page.css("strong", style)[0].text) <= 1.0
        assert len(page.css(".bar", card)) == 6
    note = browser.find_element(By.ID, "scale-note").text
    assert "weighted mean of the six per-dimension cosines" in note
    assert "ordered by a blend of match and opening style" in note
    assert browser.find_element(By.ID, "legend").is_displayed()
    # Hovering a hit plays its hook in place; its button pauses it (and is what the keyboard reaches).
    from selenium.webdriver.common.action_chains import ActionChains

    first = page.cards()[0]
    player = page.css(".hit-player", first)[0]
    ActionChains(browser).move_to_element(player).perform()
    page.wait.until(
        lambda d: d.execute_script("return !arguments[0].paused && arguments[0].currentTime > 0", player)
    )
    button = page.css("button.play", first)[0]
    assert button.get_attribute("aria-pressed") == "true"
    ActionChains(browser).move_to_element(browser.find_element(By.TAG_NAME, "h1")).perform()
    page.wait.until(lambda d: d.execute_script("return arguments[0].paused", player))
    button.click()
    page.wait.until(lambda d: d.execute_script("return !arguments[0].paused", player))
    t = page.js("return arguments[0].currentTime", player)
    assert 0 <= t <= 3.05
    button.click()
    # The explanation: one lane per dimension, query and hit rows, labels that never overlap.
    page.wait_timelines()
    labels = sum(_check_timeline(page, card) for card in page.cards())
    assert labels > 0
    assert page.css("#cards .tag.q")
    assert page.css("#cards .tag.h")
    page.shot("01-similar-hooks.png")
    assert not page.console_errors()


def test_page_text_clip_and_filters(server, browser, tmp_path):
    url, headers = server
    page = Page(browser, url, headers["X-API-Key"])
    # Text: the page says how it read the words, and the hits are drawn as cards.
    page.choose("mode", "text")
    box = browser.find_element(By.ID, "text-query")
    assert box.is_displayed()
    assert not browser.find_element(By.ID, "video-select").is_displayed()
    box.send_keys("hard cuts in quick succession from the first second", Keys.ENTER)
    page.wait.until(lambda d: "for the text" in d.find_element(By.ID, "status").text)
    read = page.css("#query-info .read-as .chip")
    assert read, browser.find_element(By.ID, "query-info").text
    cards = page.cards()
    assert cards
    page.wait_timelines()
    assert page.css("#cards .tag.q.read")  # the labels the text was read as, in the query rows
    assert browser.find_element(By.ID, "legend-read").is_displayed()
    for card in cards:
        _check_timeline(page, card)
    page.shot("02-text-search.png")

    # Text that names no structure: no cards, and the page says why.
    box = browser.find_element(By.ID, "text-query")
    box.clear()
    box.send_keys("xyzzy", Keys.ENTER)
    page.wait.until(lambda d: "names no structure" in d.find_element(By.ID, "status").text)
    assert not page.cards()
    assert "No hits: the text names no structure" in browser.find_element(By.ID, "query-info").text

    # Filters: orientation chips: only the portrait video passes "portrait".
    page.open_details("filters-box")
    page.choose("orientation", "portrait")
    assert browser.find_element(By.ID, "filters-summary").text == "portrait"
    page.search_video("vid0")
    assert page.card_ids() == [PORTRAIT_ID]
    assert "filtered: portrait" in browser.find_element(By.ID, "status").text
    page.choose("orientation", "square")
    page.run_search()
    assert page.card_ids() == []
    assert "No video passes these filters" in browser.find_element(By.ID, "cards").text
    # Freshness: every video was ingested minutes ago; duration: the portrait video (4.2 s) is too short.
    page.choose("orientation", "")
    page.choose("fresh", "1")
    assert len(page.run_search()) == N_VIDEOS - 1
    browser.find_element(By.ID, "min-dur").send_keys("4.4")
    page.choose("fresh", "")
    assert browser.find_element(By.ID, "filters-summary").text == "4.4–∞ s"
    page.run_search()
    assert PORTRAIT_ID not in page.card_ids()
    assert len(page.card_ids()) == N_VIDEOS - 2
    browser.find_element(By.ID, "min-dur").clear()
    # A tag chip: every hit carries the tag (checked against the API, not the page).
    from selenium.webdriver.support.ui import Select

    pick = Select(browser.find_element(By.ID, "tag-pick"))
    tag = next(
        o.get_attribute("value") for o in pick.options if o.get_attribute("value").startswith("editing:")
    )
    pick.select_by_value(tag)
    browser.find_element(By.ID, "tag-add").click()
    assert page.css(f"#tag-chips [data-tag='{tag}']")
    page.run_search()
    ids = page.card_ids()
    assert ids
    with httpx.Client(base_url=url, headers=headers) as c:
        for vid in ids:
            have = {f"{t['dimension']}:{t['label']}" for t in c.get(f"/v1/videos/{vid}").json()["tags"]}
            assert tag in have
    page.wait_timelines()
    page.shot("03-tag-filter.png")
    page.css(f"#tag-chips [data-tag='{tag}']")[0].click()
    assert not page.css("#tag-chips .chip")

    # An uploaded clip: the query player plays the local file; hits come back as cards.
    from tests.helpers_video import cut_video

    clip = tmp_path / "my clip.mp4"
    cut_video(clip, [8, 8, 8, 20])
    page.choose("mode", "clip")
    browser.find_element(By.ID, "clip").send_keys(str(clip))
    page.run_search()
    page.wait.until(lambda d: "for the uploaded clip" in d.find_element(By.ID, "status").text)
    assert page.cards()
    assert browser.find_element(By.ID, "query-player").get_attribute("src").startswith("blob:")
    page.wait_media("#query-player")
    assert "my clip.mp4" in browser.find_element(By.ID, "query-caption").text
    page.wait_media("#cards .hit-player")
    page.wait_timelines()
    assert page.css("#cards .tag.q.read.shared")  # the clip's shared tags, in the query rows
    for card in page.cards():
        _check_timeline(page, card)
    page.shot("04-clip-search.png")
    assert not page.console_errors()


def test_page_more_and_less_like_this_feed_recommend(server, browser):
    url, headers = server
    page = Page(browser, url, headers["X-API-Key"])
    page.search_video("vid0")
    liked = page.card_ids()[0]
    page.css("button.more", page.cards()[0])[0].click()
    page.wait.until(lambda d: d.find_element(By.ID, "results-title").text.startswith("Recommended"))
    page.wait.until(lambda d: "recommendations from" in d.find_element(By.ID, "status").text)
    assert browser.find_element(By.ID, "examples").is_displayed()
    assert [c.get_attribute("data-example") for c in page.css("#example-chips .chip.positive")] == [liked]
    first_round = page.card_ids()
    assert first_round
    assert liked not in first_round
    assert "vid0" not in first_round  # the query's own video is not recommended to its viewer
    assert page.css(".channels", page.cards()[0])[0].text.startswith("found as: ")
    page.wait_media("#cards .hit-player")
    assert "rank score" in page.css(".score span", page.cards()[0])[0].text
    # "Less like this" on a recommendation: it is fed back as a negative and leaves the list.
    disliked = first_round[0]
    page.css("button.less", page.cards()[0])[0].click()
    page.wait.until(lambda d: "1 not liked" in d.find_element(By.ID, "results-title").text)
    page.wait.until(lambda d: "recommendations from" in d.find_element(By.ID, "status").text)
    assert [c.get_attribute("data-example") for c in page.css("#example-chips .chip.negative")] == [disliked]
    second_round = page.card_ids()
    assert disliked not in second_round
    assert liked not in second_round
    page.wait_timelines()
    for card in page.cards():
        _check_timeline(page, card)
    page.shot("05-recommend.png")
    assert not page.console_errors()


def test_page_by_keyboard_at_phone_width(server, browser):
    url, headers = server
    page = Page(browser, url, headers["X-API-Key"], size=(390, 1600))
    # Keyboard only: a weight preset with Space, the search button with Enter.
    weights = browser.find_element(By.CSS_SELECTOR, "#weights-box summary")
    weights.send_keys(Keys.ENTER)
    preset = browser.find_element(By.CSS_SELECTOR, "[data-preset=editing]")
    preset.send_keys(Keys.SPACE)
    assert preset.get_attribute("aria-pressed") == "true"
    assert browser.find_element(By.ID, "w-editing").get_attribute("value") == "3"
    assert browser.find_element(By.ID, "weights-summary").text == "editing rhythm"
    browser.find_element(By.ID, "search").send_keys(Keys.ENTER)
    page.wait.until(lambda d: "similar hooks for the stored video" in d.find_element(By.ID, "status").text)
    cards = page.cards()
    assert cards
    # The editing weight shows on each card and in the stated mean.
    assert page.css(".bar[data-dim=editing] .w", cards[0])[0].text == "×3"
    play = page.css("button.play", cards[0])[0]
    page.wait_media("#cards .hit-player")
    play.send_keys(Keys.ENTER)
    player = page.css(".hit-player", cards[0])[0]
    page.wait.until(lambda d: d.execute_script("return !arguments[0].paused", player))
    play.send_keys(Keys.SPACE)
    page.wait.until(lambda d: d.execute_script("return arguments[0].paused", player))
    # Nothing wider than the phone; the cards and players fit it; timelines stay readable.
    assert page.js("return document.documentElement.scrollWidth") <= 390
    for card in cards:
        assert card.rect["x"] >= 0
        assert card.rect["x"] + card.rect["width"] <= 390
    page.wait_timelines()
    for card in cards:
        _check_timeline(page, card)
    page.shot("06-phone.png")
    assert not page.console_errors()
