"""Synthetic MovieLens-like ratings: schema, determinism, no duplicates, shape, heavy tails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movierec.config import DataConfig
from movierec.data import load_ratings
from movierec.data.synth import default_shape, parse_count, save_synthetic, synthesize
from movierec.errors import ConfigError
from movierec.schema import ITEM, RATING, RATING_COLUMNS, TIMESTAMP, USER


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthesize(200_000, seed=7)


def test_schema_and_dtypes(frame: pd.DataFrame) -> None:
    assert tuple(frame.columns) == RATING_COLUMNS
    assert frame[USER].dtype == np.int32
    assert frame[ITEM].dtype == np.int32
    assert frame[RATING].dtype == np.float64
    assert frame[TIMESTAMP].dtype == np.int64
    assert len(frame) == 200_000
    ratings = frame[RATING].to_numpy()
    assert ratings.min() >= 0.5 and ratings.max() <= 5.0
    assert np.array_equal(ratings * 2, np.round(ratings * 2))  # half stars
    assert set(np.unique(ratings)) == {x / 2 for x in range(1, 11)}  # every value occurs
    assert 3.0 < ratings.mean() < 4.0
    assert frame[TIMESTAMP].between(789_652_009, 1_574_327_703).all()


def test_no_duplicate_pairs_and_sorted(frame: pd.DataFrame) -> None:
    assert not frame.duplicated([USER, ITEM]).any()
    key = frame[USER].to_numpy().astype(np.int64) << 32 | frame[ITEM].to_numpy()
    assert np.all(np.diff(key) > 0)  # sorted by user, then movie


def test_same_seed_same_frame_other_seed_differs(frame: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(synthesize(200_000, seed=7), frame)
    other = synthesize(200_000, seed=8)
    assert not other[RATING].equals(frame[RATING])


def test_default_scale_bounds(frame: pd.DataFrame) -> None:
    n_users, n_items = default_shape(200_000)
    assert frame[USER].nunique() == n_users  # every user has a rating
    assert frame[USER].min() == 1 and frame[USER].max() == n_users
    assert frame[ITEM].min() >= 1 and frame[ITEM].max() <= n_items
    assert frame[ITEM].nunique() > 0.8 * n_items
    assert 120 < 200_000 / n_users < 200  # MovieLens-like ratings per user
    per_user = frame.groupby(USER).size()
    assert per_user.max() <= n_items // 2
    users_25m, items_25m = default_shape(25_000_000)
    assert 140_000 < users_25m < 180_000 and 50_000 < items_25m < 70_000


def test_heavy_tails(frame: pd.DataFrame) -> None:
    def top_share(counts: pd.Series, q: float) -> float:
        c = np.sort(counts.to_numpy())[::-1]
        return float(c[: int(q * len(c))].sum() / c.sum())

    users = frame.groupby(USER).size()
    items = frame.groupby(ITEM).size()
    assert top_share(users, 0.1) > 0.35  # uniform activity would give 0.10
    assert top_share(items, 0.1) > 0.45
    assert users.max() > 10 * users.median()


def test_explicit_shape_and_latent_signal() -> None:
    df = synthesize(30_000, n_users=300, n_items=1_000, rank=3, noise=0.0, seed=1)
    assert df[USER].nunique() == 300 and df[ITEM].max() <= 1_000
    assert not df.duplicated([USER, ITEM]).any()
    # Without noise the ratings are a low-rank model plus biases, so users' means vary.
    assert df.groupby(USER)[RATING].mean().std() > 0.2


def test_small_and_dense_cases() -> None:
    assert len(synthesize(1, seed=0)) == 1
    dense = synthesize(500, n_users=10, n_items=100, seed=0)  # exactly half the catalogue each
    assert (dense.groupby(USER).size() == 50).all()
    assert not dense.duplicated([USER, ITEM]).any()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_ratings": 0}, "at least 1"),
        ({"n_ratings": 100, "n_users": 200}, "cannot give"),
        ({"n_ratings": 1_000, "n_users": 10, "n_items": 100}, "do not fit"),
        ({"n_ratings": 100, "rank": 0}, "rank"),
        ({"n_ratings": 100, "noise": -1.0}, "noise"),
    ],
)
def test_impossible_shapes_fail(kwargs: dict, message: str) -> None:
    n = kwargs.pop("n_ratings")
    with pytest.raises(ConfigError, match=message):
        synthesize(n, **kwargs)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("25M", 25_000_000),
        ("25m", 25_000_000),
        ("1.5M", 1_500_000),
        ("100k", 100_000),
        ("100K", 100_000),
        ("25000000", 25_000_000),
        ("25_000_000", 25_000_000),
        (" 2.5e6 ", 2_500_000),
        ("1G", 1_000_000_000),
        (42, 42),
    ],
)
def test_parse_count(text: str | int, value: int) -> None:
    assert parse_count(text) == value


@pytest.mark.parametrize(
    "text", ["", "M", "abc", "25X", "1.5", "1.2345k", "-5", "0", "0k", "1e400", "nan", True]
)
def test_parse_count_rejects_garbage(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_count(text)


def test_save_is_atomic_and_reads_back(tmp_path: Path) -> None:
    df = synthesize(5_000, seed=3)
    target = tmp_path / "sub" / "synth.parquet"
    assert save_synthetic(df, target) == target
    assert [p.name for p in target.parent.iterdir()] == ["synth.parquet"]  # no temp file left
    pd.testing.assert_frame_equal(pd.read_parquet(target), df)
    loaded = load_ratings(DataConfig(path=target))
    assert len(loaded.ratings) == len(df)
    assert sum(loaded.report.rejected.values()) == 0
