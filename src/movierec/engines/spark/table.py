"""The Spark engine's tables: every data-plane method of the contract as DataFrame jobs.

A :class:`SparkData` holds a DataFrame (cached on first use, unpersisted by ``release``).
Splits, scores and lists are new DataFrames; what comes back to the driver is counts, metric
dicts, aggregates bounded by users and movies, and the rows of a few users for the report.
Files (lists, the training ratings of a model folder) are written by the executors as part
files straight into the output folder (:func:`movierec.hadoopfs.spark_uri`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from movierec.data.frames import spark_to_pandas
from movierec.engines.base import (
    BASELINES,
    Catalog,
    EngineData,
    Predictor,
    TableStats,
    WrittenLists,
)
from movierec.engines.spark import baselines as spark_baselines
from movierec.engines.spark.convert import ORIGINAL, to_pandas, to_spark
from movierec.engines.spark.table_ops import SparkTableOps, _df
from movierec.errors import ConfigError, EngineError
from movierec.lists import OUTPUT_COLUMNS
from movierec.schema import GENRES, ITEM, PREDICTION, RANK, RATING, SCORE, TITLE, USER

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


class SparkEngine(Protocol):
    """What the tables need of :class:`movierec.engines.spark_als.SparkEngine` (which
    imports this module, not the other way round)."""

    spark: SparkSession

    def data(self, ratings: pd.DataFrame) -> SparkData: ...

    def spark_catalog(self, catalog: Catalog | None) -> SparkCatalog: ...


def _uri(path: Path) -> str:
    """A local path as a ``file://`` URI (never resolved against a cluster's HDFS); inside the
    staging of a Hadoop output (``hdfs://``, ``s3a://`` …) the remote URI, so executors read
    and write there directly (``hadoopfs.spark_uri``)."""
    from movierec.hadoopfs import spark_uri

    return spark_uri(Path(path))


def _held(df: DataFrame) -> DataFrame:
    """``df`` kept by Spark once computed: cached on a classic session; on Spark Connect a
    lazy local checkpoint, which also cuts the plan the client sends with every later
    operation (reading, validating, mapping ids and splitting nest a plan deeper than the
    client's protobuf decoder accepts when it builds an ML fit, ``Exceeded
    upb_DecodeOptions_MaxDepth``), pinned for the session (:func:`movierec.spark.checkpoint`)."""
    from movierec.spark import checkpoint, is_connect

    if is_connect(df.sparkSession):
        return checkpoint(df, eager=False, reliable=False)
    return df.cache()


class SparkData(SparkTableOps):
    """A table as a Spark DataFrame, cached by Spark on first use and unpersisted by
    :meth:`release`. ``source`` is the pandas frame it was copied from, when it was.
    ``owned=False`` borrows a frame cached by someone else (a
    :class:`movierec.LoadedSparkRatings`): it is used as it is and :meth:`release` leaves it."""

    def __init__(
        self,
        engine: SparkEngine,
        df: DataFrame,
        source: pd.DataFrame | None = None,
        *,
        owned: bool = True,
    ) -> None:
        self.engine = engine
        self.df: DataFrame = _held(df) if owned else df
        self._owned = owned
        self._source = source
        self._count: int | None = None
        self._stats: TableStats | None = None

    # --- the contract's plumbing -----------------------------------------------------------

    @property
    def ratings(self) -> pd.DataFrame:
        """The pandas frame this table was copied from, else the rows collected (tests and
        small tables only)."""
        return self._source if self._source is not None else to_pandas(self.df)

    def local_rows(self) -> pd.DataFrame | None:
        return None

    def derive(self, frame: pd.DataFrame) -> SparkData:
        return self.engine.data(frame)

    def wrap(self, df: DataFrame) -> SparkData:
        """A new table of this engine on ``df``."""
        return SparkData(self.engine, df)

    def release(self) -> None:
        if self._owned:
            self.df.unpersist()

    # --- counts and aggregates -------------------------------------------------------------

    def count(self) -> int:
        if self._count is None:
            self._count = int(self.df.count())
        return self._count

    def stats(self) -> TableStats:
        """One aggregation: rows, exact distinct users and movies, rating range."""
        from pyspark.sql import functions as F

        if self._stats is None:
            row = self.df.agg(
                F.count(F.lit(1)),
                F.countDistinct(USER),
                F.countDistinct(ITEM),
                F.min(RATING),
                F.max(RATING),
            ).first()
            assert row is not None
            lo, hi = row[3], row[4]
            self._stats = TableStats(
                rows=int(row[0]),
                users=int(row[1]),
                items=int(row[2]),
                rating_min=float("nan") if lo is None else float(lo),
                rating_max=float("nan") if hi is None else float(hi),
            )
            self._count = self._stats.rows
        return self._stats

    def aggregates(self) -> tuple[pd.Series, pd.Series, pd.Series]:
        """Three ``groupBy().count()`` jobs; the driver gets one row per user, per movie and
        per rating value."""

        def counts(col: str) -> pd.Series:
            pdf = spark_to_pandas(self.df.groupBy(col).count()).sort_values(col)
            return pd.Series(pdf["count"].to_numpy(dtype=np.int64), index=pdf[col].to_numpy())

        return counts(USER), counts(ITEM), counts(RATING)

    def rows_of_users(self, users: np.ndarray) -> pd.DataFrame:
        from pyspark.sql import functions as F

        wanted = [int(u) for u in np.asarray(users).tolist()]
        return to_pandas(self.df.filter(F.col(USER).isin(wanted)))

    def write_recommendations(self, path: Path, catalog: Catalog | None) -> WrittenLists:
        """Folders of part files written by the executors (``.parquet`` parts; ``.csv``
        parts with a header each, quotes doubled): titles joined and original ids mapped on
        the cluster, rows ordered by user then rank across the parts in name order. Each
        folder is written under a temporary name and renamed into place (straight into
        place inside the staging of a Hadoop output, which is published whole)."""
        from movierec.lists import output_targets, replaced_atomically

        table = decorated(self.df, self.engine.spark_catalog(catalog)).orderBy(USER, RANK)
        table = table.cache()
        targets = output_targets(Path(path))
        try:
            for target in targets:
                with replaced_atomically(target) as tmp:
                    writer = table.write
                    if target.suffix == ".csv":
                        writer.option("header", True).option("escape", '"').csv(_uri(tmp))
                    else:
                        writer.parquet(_uri(tmp))
            users = int(table.select(USER).distinct().count())
            rows = int(table.count())
        finally:
            table.unpersist()
        return WrittenLists(users, rows, [t.name for t in targets])

    # --- models and model folders ------------------------------------------------------------

    def fit_baseline(self, name: str) -> Predictor:
        return SparkBaseline(name, self)

    def fingerprint(self) -> str:
        """``xxh64sum:`` + the sum modulo 2^64 of Spark's ``xxhash64(user, movie, rating)``
        over the rows, in hex, and ``:`` + the row count: independent of row order and of
        partitioning, computed by one aggregation (a different digest from the local
        engine's SHA-256, so it names its kind)."""
        from pyspark.sql import functions as F

        cols = F.col(USER).cast("int"), F.col(ITEM).cast("int"), F.col(RATING).cast("double")
        h = F.xxhash64(*cols)
        row = self.df.agg(F.sum(h.cast("decimal(38,0)")), F.count(F.lit(1))).first()
        assert row is not None
        total = int(row[0] or 0) % 2**64
        return f"xxh64sum:{total:016x}:{int(row[1])}"

    def write_ratings(self, path: Path) -> dict[str, tuple[int, str]]:
        """USER, ITEM, RATING as Parquet part files, range-partitioned and sorted by user
        (then movie), so the parts read in name order are sorted by user. When ``path``
        maps to a remote output (:func:`movierec.hadoopfs.spark_uri`), the executors also
        hash the parts they wrote there (``binaryFile`` + ``sha2``: one row per file comes
        back) for the model's manifest; the ``_SUCCESS`` marker is removed there."""
        from pyspark.sql import functions as F

        from movierec.paths import is_remote

        out = self.df.select(
            F.col(USER).cast("int"), F.col(ITEM).cast("int"), F.col(RATING).cast("double")
        )
        uri = _uri(path)
        out.orderBy(USER, ITEM).write.parquet(uri)
        if not is_remote(uri) or uri.startswith("file:"):
            return {}
        from movierec.hadoopfs import HadoopFS

        # Spark lists no hidden file, so the job marker would be unhashed; readers skip it.
        HadoopFS(self.engine.spark).delete(f"{uri.rstrip('/')}/_SUCCESS")
        return remote_file_hashes(self.engine.spark, uri, Path(path).name)


def remote_file_hashes(spark: SparkSession, uri: str, name: str) -> dict[str, tuple[int, str]]:
    """(size, hex SHA-256) of every file under the folder ``uri``, computed by the executors
    (each reads its files whole: part files, not ratings in the driver), keyed
    ``name/<path under uri>``. Spark lists no hidden file (``_*``, ``.*``): the folder
    must hold none that a copy of it would bring (``.crc`` files of Hadoop's checksummed
    local filesystem are hidden from its listings and copies too)."""
    from pyspark.sql import functions as F

    rows = (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .load(uri)
        .select("path", "length", F.sha2(F.col("content"), 256).alias("sha"))
        .collect()
    )
    base = uri.rstrip("/") + "/"
    out: dict[str, tuple[int, str]] = {}
    for r in rows:
        path = str(r["path"])
        rel = path[len(base) :] if path.startswith(base) else path.rsplit("/", 1)[-1]
        out[f"{name}/{rel}"] = (int(r["length"]), str(r["sha"]))
    return out


def decorated(recs: DataFrame, catalog: SparkCatalog) -> DataFrame:
    """Lists with titles and genres (empty when unknown) and original ids, joined on the
    cluster: the columns of :data:`movierec.lists.OUTPUT_COLUMNS`."""
    from pyspark.sql import functions as F

    out = recs.select(USER, RANK, ITEM, SCORE)
    movies = catalog.movies_df
    if movies is not None:
        meta = movies.select(ITEM, TITLE, GENRES).dropDuplicates([ITEM])
        out = out.join(meta, ITEM, "left").fillna("", subset=[TITLE, GENRES])
    else:
        out = out.withColumn(TITLE, F.lit("")).withColumn(GENRES, F.lit(""))
    for col, ids in ((USER, catalog.user_ids_df), (ITEM, catalog.item_ids_df)):
        if ids is not None:
            out = out.join(ids.withColumnRenamed(ORIGINAL, "_original"), col, "left")
            out = out.drop(col).withColumnRenamed("_original", col)
    return out.select(*OUTPUT_COLUMNS)


class SparkCatalog(Catalog):
    """Titles and id maps as DataFrames for joins on the cluster; the driver-side values
    (:class:`Catalog`'s properties) are collected on first use (bounded by movies/users)."""

    def __init__(
        self,
        engine: SparkEngine,
        movies: DataFrame | None,
        user_ids: DataFrame | None,
        item_ids: DataFrame | None,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.movies_df, self.user_ids_df, self.item_ids_df = movies, user_ids, item_ids
        self._collected: dict[str, Any] = {}

    @classmethod
    def from_local(cls, engine: SparkEngine, catalog: Catalog) -> SparkCatalog:
        """The DataFrames of a driver-side catalog (a model folder's), copied to Spark."""
        spark = engine.spark

        def ids(values: np.ndarray | None, col: str) -> DataFrame | None:
            if values is None:
                return None
            frame = pd.DataFrame(
                {col: np.arange(len(values), dtype=np.int32), ORIGINAL: np.asarray(values)}
            )
            return to_spark(spark, frame.astype({ORIGINAL: str}))

        movies = None if catalog.movies is None else to_spark(spark, catalog.movies)
        out = cls(engine, movies, ids(catalog.user_ids, USER), ids(catalog.item_ids, ITEM))
        out._collected = {
            "movies": catalog.movies,
            "user_ids": catalog.user_ids,
            "item_ids": catalog.item_ids,
        }
        return out

    @property
    def movies(self) -> pd.DataFrame | None:
        if "movies" not in self._collected:
            m = self.movies_df
            self._collected["movies"] = None if m is None else to_pandas(m)
        return self._collected["movies"]

    def _ids(self, key: str, df: DataFrame | None, col: str) -> np.ndarray | None:
        if key not in self._collected:
            if df is None:
                self._collected[key] = None
            else:
                pdf = spark_to_pandas(df).sort_values(col)
                if not np.array_equal(pdf[col].to_numpy(), np.arange(len(pdf))):
                    raise EngineError(f"the {col} id map is not dense (0..n-1)")
                values = pdf[ORIGINAL]
                integral = pd.api.types.is_integer_dtype(values)
                self._collected[key] = values.to_numpy(dtype=np.int64 if integral else object)
        return self._collected[key]

    @property
    def user_ids(self) -> np.ndarray | None:
        return self._ids("user_ids", self.user_ids_df, USER)

    @property
    def item_ids(self) -> np.ndarray | None:
        return self._ids("item_ids", self.item_ids_df, ITEM)


class SparkBaseline(Predictor):
    """A baseline of :data:`BASELINES` fitted with Spark jobs on a :class:`SparkData`."""

    def __init__(self, name: str, train: SparkData) -> None:
        if name not in BASELINES:
            raise ConfigError(f"unknown baseline {name!r}; choose one of: {', '.join(BASELINES)}")
        kinds: dict[str, Any] = {
            "global_mean": spark_baselines.GlobalMean,
            "bias": spark_baselines.BiasBaseline,
            "most_popular": spark_baselines.MostPopular,
        }
        self.name = name
        self.train = train
        self.model = kinds[name]().fit(train.df)

    def release(self) -> None:
        """Drop the fitted tables (bias tables, the cached popularity table)."""
        self.model.release()

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        with self.train.derive(pairs) as table, self.predict_table(table) as scored:
            return scored.ratings[PREDICTION].to_numpy(dtype=np.float64)

    def recommend(
        self, users: np.ndarray | None, n: int, exclude: EngineData | None
    ) -> pd.DataFrame:
        table = None
        if users is not None:
            table = self.train.derive(pd.DataFrame({USER: np.asarray(users, dtype=np.int32)}))
        try:
            with self.recommend_table(table, n, exclude) as recs:
                return recs.ratings
        finally:
            if table is not None:
                table.release()

    def predict_table(
        self, pairs: EngineData, scale: tuple[float, float] | None = None
    ) -> EngineData:
        if self.name == "most_popular":
            raise EngineError("the most-popular baseline ranks movies; it predicts no ratings")
        scored = self.model.predict(_df(pairs))
        return self.train.wrap(clip_column(scored, scale))

    def recommend_table(
        self, users: EngineData | None, n: int, exclude: EngineData | None
    ) -> EngineData:
        if self.name != "most_popular":
            raise EngineError(f"the {self.name} baseline predicts ratings; it makes no lists")
        who = _df(users) if users is not None else self.train.df
        seen = _df(exclude) if exclude is not None else None
        return self.train.wrap(self.model.recommend(who.select(USER).distinct(), n, seen))


def clip_column(df: DataFrame, scale: tuple[float, float] | None) -> DataFrame:
    """``df`` with PREDICTION limited to ``scale`` (NaN and null stay NaN)."""
    from pyspark.sql import functions as F

    p = F.col(PREDICTION).cast("double")
    missing = p.isNull() | F.isnan(p)
    value = p if scale is None else F.least(F.greatest(p, F.lit(scale[0])), F.lit(scale[1]))
    return df.withColumn(PREDICTION, F.when(missing, F.lit(float("nan"))).otherwise(value))
