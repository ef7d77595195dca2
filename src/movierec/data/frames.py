"""Ratings held in a pandas DataFrame, validated exactly as a file's rows are.

:func:`load_frame` feeds the frame's columns through the same
:class:`~movierec.data.builder.RatingsBuilder` the file readers use: the same rules (missing
values, bad ids, non-numeric or out-of-range ratings, bad timestamps), the same reject
reasons and reject limit, the same id remapping and duplicate policy. A DataFrame has no
line numbers, so a reject's ``line`` is its 1-based row position and the extra ``index``
column holds the frame's own index label of that row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from movierec import schema
from movierec.data.builder import RatingsBuilder
from movierec.data.detect import HEADER_ALIASES, id_kind, norm_name
from movierec.data.report import LoadedRatings, LoadReport
from movierec.errors import ConfigError, DataError

FRAME_SOURCE = "<pandas DataFrame>"
"""What the load report and error messages call a DataFrame source."""


def frame_columns(
    names: list[str],
    columns: dict[str, str],
    required: tuple[str, ...] = (schema.USER, schema.ITEM, schema.RATING),
) -> dict[str, str]:
    """Canonical column -> frame column: the given ``columns`` first, then the usual header
    names (``userId``, ``movie_id``, ``rating``, ``timestamp`` and their aliases).

    Raises:
        DataError: a named column is not in the frame, or no user/movie/rating column.
    """
    found: dict[str, str] = {}
    for canon, wanted in columns.items():
        if wanted not in names:
            raise DataError(
                f"column {wanted!r} (for {canon}) is not in the DataFrame columns {names}"
            )
        found[canon] = wanted
    for canon in schema.RATING_COLUMNS:
        if canon in found:
            continue
        for n in names:
            if n == canon or norm_name(n) in HEADER_ALIASES[canon]:
                found[canon] = n
                break
    missing = [c for c in required if c not in found]
    if missing:
        raise DataError(
            f"cannot find the {', '.join(missing)} column(s) among the DataFrame columns "
            f"{names}; name them (user_col=, item_col=, rating_col=)"
        )
    return found


def _kind(values: pd.Series) -> str:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return "int"
    head = values.dropna().head(1000)
    return id_kind([str(v).strip() for v in head])


def load_frame(
    frame: pd.DataFrame,
    *,
    columns: dict[str, str] | None = None,
    rating_min: float = 0.5,
    rating_max: float = 5.0,
    duplicates: str = "latest",
    max_reject_fraction: float = 0.5,
    movies: pd.DataFrame | None = None,
    keep_lines: bool = False,
) -> LoadedRatings:
    """Validate and canonicalise the ratings in ``frame`` (module docstring).

    ``columns`` maps canonical names (``user_id``, ``movie_id``, ``rating``, ``timestamp``)
    to the frame's column names; unnamed ones are found by the usual header names.
    ``movies``: a titles table (``movieId``, ``title``, ``genres``) in pandas.

    >>> df = pd.DataFrame({"userId": [1, 1, 2], "movieId": [10, 20, 10],
    ...                    "rating": [4.0, 9.5, None]})
    >>> loaded = load_frame(df, max_reject_fraction=1.0)
    >>> len(loaded.ratings), list(loaded.rejects["reason"]), list(loaded.rejects["index"])
    (1, ['rating_out_of_range', 'missing_value'], [1, 2])

    Raises:
        ConfigError: rating_min > rating_max, or an unknown ``columns`` key.
        DataError: a missing column, an empty frame, too many rejected rows, no valid row, or
            a duplicate under ``duplicates="error"``.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(schema.RATING_COLUMNS))
    if unknown:
        raise ConfigError(
            f"unknown column key(s) {', '.join(unknown)}; use {', '.join(schema.RATING_COLUMNS)}"
        )
    if rating_min > rating_max:
        raise ConfigError(f"rating_min ({rating_min}) is greater than rating_max ({rating_max})")
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        raise DataError(f"the DataFrame has repeated column names: {names}")
    plain = frame.set_axis(names, axis=1)
    mapping = frame_columns(names, columns)
    source_cols = list(dict.fromkeys(mapping.values()))
    builder = RatingsBuilder(
        path=FRAME_SOURCE,
        has_timestamp=schema.TIMESTAMP in mapping,
        rating_min=float(rating_min),
        rating_max=float(rating_max),
        user_kind=_kind(plain[mapping[schema.USER]]),
        item_kind=_kind(plain[mapping[schema.ITEM]]),
        columns=mapping,
    )
    body = plain[source_cols].reset_index(drop=True)

    def raw_rows(positions: np.ndarray) -> list[str]:
        return [
            ", ".join(f"{c}={_plain(body[c].iat[int(p)])!r}" for c in source_cols)
            for p in positions
        ]

    lines = np.arange(1, len(body) + 1, dtype=np.int64)
    builder.add({canon: body[col] for canon, col in mapping.items()}, lines, raw_rows)
    result = builder.finish(
        duplicates,
        max_reject_fraction,
        lambda ls: raw_rows(np.asarray(ls, dtype=np.int64) - 1),
        keep_lines=keep_lines,
    )
    rejects = result.rejects.copy()
    rejects["index"] = frame.index[rejects[schema.LINE].to_numpy(dtype=np.int64) - 1].to_numpy()
    canon_movies = None
    if movies is not None:
        from movierec.data.movies import movies_from_frame

        canon_movies = movies_from_frame(movies, result.item_ids)
    report = LoadReport(
        path=FRAME_SOURCE,
        format="dataframe",
        rows_read=result.rows_read,
        rows_kept=len(result.ratings),
        rejected=result.rejected,
        duplicates=result.duplicates,
        has_timestamp=schema.TIMESTAMP in mapping,
        rating_min=float(rating_min),
        rating_max=float(rating_max),
        ids_mapped=result.user_ids is not None or result.item_ids is not None,
    )
    return LoadedRatings(
        ratings=result.ratings,
        rejects=rejects,
        report=report,
        user_ids=result.user_ids,
        item_ids=result.item_ids,
        movies=canon_movies,
        lines=result.lines,
    )


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def spark_to_pandas(df: object) -> pd.DataFrame:
    """``df.toPandas()`` (a Spark DataFrame, classic or Connect) with empty ``attrs``: Spark
    Connect puts its query metrics there, which are not JSON, so pandas could not write the
    frame to Parquet. Only for tables bounded by users and movies."""
    pdf: pd.DataFrame = df.toPandas()  # type: ignore[attr-defined]
    pdf.attrs.clear()
    return pdf
