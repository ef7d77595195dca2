"""A separately read ratings table in a saved model's dense ids, on the cluster.

The Spark twin of :func:`movierec.ids.align_column`: ids match through their original
values compared as text; a user or movie the model does not know gets a fresh id that no
known one has (cold start), the same for every row of the same original. The fresh ids are
numbered in the text order of the unknown originals (the local function numbers them in
order of first appearance): which fresh id an unknown user gets changes no metric, only
that they are distinct and unknown to the model.

The model's id map and known ids come from its folder (driver-side arrays bounded by the
number of users and movies); the ratings never leave the executors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from movierec.engines.spark.convert import ORIGINAL, to_spark
from movierec.ids import INT32_MAX

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_ORIG, _DENSE, _CODE, _OK = "_orig", "_dense", "_code", "_ok"


def align_column(
    spark: SparkSession,
    df: DataFrame,
    col: str,
    test_map: DataFrame | None,
    model_map: np.ndarray | None,
    known: np.ndarray,
) -> DataFrame:
    """``df`` with ``col`` in the model's dense ids (int). ``test_map`` is the table's id
    map (``col`` dense, ORIGINAL text) or None, ``model_map`` the model's originals by dense
    id or None, ``known`` the model's dense ids."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if test_map is not None:
        df = df.join(test_map.select(col, F.col(ORIGINAL).cast("string").alias(_ORIG)), col, "left")
    else:
        df = df.withColumn(_ORIG, F.col(col).cast("string"))
    known_ids = np.asarray(known, dtype=np.int64)
    known_df = to_spark(spark, pd.DataFrame({_DENSE: known_ids})).withColumn(_OK, F.lit(True))
    if model_map is not None:
        originals = pd.DataFrame(
            {
                _ORIG: np.asarray(model_map).astype(str),
                _DENSE: np.arange(len(model_map), dtype=np.int64),
            }
        )
        by_text = to_spark(spark, originals).join(known_df, _DENSE).drop(_OK)
        df = df.join(by_text, _ORIG, "left")
    else:  # the model's dense ids are the original integers: numeric text, integral
        number = F.col(_ORIG).cast("double")
        integral = number.isNotNull() & ~F.isnan(number) & (number == F.floor(number))
        df = df.withColumn(_DENSE, F.when(integral, number.cast("long")))
        df = df.join(known_df, _DENSE, "left")
        df = df.withColumn(_DENSE, F.when(F.col(_OK), F.col(_DENSE))).drop(_OK)
    # Unknown originals: one fresh id each, numbered over their distinct values (a window
    # over at most the number of distinct users or movies, not ratings).
    unknown = df.filter(F.col(_DENSE).isNull()).select(_ORIG).distinct()
    # row_number over distinct values is deterministic, so the recomputation at the join
    # gives the codes that were counted.
    codes = unknown.withColumn(_CODE, F.row_number().over(Window.orderBy(_ORIG)) - 1)
    need = codes.count()
    top = int(known_ids.max()) if len(known_ids) else -1
    bottom = int(known_ids.min()) if len(known_ids) else 0
    fresh = (
        F.lit(top + 1) + F.col(_CODE)
        if top + need <= INT32_MAX
        else F.lit(bottom - 1) - F.col(_CODE)
    )
    out = df.join(codes, _ORIG, "left")
    out = out.withColumn(col, F.coalesce(F.col(_DENSE), fresh).cast("int"))
    return out.drop(_ORIG, _DENSE, _CODE)
