"""TEMPORARY stand-ins for parts A and B of issue #14 (delete when they land on main).

Part A (``engines/spark/reader.py``) reads and validates ratings on the executors; part B
(``engines/spark/{split,metrics,baselines}.py``) splits and scores with DataFrame
operations. Until their modules are merged, the Spark engine's data plane calls these
functions, which have the same names and arguments but run the LOCAL implementation: they
collect the DataFrames to the driver (``toPandas``) and copy results back
(``createDataFrame``). Rating-sized data therefore still passes through the driver here,
and ``tests/test_spark_plane.py::test_no_rating_sized_data_reaches_the_driver`` is marked
``xfail(strict=True)`` until this module is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movierec.data.report import LoadReport
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
from movierec.split import SALT_HOLDOUT

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from movierec.config import DataConfig, SparkConfig

ORIGINAL = "original"
"""Column of the original id in an id-map DataFrame (dense id column, ORIGINAL string)."""

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
    """``frame`` as a DataFrame with the canonical Spark types of its columns."""
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
    """``df`` collected, with canonical pandas dtypes (int32 ids, float64 values)."""
    pdf = df.toPandas()
    types = {USER: np.int32, ITEM: np.int32, RATING: np.float64, RANK: np.int32, SCORE: np.float64}
    return pdf.astype({c: t for c, t in types.items() if c in pdf.columns})


# --- part A: reader ------------------------------------------------------------------------


@dataclass
class SparkLoaded:
    """Part A's read result: DataFrames held by Spark, and the load report."""

    ratings: DataFrame
    rejects: DataFrame
    report: LoadReport
    user_ids: DataFrame | None
    item_ids: DataFrame | None
    movies: DataFrame | None


def _id_map(spark: SparkSession, ids: np.ndarray | None, col: str) -> DataFrame | None:
    if ids is None:
        return None
    frame = pd.DataFrame(
        {col: np.arange(len(ids), dtype=np.int32), ORIGINAL: np.asarray(ids).astype(str)}
    )
    return to_spark(spark, frame)


def read_ratings(
    spark: SparkSession, cfg: DataConfig, spark_cfg: SparkConfig | None = None
) -> SparkLoaded:
    """Part A's ``read_ratings``: here the local reader, then copied to Spark."""
    from movierec.data import load_ratings

    loaded = load_ratings(cfg, spark_cfg)
    rejects = loaded.rejects.astype({c: str for c in loaded.rejects.columns if c != "line"})
    return SparkLoaded(
        ratings=to_spark(spark, loaded.ratings),
        rejects=to_spark(spark, rejects),
        report=loaded.report,
        user_ids=_id_map(spark, loaded.user_ids, USER),
        item_ids=_id_map(spark, loaded.item_ids, ITEM),
        movies=None if loaded.movies is None else to_spark(spark, loaded.movies),
    )


def write_rejects(rejects: DataFrame, out: str, csv_max_rows: int = 1_000_000) -> list[str]:
    """Part A's ``write_rejects`` into the folder ``out``: here ``rejects.csv`` by pandas."""
    from movierec.data import save_rejects
    from movierec.hadoopfs import to_local

    frame = rejects.toPandas()
    if frame.empty:
        return []
    save_rejects(frame, Path(to_local(out)) / "rejects.csv")
    return ["rejects.csv"]


# --- part B: split -------------------------------------------------------------------------


def _local_pairs(pairs: list[tuple[pd.DataFrame, pd.DataFrame]], spark: SparkSession) -> Any:
    return [(to_spark(spark, a), to_spark(spark, b)) for a, b in pairs]


def random_split(
    df: DataFrame, test_fraction: float, seed: int, salt: int = SALT_HOLDOUT
) -> tuple[DataFrame, DataFrame]:
    from movierec import split

    train, test = split.random_split(to_pandas(df), test_fraction, seed, salt)
    return to_spark(df.sparkSession, train), to_spark(df.sparkSession, test)


def holdout_split(
    df: DataFrame,
    method: str,
    test_fraction: float,
    seed: int,
    time_cut: str | None = None,
    leave_last: int = 1,
) -> tuple[DataFrame, DataFrame]:
    from movierec import split

    dev, test = split.holdout_split(
        to_pandas(df), method, test_fraction, seed, time_cut=time_cut, leave_last=leave_last
    )
    return to_spark(df.sparkSession, dev), to_spark(df.sparkSession, test)


def train_fraction_splits(
    df: DataFrame, fractions: list[float], seed: int
) -> list[tuple[float, DataFrame, DataFrame]]:
    from movierec import split

    out = split.train_fraction_splits(to_pandas(df), fractions, seed)
    spark = df.sparkSession
    return [(f, to_spark(spark, a), to_spark(spark, b)) for f, a, b in out]


def kfold(df: DataFrame, folds: int, seed: int) -> list[tuple[DataFrame, DataFrame]]:
    from movierec import split

    result: list[tuple[DataFrame, DataFrame]] = _local_pairs(
        split.kfold(to_pandas(df), folds, seed), df.sparkSession
    )
    return result


def cold_start_counts(train: DataFrame, test: DataFrame) -> dict[str, int]:
    from movierec import split

    return split.cold_start_counts(to_pandas(train), to_pandas(test))


# --- part B: metrics -----------------------------------------------------------------------


def _known(df: DataFrame, actual: str, predicted: str) -> tuple[np.ndarray, np.ndarray]:
    pdf = df.select(actual, predicted).toPandas()
    a = pdf[actual].to_numpy(dtype=np.float64)
    p = pdf[predicted].to_numpy(dtype=np.float64)
    ok = ~np.isnan(p)
    return a[ok], p[ok]


def rating_errors(
    df: DataFrame, actual: str = RATING, predicted: str = PREDICTION
) -> dict[str, float | int]:
    from movierec import metrics

    return metrics.rating_errors(*_known(df, actual, predicted))


def pairwise_prf(
    df: DataFrame, threshold: float = 3.0, actual: str = RATING, predicted: str = PREDICTION
) -> dict[str, float | int]:
    from movierec import metrics

    return metrics.pairwise_prf(*_known(df, actual, predicted), threshold)


def within_test_top_k(df: DataFrame, k: int = 10, threshold: float = 3.0) -> dict[str, Any]:
    from movierec import metrics

    return metrics.within_test_top_k(to_pandas(df), k, threshold)


def catalogue_top_k(
    recs: DataFrame, test: DataFrame, k: int = 10, threshold: float = 3.0
) -> dict[str, Any]:
    from movierec import metrics

    return metrics.catalogue_top_k(to_pandas(recs), to_pandas(test), k, threshold)


def beyond_accuracy(
    recs: DataFrame, train: DataFrame, movies: DataFrame | None, n_items: int, k: int = 10
) -> dict[str, float | None]:
    from movierec import metrics

    m = None if movies is None else movies.toPandas()
    return metrics.beyond_accuracy(to_pandas(recs), to_pandas(train), m, n_items, k)


# --- part B: baselines ---------------------------------------------------------------------


class _Baseline:
    """A local baseline fitted on a collected DataFrame; results copied back to Spark."""

    kind: Any

    def __init__(self) -> None:
        self.model = self.kind()

    def fit(self, df: DataFrame) -> Any:
        self.spark = df.sparkSession
        self.model.fit(to_pandas(df))
        return self

    def predict(self, df: DataFrame) -> DataFrame:
        pdf = to_pandas(df)
        return to_spark(self.spark, pdf.assign(**{PREDICTION: self.model.predict(pdf)}))

    def recommend(
        self, users: DataFrame, n: int = 10, exclude: DataFrame | None = None
    ) -> DataFrame:
        ids = np.unique(users.select(USER).toPandas()[USER].to_numpy())
        seen = None if exclude is None else to_pandas(exclude)
        return to_spark(self.spark, self.model.recommend(ids, n=n, exclude=seen))


def _baseline(name: str) -> type[_Baseline]:
    from movierec import baselines

    return type(name, (_Baseline,), {"kind": getattr(baselines, name)})


GlobalMean = _baseline("GlobalMean")
BiasBaseline = _baseline("BiasBaseline")
MostPopular = _baseline("MostPopular")
