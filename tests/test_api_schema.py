"""Schemathesis against the app's own OpenAPI document: generated requests on every operation, 0 server
errors, and responses that match their declared schemas. Bounded in examples per operation and in time."""

from __future__ import annotations

import os
import zlib
from collections import Counter
from types import SimpleNamespace

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.main import create_app
from api.settings import Limits, Settings
from indexer.factory import open_index
from indexer.synthetic import make_records

pytestmark = pytest.mark.slow
KEY = "schema-key-0123456789"
STORED = 30  # videos in the service under test


def _schema(app):
    """The app's OpenAPI document as schemathesis reads it, generating from the document alone: schemathesis 4
    also draws literals from the Python modules the app has loaded, and this project loads its layers lazily,
    so the data drawn depended on what earlier tests had imported."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.analysis.constants.enabled = False
    return schema


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """The service under test (app, index, the records it starts with), running for the whole module."""
    root = tmp_path_factory.mktemp("schema")
    (root / "media").mkdir()
    s = Settings(
        data_dir=root / "data",
        api_keys=[KEY],
        media_roots=[root / "media"],
        limits=Limits(max_k=50, max_upload_bytes=200_000),
    )
    index = open_index(None, s.data_dir)
    records = make_records(STORED, d=16, seed=3)
    index.upsert(records)
    app = create_app(s, index=index)
    # The client runs the lifespan (services, worker) for the whole module.
    with TestClient(app):
        yield SimpleNamespace(app=app, index=index, records=records)
    index.close()


@pytest.fixture(scope="module")
def api_schema(service):
    return _schema(service.app)


#: Examples per operation; SV6D_SCHEMA_EXAMPLES raises it for a longer run.
MAX_EXAMPLES = int(os.environ.get("SV6D_SCHEMA_EXAMPLES", "25"))


#: What every response must satisfy: no 5xx, the declared status codes, content types, headers and bodies.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _run_all(api_schema, mode: GenerationMode, checks: list) -> tuple[list[str], Counter[int]]:
    """Generated requests on every operation (``mode``: valid or invalid ones); failures and statuses."""
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        if mode == GenerationMode.NEGATIVE and not (operation.body or list(operation.iter_parameters())):
            continue  # nothing to get wrong (/healthz)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,  # what .hypothesis/ holds from earlier runs must not change the cases
        )
        def run(case) -> None:
            # Most cases carry the key (to reach the handlers); some exercise the 401 path. The choice is a
            # checksum of the case (``hash`` of a str changes per process, and every bodiless GET has one).
            seen = repr((case.path_parameters, case.query, case.body)).encode()
            headers = {"X-API-Key": KEY} if zlib.crc32(seen) % 4 else {}
            response = case.call(headers=headers)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=checks)

        try:
            run()
        except (
            Exception,
            BaseExceptionGroup,
        ) as exc:  # collect every operation's failure, report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:800]}")
    return failures, statuses


def test_no_server_errors_and_responses_as_documented(api_schema):
    failures, statuses = _run_all(api_schema, GenerationMode.POSITIVE, CHECKS)
    assert not failures, "\n\n".join(failures)
    # The generated requests reached the handlers, not only the validation and auth layers.
    assert sum(n for code, n in statuses.items() if code < 300) >= 20, dict(statuses)
    assert statuses[401] > 0
    assert statuses[422] > 0


def test_invalid_requests_are_refused_with_documented_problems(api_schema):
    failures, statuses = _run_all(api_schema, GenerationMode.NEGATIVE, [*CHECKS, negative_data_rejection])
    assert not failures, "\n\n".join(failures)
    assert not [code for code in statuses if code >= 500]


def test_stateful_sequences_follow_the_documented_links(api_schema, service):
    """Sequences of calls chained by the document's OpenAPI links (ingest -> job -> cancel, list -> video ->
    thumbs / media link / delete, search -> a hit's video): no server error, every answer as documented."""
    doc = api_schema.raw_schema
    linked = [
        (path, method)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        for response in op.get("responses", {}).values()
        if response.get("links")
    ]
    assert len(linked) >= 5, linked

    calls: Counter[tuple[str, str, int]] = Counter()
    # A list's ids lead to stored videos only when its offset lands inside the store, and generated offsets
    # mostly do not (they range up to 2**31): whether any link reached a video was left to chance. This run's
    # own copy of the schema keeps the list's offset inside the store; the other tests generate any offset.
    schema = _schema(service.app)

    @schema.hook
    def map_query(ctx, query):
        if ctx.operation is not None and ctx.operation.path == "/v1/videos" and query and "offset" in query:
            query["offset"] = query["offset"] % STORED
        return query

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self):
            # Every scenario starts from the same store (a scenario may delete videos or ingest others):
            # hypothesis replays scenarios, and one that met another store draws other values.
            keep = {r.video_id for r in service.records}
            service.index.delete([v for v in service.index.video_ids() if v not in keep])
            service.index.upsert([r for r in service.records if not service.index.contains(r.video_id)])

        def get_call_kwargs(self, case):
            return {"headers": {"X-API-Key": KEY}}

        def after_call(self, response, case):
            calls[(case.operation.method.upper(), case.operation.path, response.status_code)] += 1

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS)

    Workflow.run(
        settings=settings(
            max_examples=MAX_EXAMPLES,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,  # what .hypothesis/ holds from earlier runs must not change the cases
        )
    )
    # the links were followed: stored videos reached by the ids a list or a search answered with
    assert calls[("GET", "/v1/videos/{video_id}", 200)] > 0, calls
    assert not [c for c in calls if c[2] >= 500], calls
