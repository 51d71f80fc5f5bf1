"""``/v1/admin``: operations on the running service (reload the ranker model); API keys required."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import Authorized, ServicesDep
from api.problems import PROBLEM_RESPONSES
from api.routers.recommend import model_out
from api.schemas.recommend import ModelStatus

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Authorized], responses=PROBLEM_RESPONSES)


def status(model: Any, note: str) -> ModelStatus:
    if model is None:
        return ModelStatus(scorer="fallback_blend", note=note)
    return ModelStatus(scorer="lightgbm", model=model_out(model))


@router.get("/model", response_model=ModelStatus, summary="The ranker model that scores recommendations")
def get_model(services: ServicesDep) -> ModelStatus:
    return status(*services.model_status())


@router.post(
    "/reload-model",
    response_model=ModelStatus,
    summary="Load the newest saved ranker model (what SIGHUP does)",
)
def reload_model(services: ServicesDep) -> ModelStatus:
    return status(*services.reload_model())
