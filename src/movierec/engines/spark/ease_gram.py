"""EASE's Gram matrix on the Spark executors: the movie-pair counts of X (ratings >= the
threshold; pairs inside one rating session weighted up), brought to the driver as Arrow — a
table bounded by the catalogue (items·(items+1)/2 rows at most), not by the ratings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movierec.schema import ITEM, TIMESTAMP, USER

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_J, _A, _B, _C, _S = "_j", "_a", "_b", "_c", "_s"


def arrow_table(df: DataFrame) -> Any:
    """``df`` collected as a pyarrow Table (only for catalogue- or user-sized results)."""
    return df.toArrow()


def item_index(spark: SparkSession, item_ids: np.ndarray) -> DataFrame:
    """(ITEM, _J): each movie id and its row in ``item_ids`` (a catalogue-sized table)."""
    from pyspark.sql.types import IntegerType, StructField, StructType

    pdf = pd.DataFrame(
        {ITEM: item_ids.astype(np.int32), _J: np.arange(len(item_ids), dtype=np.int32)}
    )
    schema = StructType(
        [StructField(ITEM, IntegerType(), False), StructField(_J, IntegerType(), False)]
    )
    return spark.createDataFrame(pdf, schema=schema)


def sorted_ids(df: DataFrame, col: str) -> np.ndarray:
    table = arrow_table(df.select(col).distinct())
    return np.sort(table.column(0).to_numpy()).astype(np.int32)


def sessions(x: DataFrame, gap: float) -> DataFrame:
    """``x`` (USER, _J, TIMESTAMP) with a session number _S per row: a user's interactions in
    time order (then movie row) start a new session after a gap of more than ``gap`` seconds
    (:func:`movierec.engines.ease.session_rows`'s rule)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.partitionBy(USER).orderBy(TIMESTAMP, _J)
    prev = F.lag(TIMESTAMP).over(order)
    new = (prev.isNull() | ((F.col(TIMESTAMP) - prev) > F.lit(float(gap)))).cast("int")
    running = order.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    return x.withColumn("_new", new).withColumn(_S, F.sum("_new").over(running)).drop("_new")


def spark_gram(x: DataFrame, n_items: int, session_weight: float = 0.0) -> np.ndarray:
    """G = XᵀX (dense float64) from the (USER, _J) interaction pairs, counted on the executors;
    with a session column _S (:func:`sessions`) and ``session_weight`` w, a pair inside one
    session counts 1 + w (G = XᵀX + w·SᵀS).

    Only the upper triangle's non-zero counts are collected; the driver mirrors them.
    """
    from pyspark.sql import functions as F

    timed = session_weight > 0 and _S in x.columns
    extra = [_S] if timed else []
    a = x.select(USER, F.col(_J).alias(_A), *[F.col(c).alias(c + "_a") for c in extra])
    b = x.select(USER, F.col(_J).alias(_B), *[F.col(c).alias(c + "_b") for c in extra])
    weight = (
        F.lit(1.0)
        + F.lit(float(session_weight)) * (F.col(_S + "_a") == F.col(_S + "_b")).cast("double")
        if timed
        else F.lit(1.0)
    )
    pairs = (
        a.join(b, USER).where(F.col(_A) <= F.col(_B)).groupBy(_A, _B).agg(F.sum(weight).alias(_C))
    )
    table = arrow_table(pairs)
    ia = table.column(_A).to_numpy()
    ib = table.column(_B).to_numpy()
    c = table.column(_C).to_numpy().astype(np.float64)
    g = np.zeros((n_items, n_items), dtype=np.float64)
    g[ia, ib] = c
    g[ib, ia] = c
    return g


__all__ = ["arrow_table", "item_index", "sessions", "sorted_ids", "spark_gram"]
