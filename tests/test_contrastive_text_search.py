"""Text → hooks through trained text heads: ``POST /v1/search/hooks`` with ``SV6D_HEADS_DIR`` heads.

A small generated video corpus (``sv6d.synth``, every archetype three times) is encoded once by the evidence
backbone into the feature cache; heads are trained on it (``train_on_cache``: truth labels, 60/20/20 split),
the records are rebuilt with them (``reproject``) and indexed; the API then answers a free-text query with
the text heads. Hooks of the ``fast_cuts_text`` archetype must come first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

QUERY = "fast cuts with a text overlay in the first seconds"
N_VIDEOS = 24


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    from encoder.backbone import get_backbone
    from encoder.contrastive.cache import FeatureCache
    from encoder.contrastive.train import TrainConfig
    from encoder.contrastive.workflow import encode_entries, reproject, train_on_cache
    from indexer import open_index
    from sv6d.synth import generate_corpus, read_manifest

    root = tmp_path_factory.mktemp("text_search")
    generate_corpus(root / "corpus", N_VIDEOS, seed=4, workers=1)
    entries = read_manifest(root / "corpus")
    backbone = get_backbone("evidence")
    cache = FeatureCache(root / "features", backbone.fingerprint())
    encode_entries(backbone, entries, cache)
    heads, _ = train_on_cache(cache, [e.video_id for e in entries], TrainConfig(seed=0), progress=False)
    heads.save(root / "heads")
    with open_index(None, data_dir=root / "data") as index:
        index.upsert(reproject(cache, heads))
    return root, root / "heads", {e.video_id: e.archetype for e in entries}


@pytest.mark.slow
def test_project_text_gives_unit_rows_in_every_dimension(setup):
    from encoder.contrastive.heads import load_heads
    from sv6d.dimensions import DIMENSIONS

    heads = load_heads(setup[1])
    for d in DIMENSIONS:
        q = heads.project_text(d, [QUERY, "a slow push-in"])
        assert q.shape == (2, heads.dim)
        np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_text_query_through_the_api_retrieves_fast_cuts_text_hooks_first(setup):
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.settings import Settings
    from indexer import open_index

    root, heads_dir, archetype = setup
    settings = Settings(data_dir=root / "data", auth_disabled=True, heads_dir=heads_dir)
    with (
        open_index(None, data_dir=root / "data") as index,
        TestClient(create_app(settings, index=index)) as c,
    ):
        r = c.post("/v1/search/hooks", json={"text": QUERY, "k": N_VIDEOS})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "text_heads"
    ranked = [archetype[h["video_id"]] for h in body["hits"]]
    print(ranked)
    n_fast = sum(a == "fast_cuts_text" for a in archetype.values())
    assert ranked[:n_fast] == ["fast_cuts_text"] * n_fast
