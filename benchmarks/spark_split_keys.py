"""How to compute the SplitMix64 split keys on Spark: pure SQL (staged or one Column) or numpy.

Sums the key of N cached synthetic rows with each variant, interleaved, ``--repeats`` times,
and reports min and median seconds next to a plain scan of the same rows; then the time of a
first query with a new seed on 10 rows (planning and code generation, paid once per query
shape). Every variant is checked bit for bit against :func:`movierec.split.uniform_keys`
first.

    PYTHONPATH=src python benchmarks/spark_split_keys.py --rows 4000000 --repeats 3

Variants:
  staged  ``with_uniform_keys``: each SplitMix64 word a projected column (what splits use)
  column  ``uniform_keys_col``: one Column, rounds bound by ``transform`` (interpreted)
  nested  the same arithmetic as one fully nested expression (~650 copies of the input)
  udf     a pandas UDF doing the numpy arithmetic (needs Python workers with numpy)
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def nested_col(seed: int, salt: int) -> Any:
    from pyspark.sql import functions as F

    from movierec.engines.spark import hashing as h

    word = h._word(seed, salt, F.col("user_id"), F.col("movie_id"))
    x = h._xorshift(h._mul(h._xorshift(h._mul(h._xorshift(word, 30), h._M1), 27), h._M2), 31)
    return h._to_unit(x)


def udf_col(seed: int, salt: int) -> Any:
    from pyspark.sql.functions import pandas_udf

    from movierec.engines.spark.hashing import seed_key
    from movierec.split import _mix64

    key = np.uint64(seed_key(seed, salt) % 2**64)

    @pandas_udf("double")  # type: ignore[call-overload]
    def keys(user: pd.Series, item: pd.Series) -> pd.Series:
        u = user.to_numpy().astype(np.int64).astype(np.uint64)
        i = item.to_numpy().astype(np.int64).astype(np.uint64)
        with np.errstate(over="ignore"):
            h = _mix64(((u << np.uint64(32)) | (i & np.uint64(0xFFFFFFFF))) ^ key)
        return pd.Series((h >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53))

    return keys("user_id", "movie_id")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from pyspark.sql import functions as F

    from movierec.config import SparkConfig
    from movierec.engines.spark.hashing import uniform_keys_col, with_uniform_keys
    from movierec.spark import get_spark
    from movierec.split import uniform_keys

    spark = get_spark(SparkConfig(master="local[2]", shuffle_partitions=2, driver_memory="2g"))
    ids = "cast(id % 162541 as int) as user_id", "cast((id * 7919) % 59047 as int) as movie_id"
    small = spark.range(2000).selectExpr(*ids).cache()
    expected = uniform_keys(small.toPandas(), 42, 1)
    variants: dict[str, Callable[[Any, int], Any]] = {
        "scan": lambda df, seed: df.agg(F.sum(F.col("user_id") + F.col("movie_id"))),
        "staged": lambda df, seed: with_uniform_keys(df, seed, 1, "k").agg(F.sum("k")),
        "column": lambda df, seed: df.agg(F.sum(uniform_keys_col(seed, 1))),
        "nested": lambda df, seed: df.agg(F.sum(nested_col(seed, 1))),
        "udf": lambda df, seed: df.agg(F.sum(udf_col(seed, 1))),
    }
    checks = {
        "staged": with_uniform_keys(small, 42, 1, "k").select("k"),
        "column": small.select(uniform_keys_col(42, 1)),
        "nested": small.select(nested_col(42, 1)),
        "udf": small.select(udf_col(42, 1)),
    }
    for name, frame in checks.items():
        got = frame.toPandas().iloc[:, 0].to_numpy()
        assert got.tobytes() == expected.tobytes(), name

    big = spark.range(args.rows).selectExpr(*ids).cache()
    big.count()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, query in variants.items():
            t0 = time.perf_counter()
            query(big, 42).collect()
            times[name].append(time.perf_counter() - t0)
    tiny = spark.range(10).selectExpr(*ids).cache()
    tiny.count()
    first = {}
    for seed, (name, query) in enumerate(variants.items(), start=1000):
        t0 = time.perf_counter()
        query(tiny, seed).collect()
        first[name] = time.perf_counter() - t0
    with open("/proc/loadavg", encoding="ascii") as f:
        load = f.read().split()[:3]
    print(f"rows={args.rows} repeats={args.repeats} loadavg={' '.join(load)}")
    print(f"{'variant':8} {'min s':>7} {'median s':>9} {'new seed, 10 rows s':>20}")
    for name, values in times.items():
        print(f"{name:8} {min(values):7.2f} {statistics.median(values):9.2f} {first[name]:20.2f}")


if __name__ == "__main__":
    main()
