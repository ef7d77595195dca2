"""The HTTP routes (a FastAPI ``APIRouter``); handlers find the state in ``app.state``.

Endpoints (the generated OpenAPI page is at ``/docs``; ids are the data's original ids):

* ``GET /health`` — model version, path, load time, counts; reload status.
* ``GET /metrics`` — Prometheus text: requests, errors and latency histograms by route.
* ``GET /users/{user_id}/recommendations?k=10`` — top-k unseen movies; ``genre`` filter
  (repeatable: a movie qualifies with any of them), ``exclude`` (repeatable or
  comma-separated movie ids), ``fallback=popular`` for unknown users (``"source": "popular"``).
* ``POST /recommendations?k=10`` — body ``{"ratings": [{"movie_id": 50, "rating": 5}, …]}``:
  fold-in with the training regularisation, top-k excluding the posted movies.
* ``GET /movies/{movie_id}/similar?k=10`` — cosine neighbours in factor space.
* ``GET /users/{user_id}/recommendations/{movie_id}/explain`` — the rated movies that
  contribute most to that score (definition in :mod:`movierec.service.foldin`).
* ``POST /admin/reload`` (and SIGHUP) — load a model folder in the background and swap it in
  atomically; a folder that fails to load or validate is refused, with one ``ERROR`` log
  line, and the current model keeps serving. Needs the API key when one is set.

Every route returns its response model, which FastAPI validates and serializes. Errors are
JSON (:mod:`movierec.service.http_errors`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import Response

from movierec.service import handlers
from movierec.service.metrics import CONTENT_TYPE
from movierec.service.params import KQuery, ListQuery, SimilarQuery
from movierec.service.schemas import (
    ERRORS,
    ErrorBody,
    Explanation,
    FoldInRecommendations,
    FoldInRequest,
    Health,
    ReloadRequest,
    ReloadStatus,
    SimilarMovies,
    UserRecommendations,
)
from movierec.service.state import ServiceState

router = APIRouter()


def state_of(request: Request) -> ServiceState:
    """The service state of the app serving ``request``."""
    state: ServiceState = request.app.state.service
    return state


@router.get(
    "/health",
    tags=["operations"],
    summary="Liveness and the model being served",
    response_model=Health,
)
async def health(request: Request) -> Health:
    return handlers.health(state_of(request))


@router.get(
    "/metrics",
    tags=["operations"],
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text"}},
)
async def metrics(request: Request) -> Response:
    return Response(state_of(request).metrics.render(), media_type=CONTENT_TYPE)


@router.get(
    "/users/{user_id}/recommendations",
    tags=["recommendations"],
    summary="Top-k unseen movies for a known user",
    response_model=UserRecommendations,
    responses=ERRORS,
)
async def user_recommendations(
    user_id: str, q: Annotated[ListQuery, Query()], request: Request
) -> UserRecommendations:
    return await handlers.known_user(state_of(request), user_id, q)


@router.post(
    "/recommendations",
    tags=["recommendations"],
    summary="Top-k movies for a new user from their ratings (fold-in)",
    response_model=FoldInRecommendations,
    responses=ERRORS,
)
async def fold_in_recommendations(
    body: FoldInRequest, q: Annotated[ListQuery, Query()], request: Request
) -> FoldInRecommendations:
    return await handlers.fold_in(state_of(request), body, q)


@router.get(
    "/movies/{movie_id}/similar",
    tags=["movies"],
    summary="Nearest movies in factor space (cosine similarity)",
    response_model=SimilarMovies,
    responses=ERRORS,
)
async def similar(
    movie_id: str, q: Annotated[SimilarQuery, Query()], request: Request
) -> SimilarMovies:
    return await handlers.similar(state_of(request), movie_id, q)


@router.get(
    "/users/{user_id}/recommendations/{movie_id}/explain",
    tags=["recommendations"],
    summary="The user's rated movies that contribute most to their score for a movie",
    response_model=Explanation,
    responses=ERRORS,
)
async def explain(
    user_id: str, movie_id: str, q: Annotated[KQuery, Query()], request: Request
) -> Explanation:
    return await handlers.explain(state_of(request), user_id, movie_id, q)


async def require_key(
    request: Request,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header(description="Bearer KEY")] = None,
) -> None:
    """The API key check of the admin routes (when a key is set): 401 without one, 403
    for a wrong one."""
    handlers.check_key(state_of(request), x_api_key, authorization)


@router.post(
    "/admin/reload",
    dependencies=[Depends(require_key)],
    tags=["admin"],
    summary="Load a model folder in the background and swap it in",
    status_code=202,
    response_model=ReloadStatus,
    response_model_exclude_none=True,
    responses={
        200: {"model": ReloadStatus, "description": "Loaded (wait=true)"},
        401: {"model": ErrorBody},
        403: {"model": ErrorBody},
        409: {"model": ErrorBody},
        422: {"model": ReloadStatus, "description": "Model refused (wait=true)"},
    },
)
async def reload(
    request: Request,
    response: Response,
    body: Annotated[ReloadRequest | None, Body()] = None,
    wait: Annotated[
        bool, Query(description="Answer when the load has finished (200 or 422).")
    ] = False,
) -> ReloadStatus:
    result = await handlers.reload(state_of(request), body, wait)
    if wait:
        response.status_code = 200 if result.status == "loaded" else 422
    return result
