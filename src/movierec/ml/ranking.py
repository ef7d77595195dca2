"""Shape top-N lists and test ratings for ``pyspark.ml.evaluation.RankingEvaluator``."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def ranking_frame(
    recommendations: DataFrame,
    test: DataFrame,
    *,
    userCol: str = "user_id",
    itemCol: str = "movie_id",
    ratingCol: str = "rating",
    threshold: float = 3.0,
) -> DataFrame:
    """One row per test user with a relevant movie (rating >= ``threshold``): ``prediction``
    (the recommended movie ids, best first, as doubles) and ``label`` (the relevant test
    movie ids, as doubles), the columns ``RankingEvaluator`` reads. A test user without
    recommendations gets an empty list (it counts as zero, not skipped).

    ``recommendations``: ``userCol`` + ``recommendations`` (array of struct ``itemCol``,
    ``rating``) as :meth:`BiasedALSModel.recommendForAllUsers` or Spark's ALSModel return.

    >>> from pyspark.ml.evaluation import RankingEvaluator  # doctest: +SKIP
    >>> frame = ranking_frame(model.recommendForAllUsers(10, seen=train), test,  # doctest: +SKIP
    ...                       userCol="userId", itemCol="movieId", ratingCol="rating")
    >>> RankingEvaluator(metricName="ndcgAtK", k=10).evaluate(frame)  # doctest: +SKIP
    """
    relevant = (
        test.filter(F.col(ratingCol) >= F.lit(threshold))
        .groupBy(userCol)
        .agg(F.collect_set(F.col(itemCol).cast("double")).alias("label"))
    )
    lists = recommendations.select(
        userCol,
        F.transform("recommendations", lambda x: x[itemCol].cast("double")).alias("prediction"),
    )
    return relevant.join(lists, userCol, "left").select(
        userCol,
        F.coalesce("prediction", F.array().cast("array<double>")).alias("prediction"),
        "label",
    )
