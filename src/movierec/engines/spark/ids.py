"""Dense 32-bit ids on the cluster, with the local reader's rule and order.

Integer ids that fit int32 stay as they are. Otherwise every distinct id gets its rank in
sorted order (0, 1, …): integers by value, text keys by code point (Spark's UTF-8 byte
order is code point order, Python's string order); when a column mixes integers and
digit strings beyond int64, all of them are text keys (``str(int)``), as in
:class:`movierec.data.builder.RatingsBuilder`. The ranks come from ``row_number`` over the
DISTINCT ids in one window without partitions: one task sorts a table that grows with the
number of users (or movies), never with the number of ratings, and the driver never sees it.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from movierec.data.rules import INT32_MAX, INT32_MIN
from movierec.engines.spark.classify import IdStats

ORIGINAL = "original"
"""Column of an id table holding the original id (long for integers, else string)."""


def id_mode(kind: str, stats: IdStats) -> str:
    """ "keep" (ints that fit int32), "int" (map integers) or "text" (map text keys)."""
    if kind == "str" or stats.texts:
        return "text"
    if stats.lo is None or stats.hi is None or (stats.lo >= INT32_MIN and stats.hi <= INT32_MAX):
        return "keep"
    return "int"


def key_column(prefix: str, mode: str) -> Column:
    """The id key of a parsed column (``_u``/``_i``) under ``mode``: the int, the long or
    the text key (integers written as ``str(int)``)."""
    if mode == "keep":
        return F.col(prefix).cast("int")
    if mode == "int":
        return F.col(prefix)
    return F.coalesce(F.col(f"{prefix}_txt"), F.col(prefix).cast("string"))


def dense_ids(keys: DataFrame, key: str, dense: str) -> DataFrame:
    """The id table of the ``key`` column of ``keys``: ``dense`` (int, 0-based rank in
    sorted order) and :data:`ORIGINAL`. Lazy."""
    distinct = keys.select(F.col(key).alias(ORIGINAL)).distinct()
    rank = F.row_number().over(Window.orderBy(ORIGINAL)) - 1
    return distinct.select(rank.cast("int").alias(dense), F.col(ORIGINAL))
