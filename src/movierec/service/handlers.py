"""What each endpoint computes, from the service state and validated parameters.

Every function returns the endpoint's response model (validated by pydantic when built) or
raises :class:`~movierec.service.http_errors.ApiError`; :mod:`movierec.service.routes`
declares them to FastAPI, and :mod:`movierec.service.middleware`'s fast paths call the
same functions directly.
"""

from __future__ import annotations

import functools
import hmac
import logging
import time
from typing import Any

import numpy as np

from movierec.errors import ModelError
from movierec.service.http_errors import ApiError
from movierec.service.params import KQuery, ListQuery, SimilarQuery
from movierec.service.schemas import (
    EASE_EXPLAIN,
    EXPLAIN_DEFINITION,
    IALS_EXPLAIN,
    IMPLICIT_EXPLAIN,
    Explanation,
    FoldInRecommendations,
    FoldInRequest,
    Health,
    ReloadRequest,
    ReloadStatus,
    SimilarMovies,
    UserRecommendations,
)
from movierec.service.scorer import Scorer
from movierec.service.state import ServiceState

log = logging.getLogger("movierec.service")

INLINE_FOLD_IN = 200
"""Fold-ins of at most this many ratings are solved on the event loop (≈0.1 ms)."""

Top = tuple[np.ndarray, np.ndarray]


def _finish_user(s: Scorer, urow: int, k: int, ex: Any, mask: Any, first: np.ndarray) -> Top:
    return s.recommend_user(urow, k, ex, mask, first)


def _finish_fold(s: Scorer, fold: Any, k: int, ex: Any, mask: Any, first: np.ndarray) -> Top:
    return s.recommend_vector(fold, k, ex, mask, first)


def _finish_similar(s: Scorer, irow: int, k: int, mask: Any, first: np.ndarray) -> Top:
    return s.similar(irow, k, mask, first)


def _join(rows: np.ndarray, more: np.ndarray | None) -> np.ndarray:
    """Two row lists as one (``more`` may be None)."""
    return rows if more is None or not len(more) else np.concatenate([rows, more])


def _filters(
    scorer: Scorer, genre: list[str], exclude: list[str]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(genre mask, excluded rows) of the ``genre`` and ``exclude`` parameters."""
    try:
        mask = scorer.genre_mask(genre) if genre else None
    except KeyError as exc:
        raise ApiError(422, f"query.genre: {exc.args[0]}") from None
    return mask, (scorer.catalog.item_rows(exclude)[0] if exclude else None)


async def known_user(state: ServiceState, user_id: str, q: ListQuery) -> UserRecommendations:
    """``GET /users/{user_id}/recommendations``."""
    scorer = state.scorer
    ranker = scorer.ranker  # None: the recommender is most-popular
    lists = ranker if ranker is not None else scorer
    mask, ex = _filters(lists, q.genre, q.exclude)
    k = q.k
    urow = lists.user_row(user_id)
    if urow is None:
        if q.fallback != "popular":
            raise ApiError(404, f"unknown user {user_id!r} (use fallback=popular)")
        rows, scores = lists.popular(k, ex, mask)
        source = "popular"
    elif ranker is None:
        rows, scores = lists.popular(k, _join(lists.seen_rows(urow), ex), mask)
        source = "popular"
    else:
        if state.heavy(ranker):
            finish = functools.partial(_finish_user, ranker, urow, k, ex, mask)
            rows, scores = await state.batcher.score(ranker, ranker.query_user(urow), False, finish)
        else:
            rows, scores = ranker.recommend_user(urow, k, ex, mask)
        source = "model"
    return UserRecommendations.model_validate(
        {
            "user_id": user_id,
            "source": source,
            "model_version": scorer.version,
            "items": lists.items(rows, scores),
        }
    )


async def fold_in(state: ServiceState, body: FoldInRequest, q: ListQuery) -> FoldInRecommendations:
    """``POST /recommendations``."""
    ranker = state.scorer.ranker  # None: the recommender is most-popular
    version = state.scorer.version
    scorer = ranker if ranker is not None else state.scorer
    mask, ex = _filters(scorer, q.genre, q.exclude)
    k = q.k
    seen: set[str] = set()
    keys: list[str] = []
    for r in body.ratings:
        key = str(r.movie_id).strip()
        if key in seen:
            raise ApiError(422, f"body.ratings: movie {r.movie_id!r} is rated more than once")
        seen.add(key)
        if not scorer.rating_min <= r.rating <= scorer.rating_max:
            raise ApiError(
                422,
                f"body.ratings: rating {r.rating} of movie {r.movie_id!r} is outside the "
                f"model's scale [{scorer.rating_min}, {scorer.rating_max}]",
            )
        keys.append(key)
    found = scorer.catalog.lookup_items(keys)  # one vectorised lookup; −1 = unknown
    known = found >= 0
    rows = found[known]
    values = np.fromiter((r.rating for r in body.ratings), np.float64, len(keys))[known]
    unknown = [r.movie_id for r, ok in zip(body.ratings, known.tolist()) if not ok]
    if not len(rows) or ranker is None:
        if not len(rows) and q.fallback != "popular":
            raise ApiError(
                422,
                "body.ratings: none of the rated movies is known to the model; post "
                "ratings of known movies or use fallback=popular",
            )
        top, scores = scorer.popular(k, _join(rows, ex), mask)
        source, user_bias = "popular", 0.0
    else:
        try:  # a k×k solve: cheaper inline than a thread hand-off unless many are posted
            if len(rows) > INLINE_FOLD_IN:
                fold = await state.compute(scorer, scorer.fold_in, rows, values)
            else:
                fold = scorer.fold_in(rows, values)
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
        if state.heavy(scorer):
            finish = functools.partial(_finish_fold, scorer, fold, k, ex, mask)
            top, scores = await state.batcher.score(scorer, fold.x, False, finish)
        else:
            top, scores = scorer.recommend_vector(fold, k, ex, mask)
        source, user_bias = "fold-in", fold.user_bias
    return FoldInRecommendations.model_validate(
        {
            "source": source,
            "model_version": version,
            "rated": len(rows),
            "unknown_movies": unknown,
            "user_bias": user_bias,
            "items": scorer.items(top, scores),
        }
    )


async def similar(state: ServiceState, movie_id: str, q: SimilarQuery) -> SimilarMovies:
    """``GET /movies/{movie_id}/similar``."""
    version = state.scorer.version
    scorer = state.scorer.similar_model
    mask, _ = _filters(scorer, q.genre, [])
    irow = scorer.item_row(movie_id)
    if irow is None:
        raise ApiError(404, f"unknown movie {movie_id!r}")
    if state.heavy(scorer):
        finish = functools.partial(_finish_similar, scorer, irow, q.k, mask)
        rows, scores = await state.batcher.score(scorer, scorer.query_movie(irow), True, finish)
    else:
        rows, scores = scorer.similar(irow, q.k, mask)
    return SimilarMovies.model_validate(
        {
            "movie_id": scorer.item_out_ids[irow],
            "title": scorer.titles[irow],
            "genres": scorer.genres[irow],
            "model_version": version,
            "items": scorer.items(rows, scores),
        }
    )


async def explain(state: ServiceState, user_id: str, movie_id: str, q: KQuery) -> Explanation:
    """``GET /users/{user_id}/recommendations/{movie_id}/explain``."""
    scorer = state.scorer
    urow = scorer.user_row(user_id)
    if urow is None:
        raise ApiError(404, f"unknown user {user_id!r}")
    irow = scorer.item_row(movie_id)
    if irow is None:
        raise ApiError(404, f"unknown movie {movie_id!r}")
    try:
        e = await state.compute(scorer, scorer.explain, urow, irow, q.k)
    except np.linalg.LinAlgError as exc:
        raise ApiError(422, f"cannot explain: {exc}") from None
    except ModelError as exc:
        raise ApiError(503, str(exc)) from None
    items = scorer.items(e.item_rows, e.contributions)
    for item, rating in zip(items, e.ratings.tolist()):
        item["rating"] = rating
    return Explanation.model_validate(
        {
            "user_id": user_id,
            "movie_id": scorer.item_out_ids[irow],
            "title": scorer.titles[irow],
            "genres": scorer.genres[irow],
            "score": e.score,
            "baseline": e.baseline,
            "factor_score": e.factor_score,
            "contributions_sum": e.contributions_sum,
            "definition": _definition(scorer),
            "model_version": scorer.version,
            "items": items,
        }
    )


def _definition(scorer: Scorer) -> str:
    """What an explanation's contributions are, for the scorer's model kind."""
    if scorer.item_item is not None:
        return EASE_EXPLAIN
    if scorer.ials:
        return IALS_EXPLAIN
    return IMPLICIT_EXPLAIN if scorer.implicit else EXPLAIN_DEFINITION


def health(state: ServiceState) -> Health:
    """``GET /health``."""
    scorer = state.scorer
    sub = scorer.recommender
    return Health.model_validate(
        {
            "status": "ok",
            "model": scorer.info(),
            "serving": scorer.serving(),
            "recommender": {
                "name": scorer.recommender_name,
                "why": scorer.recommender_why,
                "model": sub.info() if sub is not None else None,
            },
            "model_root": str(state.model_root),
            "reload": {"in_progress": state.reloading, "last": state.last_reload},
            "uptime_seconds": round(time.monotonic() - state.started, 3),
            "worker": state.worker,
        }
    )


def check_key(state: ServiceState, x_api_key: str | None, authorization: str | None) -> None:
    """Raise 401/403 unless the request carries the API key (when one is set)."""
    if not state.api_key:
        return
    given = x_api_key
    if given is None and authorization and authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    if given is None:
        raise ApiError(401, "this route needs the API key (X-API-Key header)")
    if not hmac.compare_digest(given.encode(), state.api_key.encode()):
        raise ApiError(403, "wrong API key")


async def reload(state: ServiceState, body: ReloadRequest | None, wait: bool) -> ReloadStatus:
    """``POST /admin/reload`` (the key is checked by the caller). With ``wait``, the
    refused status comes back as a 422."""
    try:
        path = state.resolve(body.model_dir if body is not None else None)
    except PermissionError as exc:
        log.error("reload refused: %s", exc)
        raise ApiError(403, str(exc)) from None
    except ValueError as exc:
        log.error("reload refused: %s", exc)
        raise ApiError(422, f"body.model_dir: {exc}") from None
    task = state.trigger(path, relay=True)
    if task is None:
        raise ApiError(409, "a reload is already running")
    if not wait:
        return ReloadStatus(status="loading", path=str(path))
    return ReloadStatus.model_validate(await task)
