"""The Spark engine: Spark MLlib ALS behind the :mod:`movierec.engines.base` contract.

Fitting, predicting and top-N scoring all run as Spark jobs, so the same code runs in
``local[*]`` and on a cluster. The data plane (tables, splits, metrics, writers) is in
:mod:`movierec.engines.spark.table`. :meth:`SparkALSModel.predict_table` and
:meth:`SparkALSModel.recommend_table` keep their results on the cluster; the pandas methods
:meth:`~SparkALSModel.predict` and :meth:`~SparkALSModel.recommend` collect them (a few
users, tests). Factor exports are bounded by users and movies.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from movierec.data.frames import spark_to_pandas
from movierec.engines.base import ALSParams, Catalog, Engine, EngineData, Factors, TrainedModel
from movierec.engines.spark.table import SparkCatalog, SparkData, SparkRead, clip_column
from movierec.errors import ConfigError, EngineError, ModelError
from movierec.schema import I_BIAS, ITEM, PREDICTION, RANK, RATING, SCORE, U_BIAS, USER
from movierec.spark import ensure_active

if TYPE_CHECKING:
    from pyspark.ml.recommendation import ALSModel
    from pyspark.sql import DataFrame, SparkSession

    from movierec.config import DataConfig, SparkConfig

log = logging.getLogger(__name__)

_ROW = "_row"
# Internal columns of the blocked top-N (see SparkALSModel.recommend_df).
_UB, _IB, _KIND, _ID, _ID2, _B, _F = "_ub", "_ib", "_kind", "_id", "_id2", "_b", "_f"
DEFAULT_TOPN_BLOCK_SIZE = 2048
"""Users (and movies) per block of the distributed top-N; see SparkConfig.topn_block_size."""


def _uri(path: Path) -> str:
    """A local path as an explicit ``file://`` URI, so Spark never resolves it against a
    cluster's default filesystem (HDFS) when the model folder lives on the driver; inside
    the staging of a Hadoop output or model (``hdfs://``, ``s3a://`` …) the remote URI, so
    executors read and write those parts there directly (see ``hadoopfs.spark_uri``)."""
    from movierec.hadoopfs import spark_uri

    return spark_uri(path)


@dataclass
class SparkBiases:
    """Global mean and damped user/movie biases of the ``biased-als`` model (cached DataFrames)."""

    mean: float
    user: DataFrame
    """Columns USER, ``user_bias``."""
    item: DataFrame
    """Columns ITEM, ``item_bias``."""

    @classmethod
    def fit(cls, ratings: DataFrame, reg: float) -> SparkBiases:
        """Fit by two aggregations: b_i = Σ_u (r − μ) / (n_i + reg), then
        b_u = Σ_i (r − μ − b_i) / (n_u + reg)."""
        from pyspark.sql import functions as F

        row = ratings.agg(F.avg(RATING)).first()
        if row is None or row[0] is None:
            raise EngineError("cannot fit biases on an empty ratings table")
        mean = float(row[0])
        item = (
            ratings.groupBy(ITEM)
            .agg((F.sum(F.col(RATING) - mean) / (F.count(F.lit(1)) + reg)).alias(I_BIAS))
            .cache()
        )
        user = (
            ratings.join(item, ITEM)
            .groupBy(USER)
            .agg(
                (F.sum(F.col(RATING) - mean - F.col(I_BIAS)) / (F.count(F.lit(1)) + reg)).alias(
                    U_BIAS
                )
            )
            .cache()
        )
        return cls(mean, user, item)

    def residuals(self, ratings: DataFrame) -> DataFrame:
        """Ratings minus mean and both biases (what ALS is fitted on)."""
        from pyspark.sql import functions as F

        return (
            ratings.join(self.item, ITEM)
            .join(self.user, USER)
            .select(
                USER,
                ITEM,
                (F.col(RATING) - self.mean - F.col(U_BIAS) - F.col(I_BIAS)).alias(RATING),
            )
        )

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / "mean.json").write_text(json.dumps({"mean": self.mean}), encoding="utf-8")
        self.user.write.parquet(_uri(path / "user_bias"))
        self.item.write.parquet(_uri(path / "item_bias"))

    @classmethod
    def load(cls, spark: SparkSession, path: Path) -> SparkBiases:
        mean = float(json.loads((path / "mean.json").read_text(encoding="utf-8"))["mean"])
        user = spark.read.parquet(_uri(path / "user_bias")).cache()
        item = spark.read.parquet(_uri(path / "item_bias")).cache()
        return cls(mean, user, item)


class SparkALSModel(TrainedModel):
    """A fitted ``pyspark.ml.recommendation.ALSModel``, plus biases for ``biased-als``.

    For ``implicit-als`` (``implicitPrefs=True``) :meth:`predict` returns Spark's preference
    scores x_u·y_i, not ratings; :meth:`recommend` ranks by the same scores.
    """

    def __init__(
        self,
        spark: SparkSession,
        model: ALSModel,
        params: ALSParams,
        biases: SparkBiases | None = None,
        block_size: int = DEFAULT_TOPN_BLOCK_SIZE,
        engine: SparkEngine | None = None,
    ) -> None:
        if block_size < 1:
            raise EngineError(f"top-N block size must be at least 1, got {block_size}")
        self._spark = spark
        self.model = model
        self.params = params
        self.biases = biases
        self.block_size = block_size
        """Users (and movies) per block of :meth:`recommend_df`."""
        self.engine = engine or SparkEngine(spark, block_size)

    def predict_table(
        self, pairs: EngineData, scale: tuple[float, float] | None = None
    ) -> EngineData:
        """``pairs`` with PREDICTION (double; NaN for cold start; clipped to ``scale``),
        computed by ALS's ``transform`` (plus the biases of biased-als) on the cluster."""
        from pyspark.sql import functions as F

        ensure_active(self._spark)
        if not isinstance(pairs, SparkData):
            raise EngineError("the Spark engine predicts SparkData only")
        df = pairs.df.drop(PREDICTION) if PREDICTION in pairs.df.columns else pairs.df
        scored = self.model.transform(df)
        if self.biases is not None:
            b = self.biases
            scored = (
                scored.join(b.user, USER, "left")
                .join(b.item, ITEM, "left")
                .withColumn(PREDICTION, F.col(PREDICTION) + b.mean + F.col(U_BIAS) + F.col(I_BIAS))
                .drop(U_BIAS, I_BIAS)
            )
        return self.engine.wrap(clip_column(scored, scale))

    def recommend_table(
        self, users: EngineData | None, n: int, exclude: EngineData | None
    ) -> EngineData:
        """:meth:`recommend_df` for the distinct users of ``users`` (None: every user), kept
        on the cluster."""
        from pyspark.sql import functions as F

        wanted = None
        if users is not None:
            if not isinstance(users, SparkData):
                raise EngineError("the Spark engine recommends for SparkData users only")
            wanted = users.df.select(F.col(USER).cast("int").alias(_ID)).distinct()
        return self.engine.wrap(self.recommend_df(wanted, n, exclude))

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        from pyspark.sql import functions as F
        from pyspark.sql.types import IntegerType, LongType, StructField, StructType

        ensure_active(self._spark)
        n = len(pairs)
        out = np.full(n, np.nan, dtype=np.float64)
        if n == 0:
            return out
        pdf = pd.DataFrame(
            {
                _ROW: np.arange(n, dtype=np.int64),
                USER: pairs[USER].to_numpy(dtype=np.int32),
                ITEM: pairs[ITEM].to_numpy(dtype=np.int32),
            }
        )
        schema = StructType(
            [
                StructField(_ROW, LongType(), False),
                StructField(USER, IntegerType(), False),
                StructField(ITEM, IntegerType(), False),
            ]
        )
        scored = self.model.transform(self._spark.createDataFrame(pdf, schema=schema))
        if self.biases is not None:
            b = self.biases
            scored = (
                scored.join(b.user, USER, "left")
                .join(b.item, ITEM, "left")
                .withColumn(PREDICTION, F.col(PREDICTION) + b.mean + F.col(U_BIAS) + F.col(I_BIAS))
            )
        result = spark_to_pandas(scored.select(_ROW, PREDICTION))
        values = result[PREDICTION].to_numpy(dtype=np.float64)  # null (no bias) -> NaN
        out[result[_ROW].to_numpy()] = values
        return out

    def recommend(
        self, users: np.ndarray | None, n: int, exclude: EngineData | None
    ) -> pd.DataFrame:
        """Top-``n`` lists computed by :meth:`recommend_df`; only the lists reach the driver."""
        top = self.recommend_df(users, n, exclude)
        pdf = spark_to_pandas(top)
        pdf = pdf.sort_values([USER, RANK], kind="stable").reset_index(drop=True)
        return pdf.astype({USER: np.int32, ITEM: np.int32, SCORE: np.float64, RANK: np.int32})[
            [USER, ITEM, SCORE, RANK]
        ]

    def recommend_df(
        self, users: np.ndarray | DataFrame | None, n: int, exclude: EngineData | None
    ) -> DataFrame:
        """Top-``n`` movies per user as a Spark DataFrame (USER, ITEM, SCORE, RANK), blocked.

        ``users`` are dense ids (an array, or a DataFrame with one column ``_id``); None
        means every user the model knows. Users and movies are hashed into blocks of about
        ``block_size`` rows each (``pmod(xxhash64(id), blocks)``). Every (user block, movie
        block) pair becomes one group of a ``groupBy().applyInPandas`` that holds that block
        pair's factors and seen (user, movie) pairs, scores it in numpy (float64 dot products
        summed factor by factor, so a score is bitwise the same in any block; biased models
        add mean + b_u + b_i), masks the seen pairs and keeps each user's ``n`` best movies of
        that block (score descending, then movie id ascending). A window over the candidates
        (``n`` per movie block per user) then keeps the overall top ``n``. Nothing but the
        block counts reaches the driver; one task holds at most two blocks of factors and a
        few ``block_size``² matrices (scores and temporaries: 32 MB each at 2048).

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

        ensure_active(self._spark)
        if n < 1:
            raise EngineError(f"n must be at least 1, got {n}")
        if exclude is not None and not isinstance(exclude, SparkData):
            raise EngineError("the Spark engine needs SparkData to exclude seen movies")
        biased = self.biases is not None
        uf = self.model.userFactors.select(
            F.col("id").cast("int").alias(_ID), F.col("features").alias(_F)
        )
        itf = self.model.itemFactors.select(
            F.col("id").cast("int").alias(_ID), F.col("features").alias(_F)
        )
        if self.biases is not None:
            ub = self.biases.user.select(F.col(USER).alias(_ID), F.col(U_BIAS).alias(_B))
            ib = self.biases.item.select(F.col(ITEM).alias(_ID), F.col(I_BIAS).alias(_B))
            uf, itf = uf.join(ub, _ID), itf.join(ib, _ID)
        else:
            uf = uf.withColumn(_B, F.lit(0.0).cast("double"))
            itf = itf.withColumn(_B, F.lit(0.0).cast("double"))
        wanted: DataFrame | None = None
        if isinstance(users, np.ndarray | list | tuple):
            wanted = self._spark.createDataFrame(
                pd.DataFrame({_ID: np.unique(np.asarray(users, dtype=np.int32))}),
                schema=StructType([StructField(_ID, IntegerType(), False)]),
            )
        elif users is not None:
            wanted = users
        if wanted is not None:
            uf = uf.join(wanted, _ID, "inner")
        n_user_blocks = max(1, -(-uf.count() // self.block_size))
        n_item_blocks = max(1, -(-itf.count() // self.block_size))

        def block(col: Any, blocks: int) -> Any:
            return F.pmod(F.xxhash64(col), F.lit(blocks)).cast("int")

        def ids(blocks: int, name: str) -> DataFrame:
            return self._spark.range(blocks).select(F.col("id").cast("int").alias(name))

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

        mean = float(self.biases.mean) if self.biases is not None else 0.0
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

    def factors(self) -> Factors:
        """The factors collected to the driver (rank + 1 numbers per user and per movie).

        Each factor comes as its own float column (``features[j]``), so the transfer is
        Arrow columns of numbers, not one array object per row."""
        from pyspark.sql import functions as F

        ensure_active(self._spark)
        rank = self.params.rank

        def collect(df: DataFrame) -> tuple[np.ndarray, np.ndarray]:
            cols = [F.col("features")[j].alias(f"_f{j}") for j in range(rank)]
            pdf = spark_to_pandas(df.select(F.col("id").cast("int").alias("id"), *cols))
            pdf = pdf.sort_values("id", kind="stable")
            ids = pdf["id"].to_numpy(dtype=np.int32)
            mat = pdf[[f"_f{j}" for j in range(rank)]].to_numpy(dtype=np.float32)
            return ids, np.ascontiguousarray(mat.reshape(len(ids), rank))

        user_ids, user_factors = collect(self.model.userFactors)
        item_ids, item_factors = collect(self.model.itemFactors)
        if self.biases is None:
            return Factors(user_ids, user_factors, item_ids, item_factors)

        def aligned(df: DataFrame, key: str, col: str, ids: np.ndarray) -> np.ndarray:
            pdf = spark_to_pandas(df).set_index(key)[col]
            return pdf.reindex(ids).fillna(0.0).to_numpy(dtype=np.float64)

        return Factors(
            user_ids,
            user_factors,
            item_ids,
            item_factors,
            global_mean=self.biases.mean,
            user_bias=aligned(self.biases.user, USER, U_BIAS, user_ids),
            item_bias=aligned(self.biases.item, ITEM, I_BIAS, item_ids),
        )

    def release(self) -> None:
        if self.biases is not None:
            self.biases.user.unpersist()
            self.biases.item.unpersist()

    def save(self, path: Path) -> None:
        ensure_active(self._spark)
        self.model.write().save(_uri(path / "als"))
        if self.biases is not None:
            self.biases.save(path / "biases")


class SparkEngine(Engine):
    """Spark MLlib ALS on a SparkSession (local mode or any cluster).

    ``implicit-als`` is Spark's own ``implicitPrefs=True`` with ``alpha``: no biases, and a
    saved model has the same layout as ``als`` (an ALSModel folder under ``als/``). ``ials``
    cannot be fitted here (local engine only), but a saved ``ials`` model loads and scores
    like any other (its factors are in the same layout).
    """

    name = "spark"

    def __init__(self, spark: SparkSession, topn_block_size: int = DEFAULT_TOPN_BLOCK_SIZE) -> None:
        self.spark = spark
        self.topn_block_size = topn_block_size
        """Users (and movies) per block of the distributed top-N
        (:meth:`SparkALSModel.recommend_df`)."""

    def data(self, ratings: pd.DataFrame) -> SparkData:
        """A pandas table copied to Spark (``createDataFrame``: small inputs and tests)."""
        from movierec.engines.spark.convert import to_spark

        ensure_active(self.spark)
        return SparkData(self, to_spark(self.spark, ratings), source=ratings)

    def wrap(self, df: DataFrame) -> SparkData:
        """A table of this engine on the DataFrame ``df``."""
        return SparkData(self, df)

    def read(
        self, cfg: DataConfig, spark_cfg: SparkConfig | None = None, *, keep_lines: bool = False
    ) -> SparkRead:
        """The ratings source read and validated on the executors
        (:func:`movierec.engines.spark.reader.read_ratings`: the local reader's rules,
        reject reasons, counts and dense ids; rejects kept as a DataFrame). ``spark_cfg``
        is unused: the executors read any Hadoop URI themselves, nothing is staged;
        ``keep_lines`` too: the kept rows' lines stay on the executors."""
        from movierec.engines.spark.reader import read_ratings

        ensure_active(self.spark)
        return SparkRead(self, read_ratings(self.spark, cfg))

    def read_table(self, path: Path) -> SparkData:
        """A canonical ratings table stored as Parquet (one file or part files), read by the
        executors (a Hadoop URI when the model folder is staged from one)."""
        from pyspark.sql import functions as F

        ensure_active(self.spark)
        df = self.spark.read.parquet(_uri(Path(path)))
        return SparkData(
            self,
            df.select(
                F.col(USER).cast("int"), F.col(ITEM).cast("int"), F.col(RATING).cast("double")
            ),
        )

    def catalog(
        self,
        movies: pd.DataFrame | None,
        user_ids: np.ndarray | None = None,
        item_ids: np.ndarray | None = None,
    ) -> SparkCatalog:
        return SparkCatalog.from_local(self, Catalog(movies, user_ids, item_ids))

    def spark_catalog(self, catalog: Catalog | None) -> SparkCatalog:
        """``catalog`` with DataFrames for joins (copied to Spark when driver-side)."""
        if isinstance(catalog, SparkCatalog):
            return catalog
        if catalog is None:
            return SparkCatalog(self, None, None, None)
        return SparkCatalog.from_local(self, catalog)

    def fit(self, train: EngineData, params: ALSParams) -> SparkALSModel:
        from pyspark.ml.recommendation import ALS

        if params.ials:
            raise ConfigError(
                "model ials is local-only (Spark MLlib has no iALS): use --engine local"
            )
        if not isinstance(train, SparkData):
            raise EngineError("the Spark engine fits SparkData only")
        ensure_active(self.spark)
        if params.model == "ease":  # the item-item model: movierec.engines.spark.ease
            from movierec.engines.ease_blend import partner_params
            from movierec.engines.spark.ease_fit import fit_spark

            partner = self.fit(train, partner_params(params)) if params.ease_blend > 0 else None
            return fit_spark(self.spark, train, params, partner, self)  # type: ignore[return-value]
        als = ALS(
            rank=params.rank,
            maxIter=params.max_iter,
            regParam=params.reg_param,
            numUserBlocks=params.num_blocks,
            numItemBlocks=params.num_blocks,
            implicitPrefs=params.implicit,
            alpha=float(params.alpha),
            nonnegative=params.nonnegative,
            checkpointInterval=params.checkpoint_interval,
            seed=params.seed,
            userCol=USER,
            itemCol=ITEM,
            ratingCol=RATING,
            coldStartStrategy="nan",
        )
        log.debug("fitting Spark ALS %s", params)
        if not params.biased:
            model = als.fit(train.df)
            return SparkALSModel(self.spark, model, params, None, self.topn_block_size, self)
        biases = SparkBiases.fit(train.df, params.bias_reg)
        residuals = biases.residuals(train.df).cache()
        try:
            model = als.fit(residuals)
        finally:
            residuals.unpersist()
        return SparkALSModel(self.spark, model, params, biases, self.topn_block_size, self)

    def load(self, path: Path, params: ALSParams) -> SparkALSModel:
        from pyspark.ml.recommendation import ALSModel

        ensure_active(self.spark)
        if params.model == "ease":
            from movierec.engines.ease_blend import partner_params
            from movierec.engines.ease_model import PARTNER
            from movierec.engines.spark.ease_fit import load_spark

            partner = (
                self.load(path / PARTNER, partner_params(params)) if params.ease_blend > 0 else None
            )
            return load_spark(self.spark, path, params, partner, self)  # type: ignore[return-value]
        try:
            model = ALSModel.load(_uri(path / "als"))
            biases = SparkBiases.load(self.spark, path / "biases") if params.biased else None
        except Exception as exc:
            raise ModelError(f"{path}: not a readable Spark ALS model ({exc})") from exc
        if model.rank != params.rank:
            raise ModelError(
                f"{path}: Spark model has rank {model.rank}, metadata says {params.rank}"
            )
        return SparkALSModel(self.spark, model, params, biases, self.topn_block_size, self)

    def aggregates(self, data: EngineData) -> tuple[pd.Series, pd.Series, pd.Series]:
        if not isinstance(data, SparkData):
            raise EngineError("the Spark engine aggregates SparkData only")
        return data.aggregates()
