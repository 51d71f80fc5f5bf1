"""Text -> structure with a calibrated match: ``POST /v1/search/hooks`` with ``text``.

Generated videos (``sv6d.synth``) are encoded by the default encoder (evidence backbone; the packaged hook
heads, which have a text side) and indexed in a real FAISS index; the API, given no ``heads_dir``, reads the
text through the encoder's own heads (``LevelHeads.project_text``, the path ``sv6d eval-hooks --real``
measures). Text naming no structure gets 200, no hits and a reason; a real query gets hits. An index whose
size the heads do not fit keeps the vocabulary fallback, with the same threshold.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from indexer.factory import open_index
from sv6d.hookbench.text_queries import NONSENSE_QUERIES, TEXT_QUERIES

N_VIDEOS = 6
REAL = "slow push in on the subject"


def test_threshold_separates_the_real_queries_from_nonsense():
    """The calibration the threshold was chosen on: every real query of the text-query set reads at or
    above it, every nonsense query below, through the hook heads' text side and through the vocabulary."""
    from api.services import TextSearch
    from encoder.pipeline import Encoder

    heads = Encoder(backbone="evidence").heads
    text = TextSearch(Settings(data_dir=Path("/nonexistent")), lambda: heads)
    for q in TEXT_QUERIES.values():
        for dim in (heads.dim, 16):  # 16: heads that do not fit the index -> vocabulary fallback
            read = text.query(q, dim)
            assert read.reason is None, (q, dim, read)
            assert read.match_score >= read.threshold, (q, dim, read)
    for q in NONSENSE_QUERIES:
        for dim, method in ((heads.dim, "text_heads"), (16, "label_examples")):
            read = text.query(q, dim)
            assert read.method == method
            assert read.vector is None
            assert read.match_score < read.threshold, (q, dim, read)
            assert "names no structure" in (read.reason or "")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    from encoder.pipeline import Encoder
    from sv6d.synth import generate_corpus, read_manifest

    root = tmp_path_factory.mktemp("text_match")
    generate_corpus(root / "corpus", N_VIDEOS, seed=3, workers=1)
    encoder = Encoder(backbone="evidence")
    records = [encoder.encode_file(str(e.path), video_id=e.video_id) for e in read_manifest(root / "corpus")]
    with open_index(None, data_dir=root / "data") as index:
        index.upsert(records)
    return root / "data"


def _search(data_dir: Path, text: str) -> dict:
    settings = Settings(data_dir=data_dir, auth_disabled=True)
    with open_index(None, data_dir=data_dir) as index, TestClient(create_app(settings, index=index)) as c:
        r = c.post("/v1/search/hooks", json={"text": text, "k": N_VIDEOS})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.slow
def test_nonsense_text_gets_no_hits_and_a_reason(data_dir):
    body = _search(data_dir, "xyzzy")
    assert body["method"] == "text_heads"
    assert body["hits"] == []
    assert body["match_score"] < body["match_threshold"] == pytest.approx(0.3)
    best = body["read_as"][0]
    assert best["similarity"] == body["match_score"]
    assert f"{best['label']!r} at {best['similarity']:.2f}" in body["reason"]
    assert "needs >= 0.30" in body["reason"]


@pytest.mark.slow
def test_a_real_query_gets_hits_read_as_its_style(data_dir):
    body = _search(data_dir, REAL)
    assert body["method"] == "text_heads"
    assert body["reason"] is None
    assert len(body["hits"]) == N_VIDEOS
    assert body["read_as"][0]["label"] == "slow_push_in"
    assert all(r["dimension"] is None for r in body["read_as"])  # styles span every dimension
    assert body["match_score"] >= body["match_threshold"]


def test_vocabulary_fallback_refuses_nonsense_too(tmp_path):
    from indexer.synthetic import make_records

    settings = Settings(data_dir=tmp_path / "data", auth_disabled=True)
    with open_index(None, settings.data_dir) as index:
        index.upsert(make_records(10, d=16, seed=7))
        with TestClient(create_app(settings, index=index)) as c:
            r = c.post("/v1/search/hooks", json={"text": "purple elephant banana", "k": 5})
            schema = c.get("/openapi.json").json()["components"]["schemas"]["HookSearchResponse"]
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "label_examples"
    assert body["hits"] == []
    assert "vocabulary label" in body["reason"]
    assert {"reason", "match_score", "match_threshold", "read_as"} <= set(schema["properties"])
    assert "names no known structure" in schema["properties"]["reason"]["description"]
