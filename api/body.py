"""Routes that take JSON or multipart (an upload): parse by content type, validate as FastAPI does."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from api.problems import ApiProblem, nested_too_deeply

M = TypeVar("M", bound=BaseModel)
CHUNK = 1024 * 1024
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".ts", ".h264"})


def content_kind(request: Request) -> str:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        return "json"
    if ctype == "multipart/form-data":
        return "multipart"
    raise ApiProblem(
        415, f"content type {ctype or 'none'!r} is not accepted: send application/json or multipart/form-data"
    )


def field_problem(loc: tuple[str, ...], message: str, kind: str = "value_error") -> RequestValidationError:
    """A 422 naming the field at ``loc`` (e.g. ``("body", "path")``) and what is wrong with it."""
    return RequestValidationError([{"loc": loc, "msg": message, "type": kind}])


def validate(model: type[M], data: Any, prefix: tuple[str, ...] = ("body",)) -> M:
    try:
        return model.model_validate(data)
    except RecursionError:
        raise nested_too_deeply(prefix) from None
    except ValidationError as exc:
        errors = [
            {**e, "loc": (*prefix, *e["loc"])} for e in exc.errors(include_url=False, include_context=False)
        ]
        raise RequestValidationError(errors) from None


async def json_body(request: Request, model: type[M]) -> M:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": f"JSON decode error: {exc}", "type": "json_invalid"}]
        ) from None
    except RecursionError:
        raise nested_too_deeply(("body",)) from None
    return validate(model, data)


def form_json(value: Any, model: type[M], field: str) -> M:
    """A form field holding a JSON object (absent means all defaults)."""
    if value is None or value == "":
        return validate(model, {}, ("body", field))
    if not isinstance(value, str):
        raise RequestValidationError(
            [{"loc": ("body", field), "msg": "must be a JSON text field", "type": "type"}]
        )
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [{"loc": ("body", field), "msg": f"JSON decode error: {exc}", "type": "json_invalid"}]
        ) from None
    except RecursionError:
        raise nested_too_deeply(("body", field)) from None
    return validate(model, data, ("body", field))


def upload_name(upload: Any) -> str:
    """The client's name for an uploaded file (its base name only), for messages about it."""
    name = Path(getattr(upload, "filename", None) or "").name
    return name or "upload"


async def save_upload(upload: Any, directory: Path, max_bytes: int, field: str) -> Path:
    """Stream an upload to ``directory`` (a random name keeping a video suffix), up to ``max_bytes``."""
    if not isinstance(upload, UploadFile):
        raise RequestValidationError([{"loc": ("body", field), "msg": "must be a file", "type": "missing"}])
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        suffix = ".mp4"
    directory.mkdir(parents=True, exist_ok=True)
    fd = tempfile.NamedTemporaryFile(dir=directory, suffix=suffix, delete=False)  # noqa: SIM115
    path = Path(fd.name)
    size = 0
    try:
        with fd:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise ApiProblem(413, f"{field}: upload exceeds the limit of {max_bytes} bytes")
                fd.write(chunk)
        if size == 0:
            raise RequestValidationError(
                [{"loc": ("body", field), "msg": "the file is empty", "type": "value_error"}]
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def dual_body_openapi(
    json_schema: str, multipart_props: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON body (a component schema) or a multipart body."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{json_schema}"}},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": multipart_props, "required": required}
                },
            },
        }
    }
