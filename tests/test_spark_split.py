"""Spark splits: bit-identical keys and the same rows in the same split as the local engine."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movierec import split as local
from movierec.engines.spark import hashing, timesplit
from movierec.engines.spark import split as spark_split
from movierec.errors import ConfigError, DataError
from movierec.schema import ITEM, RATING, TIMESTAMP, USER
from movierec.split import _hash

pytestmark = pytest.mark.spark


def read_ml(path: Path) -> pd.DataFrame:
    """ml-latest-small's ratings.csv with canonical names and dtypes."""
    frame = pd.read_csv(path / "ratings.csv")
    frame.columns = [USER, ITEM, RATING, TIMESTAMP]
    return frame.astype({USER: np.int32, ITEM: np.int32, RATING: np.float64, TIMESTAMP: np.int64})


@pytest.fixture(scope="module")
def ml_pdf(ml_small: Path) -> pd.DataFrame:
    return read_ml(ml_small)


@pytest.fixture(scope="module")
def ml_df(spark: Any, ml_pdf: pd.DataFrame) -> Any:
    df = spark.createDataFrame(ml_pdf).cache()
    df.count()
    yield df
    df.unpersist()


def codes(frame: Any) -> np.ndarray:
    """Sorted (user << 32 | movie) codes of a pandas or Spark frame's rows (a multiset)."""
    pdf = frame if isinstance(frame, pd.DataFrame) else frame.select(USER, ITEM).toPandas()
    users = pdf[USER].to_numpy(np.int64)
    items = pdf[ITEM].to_numpy(np.int64)
    return np.sort((users << 32) | items)


def collect_all(frames: list[Any]) -> list[np.ndarray]:
    """:func:`codes` of several Spark frames, collected in one job (a labelled union)."""
    from pyspark.sql import functions as F

    union = None
    for i, frame in enumerate(frames):
        part = frame.select(USER, ITEM, F.lit(i).alias("_part"))
        union = part if union is None else union.unionByName(part)
    assert union is not None
    pdf = union.toPandas()
    return [codes(pdf[pdf["_part"] == i]) for i in range(len(frames))]


# --------------------------------------------------------------------------- keys


def test_seed_key_matches_numpy() -> None:
    for seed, salt in ((0, 0), (42, 1), (-7, 3), (2**70 + 5, 6)):
        with np.errstate(over="ignore"):
            base = np.array([seed & (2**64 - 1)], dtype=np.uint64) * _hash._GOLDEN + np.uint64(salt)
            expected = int(_hash._mix64(base)[0])
        assert hashing.seed_key(seed, salt) % 2**64 == expected


def test_uniform_keys_are_bit_identical(spark: Any) -> None:
    rng = np.random.default_rng(3)
    n = 3_000
    pdf = pd.DataFrame(
        {
            USER: rng.integers(-(2**31), 2**31 - 1, n, dtype=np.int64).astype(np.int32),
            ITEM: rng.integers(-(2**31), 2**31 - 1, n, dtype=np.int64).astype(np.int32),
        }
    )
    pdf.loc[:3, USER] = np.array([0, -1, 2**31 - 1, -(2**31)], dtype=np.int32)
    pdf.loc[:3, ITEM] = np.array([-(2**31), 2**31 - 1, 0, -1], dtype=np.int32)
    pdf["row"] = np.arange(n)
    df = spark.createDataFrame(pdf)
    cases = [(42, 1), (-7, 3), (2**70 + 5, 4), (0, 0)]
    staged = df
    for i, (seed, salt) in enumerate(cases):
        staged = spark_split.uniform_keys(staged, seed, salt, name=f"k{i}")
    nested = hashing.uniform_keys_col(42, 1).alias("nested")
    got = staged.select("row", nested, *(f"k{i}" for i in range(len(cases))))
    got = got.toPandas().sort_values("row")
    for i, (seed, salt) in enumerate(cases):
        expected = local.uniform_keys(pdf, seed, salt)
        assert got[f"k{i}"].to_numpy().tobytes() == expected.tobytes()  # bit for bit
    assert got["nested"].to_numpy().tobytes() == local.uniform_keys(pdf, 42, 1).tobytes()


def test_fold_ids_match_local(spark: Any, ml_pdf: pd.DataFrame, ml_df: Any) -> None:
    ids = spark_split.fold_ids(ml_df, 4, seed=11, name="f")
    ids = spark_split.user_fold_ids(ids, 3, seed=11, name="uf")
    got = ids.select(USER, ITEM, "f", "uf").toPandas()
    expected = ml_pdf.assign(f=local.fold_ids(ml_pdf, 4, 11), uf=local.user_fold_ids(ml_pdf, 3, 11))
    merged = expected.merge(got, on=[USER, ITEM], suffixes=("", "_spark"))
    assert len(merged) == len(ml_pdf)
    assert (merged["f"] == merged["f_spark"]).all()
    assert (merged["uf"] == merged["uf_spark"]).all()


# --------------------------------------------------------------------------- membership

PAIRS: dict[str, Callable[[Any, Any], Any]] = {
    "random": lambda m, d: m.random_split(d, 0.2, 7),
    "random-salted": lambda m, d: m.random_split(d, 0.3, 7, salt=99),
    "per-user-half": lambda m, d: m.per_user_split(d, 0.5, 7),  # odd counts: half-even ties
    "per-user": lambda m, d: m.per_user_split(d, 0.25, 123),
    "time-quantile": lambda m, d: m.time_split(d, 0.8),
    "time-date": lambda m, d: m.time_split(d, "2015-01-01"),
    "time-epoch": lambda m, d: m.time_split(d, 1_300_000_000),
    "leave-last-1": lambda m, d: m.leave_last_k_out(d, 1),
    "leave-last-3": lambda m, d: m.leave_last_k_out(d, 3),
    "holdout-random": lambda m, d: m.holdout_split(d, "random", 0.2, 5),
    "holdout-per-user": lambda m, d: m.holdout_split(d, "per-user", 0.2, 5),
    "holdout-time": lambda m, d: m.holdout_split(d, "time", 0.1, 5),
    "holdout-leave-last": lambda m, d: m.holdout_split(d, "leave-last", 0.2, 5, leave_last=2),
}


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_train_test_membership_identical(kind: str, ml_pdf: pd.DataFrame, ml_df: Any) -> None:
    train, test = PAIRS[kind](local, ml_pdf)
    s_train, s_test = PAIRS[kind](spark_split, ml_df)
    assert len(test) > 0 and len(train) > 0
    got_train, got_test = collect_all([s_train, s_test])
    assert np.array_equal(codes(test), got_test)
    assert np.array_equal(codes(train), got_train)
    assert s_train.columns == ml_df.columns and s_test.columns == ml_df.columns


@pytest.mark.parametrize("kind", ["kfold", "kfold_by_user"])
def test_fold_membership_identical(kind: str, ml_pdf: pd.DataFrame, ml_df: Any) -> None:
    expected = getattr(local, kind)(ml_pdf, 3, 5)
    got = getattr(spark_split, kind)(ml_df, 3, 5)
    assert len(got) == 3
    collected = collect_all([frame for pair in got for frame in pair])
    for f, (train, valid) in enumerate(expected):
        assert np.array_equal(codes(train), collected[2 * f])
        assert np.array_equal(codes(valid), collected[2 * f + 1])


def test_train_fraction_splits_identical(ml_pdf: pd.DataFrame, ml_df: Any) -> None:
    expected = local.train_fraction_splits(ml_pdf, [0.6, 0.8], 3)
    got = spark_split.train_fraction_splits(ml_df, [0.6, 0.8], 3)
    collected = collect_all([frame for _, train, test in got for frame in (train, test)])
    for f, (fraction, train, test) in enumerate(expected):
        assert got[f][0] == fraction
        assert np.array_equal(codes(train), collected[2 * f])
        assert np.array_equal(codes(test), collected[2 * f + 1])


def test_membership_does_not_depend_on_partitioning(ml_df: Any) -> None:
    shuffled = ml_df.repartition(7, RATING)
    tests = [
        split(frame)[1]
        for split in (
            lambda d: spark_split.per_user_split(d, 0.3, 1),
            lambda d: spark_split.leave_last_k_out(d, 2),
        )
        for frame in (ml_df, shuffled)
    ]
    got = collect_all(tests)
    assert np.array_equal(got[0], got[1]) and np.array_equal(got[2], got[3])


def test_repeated_pairs_land_on_one_side_each(spark: Any) -> None:
    # A repeated (user, movie) with different ratings: every row lands exactly once even
    # when the plan is evaluated twice (the rating breaks the tie deterministically).
    rows = [(1, 10, 4.0, 5), (1, 10, 2.0, 5), (1, 11, 3.0, 6), (2, 10, 1.0, 1), (2, 12, 5.0, 2)]
    df = spark.createDataFrame(rows, f"{USER} int, {ITEM} int, {RATING} double, {TIMESTAMP} long")
    for train, test in (
        spark_split.per_user_split(df, 0.5, 3),
        spark_split.leave_last_k_out(df, 1),
    ):
        both = sorted(map(tuple, train.collect())) + sorted(map(tuple, test.collect()))
        assert sorted(both) == sorted(rows)
        assert sorted(map(tuple, test.collect())) == sorted(map(tuple, test.collect()))


def test_cold_start_counts_match(ml_pdf: pd.DataFrame, ml_df: Any) -> None:
    train, test = local.time_split(ml_pdf, 0.8)
    s_train, s_test = spark_split.time_split(ml_df, 0.8)
    expected = local.cold_start_counts(train, test)
    assert expected["cold_start_rows"] > 0
    assert spark_split.cold_start_counts(s_train, s_test) == expected


# --------------------------------------------------------------------------- time cuts


@pytest.mark.parametrize("q", [0.00001, 0.77, 0.999])
def test_quantile_cut_through_the_bucket_rounds(
    q: float, ml_pdf: pd.DataFrame, ml_df: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timesplit, "EXACT_ROWS", 500)
    monkeypatch.setattr(timesplit, "BUCKETS", 16)
    assert spark_split.time_cut_seconds(ml_df, q) == local.time_cut_seconds(ml_pdf, q)


def test_quantile_cut_with_heavy_ties(spark: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    ts = np.concatenate([np.full(300, 1000), rng.integers(0, 5, 200), [10**12, -(10**9)]])
    pdf = pd.DataFrame({USER: 1, ITEM: np.arange(len(ts)), TIMESTAMP: ts.astype(np.int64)})
    df = spark.createDataFrame(pdf)
    monkeypatch.setattr(timesplit, "EXACT_ROWS", 10)
    monkeypatch.setattr(timesplit, "BUCKETS", 3)
    for q in (0.001, 0.41, 0.9999):
        assert spark_split.time_cut_seconds(df, q) == local.time_cut_seconds(pdf, q)


def test_time_splits_on_other_timestamp_types(spark: Any) -> None:
    rng = np.random.default_rng(2)
    n = 400
    seconds = rng.integers(1_000_000_000, 1_000_100_000, n)
    base = pd.DataFrame(
        {USER: rng.integers(0, 20, n), ITEM: np.arange(n), RATING: rng.integers(1, 6, n) * 1.0}
    ).astype({USER: np.int32, ITEM: np.int32})
    fractional = base.assign(**{TIMESTAMP: seconds + rng.random(n)})
    stamps = base.assign(**{TIMESTAMP: pd.to_datetime(seconds * 1_000_000 + 123, unit="us")})
    spark_stamps = spark.createDataFrame(
        base.assign(**{TIMESTAMP: stamps[TIMESTAMP].dt.tz_localize("UTC")})
    )
    assert dict(spark_stamps.dtypes)[TIMESTAMP] == "timestamp"
    spark_ntz = spark_stamps.withColumn(TIMESTAMP, spark_stamps[TIMESTAMP].cast("timestamp_ntz"))
    cases = [
        (fractional, spark.createDataFrame(fractional), 0.7),
        (stamps, spark_stamps, "2001-09-09T03:00:00Z"),
        (stamps, spark_ntz, 0.3),
    ]
    sides = []
    for pdf, df, cut in cases:
        assert spark_split.time_cut_seconds(df, cut) == local.time_cut_seconds(pdf, cut)
        sides += [spark_split.time_split(df, cut)[1], spark_split.leave_last_k_out(df, 2)[1]]
    got = collect_all(sides)
    for i, (pdf, _, cut) in enumerate(cases):
        assert np.array_equal(codes(local.time_split(pdf, cut)[1]), got[2 * i])
        assert np.array_equal(codes(local.leave_last_k_out(pdf, 2)[1]), got[2 * i + 1])


# --------------------------------------------------------------------------- errors

SCHEMA = f"{USER} int, {ITEM} int, {RATING} double, {TIMESTAMP} long"
ROWS = [(1, 10, 4.0, 100), (1, 11, 3.0, 200), (2, 10, 5.0, 150)]
BAD: dict[str, tuple[list[Any], str, Callable[[Any, Any], Any]]] = {
    "empty": ([], SCHEMA, lambda m, d: m.random_split(d, 0.2, 1)),
    "empty-per-user": ([], SCHEMA, lambda m, d: m.per_user_split(d, 0.2, 1)),
    "empty-kfold": ([], SCHEMA, lambda m, d: m.kfold(d, 2, 1)),
    "one-side": (ROWS[:1], SCHEMA, lambda m, d: m.random_split(d, 0.2, 1)),
    "per-user-singletons": (
        [(1, 10, 4.0, 1), (2, 10, 3.0, 2)],
        SCHEMA,
        lambda m, d: m.per_user_split(d, 0.2, 1),
    ),
    "fraction": (ROWS, SCHEMA, lambda m, d: m.per_user_split(d, 1.5, 1)),
    "folds": (ROWS, SCHEMA, lambda m, d: m.kfold(d, 1, 1)),
    "fold-empty": (ROWS, SCHEMA, lambda m, d: m.kfold(d, 9, 1)),
    "user-fold-empty": (ROWS, SCHEMA, lambda m, d: m.kfold_by_user(d, 9, 1)),
    "no-timestamps": (
        [r[:3] for r in ROWS],
        f"{USER} int, {ITEM} int, {RATING} double",
        lambda m, d: m.time_split(d, 0.5),
    ),
    "null-timestamps": (
        [(1, 10, 4.0, None), *ROWS],
        SCHEMA,
        lambda m, d: m.leave_last_k_out(d, 1),
    ),
    "cut-outside": (ROWS, SCHEMA, lambda m, d: m.time_split(d, 10**10)),
    "bad-cut": (ROWS, SCHEMA, lambda m, d: m.time_split(d, "someday")),
    "leave-last-k": (ROWS, SCHEMA, lambda m, d: m.leave_last_k_out(d, 0)),
    "leave-last-few": (ROWS, SCHEMA, lambda m, d: m.leave_last_k_out(d, 2)),
    "method": (ROWS, SCHEMA, lambda m, d: m.holdout_split(d, "sideways", 0.2, 1)),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_errors_match_local(case: str, spark: Any) -> None:
    rows, schema, call = BAD[case]
    df = spark.createDataFrame(rows, schema)
    names = [field.split()[0] for field in schema.split(", ")]
    pdf = pd.DataFrame(rows, columns=names).astype({USER: np.int32, ITEM: np.int32})
    if TIMESTAMP in pdf.columns:
        pdf[TIMESTAMP] = pdf[TIMESTAMP].astype(
            np.float64 if pdf[TIMESTAMP].isna().any() else np.int64
        )
    with pytest.raises((ConfigError, DataError)) as expected:
        call(local, pdf)
    with pytest.raises(type(expected.value), match=f"^{re.escape(str(expected.value))}$"):
        call(spark_split, df)


def test_string_timestamps_are_refused(spark: Any) -> None:
    df = spark.createDataFrame(
        [(1, 10, 4.0, "x")], f"{USER} int, {ITEM} int, {RATING} double, {TIMESTAMP} string"
    )
    with pytest.raises(DataError, match="needs numeric epoch-second timestamps, got dtype string"):
        spark_split.time_split(df, 0.5)


# --------------------------------------------------------------------------- Spark Connect

CONNECT_SCRIPT = r"""
import json, sys
import numpy as np, pandas as pd
from movierec import baselines, metrics, split
from movierec.config import SparkConfig
from movierec.engines.spark import baselines as sb, metrics as sm, split as ss
from movierec.spark import get_spark, is_connect

spark = get_spark(SparkConfig(remote="local[2]", shuffle_partitions=2))
assert is_connect(spark)
pdf = pd.read_csv(sys.argv[1])
pdf.columns = ["user_id", "movie_id", "rating", "timestamp"]
pdf = pdf.astype({"user_id": "int32", "movie_id": "int32"}).iloc[::4].reset_index(drop=True)
df = spark.createDataFrame(pdf).cache()

def codes(frame):
    p = frame if isinstance(frame, pd.DataFrame) else frame.select("user_id", "movie_id").toPandas()
    return sorted(zip(p["user_id"].tolist(), p["movie_id"].tolist()))

out = {}
for name, call in {
    "random": lambda m, d: m.random_split(d, 0.2, 3),
    "per-user": lambda m, d: m.per_user_split(d, 0.2, 3),
    "time": lambda m, d: m.time_split(d, 0.8),
    "leave-last": lambda m, d: m.leave_last_k_out(d, 2),
}.items():
    out[name] = codes(call(split, pdf)[1]) == codes(call(ss, df)[1])
train, test = split.random_split(pdf, 0.2, 3)
s_train, s_test = ss.random_split(df, 0.2, 3)
bias = baselines.BiasBaseline(iterations=2).fit(train)
s_bias = sb.BiasBaseline(iterations=2).fit(s_train)
pred = s_bias.predict(s_test).select("user_id", "movie_id", "prediction").toPandas()
both = test.assign(p=bias.predict(test)).merge(pred, on=["user_id", "movie_id"])
close = np.allclose(both.p, both.prediction, atol=1e-9, rtol=0)
out["bias"] = len(both) == len(test) and bool(close)
users = np.unique(test["user_id"].to_numpy())
recs = baselines.MostPopular().fit(train).recommend(users, 10, exclude=train)
s_recs = sb.MostPopular().fit(s_train).recommend(s_test.select("user_id"), 10, exclude=s_train)
a = metrics.catalogue_top_k(recs, test, 10, 3.0)
b = sm.catalogue_top_k(s_recs, s_test, 10, 3.0)
out["catalogue"] = all(abs(a[k] - b[k]) <= 1e-9 for k in a)
a = metrics.beyond_accuracy(recs, train, None, int(train["movie_id"].nunique()), 10)
b = sm.beyond_accuracy(s_recs, s_train, None, int(train["movie_id"].nunique()), 10)
out["beyond"] = all((a[k] is None and b[k] is None) or abs(a[k] - b[k]) <= 1e-9 for k in a)
print(json.dumps(out))
"""


@pytest.mark.slow
def test_twins_run_under_spark_connect(ml_small: Path) -> None:
    """The splits, metrics and baselines use DataFrame operations only (no RDD API): a
    Spark Connect session in its own process gives the local results."""
    import json
    import os
    import subprocess
    import sys

    src = Path(__file__).resolve().parents[1] / "src"
    env = dict(os.environ, PYTHONPATH=str(src), SPARK_LOCAL_IP="127.0.0.1")
    proc = subprocess.run(
        [sys.executable, "-c", CONNECT_SCRIPT, str(ml_small / "ratings.csv")],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert results == {k: True for k in results} and len(results) == 7, results
