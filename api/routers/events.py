"""``/v1/events``: engagement events in batches, idempotent by ``event_id``, stored for the ranker."""

from __future__ import annotations

import polars as pl
from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError

from api.deps import Authorized, ServicesDep
from api.problems import PROBLEM_RESPONSES, ApiProblem
from api.schemas.recommend import EventBatch, EventsAccepted

router = APIRouter(prefix="/v1", tags=["events"], dependencies=[Authorized], responses=PROBLEM_RESPONSES)


@router.post(
    "/events", response_model=EventsAccepted, summary="Store engagement events (replays are ignored)"
)
def post_events(body: EventBatch, services: ServicesDep) -> EventsAccepted:
    limit = services.settings.limits.max_batch
    if len(body.events) > limit:
        raise ApiProblem(422, f"body.events: {len(body.events)} events exceed the batch limit of {limit}")
    unknown = [i for i, e in enumerate(body.events) if not services.index.contains(e.video_id)]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "events", i, "video_id"),
                    "msg": "video is not in the index",
                    "type": "value_error",
                }
                for i in unknown
            ]
        )
    from ranker.events import EVENT_SCHEMA

    rows = [e.model_dump() for e in body.events]
    frame = pl.DataFrame(rows, schema={k: v for k, v in EVENT_SCHEMA.items()})
    # The store rewrites one file per append: appends are serialised so that none is lost.
    with services.events_lock:
        added = services.events.append(frame)
    return EventsAccepted(received=len(rows), added=added, duplicates=len(rows) - added)
