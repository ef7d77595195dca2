"""Request and response models of the HTTP API (pydantic; FastAPI validates with them).

Request models are strict: a JSON ``true`` is not movie 1 and ``"5"`` is not a rating
(``strict=True``: no coercion between JSON types; an integer is still a valid rating).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr

MAX_RATINGS = 10_000
"""Most ratings one fold-in request may post."""


class Item(BaseModel):
    movie_id: int | str = Field(description="The data's original movie id.")
    title: str
    genres: list[str]
    score: float = Field(
        description="Predicted rating (rating models), preference x_u.y_i (implicit-als), "
        "cosine similarity (similar), number of ratings (popular) or contribution to the "
        "score (explain)."
    )


class UserRecommendations(BaseModel):
    user_id: str
    source: Literal["model", "popular"]
    model_version: str
    items: list[Item]


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    movie_id: StrictInt | StrictStr = Field(description="The data's original movie id.")
    rating: float = Field(allow_inf_nan=False, description="A number (not a string).")


class FoldInRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    ratings: list[RatingIn] = Field(max_length=MAX_RATINGS)


class FoldInRecommendations(BaseModel):
    source: Literal["fold-in", "popular"]
    model_version: str
    rated: int = Field(description="Posted movies known to the model (used in the fold-in).")
    unknown_movies: list[int | str]
    user_bias: float
    items: list[Item]


class SimilarMovies(BaseModel):
    movie_id: int | str
    title: str
    genres: list[str]
    model_version: str
    items: list[Item]


class ExplainItem(Item):
    rating: float = Field(description="The user's rating of this movie.")


class Explanation(BaseModel):
    user_id: str
    movie_id: int | str
    title: str
    genres: list[str]
    score: float = Field(description="μ + b_u + b_m + x_u·y_m (x_u·y_m for implicit-als)")
    baseline: float = Field(description="μ + b_u + b_m (0 for plain ALS)")
    factor_score: float = Field(description="x_u·y_m")
    contributions_sum: float = Field(description="Σ of every rated movie's contribution")
    definition: str
    model_version: str
    items: list[ExplainItem]


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("a path cannot contain a NUL character")
    return value


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model_dir: Annotated[StrictStr | None, AfterValidator(_no_nul)] = Field(
        default=None,
        max_length=4096,
        description="Model folder, absolute or relative to the model root; default: the "
        "folder being served (re-read from disk).",
    )


class ReloadStatus(BaseModel):
    status: Literal["loading", "loaded", "refused"]
    path: str
    version: str | None = Field(default=None, description="The model now served (loaded).")
    error: str | None = Field(default=None, description="Why the model was refused.")
    at: str | None = Field(default=None, description="When the reload finished.")


class RecommenderInfo(BaseModel):
    name: str
    why: str
    model: dict[str, Any] | None


class ReloadInfo(BaseModel):
    in_progress: bool
    last: dict[str, Any] | None = Field(description="The last reload's status (ReloadStatus).")


class Health(BaseModel):
    status: Literal["ok"]
    model: dict[str, Any] = Field(description="The model served: path, version, counts, …")
    serving: dict[str, str] = Field(description="Which model answers which endpoint.")
    recommender: RecommenderInfo
    model_root: str
    reload: ReloadInfo
    uptime_seconds: float
    worker: dict[str, int] | None = Field(
        description="index, workers and pid in a worker of `movierec serve --workers N`"
    )


class ErrorBody(BaseModel):
    error: str
    detail: Any


EXPLAIN_DEFINITION = (
    "contribution of rated movie j = r~_j * y_j' A^-1 y_m, with r~ the user's residual "
    "ratings (r - mu - b_u - b_j; r for plain ALS) and A = Y_I'Y_I + regParam*n*I the "
    "user's normal-equation matrix; the contributions of all rated movies sum to x_u.y_m"
)
IMPLICIT_EXPLAIN = (
    "implicit-als: contribution of rated movie j = c_j * y_j' A^-1 y_m, with c_j = 1 + "
    "alpha*r_j the confidence of the interaction (0 for r_j <= 0) and A = Y'Y + "
    "sum_j alpha*|r_j| y_j y_j' + regParam*n*I the user's implicit normal-equation matrix; "
    "the contributions of all rated movies sum to the preference score x_u.y_m"
)
IALS_EXPLAIN = (
    "ials: contribution of rated movie j = y_j' A^-1 y_m (1 for every rated movie, 0 for "
    "r_j <= 0), with A = alpha0*Y'Y + Y_I'Y_I + regParam*(n + alpha0*|movies|)^nu*I the "
    "user's iALS normal-equation matrix; the contributions sum to the preference x_u.y_m"
)
EASE_EXPLAIN = (
    "ease: contribution of rated movie j (rated >= the model's threshold) = B[j, m], its "
    "item-item weight toward m; the contributions sum to the EASE score X_u.B at m "
    "(factor_score); score is the served score (with a blend: (1-w)*z(EASE) + "
    "w*z(implicit-als), z standardising over the catalogue)"
)
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown user or movie"},
    422: {"model": ErrorBody, "description": "Invalid parameter or body"},
}
