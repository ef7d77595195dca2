"""Small tables between pandas and Spark, for what is bounded by users and movies.

:func:`to_spark` copies a driver-side table to Spark (``createDataFrame``) with the canonical
Spark types of its columns; :func:`to_pandas` collects one with the canonical pandas dtypes.
The Spark data plane uses them only for tables whose size does not grow with the number of
ratings: a model folder's id maps and titles, the known ids of a model, the rows of the few
users the report shows, pandas inputs of tests and of the pandas convenience methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from movierec.data.frames import spark_to_pandas
from movierec.schema import (
    GENRES,
    ITEM,
    PREDICTION,
    RANK,
    RATING,
    SCORE,
    TIMESTAMP,
    TITLE,
    USER,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

ORIGINAL = "original"
"""Column of the original id in an id table (dense id column, ORIGINAL); the same name as
:data:`movierec.engines.spark.ids.ORIGINAL`, whose tables hold a long for integer ids and a
string for text keys."""

_TYPES = {
    USER: "int",
    ITEM: "int",
    RATING: "double",
    TIMESTAMP: "bigint",
    PREDICTION: "double",
    SCORE: "double",
    RANK: "int",
    TITLE: "string",
    GENRES: "string",
}


def to_spark(spark: SparkSession, frame: pd.DataFrame) -> DataFrame:
    """``frame`` as a DataFrame with the canonical Spark types of its columns (ids int,
    values double, TIMESTAMP bigint, text string; other columns by their pandas dtype)."""
    from pyspark.sql import functions as F

    pdf = frame.reset_index(drop=True)
    schema = ", ".join(f"`{c}` {_TYPES.get(c, _guess(pdf[c]))}" for c in pdf.columns)
    if len(pdf) == 0:
        return spark.createDataFrame([], schema)
    df = spark.createDataFrame(pdf, schema)
    return df.select(*[F.col(f"`{c}`") for c in pdf.columns])


def _guess(col: pd.Series) -> str:
    if pd.api.types.is_integer_dtype(col):
        return "bigint"
    if pd.api.types.is_float_dtype(col):
        return "double"
    if pd.api.types.is_bool_dtype(col):
        return "boolean"
    return "string"


def to_pandas(df: DataFrame) -> pd.DataFrame:
    """``df`` collected to the driver, with canonical pandas dtypes (int32 ids and ranks,
    float64 ratings and scores). Only for tables bounded by users and movies."""
    pdf = spark_to_pandas(df)
    types = {USER: np.int32, ITEM: np.int32, RATING: np.float64, RANK: np.int32, SCORE: np.float64}
    return pdf.astype({c: t for c, t in types.items() if c in pdf.columns})
