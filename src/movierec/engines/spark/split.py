"""Spark twins of :mod:`movierec.split`: the same seed puts the same rows in the same split.

Every function has the name and arguments of its local twin with pandas DataFrames replaced by
Spark DataFrames (canonical columns of :mod:`movierec.schema`), and the local docstring is the
definition; what differs is said in each docstring. The keys are the SplitMix64 keys of
:mod:`movierec.engines.spark.hashing` (bit-identical to :func:`movierec.split.uniform_keys`);
per-user and leave-last splits rank rows in windows partitioned by user, with the local
tie-breaks (then rating and timestamp, so that a recomputed plan always picks the same rows
even for a repeated (user, movie) -- the local split orders those by input row, which Spark
does not have).

The returned DataFrames are lazy filters of one plan, with the input's columns. The checks the
local split makes (empty input, an empty side, missing timestamps) run as ONE aggregate job
per split; everything else runs when the caller uses the result -- cache the input (or both
sides) if it is used more than once. The driver holds only counts, apart from
:func:`time_cut_seconds` (see there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from movierec.engines.spark._checks import count_if, one_row, require_frame
from movierec.engines.spark._splitting import (
    FLAG,
    KEY,
    POS,
    N,
    check_sides,
    empty_error,
    ratings_frame,
    side_counts,
    sides,
    tiebreak,
)
from movierec.engines.spark.hashing import with_uniform_keys
from movierec.engines.spark.timesplit import leave_last_k_out, time_cut_seconds, time_split
from movierec.errors import ConfigError, DataError
from movierec.schema import ITEM, USER
from movierec.split import (
    SALT_COMPARE,
    SALT_FOLDS,
    SALT_HOLDOUT,
    SALT_PER_USER,
    SALT_USER_FOLDS,
)
from movierec.split._common import check_fraction

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = [
    "FOLD",
    "cold_start_counts",
    "fold_ids",
    "holdout_split",
    "kfold",
    "kfold_by_user",
    "leave_last_k_out",
    "per_user_split",
    "random_split",
    "time_cut_seconds",
    "time_split",
    "train_fraction_splits",
    "uniform_keys",
    "user_fold_ids",
]

FOLD = "fold"
"""Name of the fold column :func:`fold_ids` and :func:`user_fold_ids` add."""

# --------------------------------------------------------------------------- keys and random


def uniform_keys(df: DataFrame, seed: int, salt: int, name: str = KEY) -> DataFrame:
    """``df`` plus a double column ``name`` holding :func:`movierec.split.uniform_keys` of each
    row, bit for bit (the local function returns the array; see
    :func:`movierec.engines.spark.hashing.uniform_keys_col` for a Column).

    Raises:
        DataError: ``df`` lacks USER or ITEM.
    """
    return with_uniform_keys(ratings_frame(df), seed, salt, name)


def random_split(
    df: DataFrame, test_fraction: float, seed: int, salt: int = SALT_HOLDOUT
) -> tuple[DataFrame, DataFrame]:
    """:func:`movierec.split.random_split`: test = rows whose key is below ``test_fraction``.

    Raises:
        ConfigError: ``test_fraction`` is not strictly between 0 and 1.
        DataError: the table is empty, or one side of the split came out empty.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test fraction must be between 0 and 1, got {test_fraction}")
    from pyspark.sql import functions as F

    flagged = uniform_keys(df, seed, salt).withColumn(FLAG, F.col(KEY) < float(test_fraction))
    row = side_counts(flagged, FLAG)
    n, n_test = int(row["n"]), int(row["t"])
    if n == 0:
        raise empty_error()
    if n_test in (0, n):
        raise DataError(
            f"a {1 - test_fraction:.0%}/{test_fraction:.0%} split of {n} ratings "
            "left one side empty; use more data or another fraction"
        )
    return sides(flagged, FLAG, [KEY, FLAG])


def train_fraction_splits(
    df: DataFrame, train_fractions: list[float], seed: int
) -> list[tuple[float, DataFrame, DataFrame]]:
    """:func:`movierec.split.train_fraction_splits`: (fraction, train, test) per fraction,
    train = rows whose key (salt ``SALT_COMPARE``) is below the fraction, so nested.

    One cheap job (``take(1)``) checks the input is not empty.

    Raises:
        ConfigError: a fraction is not strictly between 0 and 1.
        DataError: the table is empty.
    """
    from pyspark.sql import functions as F

    keyed = uniform_keys(df, seed, SALT_COMPARE)
    if not df.take(1):
        raise empty_error()
    out = []
    for fraction in train_fractions:
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"train fraction must be between 0 and 1, got {fraction}")
        in_train = F.col(KEY) < float(fraction)
        out.append((fraction, keyed.where(in_train).drop(KEY), keyed.where(~in_train).drop(KEY)))
    return out


# --------------------------------------------------------------------------- k-fold


def _fold_col(key: Column, folds: int) -> Column:
    """min(floor(key · folds), folds - 1) as an int (the local ``astype(int64)`` truncation)."""
    from pyspark.sql import functions as F

    return F.least((key * folds).cast("long"), F.lit(folds - 1)).cast("int")


def _check_folds(folds: int) -> int:
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ConfigError(f"cross-validation needs at least 2 folds, got {folds}")
    return folds


def fold_ids(df: DataFrame, folds: int, seed: int, name: str = FOLD) -> DataFrame:
    """``df`` plus an int column ``name`` = :func:`movierec.split.fold_ids` of each row:
    min(floor(key · folds), folds - 1) with the ``SALT_FOLDS`` key.

    Raises:
        ConfigError: fewer than 2 folds.
        DataError: ``df`` lacks USER or ITEM.
    """
    from pyspark.sql import functions as F

    _check_folds(folds)
    keyed = uniform_keys(df, seed, SALT_FOLDS)
    return keyed.withColumn(name, _fold_col(F.col(KEY), folds)).drop(KEY)


def _fold_pairs(
    with_folds: DataFrame, folds: int, empty_fold: str
) -> list[tuple[DataFrame, DataFrame]]:
    """(train, validation) per fold of a frame with a FOLD column, after one counting job;
    ``empty_fold`` is the message template for a fold without rows."""
    from pyspark.sql import functions as F

    sizes = {int(r[FOLD]): int(r["count"]) for r in with_folds.groupBy(FOLD).count().collect()}
    if not sizes:
        raise empty_error()
    out = []
    for f in range(folds):
        if f not in sizes:
            raise DataError(empty_fold.format(f=f))
        out.append(
            (
                with_folds.where(F.col(FOLD) != f).drop(FOLD),
                with_folds.where(F.col(FOLD) == f).drop(FOLD),
            )
        )
    return out


def kfold(df: DataFrame, folds: int, seed: int) -> list[tuple[DataFrame, DataFrame]]:
    """:func:`movierec.split.kfold`: ``folds`` (train, validation) pairs by rating.

    One job counts the fold sizes (the driver holds ``folds`` numbers).

    Raises:
        ConfigError: fewer than 2 folds.
        DataError: the table is empty or a fold came out empty.
    """
    with_folds = fold_ids(df, folds, seed)
    template = "fold {f} of " + f"{folds} is empty: too few ratings for {folds} folds"
    return _fold_pairs(with_folds, folds, template)


def user_fold_ids(df: DataFrame, folds: int, seed: int, name: str = FOLD) -> DataFrame:
    """``df`` plus an int column ``name`` = :func:`movierec.split.user_fold_ids`: the fold of
    the row's user, min(floor(key_u · folds), folds - 1) with key_u the key of (user, movie 0)
    under ``SALT_USER_FOLDS`` (computed per row: no join, no distinct users).

    Raises:
        ConfigError: fewer than 2 folds.
        DataError: ``df`` lacks USER or ITEM.
    """
    from pyspark.sql import functions as F

    _check_folds(folds)
    keyed = with_uniform_keys(ratings_frame(df), seed, SALT_USER_FOLDS, KEY, item=F.lit(0))
    return keyed.withColumn(name, _fold_col(F.col(KEY), folds)).drop(KEY)


def kfold_by_user(df: DataFrame, folds: int, seed: int) -> list[tuple[DataFrame, DataFrame]]:
    """:func:`movierec.split.kfold_by_user`: ``folds`` (train, validation) pairs by user.

    Raises:
        ConfigError: fewer than 2 folds.
        DataError: the table is empty or a fold came out empty (fewer users than folds).
    """
    with_folds = user_fold_ids(df, folds, seed)
    try:
        return _fold_pairs(with_folds, folds, "user fold {f}")
    except DataError as exc:
        if not exc.reason.startswith("user fold"):
            raise
        n_users = df.select(USER).distinct().count()
        raise DataError(
            f"{exc.reason} of {folds} is empty: too few users ({n_users}) for {folds} folds"
        ) from None


def cold_start_counts(train: DataFrame, test: DataFrame) -> dict[str, int]:
    """:func:`movierec.split.cold_start_counts`: test rows whose user or movie never appears
    in train, counted in one job (distinct train users and movies stay on the cluster).
    """
    from pyspark.sql import functions as F

    require_frame(train, (USER, ITEM), "train")
    require_frame(test, (USER, ITEM), "test")
    users = train.select(USER).distinct().withColumn("_known_user", F.lit(True))
    items = train.select(ITEM).distinct().withColumn("_known_item", F.lit(True))
    joined = test.select(USER, ITEM).join(users, USER, "left").join(items, ITEM, "left")
    unknown_user = F.col("_known_user").isNull()
    unknown_item = F.col("_known_item").isNull()
    row = one_row(
        joined.agg(
            F.count(F.lit(1)).alias("n"),
            count_if(unknown_user).alias("u"),
            count_if(unknown_item).alias("i"),
            count_if(unknown_user | unknown_item).alias("c"),
        )
    )
    return {
        "test_rows": int(row["n"]),
        "unknown_user_rows": int(row["u"]),
        "unknown_movie_rows": int(row["i"]),
        "cold_start_rows": int(row["c"]),
    }


# --------------------------------------------------------------------------- per user


def per_user_split(
    df: DataFrame, test_fraction: float, seed: int, salt: int = SALT_PER_USER
) -> tuple[DataFrame, DataFrame]:
    r""":func:`movierec.split.per_user_split`: each user's :math:`t_u = \min(\mathrm{round}(f
    n), n - 1)` rows with the smallest keys go to test.

    A window partitioned by user ranks the rows by (key, movie id, rating, timestamp);
    ``round`` is ``bround`` (half to even, as Python's ``round`` and ``numpy.rint``).

    Raises:
        ConfigError: ``test_fraction`` is not strictly between 0 and 1.
        DataError: the table is empty, or one side of the split came out empty.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    fraction = check_fraction(test_fraction)
    keyed = uniform_keys(df, seed, salt)
    order = [F.col(KEY), F.col(ITEM), *(F.col(c) for c in tiebreak(df))]
    ranked = Window.partitionBy(USER).orderBy(*order)
    whole = ranked.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    n_test = F.least(F.bround(F.lit(fraction) * F.col(N), 0), F.col(N) - 1)
    flagged = (
        keyed.withColumn(POS, F.row_number().over(ranked) - 1)
        .withColumn(N, F.count(F.lit(1)).over(whole))
        .withColumn(FLAG, F.col(POS) < n_test)
    )
    row = side_counts(flagged, FLAG)
    n, n_test_rows = int(row["n"]), int(row["t"])
    if n == 0:
        raise empty_error()
    check_sides(
        n,
        n_test_rows,
        f"a per-user {1 - fraction:.0%}/{fraction:.0%} split of {n} ratings",
        "users need more ratings (a user with n ratings gives round(fraction*n) to test, "
        "never all of them) or use a larger fraction",
    )
    return sides(flagged, FLAG, [KEY, POS, N, FLAG])


def holdout_split(
    df: DataFrame,
    method: str,
    test_fraction: float,
    seed: int,
    time_cut: str | None = None,
    leave_last: int = 1,
) -> tuple[DataFrame, DataFrame]:
    """:func:`movierec.split.holdout_split`: (development part, test part) by ``method``
    (``random``, ``per-user``, ``time`` -- default cut the ``1 - test_fraction`` quantile --
    or ``leave-last``). ``time_cut`` and ``leave_last`` may also be passed by position.

    Raises:
        ConfigError: unknown method or bad parameters.
        DataError: the split needs timestamps the data lacks, or a side came out empty.
    """
    if method == "random":
        return random_split(df, test_fraction, seed)
    if method == "per-user":
        return per_user_split(df, test_fraction, seed)
    if method == "time":
        return time_split(df, time_cut if time_cut is not None else 1.0 - test_fraction)
    if method == "leave-last":
        return leave_last_k_out(df, leave_last)
    raise ConfigError(f"unknown split method {method!r}; use random, per-user, time or leave-last")
