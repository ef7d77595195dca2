"""Spark metrics against the local (pandas) metrics on the same inputs: equal to 1e-9."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movierec import metrics as local
from movierec.baselines import BiasBaseline, MostPopular
from movierec.engines.spark import metrics as spark_metrics
from movierec.engines.spark import scoring
from movierec.errors import ConfigError, DataError
from movierec.evaluation import prediction_metrics
from movierec.schema import GENRES, ITEM, PREDICTION, RANK, RATING, SCORE, TIMESTAMP, USER
from movierec.split import random_split
from movierec.tuning import holdout_rmse

pytestmark = pytest.mark.spark

TOL = 1e-9


def assert_same(expected: Any, got: Any, path: str = "") -> None:
    """Equal structure; ints and None exactly, floats to 1e-9 (relative above 1)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and set(got) == set(expected), path
        for key in expected:
            assert_same(expected[key], got[key], f"{path}.{key}")
    elif expected is None or isinstance(expected, (bool, int, np.integer)):
        assert got == expected and type(got) is type(expected), (path, expected, got)
    else:
        assert isinstance(got, float), (path, got)
        assert abs(got - expected) <= TOL * max(1.0, abs(expected)), (path, expected, got)


def to_spark(spark: Any, frame: pd.DataFrame) -> Any:
    """``frame`` as a Spark DataFrame (NaN stays NaN in float columns, None becomes null)."""
    return spark.createDataFrame(frame)


# --------------------------------------------------------------------------- hand-made fixtures


@pytest.fixture(scope="module")
def predictions() -> pd.DataFrame:
    """Ties in prediction (broken by movie id), -0.0 against 0.0, a user with nothing
    relevant, one with nothing predicted >= threshold, lists shorter than k."""
    rows = [
        (1, 10, 4.0, 4.5),
        (1, 11, 2.0, 4.5),  # tie with movie 10
        (1, 12, 5.0, 4.5),  # tie
        (1, 13, 3.0, 1.0),
        (1, 14, 3.5, 3.0),
        (2, 10, 1.0, 2.0),  # user 2: nothing relevant
        (2, 15, 2.5, 3.5),
        (3, 11, 5.0, 2.9),  # user 3: nothing recommended
        (3, 12, 4.0, -0.0),
        (3, 13, 4.5, 0.0),
        (4, 20, 3.0, 3.0),  # exactly at the threshold
    ]
    return pd.DataFrame(rows, columns=[USER, ITEM, RATING, PREDICTION]).astype(
        {USER: np.int32, ITEM: np.int32}
    )


@pytest.fixture(scope="module")
def lists() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(recommendations, test, train, movies): short lists, a relevant user without a list,
    list users without relevant movies, ranks with gaps, movies unseen in train, genre
    strings with whitespace, duplicates and no genres."""
    recs = pd.DataFrame(
        [
            (1, 10, 1), (1, 11, 2), (1, 12, 3), (1, 13, 4), (1, 14, 6),
            (2, 10, 1), (2, 15, 2),
            (3, 16, 1), (3, 11, 2), (3, 12, 3),
            (5, 10, 1),  # user 5 has no relevant test movie
            (6, 17, 2),  # a one-movie list, rank 2
        ],
        columns=[USER, ITEM, RANK],
    )  # fmt: skip
    test = pd.DataFrame(
        [
            (1, 12, 5.0), (1, 14, 4.0), (1, 30, 4.5), (1, 10, 1.0),
            (2, 15, 3.0), (2, 15, 3.0),  # a repeated pair counts once
            (3, 11, 2.0),  # nothing relevant for user 3
            (4, 10, 5.0),  # relevant user without a list
            (6, 17, 3.5),
        ],
        columns=[USER, ITEM, RATING],
    )  # fmt: skip
    train = pd.DataFrame(
        [(1, 20), (1, 21), (2, 20), (3, 20), (3, 10), (4, 11), (4, 10), (5, 10), (5, 10)],
        columns=[USER, ITEM],
    )
    movies = pd.DataFrame(
        {
            ITEM: [10, 11, 12, 13, 14, 15, 16, 17, 20, 21],
            GENRES: [
                "Comedy|Drama",
                " Drama | Comedy ",
                "(no genres listed)",
                "",
                "Action|Action|Drama",
                None,
                "Horror",
                "comedy",
                "Drama",
                "NaN|Comedy",
            ],
        }
    )
    typed = [f.astype({c: np.int32 for c in (USER, ITEM, RANK) if c in f}) for f in (recs, test)]
    return typed[0], typed[1], train.astype(np.int32), movies.astype({ITEM: np.int32})


def test_rating_errors_and_pairwise(spark: Any, predictions: pd.DataFrame) -> None:
    with_nan = pd.concat(
        [predictions, pd.DataFrame({USER: [9], ITEM: [9], RATING: [4.0], PREDICTION: [np.nan]})]
    ).astype({USER: np.int32, ITEM: np.int32})
    df = to_spark(spark, with_nan)
    a = predictions[RATING].to_numpy()
    p = predictions[PREDICTION].to_numpy()
    assert_same(local.rating_errors(a, p), spark_metrics.rating_errors(df))
    for t in (3.0, 4.5, 0.0):
        assert_same(local.pairwise_prf(a, p, t), spark_metrics.pairwise_prf(df, t))
    with pytest.raises(DataError, match=r"^predicted contains 1 NaN value\(s\)"):
        spark_metrics.rating_errors(df, skip_missing=False)


@pytest.mark.parametrize(("k", "threshold"), [(1, 3.0), (2, 4.5), (3, 3.0), (10, 3.0)])
def test_within_test_top_k(spark: Any, predictions: pd.DataFrame, k: int, threshold: float) -> None:
    expected = local.within_test_top_k(predictions, k, threshold)
    assert_same(
        expected, spark_metrics.within_test_top_k(to_spark(spark, predictions), k, threshold)
    )


@pytest.mark.parametrize("k", [1, 4, 20])
def test_catalogue_top_k(spark: Any, lists: tuple[pd.DataFrame, ...], k: int) -> None:
    recs, test, _, _ = lists
    expected = local.catalogue_top_k(recs, test, k, 3.0)
    assert_same(
        expected,
        spark_metrics.catalogue_top_k(to_spark(spark, recs), to_spark(spark, test), k, 3.0),
    )


@pytest.mark.parametrize("k", [2, 10])
def test_beyond_accuracy(spark: Any, lists: tuple[pd.DataFrame, ...], k: int) -> None:
    recs, _, train, movies = lists
    s_recs, s_train, s_movies = (to_spark(spark, f) for f in (recs, train, movies))
    expected = local.beyond_accuracy(recs, train, movies, 12, k)
    got = spark_metrics.beyond_accuracy(s_recs, s_train, s_movies, 12, k)
    assert_same(expected, got)
    if k == 2:
        assert_same(
            local.beyond_accuracy(recs, train, None, 12, k),
            spark_metrics.beyond_accuracy(s_recs, s_train, None, 12, k),
        )
    else:
        assert_same(
            local.catalogue_coverage(recs, 12), spark_metrics.catalogue_coverage(s_recs, 12)
        )


def test_single_metrics(spark: Any, lists: tuple[pd.DataFrame, ...]) -> None:
    recs, _, train, movies = lists
    s_recs, s_train, s_movies = (to_spark(spark, f) for f in (recs, train, movies))
    pairs: list[tuple[Callable[..., Any], Callable[..., Any], tuple[Any, ...], tuple[Any, ...]]] = [
        (local.novelty, spark_metrics.novelty, (recs, train, 3), (s_recs, s_train, 3)),
        (
            local.popularity_bias,
            spark_metrics.popularity_bias,
            (recs, train, 2),
            (s_recs, s_train, 2),
        ),
        (local.personalisation, spark_metrics.personalisation, (recs, 4), (s_recs, 4)),
        (
            local.intra_list_diversity,
            spark_metrics.intra_list_diversity,
            (recs, movies, 10),
            (s_recs, s_movies, 10),
        ),
        (
            local.catalogue_coverage,
            spark_metrics.catalogue_coverage,
            (recs, 20, 1),
            (s_recs, 20, 1),
        ),
    ]
    for f_local, f_spark, a_local, a_spark in pairs:
        assert_same(f_local(*a_local), f_spark(*a_spark), f_local.__name__)


# --------------------------------------------------------------------------- ml-latest-small


@pytest.fixture(scope="module")
def realistic(ml_small: Path) -> dict[str, pd.DataFrame]:
    """A seeded split of ml-latest-small, a bias model's predictions (cold rows NaN), the
    most-popular lists and seeded random lists of 30 unseen movies per test user."""
    ratings = pd.read_csv(ml_small / "ratings.csv")
    ratings.columns = [USER, ITEM, RATING, TIMESTAMP]
    ratings = ratings.astype({USER: np.int32, ITEM: np.int32})
    train, test = random_split(ratings, 0.2, seed=4)
    model = BiasBaseline().fit(train)
    pred = model.predict(test)
    known_items = set(train[ITEM].tolist())
    pred[~test[ITEM].isin(known_items).to_numpy()] = np.nan  # cold movies: ALS gives NaN
    scored = test.assign(**{PREDICTION: pred})
    users = np.unique(test[USER].to_numpy())
    popular = MostPopular().fit(train).recommend(users, 30, exclude=train)
    rng = np.random.default_rng(5)
    catalogue = np.unique(ratings[ITEM].to_numpy())
    seen = train.groupby(USER)[ITEM].agg(set)
    rows = []
    for u in users:
        pool = rng.choice(catalogue, 60, replace=False)
        picks = [m for m in pool if m not in seen.get(u, set())][:30]
        rows += [(u, m, r + 1) for r, m in enumerate(picks)]
    rand = pd.DataFrame(rows, columns=[USER, ITEM, RANK]).astype(np.int32)
    movies = pd.read_csv(ml_small / "movies.csv").rename(columns={"movieId": ITEM})[[ITEM, GENRES]]
    return {
        "train": train,
        "test": test,
        "scored": scored,
        "popular": popular,
        "random": rand,
        "movies": movies,
    }


@pytest.fixture(scope="module")
def realistic_spark(spark: Any, realistic: dict[str, pd.DataFrame]) -> dict[str, Any]:
    out = {}
    for name, frame in realistic.items():
        if name == "popular":
            frame = frame.drop(columns=[SCORE])
        df = spark.createDataFrame(
            frame.astype({c: np.int32 for c in (USER, ITEM, RANK) if c in frame})
        )
        out[name] = df.cache()
    yield out
    for df in out.values():
        df.unpersist()


def test_prediction_metrics_on_ml_small(
    realistic: dict[str, pd.DataFrame], realistic_spark: dict[str, Any]
) -> None:
    scored = realistic["scored"]
    known = scored[~scored[PREDICTION].isna()].reset_index(drop=True)
    assert len(known) < len(scored)  # the fixture has cold-start rows
    for k, t in ((10, 3.0), (3, 4.0)):
        expected = prediction_metrics(known, known[PREDICTION].to_numpy(), k, t)
        assert_same(expected, scoring.prediction_metrics(realistic_spark["scored"], None, k, t))
    expected_rmse = holdout_rmse(scored[PREDICTION].to_numpy(), scored[RATING])
    got_rmse = scoring.holdout_rmse(realistic_spark["scored"])
    assert got_rmse[1] == expected_rmse[1] > 0
    assert abs(got_rmse[0] - expected_rmse[0]) <= TOL
    # predictions as a separate frame, joined to the test rows
    preds = realistic_spark["scored"].select(USER, ITEM, PREDICTION)
    test = realistic_spark["test"]
    assert_same(
        prediction_metrics(known, known[PREDICTION].to_numpy(), 10, 3.0),
        scoring.prediction_metrics(test, preds, 10, 3.0),
    )
    assert scoring.holdout_rmse(test, preds) == pytest.approx(got_rmse, abs=TOL)


@pytest.mark.parametrize("lists_name", ["popular", "random"])
def test_list_metrics_on_ml_small(
    lists_name: str, realistic: dict[str, pd.DataFrame], realistic_spark: dict[str, Any]
) -> None:
    recs, s_recs = realistic[lists_name], realistic_spark[lists_name]
    train, test, movies = (realistic[n] for n in ("train", "test", "movies"))
    n_items = int(train[ITEM].nunique())
    for k in (10, 30):
        assert_same(
            local.catalogue_top_k(recs, test, k, 3.5),
            spark_metrics.catalogue_top_k(s_recs, realistic_spark["test"], k, 3.5),
        )
    assert_same(
        local.beyond_accuracy(recs, train, movies, n_items, 10),
        spark_metrics.beyond_accuracy(
            s_recs, realistic_spark["train"], realistic_spark["movies"], n_items, 10
        ),
    )


# --------------------------------------------------------------------------- errors

RECS = [(1, 10, 1), (1, 11, 2), (2, 10, 1)]
TEST = [(1, 10, 4.0), (2, 11, 5.0)]
RS = f"{USER} int, {ITEM} int, {RANK} int"
TS = f"{USER} int, {ITEM} int, {RATING} double"
PS = f"{USER} int, {ITEM} int, {RATING} double, {PREDICTION} double"
BAD: dict[str, tuple[Callable[..., Any], list[tuple[list[Any], str]], tuple[Any, ...]]] = {
    "within-empty": ("within_test_top_k", [([], PS)], (10, 3.0)),
    "within-null-user": ("within_test_top_k", [([(None, 1, 4.0, 3.0)], PS)], (10, 3.0)),
    "within-nan-prediction": ("within_test_top_k", [([(1, 1, 4.0, float("nan"))], PS)], (10, 3.0)),
    "within-k": ("within_test_top_k", [([(1, 1, 4.0, 3.0)], PS)], (0, 3.0)),
    "within-threshold": ("within_test_top_k", [([(1, 1, 4.0, 3.0)], PS)], (5, float("nan"))),
    "catalogue-empty-recs": ("catalogue_top_k", [([], RS), (TEST, TS)], (10, 3.0)),
    "catalogue-empty-test": ("catalogue_top_k", [(RECS, RS), ([], TS)], (10, 3.0)),
    "catalogue-null-test": ("catalogue_top_k", [(RECS, RS), ([(1, 2, None)], TS)], (10, 3.0)),
    "catalogue-rank-0": ("catalogue_top_k", [([(1, 10, 0)], RS), (TEST, TS)], (10, 3.0)),
    "catalogue-rank-frac": (
        "catalogue_top_k",
        [([(1, 10, 1.5)], f"{USER} int, {ITEM} int, {RANK} double"), (TEST, TS)],
        (10, 3.0),
    ),
    "catalogue-repeated-rank": (
        "catalogue_top_k",
        [([*RECS, (1, 12, 2)], RS), (TEST, TS)],
        (10, 3.0),
    ),
    "catalogue-repeated-movie": (
        "catalogue_top_k",
        [([*RECS, (1, 10, 3)], RS), (TEST, TS)],
        (10, 3.0),
    ),
    "catalogue-nothing-relevant": ("catalogue_top_k", [(RECS, RS), (TEST, TS)], (10, 5.5)),
    "coverage-too-many": ("catalogue_coverage", [(RECS, RS)], (1,)),
    "coverage-n-items": ("catalogue_coverage", [(RECS, RS)], (0,)),
    "novelty-no-top": (
        "novelty",
        [([(1, 10, 5)], RS), ([(1, 10)], f"{USER} int, {ITEM} int")],
        (3,),
    ),
    "novelty-empty-train": ("novelty", [(RECS, RS), ([], f"{USER} int, {ITEM} int")], (3,)),
    "personalisation-one-user": ("personalisation", [([(1, 10, 1)], RS)], (3,)),
    "diversity-short-lists": (
        "intra_list_diversity",
        [([(1, 10, 1), (2, 11, 1)], RS), ([(10, "A"), (11, "B")], f"{ITEM} int, {GENRES} string")],
        (3,),
    ),
    "diversity-missing-movie": (
        "intra_list_diversity",
        [(RECS, RS), ([(10, "A")], f"{ITEM} int, {GENRES} string")],
        (3,),
    ),
    "diversity-repeated-movie": (
        "intra_list_diversity",
        [(RECS, RS), ([(10, "A"), (10, "B"), (11, "C")], f"{ITEM} int, {GENRES} string")],
        (3,),
    ),
}


def pandas_frame(rows: list[Any], schema: str) -> pd.DataFrame:
    """The rows as a pandas frame typed as ``toPandas`` would type them (no Spark job)."""
    names = [field.split()[0] for field in schema.split(", ")]
    frame = pd.DataFrame(rows, columns=names)
    for name in names:
        if frame[name].isna().any() or "double" in schema.split(name)[1].split(",")[0]:
            frame[name] = frame[name].astype(np.float64)
        elif name != GENRES:
            frame[name] = frame[name].astype(np.int32)
    return frame


@pytest.mark.parametrize("case", sorted(BAD))
def test_errors_match_local(case: str, spark: Any) -> None:
    name, frames, args = BAD[case]
    dfs = [spark.createDataFrame(rows, schema) for rows, schema in frames]
    pdfs = [pandas_frame(rows, schema) for rows, schema in frames]
    with pytest.raises((ConfigError, DataError)) as expected:
        getattr(local, name)(*pdfs, *args)
    with pytest.raises(type(expected.value), match=f"^{re.escape(str(expected.value))}$"):
        getattr(spark_metrics, name)(*dfs, *args)
