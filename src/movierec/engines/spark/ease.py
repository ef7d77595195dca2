"""EASE on the Spark engine: the Gram on the executors, B on the driver, scores on the executors.

* **Gram.** X = the (user, movie) pairs with rating >= ``ease_threshold``; the executors
  self-join X on the user and count each movie pair (upper triangle only; a pair inside one
  rating session counts 1 + ``ease_session_weight``, sessions numbered by a window over
  each user's timestamps). Only that
  count table — at most items·(items+1)/2 rows, bounded by the catalogue, not the
  ratings — comes to the driver, as Arrow.
* **Inverse.** B = I − P·diag(1 ⊘ diag(P)) from G + λI on the driver
  (:func:`movierec.engines.ease.weights_primal`: Cholesky, float64), stored as float32
  (items² values), or sparsified to the k largest-magnitude weights of each row with
  ``ease_topk`` = k (items·k values).
* **Scores.** B is broadcast (dense float32, or its top-k rows with ``ease_topk``); users
  are hashed into blocks and every block is one group of a ``groupBy().applyInPandas``
  holding its users' interactions and seen movies.
  A user's scores are the sum of the B rows of their movies, accumulated in float64 in
  ascending movie order — the same numbers, in the same order, as the local engine's
  kernel — then the seen movies are masked and the top n kept (ties: lower movie id).
  Nothing ratings-sized reaches the driver: :meth:`SparkEaseModel.recommend_table` and
  :meth:`SparkEaseModel.predict_table` keep lists and scored pairs on the executors as
  engine tables; the lists (users × n rows) reach the driver only when asked for as pandas.

Models save to the ``movierec-ease`` folder of :mod:`movierec.engines.ease_model` (weights
as top-k CSR, interactions as Parquet part files), so either engine loads the other's.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from movierec.engines.base import ALSParams, EngineData, Factors, TrainedModel
from movierec.engines.ease import check_lambda, check_size, sparsify_rows, weights_primal
from movierec.engines.ease_model import (
    EASE_JSON,
    INTERACTIONS,
    PARTNER,
    Weights,
    read_weights,
    write_weights,
)
from movierec.errors import EngineError, ModelError
from movierec.schema import ITEM, PREDICTION, RANK, RATING, SCORE, TIMESTAMP, USER

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

_J, _A, _B, _C, _ROW, _UB, _KIND, _S = "_j", "_a", "_b", "_c", "_row", "_ub", "_kind", "_s"
_F = "_f"
SCORE_BLOCK_USERS = 256
"""Users per group of the distributed scoring (a group holds one user's float64 score row at
a time, plus its users' interactions and seen movies)."""


def _arrow(df: DataFrame) -> Any:
    """``df`` collected as a pyarrow Table (only for catalogue- or user-sized results)."""
    return df.toArrow()


def _index(spark: SparkSession, item_ids: np.ndarray) -> DataFrame:
    """(ITEM, _J): each movie id and its row in ``item_ids`` (a catalogue-sized table)."""
    from pyspark.sql.types import IntegerType, StructField, StructType

    pdf = pd.DataFrame(
        {ITEM: item_ids.astype(np.int32), _J: np.arange(len(item_ids), dtype=np.int32)}
    )
    schema = StructType(
        [StructField(ITEM, IntegerType(), False), StructField(_J, IntegerType(), False)]
    )
    return spark.createDataFrame(pdf, schema=schema)


def _sorted_ids(df: DataFrame, col: str) -> np.ndarray:
    table = _arrow(df.select(col).distinct())
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
    table = _arrow(pairs)
    ia = table.column(_A).to_numpy()
    ib = table.column(_B).to_numpy()
    c = table.column(_C).to_numpy().astype(np.float64)
    g = np.zeros((n_items, n_items), dtype=np.float64)
    g[ia, ib] = c
    g[ib, ia] = c
    return g


def fit_spark(
    spark: SparkSession, train: Any, params: ALSParams, partner: Any = None, engine: Any = None
) -> SparkEaseModel:
    """Fit EASE on a :class:`~movierec.engines.spark.table.SparkData` table (see the module
    doc); ``engine`` (a :class:`~movierec.engines.spark_als.SparkEngine`) owns the tables the
    model returns.

    Raises:
        EngineError: too many movies (``ease_max_items``) or no interaction.
        ConfigError: λ is not positive.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from movierec.spark import ensure_active

    ensure_active(spark)
    started = time.perf_counter()
    lam = check_lambda(params.reg_param)
    df = train.df
    item_ids = _sorted_ids(df, ITEM)
    check_size(len(item_ids), params.ease_max_items)
    user_ids = _sorted_ids(df, USER)
    rated = (
        df if params.ease_threshold is None else df.where(F.col(RATING) >= params.ease_threshold)
    )
    timed = params.ease_session_weight > 0 and TIMESTAMP in df.columns
    pairs = rated.select(USER, ITEM, *([TIMESTAMP] if timed else [])).join(
        F.broadcast(_index(spark, item_ids)), ITEM
    )
    x = pairs.select(USER, _J).persist(StorageLevel.MEMORY_AND_DISK)
    if x.isEmpty():
        x.unpersist()
        raise EngineError(
            f"EASE has no interaction to learn from: no rating is >= {params.ease_threshold}"
        )
    if timed:
        g = spark_gram(
            sessions(pairs.select(USER, _J, TIMESTAMP), params.ease_session_gap),
            len(item_ids),
            params.ease_session_weight,
        )
    else:
        g = spark_gram(x, len(item_ids))
    b = weights_primal(g, lam)
    del g
    weights: Weights = sparsify_rows(b, params.ease_topk) if params.ease_topk else b
    log.debug(
        "Spark EASE on %d users x %d movies, λ=%g, top-%d per row: %.2f s",
        len(user_ids),
        len(item_ids),
        lam,
        params.ease_topk,
        time.perf_counter() - started,
    )
    return SparkEaseModel(spark, params, user_ids, item_ids, x, weights, partner, engine)


def _user_scores_fn() -> Any:
    """A function ``scores(payload, src, uf)``: one user's float64 score row — the sum of the
    rows ``src`` (ascending movie rows) of the broadcast B, in the local kernel's order, and
    with a blend, (1 − w)·z(that) + w·z(item factors · ``uf``) (the partner's user factor;
    None = zeros), z measured outside ``src``, as :mod:`movierec.engines.ease_blend`
    computes it.

    Built as a nested function so Spark pickles it by value (workers need numpy only).
    ``payload`` is a dict: ``item_ids``, ``blend`` (w), ``item_factors`` (float64, aligned to
    ``item_ids``; None without a blend) and ``b`` (dense B) or ``indptr``/``indices``/
    ``values`` (its sparse rows).
    """

    def z(v: np.ndarray, src: np.ndarray | None) -> np.ndarray:
        # mean and std over the movies outside the user's interactions ``src``
        measured = v
        if src is not None and 0 < len(src) < len(v):
            keep = np.ones(len(v), dtype=bool)
            keep[src] = False
            measured = v[keep]
        sd = measured.std()
        return (v - measured.mean()) / (sd if sd > 0 else 1.0)

    def scores(payload: dict[str, Any], src: np.ndarray | None, uf: Any) -> np.ndarray:
        s = np.zeros(len(payload["item_ids"]), dtype=np.float64)
        if src is not None and len(src):
            if "b" in payload:
                b = payload["b"]
                for i in src:
                    s += b[i]
            else:
                indptr, indices, values = payload["indptr"], payload["indices"], payload["values"]
                lens = indptr[src + 1] - indptr[src]
                starts = np.repeat(indptr[src] - np.cumsum(lens) + lens, lens)
                pos = starts + np.arange(int(lens.sum()))
                s += np.bincount(
                    indices[pos], weights=values[pos].astype(np.float64), minlength=len(s)
                )
        w = payload["blend"]
        if w <= 0:
            return s
        itf = payload["item_factors"]
        a = np.zeros(len(s)) if uf is None else itf @ np.asarray(uf, dtype=np.float64)
        return (1.0 - w) * z(s, src) + w * z(a, src)

    return scores


class SparkEaseModel(TrainedModel):
    """EASE with its interactions as a cached DataFrame and B (dense, or top-k sparse rows) on
    the driver, broadcast for scoring. Scores rank movies; they are not ratings."""

    def __init__(
        self,
        spark: SparkSession,
        params: ALSParams,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        x: DataFrame,
        weights: Weights,
        partner: Any = None,
        engine: Any = None,
    ) -> None:
        self._spark = spark
        self.engine = engine
        """The :class:`~movierec.engines.spark_als.SparkEngine` whose tables
        :meth:`recommend_table` and :meth:`predict_table` return (None: the input's)."""
        self.params = params
        self.user_ids = np.asarray(user_ids, dtype=np.int32)
        self.item_ids = np.asarray(item_ids, dtype=np.int32)
        self.x = x
        """(USER, _J) interaction pairs, cached."""
        self.weights = weights
        self.partner = partner
        """The implicit-als SparkALSModel blended in (``params.ease_blend`` > 0), else None."""
        self._bc: Any = None

    def _broadcast(self) -> Any:
        if self._bc is None:
            w = self.weights
            payload: dict[str, Any] = {"item_ids": self.item_ids, "item_factors": None}
            if isinstance(w, sp.csr_matrix):
                payload["indptr"] = w.indptr.astype(np.int64)
                payload["indices"] = w.indices.astype(np.int32)
                payload["values"] = w.data.astype(np.float32)
            else:
                payload["b"] = np.ascontiguousarray(w, dtype=np.float32)
            payload["blend"] = float(self.params.ease_blend) if self.partner is not None else 0.0
            if self.partner is not None:
                payload["item_factors"] = self._partner_items()
            try:
                context = self._spark.sparkContext
            except Exception:  # Spark Connect has no SparkContext: B travels with the UDF
                self._bc = SimpleNamespace(value=payload)
            else:
                self._bc = context.broadcast(payload)
        return self._bc

    def _partner_items(self) -> np.ndarray:
        """The partner's item factors (float64) as rows of ``item_ids`` (zeros if unknown);
        a catalogue-sized table collected to the driver."""
        from movierec.engines.ease_blend import aligned

        table = _arrow(self.partner.model.itemFactors)
        ids = table.column("id").to_numpy().astype(np.int64)
        order = np.argsort(ids)
        feats = table.column("features").to_pylist()
        mat = np.array([feats[i] for i in order], dtype=np.float64).reshape(len(ids), -1)
        factors = Factors(np.zeros(0, np.int32), np.zeros((0, mat.shape[1])), ids[order], mat)
        return aligned(factors, np.zeros(0, np.int32), self.item_ids)[1]

    def _grouped(self, parts: list[DataFrame], users: np.ndarray | DataFrame | None) -> DataFrame:
        """Union of (_UB, _KIND, USER, _J, _ROW, _F) rows, users hashed into blocks; with a
        blend, the partner's user factors ride along as kind-4 rows (_F). ``users``: dense
        ids as an array, or a DataFrame with a USER column (kept on the executors; only the
        number of the model's users among them is counted), None = every known user."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import ArrayType, FloatType, IntegerType, StructField, StructType

        schema = StructType([StructField(USER, IntegerType(), False)])
        if users is None or isinstance(users, np.ndarray):
            known = self.user_ids if users is None else np.intersect1d(self.user_ids, users)
            marks = self._spark.createDataFrame(
                pd.DataFrame({USER: known.astype(np.int32)}), schema
            )
            count = len(known)
        else:
            every = self._spark.createDataFrame(
                pd.DataFrame({USER: self.user_ids.astype(np.int32)}), schema
            )
            marks = every.join(users.select(F.col(USER).cast("int").alias(USER)), USER, "left_semi")
            count = int(marks.count())
        blocks = max(1, -(-count // SCORE_BLOCK_USERS))
        no_f = F.lit(None).cast(ArrayType(FloatType())).alias(_F)
        cols = [_KIND, USER, _J, _ROW]
        out = marks.select(
            F.lit(0).alias(_KIND), USER, F.lit(None).cast("int").alias(_J),
            F.lit(None).cast("long").alias(_ROW), no_f,
        )  # fmt: skip
        for part in parts:
            out = out.unionByName(part.join(marks, USER, "left_semi").select(*cols, no_f))
        if self.partner is not None:
            uf = self.partner.model.userFactors.select(
                F.lit(4).alias(_KIND), F.col("id").cast("int").alias(USER),
                F.lit(None).cast("int").alias(_J), F.lit(None).cast("long").alias(_ROW),
                F.col("features").alias(_F),
            )  # fmt: skip
            out = out.unionByName(uf.join(marks, USER, "left_semi"))
        return out.withColumn(_UB, F.pmod(F.xxhash64(USER), F.lit(blocks)).cast("int"))

    def recommend_df(
        self, users: np.ndarray | DataFrame | None, n: int, exclude: EngineData | None
    ) -> DataFrame:
        """Top-``n`` movies per user as a Spark DataFrame (USER, ITEM, SCORE, RANK), computed
        on the executors; ``users``: dense ids (an array, or a DataFrame with a USER column),
        None = every user the model knows.

        Raises:
            EngineError: ``n`` < 1, or ``exclude`` is not a Spark table.
        """
        from pyspark.sql import functions as F
        from pyspark.sql.types import DoubleType, IntegerType, StructField, StructType

        if n < 1:
            raise EngineError(f"n must be at least 1, got {n}")
        parts = [
            self.x.select(F.lit(1).alias(_KIND), USER, _J, F.lit(None).cast("long").alias(_ROW))
        ]
        if exclude is not None:
            ex_df = getattr(exclude, "df", None)
            if ex_df is None:
                raise EngineError("the Spark engine needs SparkData to exclude seen movies")
            seen = ex_df.select(USER, ITEM).join(
                F.broadcast(_index(self._spark, self.item_ids)), ITEM
            )
            parts.append(
                seen.select(F.lit(2).alias(_KIND), USER, _J, F.lit(None).cast("long").alias(_ROW))
            )
        wanted: np.ndarray | DataFrame | None = users
        if isinstance(users, np.ndarray) or (users is not None and not hasattr(users, "columns")):
            wanted = np.unique(np.asarray(users, dtype=np.int64))
        grouped = self._grouped(parts, wanted)
        bc = self._broadcast()
        user_scores = _user_scores_fn()
        user_col, item_col, score_col, rank_col = USER, ITEM, SCORE, RANK

        # A closure (pickled by value): Python workers need numpy and pandas, not movierec.
        def top_block(pdf: pd.DataFrame) -> pd.DataFrame:
            payload = bc.value
            item_ids = payload["item_ids"]
            kind = pdf[_KIND].to_numpy()
            users_ = np.sort(pdf.loc[kind == 0, USER].to_numpy())
            inter = (
                pdf.loc[kind == 1, [USER, _J]]
                .astype({_J: np.int64})
                .sort_values([USER, _J], kind="stable")
            )
            seen_ = pdf.loc[kind == 2, [USER, _J]].astype({_J: np.int64})
            inter_by = dict(tuple(inter.groupby(USER)[_J]))
            uf_by = dict(zip(pdf.loc[kind == 4, USER], pdf.loc[kind == 4, _F]))
            seen_by = dict(tuple(seen_.groupby(USER)[_J]))
            out_u, out_i, out_s, out_r = [], [], [], []
            for u in users_:
                rows = inter_by.get(u)
                s = user_scores(payload, None if rows is None else rows.to_numpy(), uf_by.get(u))
                seen_rows = seen_by.get(u)
                if seen_rows is not None:
                    s[seen_rows.to_numpy()] = -np.inf
                valid = int(np.isfinite(s).sum())
                k = min(n, valid)
                if k == 0:
                    continue
                # stable sort on -score: ties keep the lower movie row (= lower movie id)
                order = np.argsort(-s, kind="stable")[:k]
                out_u.append(np.full(k, u, dtype=np.int32))
                out_i.append(item_ids[order])
                out_s.append(s[order])
                out_r.append(np.arange(1, k + 1, dtype=np.int32))
            if not out_u:
                return pd.DataFrame(
                    {
                        user_col: np.zeros(0, np.int32),
                        item_col: np.zeros(0, np.int32),
                        score_col: np.zeros(0, np.float64),
                        rank_col: np.zeros(0, np.int32),
                    }
                )
            return pd.DataFrame(
                {
                    user_col: np.concatenate(out_u),
                    item_col: np.concatenate(out_i).astype(np.int32),
                    score_col: np.concatenate(out_s),
                    rank_col: np.concatenate(out_r),
                }
            )

        schema = StructType(
            [
                StructField(USER, IntegerType(), False),
                StructField(ITEM, IntegerType(), False),
                StructField(SCORE, DoubleType(), False),
                StructField(RANK, IntegerType(), False),
            ]
        )
        return grouped.groupBy(_UB).applyInPandas(top_block, schema=schema)

    def recommend(
        self, users: np.ndarray | None, n: int, exclude: EngineData | None
    ) -> pd.DataFrame:
        """Top-``n`` lists by :meth:`recommend_df`; only the lists reach the driver."""
        pdf = _arrow(self.recommend_df(users, n, exclude)).to_pandas()
        pdf = pdf.sort_values([USER, RANK], kind="stable").reset_index(drop=True)
        return pdf.astype({USER: np.int32, ITEM: np.int32, SCORE: np.float64, RANK: np.int32})[
            [USER, ITEM, SCORE, RANK]
        ]

    def _table(self, df: DataFrame, *origins: EngineData | None) -> EngineData:
        """``df`` as a table of this model's engine (else of the first Spark input's)."""
        from movierec.engines.spark.table import SparkData

        if self.engine is not None:
            return SparkData(self.engine, df)
        for origin in origins:
            if isinstance(origin, SparkData):
                return origin.wrap(df)
        raise EngineError("the Spark EASE model has no engine to hold its tables")

    def recommend_table(
        self, users: EngineData | None, n: int, exclude: EngineData | None
    ) -> EngineData:
        """:meth:`recommend_df` for the distinct users of ``users`` (None: every user the
        model knows), kept on the executors as a top-N table.

        Raises:
            EngineError: ``users`` or ``exclude`` is not a Spark table, or ``n`` < 1.
        """
        wanted = None
        if users is not None:
            df = getattr(users, "df", None)
            if df is None:
                raise EngineError("the Spark engine recommends for SparkData users only")
            wanted = df.select(USER).distinct()
        return self._table(self.recommend_df(wanted, n, exclude), users, exclude)

    def predict_table(
        self, pairs: EngineData, scale: tuple[float, float] | None = None
    ) -> EngineData:
        """``pairs`` with PREDICTION (EASE's score, double; NaN for an unknown user or movie;
        limited to ``scale`` when given), computed on the executors: the distinct (user,
        movie) pairs are scored per user block as :meth:`recommend_df` scores, then joined
        back to every row of ``pairs``.

        Raises:
            EngineError: ``pairs`` is not a Spark table.
        """
        from pyspark.sql import functions as F
        from pyspark.sql.types import DoubleType, IntegerType, StructField, StructType

        from movierec.engines.spark.table import clip_column

        df = getattr(pairs, "df", None)
        if df is None:
            raise EngineError("the Spark engine predicts SparkData only")
        if PREDICTION in df.columns:
            df = df.drop(PREDICTION)
        index = F.broadcast(_index(self._spark, self.item_ids))
        asked = df.select(USER, ITEM).distinct().join(index, ITEM)
        parts = [
            self.x.select(F.lit(1).alias(_KIND), USER, _J, F.lit(None).cast("long").alias(_ROW)),
            asked.select(F.lit(3).alias(_KIND), USER, _J, F.lit(None).cast("long").alias(_ROW)),
        ]
        grouped = self._grouped(parts, asked.select(USER).distinct())
        bc = self._broadcast()
        user_scores = _user_scores_fn()
        user_col = USER

        def score_cells(block: pd.DataFrame) -> pd.DataFrame:
            payload = bc.value
            kind = block[_KIND].to_numpy()
            inter = (
                block.loc[kind == 1, [user_col, _J]]
                .astype({_J: np.int64})
                .sort_values([user_col, _J], kind="stable")
            )
            inter_by = dict(tuple(inter.groupby(user_col)[_J]))
            uf_by = dict(zip(block.loc[kind == 4, user_col], block.loc[kind == 4, _F]))
            asked_ = block.loc[kind == 3, [user_col, _J]].astype({_J: np.int64})
            us, js, vals = [], [], []
            for u, grp in asked_.groupby(user_col):
                rows = inter_by.get(u)
                s = user_scores(payload, None if rows is None else rows.to_numpy(), uf_by.get(u))
                cols = grp[_J].to_numpy()
                us.append(np.full(len(cols), u, dtype=np.int32))
                js.append(cols.astype(np.int32))
                vals.append(s[cols])
            if not us:
                return pd.DataFrame(
                    {user_col: np.zeros(0, np.int32), _J: np.zeros(0, np.int32), _C: np.zeros(0)}
                )
            return pd.DataFrame(
                {user_col: np.concatenate(us), _J: np.concatenate(js), _C: np.concatenate(vals)}
            )

        out_schema = StructType(
            [
                StructField(USER, IntegerType(), False),
                StructField(_J, IntegerType(), False),
                StructField(_C, DoubleType(), False),
            ]
        )
        scored = (
            grouped.groupBy(_UB)
            .applyInPandas(score_cells, schema=out_schema)
            .join(index, _J)
            .select(USER, ITEM, F.col(_C).alias(PREDICTION))
        )
        out = df.join(scored, [USER, ITEM], "left")
        return self._table(clip_column(out, scale), pairs)

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        """EASE scores for the (USER, ITEM) rows of ``pairs`` (NaN: unknown user or movie),
        computed on the executors like :meth:`recommend_df`."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import DoubleType, IntegerType, LongType, StructField, StructType

        out = np.full(len(pairs), np.nan, dtype=np.float64)
        if len(pairs) == 0:
            return out
        pdf = pd.DataFrame(
            {
                _ROW: np.arange(len(pairs), dtype=np.int64),
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
        wanted = self._spark.createDataFrame(pdf, schema).join(
            F.broadcast(_index(self._spark, self.item_ids)), ITEM
        )
        parts = [
            self.x.select(F.lit(1).alias(_KIND), USER, _J, F.lit(None).cast("long").alias(_ROW)),
            wanted.select(F.lit(3).alias(_KIND), USER, _J, _ROW),
        ]
        grouped = self._grouped(parts, np.unique(pdf[USER].to_numpy()))
        bc = self._broadcast()
        user_scores = _user_scores_fn()

        def score_pairs(block: pd.DataFrame) -> pd.DataFrame:
            payload = bc.value
            kind = block[_KIND].to_numpy()
            inter = (
                block.loc[kind == 1, [USER, _J]]
                .astype({_J: np.int64})
                .sort_values([USER, _J], kind="stable")
            )
            inter_by = dict(tuple(inter.groupby(USER)[_J]))
            uf_by = dict(zip(block.loc[kind == 4, USER], block.loc[kind == 4, _F]))
            asked = block.loc[kind == 3, [USER, _J, _ROW]].astype({_J: np.int64, _ROW: np.int64})
            rows_out, vals_out = [], []
            for u, grp in asked.groupby(USER):
                rows = inter_by.get(u)
                s = user_scores(payload, None if rows is None else rows.to_numpy(), uf_by.get(u))
                rows_out.append(grp[_ROW].to_numpy())
                vals_out.append(s[grp[_J].to_numpy()])
            if not rows_out:
                return pd.DataFrame({_ROW: np.zeros(0, np.int64), SCORE: np.zeros(0)})
            return pd.DataFrame({_ROW: np.concatenate(rows_out), SCORE: np.concatenate(vals_out)})

        out_schema = StructType(
            [StructField(_ROW, LongType(), False), StructField(SCORE, DoubleType(), False)]
        )
        table = _arrow(grouped.groupBy(_UB).applyInPandas(score_pairs, schema=out_schema))
        out[table.column(_ROW).to_numpy()] = table.column(SCORE).to_numpy()
        return out

    def factors(self) -> Factors:
        """EASE has no latent factors.

        Raises:
            EngineError: always.
        """
        raise EngineError(
            "ease is an item-item model without latent factors; use its scores "
            "(predict/recommend) or a factor model (als, implicit-als) for factors"
        )

    def save(self, path: Path) -> None:
        """Write the ``movierec-ease`` folder (weights from the driver, interactions as
        Parquet part files written by the executors)."""
        from pyspark.sql import functions as F

        from movierec.hadoopfs import spark_uri

        path = Path(path)
        try:
            path.mkdir(parents=True, exist_ok=False)
        except FileExistsError as exc:
            raise ModelError(f"{path} already exists; a model folder must be new") from exc
        write_weights(path, self.params, self.item_ids, self.weights, len(self.user_ids))
        np.save(path / "user_ids.npy", self.user_ids)
        ids = F.broadcast(_index(self._spark, self.item_ids))
        self.x.join(ids, _J).select(USER, ITEM).write.parquet(spark_uri(path / INTERACTIONS))
        if self.partner is not None:
            self.partner.save(path / PARTNER)

    def release(self) -> None:
        self.x.unpersist()
        if self.partner is not None:
            self.partner.release()
        if self._bc is not None and not isinstance(self._bc, SimpleNamespace):
            self._bc.destroy()
        self._bc = None


def load_spark(
    spark: SparkSession, path: Path, params: ALSParams, partner: Any = None, engine: Any = None
) -> SparkEaseModel:
    """Read a ``movierec-ease`` folder (written by either engine); ``engine`` as for
    :func:`fit_spark`.

    Raises:
        ModelError: missing or damaged files.
    """
    from pyspark.sql import functions as F

    from movierec.hadoopfs import spark_uri

    meta, item_ids, weights = read_weights(path, params)
    try:
        user_ids = np.load(Path(path) / "user_ids.npy", allow_pickle=False)
        pairs = spark.read.parquet(spark_uri(Path(path) / INTERACTIONS))
    except Exception as exc:
        raise ModelError(f"{path}: not a readable EASE model ({exc})") from exc
    x = pairs.join(F.broadcast(_index(spark, item_ids)), ITEM).select(USER, _J).cache()
    log.debug("loaded EASE model (%s) from %s", json.dumps(meta), path / EASE_JSON)
    return SparkEaseModel(spark, params, user_ids, item_ids, x, weights, partner, engine)
