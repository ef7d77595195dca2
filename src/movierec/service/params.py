"""Query parameters of the list endpoints, declared once as pydantic models.

FastAPI validates them (``Annotated[ListQuery, Query()]``: one OpenAPI parameter per
field, with its bounds); the fast paths of :mod:`movierec.service.middleware` validate the
same models with :func:`parse_query`, which reports errors exactly as FastAPI does (``loc``
starting with ``"query"``), so both answer a bad parameter with the same 422.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, Field, ValidationError
from starlette.datastructures import QueryParams

MAX_K = 1000
"""Largest ``k`` any endpoint accepts."""
MAX_EXCLUDE = 10_000
"""Most movie ids one ``exclude`` parameter may list."""

Q = TypeVar("Q", bound=BaseModel)


def _split(values: list[str]) -> list[str]:
    """Values of a repeatable, comma-separated parameter, stripped, empty ones dropped."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _split_exclude(values: list[str]) -> list[str]:
    ids = _split(values)
    if len(ids) > MAX_EXCLUDE:
        raise ValueError(f"{len(ids)} movies listed; at most {MAX_EXCLUDE} allowed")
    return ids


class KQuery(BaseModel):
    k: int = Field(10, ge=1, le=MAX_K, description=f"How many movies (1..{MAX_K}).")


class SimilarQuery(KQuery):
    genre: Annotated[list[str], AfterValidator(_split)] = Field(
        default_factory=list,
        description="Only movies with any of these genres (comma-separated or repeated; "
        "case-insensitive). An unknown genre is a 422.",
    )


class ListQuery(SimilarQuery):
    exclude: Annotated[list[str], AfterValidator(_split_exclude)] = Field(
        default_factory=list,
        description=f"Movie ids never to return (comma-separated or repeated; at most "
        f"{MAX_EXCLUDE}).",
    )
    fallback: Literal["none", "popular"] = Field(
        "none",
        description="popular: answer for an unknown user (or a fold-in with no known "
        'movie) with the most popular movies, marked "source": "popular".',
    )


class QueryInvalid(Exception):
    """Query parameters that do not validate; ``errors`` as FastAPI reports them."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid query parameters")
        self.errors = errors


def _is_list(field: Any) -> bool:
    return getattr(field.annotation, "__origin__", None) is list


_LIST_FIELDS: dict[type[BaseModel], dict[str, bool]] = {}


def parse_query(model: type[Q], query_string: bytes | str) -> Q:
    """``model`` from a raw query string, as FastAPI fills a query-parameter model:
    repeatable (list) fields take every value, others the last one; absent fields keep
    their defaults.

    Raises:
        QueryInvalid: the values do not validate.
    """
    fields = _LIST_FIELDS.get(model)
    if fields is None:
        fields = _LIST_FIELDS[model] = {n: _is_list(f) for n, f in model.model_fields.items()}
    q = QueryParams(query_string)
    values: dict[str, Any] = {}
    for name, many in fields.items():
        if many:
            got = q.getlist(name)
            if got:
                values[name] = got
        elif name in q:
            values[name] = q[name]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise QueryInvalid(
            [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
