"""``/v1/recommend``: candidates from several channels, ranked by the ranker (or its fallback blend)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

from api.deps import Authorized, ServicesDep, check_k
from api.problems import PROBLEM_RESPONSES, ApiProblem
from api.schemas.recommend import ModelOut, RecommendationOut, RecommendRequest, RecommendResponse

if TYPE_CHECKING:
    from ranker.model import RankerModel

router = APIRouter(prefix="/v1", tags=["recommend"], dependencies=[Authorized], responses=PROBLEM_RESPONSES)


def model_out(model: RankerModel) -> ModelOut:
    """What a response says about the model that scored."""
    from ranker.training import describe

    return ModelOut(**describe(model))


@router.post(
    "/recommend", response_model=RecommendResponse, summary="Recommendations for a user or a history"
)
def recommend(body: RecommendRequest, services: ServicesDep) -> RecommendResponse:
    check_k(body.k, services.settings)
    index = services.index
    if body.positive is not None:
        unknown = [v for v in [*body.positive, *body.negative] if not index.contains(v)]
        if unknown:
            raise ApiProblem(404, f"body.positive/negative: videos not in the index: {unknown[:10]}")
    if body.seed is not None and not index.contains(body.seed):
        raise ApiProblem(404, f"body.seed: video {body.seed!r} is not in the index")
    rec = services.recommender()
    result = rec.recommend(
        user_id=body.user_id, history=body.positive, k=body.k, seed=body.seed, negatives=body.negative
    )
    return RecommendResponse(
        items=[
            RecommendationOut(video_id=i.video_id, score=i.score, relevance=i.relevance, channels=i.channels)
            for i in result.items
        ],
        scorer=result.scorer,
        model=model_out(rec.model) if result.model_id is not None else None,
        note=result.note,
        n_candidates=result.n_candidates,
    )
