"""The Spark side of :class:`movierec.Recommender`: top-N lists for every user as a Spark
DataFrame in original ids with titles, computed and decorated by the executors (the lists
never reach the driver)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from movierec.engines import Engine, EngineData, TrainedModel
from movierec.errors import EngineError
from movierec.schema import GENRES, ITEM, RANK, SCORE, TITLE, USER


def recommend_spark(model: TrainedModel, n: int, exclude: EngineData | None) -> Any:
    """``model``'s top-``n`` for every user as a Spark DataFrame (USER, ITEM, SCORE, RANK;
    dense ids), through the Spark engine's distributed top-N.

    Raises:
        EngineError: ``model`` is not a Spark engine model.
    """
    inner = getattr(model, "inner", model)  # a clipped model ranks by the unclipped scores
    top = getattr(inner, "recommend_df", None)
    if top is None:
        raise EngineError("recommend_all as a Spark DataFrame needs a Spark engine model")
    return top(None, n, exclude)


def _lookup(spark: Any, frame: pd.DataFrame) -> Any:
    return spark.createDataFrame(frame)


def decorate_spark(top: Any, engine: Engine, loaded: Any, titles: bool) -> Any:
    """``top`` (dense ids) with original user and movie ids and, with ``titles``, the
    movies' titles and genres joined in Spark: user_id, rank, movie_id, (title, genres,)
    score, like :func:`movierec.lists.decorate`'s pandas table. ``loaded`` has ``movies``,
    ``user_ids`` and ``item_ids`` (a LoadedRatings or a catalogue)."""
    from pyspark.sql import functions as F

    spark = getattr(engine, "spark", None)
    if spark is None:
        raise EngineError("decorating Spark lists needs the Spark engine")
    out = top
    if titles and loaded.movies is not None:
        movies = loaded.movies[[ITEM, TITLE, GENRES]].drop_duplicates(ITEM)
        out = out.join(F.broadcast(_lookup(spark, movies)), ITEM, "left").fillna(
            "", subset=[TITLE, GENRES]
        )
    elif titles:
        out = out.withColumn(TITLE, F.lit("")).withColumn(GENRES, F.lit(""))
    for col, originals in ((USER, loaded.user_ids), (ITEM, loaded.item_ids)):
        if originals is None:
            continue
        values = pd.Series(originals)
        table = pd.DataFrame({col: range(len(values)), "_orig": values.astype(str)})
        out = (
            out.join(F.broadcast(_lookup(spark, table)), col, "left")
            .drop(col)
            .withColumnRenamed("_orig", col)
        )
    cols = [USER, RANK, ITEM, *([TITLE, GENRES] if titles else []), SCORE]
    return out.select(*cols)
