"""The Spark engine: Spark MLlib ALS behind the :mod:`movierec.engines.base` contract.

Fitting, predicting and top-N scoring all run as Spark jobs, so the same code runs in
``local[*]`` and on a cluster. The data plane (tables, splits, metrics, writers) is in
:mod:`movierec.engines.spark.table`. :meth:`SparkALSModel.predict_table` and
:meth:`SparkALSModel.recommend_table` keep their results on the cluster; the pandas methods
:meth:`~SparkALSModel.predict` and :meth:`~SparkALSModel.recommend` collect them (a few
users, tests). Factor exports are bounded by users and movies.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from movierec.data.frames import spark_to_pandas
from movierec.engines.base import ALSParams, Catalog, Engine, EngineData, Factors, TrainedModel
from movierec.engines.spark.biases import SparkBiases
from movierec.engines.spark.read_result import SparkRead
from movierec.engines.spark.table import SparkCatalog, SparkData, _uri, clip_column
from movierec.engines.spark.topn import _ID, blocked_top_n
from movierec.errors import ConfigError, EngineError, ModelError
from movierec.schema import I_BIAS, ITEM, PREDICTION, RANK, RATING, SCORE, U_BIAS, USER
from movierec.spark import ensure_active

if TYPE_CHECKING:
    from pyspark.ml.recommendation import ALSModel
    from pyspark.sql import DataFrame, SparkSession

    from movierec.config import DataConfig, SparkConfig

log = logging.getLogger(__name__)

_ROW = "_row"
DEFAULT_TOPN_BLOCK_SIZE = 2048
"""Users (and movies) per block of the distributed top-N; see SparkConfig.topn_block_size."""


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
        return blocked_top_n(self, users, n, exclude)

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
