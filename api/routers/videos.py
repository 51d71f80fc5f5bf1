"""``/v1/videos``: ingest (upload or path) as jobs, read, list, delete, thumbnail strips, and the media
itself (signed links a ``<video>`` element can play, served with HTTP range requests)."""

from __future__ import annotations

import hmac
import mimetypes
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, Security, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ConfigDict

from api.body import (
    content_kind,
    dual_body_openapi,
    field_problem,
    json_body,
    save_upload,
    upload_name,
    validate,
)
from api.deps import (
    Authorized,
    IndexDep,
    ServicesDep,
    SettingsDep,
    api_key_header,
    bearer,
    require_api_key,
)
from api.media import check_video, media_signature, resolve_media_path, stored_media_path
from api.problems import PROBLEM_RESPONSES, ApiProblem, problem_responses
from api.schemas.videos import (
    Deleted,
    DimensionSummary,
    JobAccepted,
    MediaLink,
    PathIngestRequest,
    SegmentOut,
    TagOut,
    VideoList,
    VideoOut,
)
from api.services import Services, conflict_message
from api.thumbs import thumbnail_strip
from sv6d.dimensions import DIMENSIONS
from sv6d.errors import VideoInputError
from sv6d.record import SV6DRecord

router = APIRouter(
    prefix="/v1/videos", tags=["videos"], dependencies=[Authorized], responses=PROBLEM_RESPONSES
)
# The media route checks its own credentials: an API key, or a signed link from ``/media-link``.
media_router = APIRouter(prefix="/v1/videos", tags=["videos"], responses=PROBLEM_RESPONSES)
MEDIA_LINK_TTL_S = 3600


_UPLOAD_FORM = {
    "file": {"type": "string", "format": "binary", "description": "The video"},
    "video_id": {"type": "string", "maxLength": 256, "pattern": "^[A-Za-z0-9_.:-]+$"},
    "title": {"type": "string", "maxLength": 500},
    "replace": {
        "type": "boolean",
        "default": False,
        "description": "Replace a stored video under video_id (else a video_id in use is 409)",
    },
}


class _UploadFields(PathIngestRequest):
    # Form fields are text: "true"/"false" are read as booleans here.
    model_config = ConfigDict(extra="forbid", strict=False)

    path: str = "upload"


def _check_id_free(services: Services, video_id: str | None, replace: bool) -> None:
    if video_id is not None and not replace and services.index.contains(video_id):
        raise ApiProblem(409, f"body.video_id: {conflict_message(video_id)}")


async def _check_video(services: Services, path: Path, loc: tuple[str, ...], shown: str) -> None:
    try:
        await run_in_threadpool(check_video, path, shown, services.settings.limits.max_duration_s)
    except VideoInputError as exc:
        raise field_problem(loc, str(exc)) from None


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    summary="Ingest a video: upload it (multipart) or register a path under a media root (JSON)",
    responses=problem_responses(403, 409, 415),
    openapi_extra=dual_body_openapi("PathIngestRequest", _UPLOAD_FORM, ["file"]),
)
async def ingest(request: Request, services: ServicesDep, settings: SettingsDep) -> JobAccepted:
    jobs = services.jobs
    job_id = jobs.new_id()
    if content_kind(request) == "json":
        body = await json_body(request, PathIngestRequest)
        _check_id_free(services, body.video_id, body.replace)
        path = await run_in_threadpool(resolve_media_path, body.path, settings.media_roots)
        await _check_video(services, path, ("body", "path"), body.path)
        jobs.create("path", str(path), body.video_id, body.title, job_id, replace=body.replace)
    else:
        form = await request.form(max_files=1, max_fields=10)
        fields = validate(
            _UploadFields,
            {k: form.get(k) for k in ("video_id", "title", "replace") if form.get(k) not in (None, "")},
        )
        _check_id_free(services, fields.video_id, fields.replace)
        upload = form.get("file")
        saved = await save_upload(upload, services.media_dir, settings.limits.max_upload_bytes, "file")
        try:
            await _check_video(services, saved, ("body", "file"), upload_name(upload))
        except BaseException:
            saved.unlink(missing_ok=True)
            raise
        jobs.create("upload", str(saved), fields.video_id, fields.title, job_id, replace=fields.replace)
    services.worker.notify()
    return JobAccepted(job_id=job_id, state="queued", location=f"/v1/jobs/{job_id}")


@router.get("", response_model=VideoList, summary="List stored video ids")
def list_videos(
    index: IndexDep,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> VideoList:
    from api.catalog_access import list_video_ids

    ids, total = list_video_ids(index, offset, limit)
    return VideoList(total=total, offset=offset, video_ids=ids)


def video_out(record: SV6DRecord, include_vectors: bool, source: str) -> VideoOut:
    """The response for ``record``; ``source`` is its source as a response may show it."""
    h0, h1 = record.hook_window
    dims = []
    for i, d in enumerate(DIMENSIONS):
        mine = [t for t in record.tags if t.dimension == d]
        dims.append(
            DimensionSummary(
                dimension=d.value,
                tag_labels=sorted({t.label for t in mine}),
                hook_tag_labels=sorted({t.label for t in mine if t.start_s < h1 and t.end_s > h0}),
                hook_video_cosine=float(record.hook[i] @ record.video[i]),
            )
        )
    vectors = None
    if include_vectors:
        vectors = {
            "video": {d.value: record.video[i].tolist() for i, d in enumerate(DIMENSIONS)},
            "hook": {d.value: record.hook[i].tolist() for i, d in enumerate(DIMENSIONS)},
        }
    return VideoOut(
        video_id=record.video_id,
        source=source,
        duration_s=record.duration_s,
        fps=record.fps,
        width=record.width,
        height=record.height,
        orientation=record.orientation,
        title=record.title,
        creator=record.creator,
        created_at=record.created_at,
        encoder={k: str(v) for k, v in record.encoder.model_dump().items()},
        hook_window=[h0, h1],
        tags=[TagOut.model_validate(t.model_dump(mode="json")) for t in record.tags],
        segments=[
            SegmentOut(index=i, start_s=s.start_s, end_s=s.end_s) for i, s in enumerate(record.segments)
        ],
        dimensions=dims,
        vectors=vectors,
    )


@router.get("/{video_id}", response_model=VideoOut, summary="A stored video: identity, tags, summaries")
def get_video(video_id: str, services: ServicesDep, include_vectors: bool = False) -> VideoOut:
    record = services.index.get(video_id)
    return video_out(record, include_vectors, services.public_source(record.source))


@router.delete("/{video_id}", response_model=Deleted, summary="Remove a video from the index")
def delete_video(video_id: str, services: ServicesDep) -> Deleted:
    if not services.index.contains(video_id):
        raise ApiProblem(404, f"video_id {video_id!r} is not in the index")
    source = services.index.get(video_id).source
    removed = services.delete_video(video_id)
    # Uploaded media belongs to the service; registered paths belong to their owners and stay.
    media = Path(source)
    if media.parent.resolve() == services.media_dir.resolve():
        media.unlink(missing_ok=True)
    return Deleted(video_id=video_id, deleted=removed > 0)


@router.get(
    "/{video_id}/thumbs",
    summary="A JPEG strip of n frames evenly spread over [start, end] (default: the hook window)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "A JPEG image"}},
)
def thumbs(
    video_id: str,
    services: ServicesDep,
    settings: SettingsDep,
    start: Annotated[float | None, Query(ge=0, le=86_400)] = None,
    end: Annotated[float | None, Query(ge=0, le=86_400)] = None,
    n: Annotated[int, Query(ge=1, le=32)] = 4,
    height: Annotated[int, Query(ge=16, le=360)] = 90,
) -> Response:
    if n > settings.limits.max_thumbs:
        raise ApiProblem(422, f"query.n: must be at most {settings.limits.max_thumbs}")
    record = services.index.get(video_id)
    t0 = record.hook_window[0] if start is None else start
    t1 = record.hook_window[1] if end is None else end
    if t1 <= t0:
        raise ApiProblem(422, f"query.end: must be after start ({t0} s), got {t1} s")
    key = (video_id, round(t0, 2), round(t1, 2), n, height, record.source)
    data = services.thumbs.get(key)
    if data is None:
        allowed = [services.media_dir, *settings.media_roots]
        data = thumbnail_strip(record.source, allowed, t0, min(t1, record.duration_s), n, height)
        services.thumbs.put(key, data)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


def _media_file(services: Services, video_id: str) -> Path:
    record = services.index.get(video_id)
    return stored_media_path(record.source, [services.media_dir, *services.settings.media_roots])


@router.get(
    "/{video_id}/media-link",
    response_model=MediaLink,
    summary="A signed link to the video's file, valid for an hour, that a <video> element can play",
)
def media_link(video_id: str, services: ServicesDep) -> MediaLink:
    _media_file(services, video_id)  # 404 now rather than a link that cannot play
    expires = int(time.time()) + MEDIA_LINK_TTL_S
    sig = media_signature(services.media_secret, video_id, expires)
    from urllib.parse import quote

    return MediaLink(
        url=f"/v1/videos/{quote(video_id, safe='')}/media?exp={expires}&sig={sig}",
        expires_at=datetime.fromtimestamp(expires, UTC),
        hook_window=list(services.index.get(video_id).hook_window),
    )


@media_router.get(
    "/{video_id}/media",
    summary="The video's file, with HTTP range requests; an API key or a signed link (exp, sig) opens it",
    response_class=FileResponse,
    responses={
        200: {"content": {"video/*": {}}, "description": "The file"},
        206: {"description": "The requested byte range"},
        **problem_responses(401),
    },
)
def media(
    video_id: str,
    services: ServicesDep,
    settings: SettingsDep,
    exp: Annotated[int | None, Query(ge=0, le=2**40)] = None,
    sig: Annotated[str | None, Query(min_length=1, max_length=64, pattern="^[0-9a-f]+$")] = None,
    key: Annotated[str | None, Security(api_key_header)] = None,
    token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> FileResponse:
    if exp is None and sig is None:
        require_api_key(settings, key, token)
    else:
        if exp is None or sig is None:
            raise ApiProblem(401, "a media link needs both exp and sig (ask /media-link for one)")
        expected = media_signature(services.media_secret, video_id, exp)
        if not hmac.compare_digest(sig.encode(), expected.encode()):
            raise ApiProblem(401, "invalid media link (links die when the service restarts)")
        if exp < time.time():
            raise ApiProblem(401, "expired media link: ask /media-link for a new one")
    path = _media_file(services, video_id)
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(
        path,
        media_type=kind,
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
        content_disposition_type="inline",
    )
