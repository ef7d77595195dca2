"""Building a :class:`~movierec.engines.spark.ease.SparkEaseModel`: fitting EASE on the Spark
engine (the Gram on the executors, B = I − P·diag(1 ⊘ diag(P)) on the driver, a blend
partner fitted beside it) and loading a saved ``movierec-ease`` folder onto a session."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from movierec.engines.base import ALSParams
from movierec.engines.ease import check_lambda, check_size, sparsify_rows, weights_primal
from movierec.engines.ease_model import EASE_JSON, INTERACTIONS, Weights, read_weights
from movierec.engines.spark.ease import SparkEaseModel
from movierec.engines.spark.ease_gram import item_index, sessions, sorted_ids, spark_gram
from movierec.errors import EngineError, ModelError
from movierec.schema import ITEM, RATING, TIMESTAMP, USER

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("movierec.engines.spark.ease")

_J = "_j"


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
    item_ids = sorted_ids(df, ITEM)
    check_size(len(item_ids), params.ease_max_items)
    user_ids = sorted_ids(df, USER)
    rated = (
        df if params.ease_threshold is None else df.where(F.col(RATING) >= params.ease_threshold)
    )
    timed = params.ease_session_weight > 0 and TIMESTAMP in df.columns
    pairs = rated.select(USER, ITEM, *([TIMESTAMP] if timed else [])).join(
        F.broadcast(item_index(spark, item_ids)), ITEM
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
    x = pairs.join(F.broadcast(item_index(spark, item_ids)), ITEM).select(USER, _J).cache()
    log.debug("loaded EASE model (%s) from %s", json.dumps(meta), path / EASE_JSON)
    return SparkEaseModel(spark, params, user_ids, item_ids, x, weights, partner, engine)


__all__ = ["fit_spark", "load_spark"]
