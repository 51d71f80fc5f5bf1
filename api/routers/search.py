"""``/v1/search``: similar hooks (by video id, uploaded clip or text) and similar videos or segments."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from api.body import (
    content_kind,
    dual_body_openapi,
    field_problem,
    form_json,
    json_body,
    save_upload,
    upload_name,
    validate,
)
from api.deps import Authorized, ServicesDep, check_k
from api.media import check_video
from api.problems import PROBLEM_RESPONSES, ApiProblem, problem_responses
from api.schemas.common import HitOut, SearchFilters, Weights
from api.schemas.search import (
    ClipSearchParams,
    HookSearchRequest,
    HookSearchResponse,
    SimilarRequest,
    SimilarResponse,
    TextReading,
)
from api.services import Services
from indexer.hits import Hit
from indexer.query import Filters
from indexer.query import Weights as IndexWeights
from sv6d.errors import VideoInputError
from sv6d.vocabulary import default_vocabulary

router = APIRouter(
    prefix="/v1/search", tags=["search"], dependencies=[Authorized], responses=PROBLEM_RESPONSES
)

_CLIP_FORM = {
    "clip": {"type": "string", "format": "binary", "description": "A short video to use as the query"},
    "params": {"type": "string", "description": "JSON: {k, weights, filters} (ClipSearchParams)"},
}


def to_filters(f: SearchFilters | None, field: tuple[str, ...] = ("body", "filters")) -> Filters | None:
    """The index's filters for the request's (already checked: anything the index refuses is a 422)."""
    if f is None:
        return None
    return validate(Filters, f.model_dump(exclude_none=True, mode="python"), field)


def weights_of(w: Weights | None) -> IndexWeights | None:
    """The index's weights for the request's; None when it named none (the search's defaults apply)."""
    named = w.as_dict() if w is not None else {}
    return IndexWeights.of(named) if named else None


def hits_out(hits: list[Hit]) -> list[HitOut]:
    return [HitOut.model_validate(h.to_json()) for h in hits]


def hook_weights_used(weights: IndexWeights | None) -> dict[str, float]:
    """The weights a hook search applies: the indexer's own reading (its default hook weights when none)."""
    return IndexWeights.of(weights, "hook").as_dict()


@router.post(
    "/hooks",
    response_model=HookSearchResponse,
    summary="Videos whose hooks are structurally closest to a stored video's, an uploaded clip's or a text's",
    responses=problem_responses(415),
    openapi_extra=dual_body_openapi("HookSearchRequest", _CLIP_FORM, ["clip"]),
)
async def search_hooks(request: Request, services: ServicesDep) -> HookSearchResponse:
    settings = services.settings
    if content_kind(request) == "json":
        body = await json_body(request, HookSearchRequest)
        check_k(body.k, settings)
        if body.video_id is not None:
            hits = await run_in_threadpool(
                partial(services.index.similar_hooks, style=body.style),
                body.video_id,
                body.k,
                weights_of(body.weights),
                to_filters(body.filters),
            )
            return HookSearchResponse(
                query="video_id",
                hits=hits_out(hits),
                query_video_id=body.video_id,
                weights=hook_weights_used(weights_of(body.weights)),
            )
        assert body.text is not None
        out = await run_in_threadpool(_text_search, services, body.text, body)
        out.weights = hook_weights_used(weights_of(body.weights))
        return out
    form = await request.form(max_files=1, max_fields=5)
    params = form_json(form.get("params"), ClipSearchParams, "params")
    check_k(params.k, settings)
    clip = form.get("clip")
    saved = await save_upload(clip, settings.data_dir / "tmp", settings.limits.max_upload_bytes, "clip")
    shown = upload_name(clip)
    try:
        hits = await run_in_threadpool(_clip_search, services, saved, shown, params)
    finally:
        saved.unlink(missing_ok=True)
    return HookSearchResponse(
        query="clip", hits=hits_out(hits), weights=hook_weights_used(weights_of(params.weights))
    )


def _clip_search(services: Services, path: Path, shown: str, params: ClipSearchParams) -> list[Hit]:
    """Encode the uploaded clip (saved at ``path``; ``shown`` is the client's name for it) and search."""
    try:
        check_video(path, shown, services.settings.limits.max_duration_s)
        record = services.encoder().encode_file(str(path), video_id="query-clip")
    except VideoInputError as exc:
        raise field_problem(("body", "clip"), f"{shown}: {exc.problem.replace(str(path), shown)}") from None
    return services.index.search(
        record,
        weights_of(params.weights),
        params.k,
        "hook",
        to_filters(params.filters, ("body", "params", "filters")),
        style=params.style,
    )


def _text_search(services: Services, text: str, body: HookSearchRequest) -> HookSearchResponse:
    """Read the text (``TextSearch.query``); text matching no structure, or labels no stored hook shows,
    give no hits and a reason."""
    index = services.index
    weights, filters = weights_of(body.weights), to_filters(body.filters)
    read = services.text.query(text, index.dim)
    out = HookSearchResponse(
        query="text",
        hits=[],
        read_as=[TextReading(label=lab, dimension=d, similarity=s) for lab, d, s in read.read_as],
        method=read.method,
        match_score=read.match_score,
        match_threshold=read.threshold,
        reason=read.reason,
    )
    if read.reason is not None:
        return out
    if read.vector is not None:
        out.hits = hits_out(index.search(read.vector, weights, body.k, "hook", filters))
        return out
    from api.catalog_access import videos_with_hook_labels

    vocab = default_vocabulary()
    labels = [lab for lab, _, _ in read.read_as]
    examples = videos_with_hook_labels(index, labels)
    if not examples:
        shown = ", ".join(labels)
        out.reason = f"no stored video shows the labels the text was read as ({shown}) in its hook"
        return out
    blocks = np.stack([index.get(v).hook for v in examples])
    query: Any = blocks.mean(axis=0)
    norms = np.linalg.norm(query, axis=1, keepdims=True)
    query = query / np.where(norms > 0, norms, 1.0)
    hits = index.search(query.astype(np.float32), weights, body.k, "hook", filters)
    wanted = {(vocab.labels[lab].dimension.value, lab) for lab in labels}
    for h in hits:
        rec = index.get(h.video_id)
        h0, h1 = rec.hook_window
        from indexer.hits import SharedTag

        have = {(t.dimension.value, t.label) for t in rec.tags_in(h0, h1)}
        h.shared_tags = [SharedTag(d, lab) for d, lab in sorted(wanted & have)]
    out.hits = hits_out(hits)
    return out


@router.post(
    "/similar", response_model=SimilarResponse, summary="Similar videos at the video or segment level"
)
def search_similar(body: SimilarRequest, services: ServicesDep) -> SimilarResponse:
    check_k(body.k, services.settings)
    index = services.index
    if not index.contains(body.video_id):
        raise ApiProblem(404, f"body.video_id: video {body.video_id!r} is not in the index")
    hits = index.search(
        body.video_id,
        weights_of(body.weights),
        body.k,
        body.level,
        to_filters(body.filters),
        exclude=(body.video_id,),
    )
    return SimilarResponse(level=body.level, hits=hits_out(hits))
