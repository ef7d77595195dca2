"""The pandas ``load_ratings`` for every kind of input a notebook has at hand.

:func:`load_ratings` accepts a path (a ratings file, a MovieLens folder, a Hadoop URI), a
dataset name, a pandas DataFrame, a Spark DataFrame or a :class:`~movierec.config.DataConfig`,
with the column names as arguments, and always runs the same validation and reject
accounting (:mod:`movierec.data.readers` for files, :mod:`movierec.data.frames` for
DataFrames), giving a pandas :class:`LoadedRatings`. The public ``movierec.load_ratings``
(:mod:`movierec.api_load`) calls it for everything but a Spark DataFrame, which it keeps in
Spark (validated by the Spark engine on the executors); the local engine's paths call it
directly, and then a Spark DataFrame is collected.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from movierec import schema
from movierec.config import DataConfig, SparkConfig
from movierec.data.frames import spark_to_pandas
from movierec.data.report import LoadedRatings
from movierec.errors import ConfigError

log = logging.getLogger(__name__)


def is_spark_frame(value: Any) -> bool:
    """True for a pyspark DataFrame, classic or Spark Connect (checked without importing
    pyspark)."""
    cls = type(value)
    return cls.__name__ == "DataFrame" and cls.__module__.startswith("pyspark.sql")


def column_map(
    user_col: str | None = None,
    item_col: str | None = None,
    rating_col: str | None = None,
    timestamp_col: str | None = None,
) -> dict[str, str]:
    """``{canonical name: source column}`` of the column arguments that were given."""
    given = {
        schema.USER: user_col,
        schema.ITEM: item_col,
        schema.RATING: rating_col,
        schema.TIMESTAMP: timestamp_col,
    }
    return {canon: name for canon, name in given.items() if name is not None}


def load_ratings(
    source: Any,
    *,
    user_col: str | None = None,
    item_col: str | None = None,
    rating_col: str | None = None,
    timestamp_col: str | None = None,
    movies: Any = None,
    rating_min: float | None = None,
    rating_max: float | None = None,
    duplicates: str = "latest",
    max_reject_fraction: float = 0.5,
    spark: SparkConfig | None = None,
    keep_lines: bool = False,
) -> LoadedRatings:
    """Load and validate ratings from ``source``; returns a :class:`LoadedRatings`
    (canonical ``ratings``, ``rejects`` with a reason per refused row, ``report``, id maps,
    ``movies``).

    ``source`` is a :class:`DataConfig` (used as it is), a path or Hadoop URI (a ratings file
    or a MovieLens folder), the name of a downloaded dataset (``"ml-latest-small"``), a
    pandas DataFrame or a Spark DataFrame. ``user_col`` … ``timestamp_col`` name the source
    columns (found by the usual header names otherwise). ``movies`` is a movies file or a
    pandas DataFrame of ``movieId``/``title``/``genres``. ``rating_min``/``rating_max``
    bound valid ratings (None: the layout's scale, 0.5-5 for DataFrames). DataFrame rejects
    carry the row's ``index`` label (``line`` is the 1-based row position).

    The result is a pandas :class:`LoadedRatings`, so a Spark DataFrame given here is
    collected first (logged). ``movierec.load_ratings`` (:func:`movierec.api_load.load_ratings`)
    keeps a Spark DataFrame on the cluster instead: the Spark engine's reader validates it
    on the executors.

    >>> import pandas as pd, movierec
    >>> df = pd.DataFrame({"u": [1, 2], "m": [10, 10], "stars": [4.0, 3.5]})
    >>> movierec.load_ratings(df, user_col="u", item_col="m", rating_col="stars").report.rows_kept
    2

    Raises:
        ConfigError: an unknown source type, or bad options.
        DataError / DatasetError: as :func:`movierec.data.load_ratings` and
            :func:`movierec.data.frames.load_frame` say.
    """
    columns = column_map(user_col, item_col, rating_col, timestamp_col)
    if isinstance(source, LoadedRatings):
        return source
    if isinstance(source, DataConfig):
        from movierec.data.readers import load_ratings as load_config

        return load_config(source, spark, keep_lines=keep_lines)
    if isinstance(source, pd.DataFrame) or is_spark_frame(source):
        from movierec.data.frames import load_frame

        frame = source if isinstance(source, pd.DataFrame) else _spark_to_pandas(source)
        movies_frame = spark_to_pandas(movies) if is_spark_frame(movies) else movies
        loaded = load_frame(
            frame,
            columns=columns,
            rating_min=0.5 if rating_min is None else float(rating_min),
            rating_max=5.0 if rating_max is None else float(rating_max),
            duplicates=duplicates,
            max_reject_fraction=max_reject_fraction,
            movies=movies_frame if isinstance(movies_frame, pd.DataFrame) else None,
            keep_lines=keep_lines,
        )
        if movies_frame is not None and not isinstance(movies_frame, pd.DataFrame):
            from movierec.data.movies import load_movies

            loaded.movies = load_movies(movies_frame, item_ids=loaded.item_ids)
        return loaded
    if isinstance(source, (str, Path)):
        text = str(source)
        looks_like_dataset = isinstance(source, str) and "/" not in text and not Path(text).exists()
        try:
            cfg = DataConfig(
                path=None if looks_like_dataset else source,
                dataset=text if looks_like_dataset else None,
                movies=None if movies is None else movies,
                columns=columns,
                rating_min=rating_min,
                rating_max=rating_max,
                duplicates=duplicates,  # type: ignore[arg-type]
                max_reject_fraction=max_reject_fraction,
            )
        except ValueError as exc:
            raise ConfigError(f"invalid load options: {exc}") from exc
        from movierec.data.readers import load_ratings as load_config

        return load_config(cfg, spark, keep_lines=keep_lines)
    raise ConfigError(
        f"cannot load ratings from a {type(source).__name__}: give a path, a dataset name, "
        "a pandas or Spark DataFrame, or a DataConfig"
    )


def _spark_to_pandas(df: Any) -> pd.DataFrame:
    log.info("Spark DataFrame: validating %s columns on the driver", len(df.columns))
    return spark_to_pandas(df)
