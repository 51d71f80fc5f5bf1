"""What the Qdrant backend would send to a cluster, without a cluster.

``collection_specs`` builds every collection body in one place; its fields are asserted here. Then the real
``QdrantClient(url=...)`` (REST) talks to a small recording HTTP endpoint on loopback that answers the few
calls the backend makes, so the test sees the exact JSON bodies a Qdrant cluster would receive: the
``PUT /collections/{name}`` bodies (shards, replication, write consistency, on-disk, int8 quantization, HNSW),
the payload index schemas, the single ``POST /collections/aliases`` request that switches a rebuild, and
the search parameters (rescoring, oversampling, read consistency) of a query. The endpoint is not Qdrant:
it keeps only collection names and aliases, and answers searches with no points.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from indexer.qdrant_backend import PAYLOAD_INDEXES, QdrantConfig, QdrantIndex, collection_specs
from indexer.synthetic import make_records
from sv6d.dimensions import DIMENSIONS

D = 8
CLUSTER = QdrantConfig(
    shard_number=6,
    replication_factor=2,
    write_consistency_factor=1,
    read_consistency="majority",
    on_disk=True,
    on_disk_payload=True,
    quantization="int8",
    quantile=0.98,
    oversampling=3.0,
    hnsw_m=32,
    hnsw_ef_construct=200,
    hnsw_ef=96,
)


def test_collection_specs_hold_every_cluster_setting() -> None:
    from qdrant_client import models

    videos, segments = collection_specs("sv6d__v3", D, CLUSTER)
    assert (videos.name, segments.name) == ("sv6d__v3", "sv6d__v3_segments")
    for spec, levels in ((videos, ("video", "hook")), (segments, ("segment",))):
        body = spec.create
        assert isinstance(body, models.CreateCollection)
        assert (body.shard_number, body.replication_factor, body.write_consistency_factor) == (6, 2, 1)
        assert body.on_disk_payload is True
        assert body.hnsw_config == models.HnswConfigDiff(m=32, ef_construct=200)
        scalar = body.quantization_config.scalar
        assert (scalar.type, scalar.quantile, scalar.always_ram) == (models.ScalarType.INT8, 0.98, True)
        expected_names = {f"{lv}_{d.value}" for lv in levels for d in DIMENSIONS} | {
            f"{lv}_all" for lv in levels
        }
        assert set(body.vectors) == expected_names
        for name, params in body.vectors.items():
            assert params.size == (6 * D if name.endswith("_all") else D)
            assert params.distance == models.Distance.DOT
            assert params.on_disk is True
        assert spec.payload_indexes == {
            "video_id": models.PayloadSchemaType.KEYWORD,
            "tags": models.PayloadSchemaType.KEYWORD,
            "orientation": models.PayloadSchemaType.KEYWORD,
            "creator": models.PayloadSchemaType.KEYWORD,
            "duration_s": models.PayloadSchemaType.FLOAT,
            "created_at": models.PayloadSchemaType.DATETIME,
        }
    plain, _ = collection_specs("x", D, QdrantConfig())
    assert plain.create.quantization_config is None
    assert plain.create_kwargs().keys() == {"vectors_config", "on_disk_payload", "hnsw_config"}


# --------------------------------------------------------------------------------------------- the wire
class Recorder:
    """State and log of the recording endpoint."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, list[str]], Any]] = []
        self.collections: set[str] = set()
        self.api_keys: set[str | None] = set()
        self.aliases: dict[str, str] = {}

    def answer(self, method: str, path: str, body: Any) -> Any:
        if path == "/":
            return {"title": "recording endpoint", "version": "1.20.0"}
        if (method, path) == ("GET", "/aliases"):
            return [{"alias_name": a, "collection_name": c} for a, c in self.aliases.items()]
        if (method, path) == ("GET", "/collections"):
            return {"collections": [{"name": n} for n in sorted(self.collections)]}
        if (method, path) == ("POST", "/collections/aliases"):
            for action in body["actions"]:
                if "delete_alias" in action:
                    self.aliases.pop(action["delete_alias"]["alias_name"], None)
                else:
                    self.aliases[action["create_alias"]["alias_name"]] = action["create_alias"][
                        "collection_name"
                    ]
            return True
        if m := re.fullmatch(r"/collections/([\w-]+)/exists", path):
            return {"exists": m.group(1) in self.collections}
        if m := re.fullmatch(r"/collections/([\w-]+)", path):
            if method == "PUT":
                self.collections.add(m.group(1))
            elif method == "DELETE":
                self.collections.discard(m.group(1))
            return True
        if path.endswith("/points/count"):
            return {"count": 1}
        if path.endswith("/points/query"):
            return {"points": []}
        # payload index, upsert, delete: an update result
        return {"operation_id": 1, "status": "completed"}

    def aliases_response(self, method: str, path: str, body: Any) -> Any:
        result = self.answer(method, path, body)
        if path == "/":
            return result
        if (method, path) == ("GET", "/aliases"):
            result = {"aliases": result}
        return {"status": "ok", "time": 0.0, "result": result}


@pytest.fixture
def endpoint() -> Iterator[tuple[str, Recorder]]:
    rec = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            rec.requests.append((self.command, url.path, parse_qs(url.query), body))
            if url.path != "/":
                rec.api_keys.add(self.headers.get("api-key"))
            data = json.dumps(rec.aliases_response(self.command, url.path, body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", rec
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def sent(rec: Recorder, method: str, pattern: str) -> list[tuple[str, dict[str, list[str]], Any]]:
    return [(p, q, b) for m, p, q, b in rec.requests if m == method and re.fullmatch(pattern, p)]


@pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")
def test_the_cluster_receives_the_configured_collections_payload_indexes_and_one_alias_switch(
    endpoint: tuple[str, Recorder],
) -> None:
    url, rec = endpoint
    ix = QdrantIndex(url=url, api_key="k" * 24, config=CLUSTER)
    ix.upsert(make_records(3, D, seed=1))

    creates = {p.rsplit("/", 1)[1]: b for p, _, b in sent(rec, "PUT", r"/collections/[\w-]+")}
    assert set(creates) == {"sv6d__v1", "sv6d__v1_segments"}
    expected = {
        name: spec.create.model_dump(mode="json", exclude_none=True)
        for name, spec in ((s.name, s) for s in collection_specs("sv6d__v1", D, CLUSTER))
    }
    for name, body in creates.items():
        assert {k: v for k, v in body.items() if v is not None} == expected[name]
        assert (body["shard_number"], body["replication_factor"], body["write_consistency_factor"]) == (
            6,
            2,
            1,
        )
        assert body["quantization_config"] == {
            "scalar": {"type": "int8", "quantile": 0.98, "always_ram": True}
        }
        assert body["hnsw_config"] == {"m": 32, "ef_construct": 200}
        assert all(v["on_disk"] is True and v["distance"] == "Dot" for v in body["vectors"].values())
    indexes = sent(rec, "PUT", r"/collections/sv6d__v1/index")
    assert {b["field_name"]: b["field_schema"] for _, _, b in indexes} == PAYLOAD_INDEXES
    assert len(sent(rec, "PUT", r"/collections/sv6d__v1_segments/index")) == len(PAYLOAD_INDEXES)
    # writes go through the alias, so a later switch redirects every API replica at once
    assert [p for p, _, _ in sent(rec, "PUT", r"/collections/[\w-]+/points")] == [
        "/collections/sv6d/points",
        "/collections/sv6d_segments/points",
    ]

    rec.requests.clear()
    result = ix.rebuild(make_records(4, D, seed=2), batch_size=2)
    switches = sent(rec, "POST", "/collections/aliases")
    assert len(switches) == 1, "the switch must be one request"
    assert switches[0][2]["actions"] == [
        {"delete_alias": {"alias_name": "sv6d"}},
        {"create_alias": {"collection_name": "sv6d__v2", "alias_name": "sv6d"}},
        {"delete_alias": {"alias_name": "sv6d_segments"}},
        {"create_alias": {"collection_name": "sv6d__v2_segments", "alias_name": "sv6d_segments"}},
    ]
    order = [(m, p) for m, p, _, _ in rec.requests if m in ("POST", "DELETE") and "points" not in p]
    switch_at = order.index(("POST", "/collections/aliases"))
    assert order[switch_at + 1 :] == [
        ("DELETE", "/collections/sv6d__v1"),
        ("DELETE", "/collections/sv6d__v1_segments"),
    ], "the old version is dropped only after the switch"
    assert rec.collections == {"sv6d__v2", "sv6d__v2_segments"}
    assert result.dropped == ("sv6d__v1", "sv6d__v1_segments")

    rec.requests.clear()
    assert ix.search(make_records(1, D, seed=3)[0].video, k=5) == []
    [(path, query, body)] = sent(rec, "POST", r"/collections/[\w-]+/points/query")
    assert path == "/collections/sv6d/points/query"
    assert query["consistency"] == ["majority"]
    assert body["params"] == {
        "hnsw_ef": 96,
        "quantization": {"ignore": False, "rescore": True, "oversampling": 3.0},
    }
    assert body["using"] == "video_all"
    assert body["limit"] == 5
    assert rec.api_keys == {"k" * 24}
    ix.close()
