"""Time the Spark engine's blocked top-N for every user on a synthetic-size model.

Ratings come from :func:`movierec.data.synth.synthesize` (seed 0); the model is an ALSModel
folder with random rank-10 factors for every user and movie (no fit: only the top-N is
timed). Top-10 for every user, the ratings excluded, written to Spark's ``noop`` sink so
nothing is collected. Prints the time, the JVM's peak resident set (local mode: driver and
executor are one JVM) and the Python driver's ``ru_maxrss``. Not a test; no number asserted.

    .venv/bin/python benchmarks/topn_scale.py 10M [BLOCK_SIZE]
"""

from __future__ import annotations

import resource
import shutil
import sys
import tempfile
import time

import numpy as np
import pandas as pd
from pyspark.ml.recommendation import ALSModel

from movierec.config import SparkConfig
from movierec.data.synth import parse_count, synthesize
from movierec.engines.base import ALSParams
from movierec.engines.spark_als import SparkALSModel, SparkEngine
from movierec.schema import ITEM, USER
from movierec.spark import get_spark, stop_spark


def main() -> None:
    n = parse_count(sys.argv[1] if len(sys.argv) > 1 else "1M")
    block = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    t = time.perf_counter()
    df = synthesize(n, seed=0)
    users, items = np.unique(df[USER].to_numpy()), np.unique(df[ITEM].to_numpy())
    print(f"synth {n}: {len(users)} users, {len(items)} movies, {time.perf_counter() - t:.1f} s")
    spark = get_spark(SparkConfig(master="local[2]", driver_memory="4g", shuffle_partitions=8))
    engine = SparkEngine(spark, block)
    ratings = engine.data(df)
    # An ALSModel folder to load: fit a tiny one, then swap in random factors.
    base = engine.fit(engine.data(df.iloc[:2000].reset_index(drop=True)), ALSParams(rank=10))
    del df
    folder = tempfile.mkdtemp(prefix="movierec-topn-")
    try:
        base.model.write().overwrite().save("file://" + folder)
        rng = np.random.default_rng(0)
        for side, ids in (("userFactors", users), ("itemFactors", items)):
            shutil.rmtree(f"{folder}/{side}")
            f = rng.normal(0, 0.3, (len(ids), 10)).astype(np.float32)
            pdf = pd.DataFrame({"id": ids.astype(np.int32), "features": list(f)})
            factors = spark.createDataFrame(pdf, "id int, features array<float>")
            factors.write.parquet(f"file://{folder}/{side}")
        loaded = ALSModel.load("file://" + folder)
        model = SparkALSModel(spark, loaded, ALSParams(rank=10), block_size=block)
        t = time.perf_counter()
        top = model.recommend_df(None, 10, exclude=ratings)
        top.write.format("noop").mode("overwrite").save()
        seconds = time.perf_counter() - t
        pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()  # type: ignore[union-attr]
        with open(f"/proc/{pid}/status") as status:
            hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        stop_spark()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"top-10 for {len(users)} users x {len(items)} movies, block {block}: {seconds:.1f} s")
    print(f"JVM VmHWM {hwm / 1024:.0f} MiB; Python driver ru_maxrss {rss:.0f} MiB")


if __name__ == "__main__":
    main()
