"""The Spark engine's distributed top-N for ALS models: users and movies hashed into blocks,
every (user block, movie block) pair scored in numpy by one ``applyInPandas`` group, then a
window keeps each user's best ``n`` (:meth:`SparkALSModel.recommend_df
<movierec.engines.spark_als.SparkALSModel.recommend_df>` documents the algorithm)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movierec.engines.base import EngineData
from movierec.engines.spark.table import SparkData
from movierec.errors import EngineError
from movierec.schema import I_BIAS, ITEM, RANK, SCORE, U_BIAS, USER
from movierec.spark import ensure_active

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


# Internal columns of the blocked top-N.
_UB, _IB, _KIND, _ID, _ID2, _B, _F = "_ub", "_ib", "_kind", "_id", "_id2", "_b", "_f"


def blocked_top_n(
    model: Any, users: np.ndarray | DataFrame | None, n: int, exclude: EngineData | None
) -> DataFrame:
    """:meth:`SparkALSModel.recommend_df <movierec.engines.spark_als.SparkALSModel.recommend_df>`
    of ``model`` (a SparkALSModel: its session, ALSModel, biases and block size), as (USER,
    ITEM, SCORE, RANK) computed on the executors.

    Raises:
        EngineError: ``n`` < 1, or ``exclude`` is not SparkData.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.types import (
        ArrayType,
        DoubleType,
        FloatType,
        IntegerType,
        StructField,
        StructType,
    )

    spark = model._spark
    als, biases, block_size = model.model, model.biases, model.block_size
    ensure_active(spark)
    if n < 1:
        raise EngineError(f"n must be at least 1, got {n}")
    if exclude is not None and not isinstance(exclude, SparkData):
        raise EngineError("the Spark engine needs SparkData to exclude seen movies")
    biased = biases is not None
    uf = als.userFactors.select(F.col("id").cast("int").alias(_ID), F.col("features").alias(_F))
    itf = als.itemFactors.select(F.col("id").cast("int").alias(_ID), F.col("features").alias(_F))
    if biases is not None:
        ub = biases.user.select(F.col(USER).alias(_ID), F.col(U_BIAS).alias(_B))
        ib = biases.item.select(F.col(ITEM).alias(_ID), F.col(I_BIAS).alias(_B))
        uf, itf = uf.join(ub, _ID), itf.join(ib, _ID)
    else:
        uf = uf.withColumn(_B, F.lit(0.0).cast("double"))
        itf = itf.withColumn(_B, F.lit(0.0).cast("double"))
    wanted: DataFrame | None = None
    if isinstance(users, np.ndarray | list | tuple):
        wanted = spark.createDataFrame(
            pd.DataFrame({_ID: np.unique(np.asarray(users, dtype=np.int32))}),
            schema=StructType([StructField(_ID, IntegerType(), False)]),
        )
    elif users is not None:
        wanted = users
    if wanted is not None:
        uf = uf.join(wanted, _ID, "inner")
    n_user_blocks = max(1, -(-uf.count() // block_size))
    n_item_blocks = max(1, -(-itf.count() // block_size))

    def block(col: Any, blocks: int) -> Any:
        return F.pmod(F.xxhash64(col), F.lit(blocks)).cast("int")

    def ids(blocks: int, name: str) -> DataFrame:
        return spark.range(blocks).select(F.col("id").cast("int").alias(name))

    cols = [_UB, _IB, _KIND, _ID, _ID2, _B, _F]
    no_int = F.lit(None).cast("int")
    parts = [
        uf.crossJoin(ids(n_item_blocks, _IB)).select(
            block(F.col(_ID), n_user_blocks).alias(_UB), _IB, F.lit(0).alias(_KIND),
            _ID, no_int.alias(_ID2), _B, _F,
        ),
        itf.crossJoin(ids(n_user_blocks, _UB)).select(
            _UB, block(F.col(_ID), n_item_blocks).alias(_IB), F.lit(1).alias(_KIND),
            _ID, no_int.alias(_ID2), _B, _F,
        ),
    ]  # fmt: skip
    if exclude is not None:
        assert isinstance(exclude, SparkData)
        seen = exclude.df.select(F.col(USER).alias(_ID), F.col(ITEM).alias(_ID2))
        if wanted is not None:
            seen = seen.join(wanted, _ID, "left_semi")
        parts.append(
            seen.select(
                block(F.col(_ID), n_user_blocks).alias(_UB),
                block(F.col(_ID2), n_item_blocks).alias(_IB),
                F.lit(2).alias(_KIND), _ID, _ID2,
                F.lit(None).cast("double").alias(_B),
                F.lit(None).cast(ArrayType(FloatType())).alias(_F),
            )
        )  # fmt: skip
    combined = parts[0].select(*cols)
    for part in parts[1:]:
        combined = combined.unionByName(part.select(*cols))

    mean = float(biases.mean) if biases is not None else 0.0
    out_schema = StructType(
        [
            StructField(USER, IntegerType(), False),
            StructField(ITEM, IntegerType(), False),
            StructField(SCORE, DoubleType(), False),
        ]
    )
    user_col, item_col, score_col = USER, ITEM, SCORE

    # A closure (pickled by value), so Python workers need numpy and pandas, not movierec.
    def score_block(pdf: pd.DataFrame) -> pd.DataFrame:
        kind = pdf[_KIND].to_numpy()
        u = pdf[kind == 0]
        it = pdf[kind == 1].sort_values(_ID, kind="stable")  # columns by movie id
        empty = pd.DataFrame(
            {
                user_col: np.zeros(0, np.int32),
                item_col: np.zeros(0, np.int32),
                score_col: np.zeros(0, np.float64),
            }
        )
        if len(u) == 0 or len(it) == 0:
            return empty
        uids = u[_ID].to_numpy(dtype=np.int32)
        iids = it[_ID].to_numpy(dtype=np.int32)
        uf = np.stack(u[_F].to_numpy()).astype(np.float64)
        vf = np.stack(it[_F].to_numpy()).astype(np.float64)
        # Dot products summed factor by factor, not by BLAS: every (user, movie) score is
        # then bitwise the same whatever block it lands in, so exact ties stay ties and
        # the movie-id tie-break does not depend on the block size.
        scores = np.zeros((len(uids), len(iids)), dtype=np.float64)
        term = np.empty_like(scores)
        for j in range(uf.shape[1]):
            np.multiply(uf[:, j, None], vf[None, :, j], out=term)
            scores += term
        if biased:
            scores += mean
            scores += u[_B].to_numpy(dtype=np.float64)[:, None]
            scores += it[_B].to_numpy(dtype=np.float64)[None, :]
        seen = pdf[kind == 2]
        if len(seen):
            rows = pd.Index(uids).get_indexer(seen[_ID].to_numpy())
            cols = pd.Index(iids).get_indexer(seen[_ID2].to_numpy())
            ok = (rows >= 0) & (cols >= 0)
            scores[rows[ok], cols[ok]] = -np.inf
        width = scores.shape[1]
        k = min(n, width)
        if k < width:
            # The k-th best score per user; above it all are in, at it the lowest ids.
            part = np.argpartition(scores, width - k, axis=1)[:, width - k :]
            threshold = np.take_along_axis(scores, part, axis=1).min(axis=1)[:, None]
            above = scores > threshold
            need = k - above.sum(axis=1, dtype=np.int64)
            tied = scores == threshold
            keep = above | (tied & (np.cumsum(tied, axis=1, dtype=np.int64) <= need[:, None]))
        else:
            keep = np.ones(scores.shape, dtype=bool)
        keep &= np.isfinite(scores)  # seen movies never count
        r, c = np.nonzero(keep)
        if len(r) == 0:
            return empty
        return pd.DataFrame(
            {
                user_col: uids[r],
                item_col: iids[c],
                score_col: scores[r, c],
            }
        )

    candidates = combined.groupBy(_UB, _IB).applyInPandas(score_block, schema=out_schema)
    window = Window.partitionBy(USER).orderBy(F.desc(SCORE), F.asc(ITEM))
    return (
        candidates.withColumn(RANK, F.row_number().over(window))
        .filter(F.col(RANK) <= n)
        .select(USER, ITEM, SCORE, RANK)
    )


__all__ = ["blocked_top_n"]
