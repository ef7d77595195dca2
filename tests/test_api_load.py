"""``movierec.load_ratings`` on a Spark DataFrame: validated by the executors, kept in Spark,
with the pandas path's counts, rejects and report for the same rows."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest

import movierec
from movierec.data.anyinput import load_ratings as load_local
from movierec.errors import DataError

pytestmark = pytest.mark.spark


def _dirty() -> pd.DataFrame:
    """Text user ids; a NaN rating, an out-of-scale rating, a null movie id, a duplicate
    (user b, movie 10: the later timestamp wins) among 9 rows."""
    return pd.DataFrame(
        {
            "who": ["a", "b", "b", "c", "d", "e", "b", "a", "f"],
            "what": [10.0, 10.0, 20.0, 30.0, None, 10.0, 10.0, 30.0, 20.0],
            "stars": [4.0, 3.5, 3.0, np.nan, 2.0, 9.5, 4.5, 1.0, 5.0],
            "when": [1, 2, 3, 4, 5, 6, 7, 8, 9],
        }
    )


COLS = {"user_col": "who", "item_col": "what", "rating_col": "stars", "timestamp_col": "when"}


def _originals(values: np.ndarray | None, dense: pd.Series) -> list[Any]:
    return list(dense) if values is None else [values[int(d)] for d in dense]


def test_spark_frame_stays_in_spark_with_the_pandas_counts_rejects_and_report(
    spark: Any,
) -> None:
    from pyspark.sql import DataFrame

    pdf = _dirty()
    sdf = spark.createDataFrame(pdf).coalesce(1)  # one partition: scan order = row order
    expected = load_local(pdf, **COLS, max_reject_fraction=0.9)
    with movierec.load_ratings(sdf, **COLS, max_reject_fraction=0.9) as got:
        assert isinstance(got, movierec.LoadedSparkRatings)
        assert isinstance(got.ratings, DataFrame) and isinstance(got.rejects, DataFrame)
        assert got.report == dataclasses.replace(expected.report, path="<Spark DataFrame>")
        r = got.report
        assert r.rows_read == 9 and r.rows_read == r.rows_kept + sum(r.rejected.values())
        assert r.rejected == {"missing_value": 2, "rating_out_of_range": 1, "duplicate": 1}
        # Rejects: the same rows (line = 1-based row number), columns and reasons.
        rej = got.rejects.select("line", "column", "reason").orderBy("line").toPandas()
        want = expected.rejects[["line", "column", "reason"]].sort_values("line")
        assert rej.values.tolist() == want.values.tolist()
        assert want["line"].tolist() == [2, 4, 5, 6]  # independent: the rows built above
        # Ratings: the same (original user, movie, rating, timestamp) rows.
        spark_rows = got.ratings.toPandas()
        assert list(spark_rows.columns) == ["user_id", "movie_id", "rating", "timestamp"]
        user_map = (
            got.user_ids.toPandas().sort_values("user_id")["original"].to_numpy()
            if got.user_ids is not None
            else None
        )

        def rows(frame: pd.DataFrame, users: np.ndarray | None) -> list[tuple[Any, ...]]:
            originals = _originals(users, frame["user_id"])
            out = zip(originals, frame["movie_id"], frame["rating"], frame["timestamp"])
            return sorted((str(u), int(m), float(x), int(t)) for u, m, x, t in out)

        assert rows(spark_rows, user_map) == rows(expected.ratings, expected.user_ids)
        assert rows(spark_rows, user_map) == [
            ("a", 10, 4.0, 1),
            ("a", 30, 1.0, 8),
            ("b", 10, 4.5, 7),
            ("b", 20, 3.0, 3),
            ("f", 20, 5.0, 9),
        ]
        # to_pandas collects on request into the pandas type, the same rows.
        local = got.to_pandas()
        assert isinstance(local, movierec.LoadedRatings)
        assert rows(local.ratings, local.user_ids) == rows(expected.ratings, expected.user_ids)
        assert local.rejects["reason"].tolist() == expected.rejects["reason"].tolist()


def test_spark_frame_reject_limit_duplicate_policy_and_missing_column(spark: Any) -> None:
    sdf = spark.createDataFrame(_dirty()).coalesce(1)
    with pytest.raises(DataError, match="max_reject_fraction") as refused:
        movierec.load_ratings(sdf, **COLS, max_reject_fraction=0.3)
    assert refused.value.path == "<Spark DataFrame>"  # not the private temporary view
    assert "movierec_load_" not in str(refused.value)
    assert not [t for t in spark.catalog.listTables() if t.name.startswith("movierec_load_")]
    dup = spark.createDataFrame(
        pd.DataFrame({"userId": [1, 1, 2], "movieId": [5, 5, 5], "rating": [3.0, 4.0, 2.0]})
    ).coalesce(1)
    with movierec.load_ratings(dup, duplicates="first") as first:
        rows = sorted(map(tuple, first.ratings.select("user_id", "rating").collect()))
        assert rows == [(1, 3.0), (2, 2.0)] and first.report.duplicates == 1
    with pytest.raises(DataError, match=r"more than once|duplicate"):
        movierec.load_ratings(dup, duplicates="error")
    with pytest.raises(DataError, match="'nope'"):
        movierec.load_ratings(dup, user_col="nope")


def test_movies_frame_and_release(spark: Any) -> None:
    ratings = pd.DataFrame({"userId": [1, 2, 2], "movieId": [7, 7, 9], "rating": [4.0, 3.0, 5.0]})
    movies = pd.DataFrame({"movieId": [7, 9, 11], "title": ["Seven", "Nine", "Eleven"]})
    loaded = movierec.load_ratings(spark.createDataFrame(ratings), movies=movies)
    expected = load_local(ratings, movies=movies)
    assert loaded.movies is not None and expected.movies is not None
    got = loaded.movies.toPandas().sort_values("movie_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(
        got, expected.movies.sort_values("movie_id").reset_index(drop=True), check_dtype=False
    )
    assert loaded.ratings.is_cached
    loaded.release()
    assert not loaded.ratings.is_cached
    assert not spark.catalog.tableExists(loaded.view)


def test_import_movierec_imports_no_pyspark() -> None:
    code = "import sys, movierec; movierec.load_ratings; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
