"""``movierec.load_ratings`` for every input a notebook has: a pandas DataFrame gets the file
readers' validation and reject accounting (rejects carry the row's index label), a path, a
dataset name and a DataConfig load as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import movierec
from movierec.config import DataConfig
from movierec.errors import ConfigError, DataError


def _dirty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "who": ["a", "b", "b", "c", "d", "e"],
            "what": [10, 10, 20, 30, None, 10],
            "stars": [4.0, 9.5, 3.0, np.nan, 2.0, 5.0],
        },
        index=[100, 101, 102, 103, 104, 105],
    )


def test_pandas_rows_are_validated_like_a_file_and_rejects_carry_the_index(
    tmp_path: Path,
) -> None:
    df = _dirty()
    loaded = movierec.load_ratings(
        df, user_col="who", item_col="what", rating_col="stars", max_reject_fraction=0.9
    )
    assert loaded.report.rows_read == 6 and loaded.report.rows_kept == 3
    assert loaded.report.rejected == {"missing_value": 2, "rating_out_of_range": 1}
    rej = loaded.rejects.set_index("index")
    assert rej.loc[101, "reason"] == "rating_out_of_range" and rej.loc[101, "column"] == "stars"
    assert rej.loc[103, "reason"] == "missing_value" and rej.loc[103, "column"] == "stars"
    assert rej.loc[104, "reason"] == "missing_value" and rej.loc[104, "column"] == "what"
    assert list(rej["line"]) == [2, 4, 5]  # 1-based row positions
    # Text user ids were remapped to dense ints; originals kept by dense id.
    users = np.asarray(loaded.user_ids)[loaded.ratings["user_id"].to_numpy()]
    assert list(users) == ["a", "b", "e"]
    assert loaded.ratings["rating"].tolist() == [4.0, 3.0, 5.0]
    # The same rows as a CSV file: the same kept ratings and reject reasons.
    csv = tmp_path / "r.csv"
    df.to_csv(csv, index=False)
    from_file = movierec.load_ratings(
        csv, user_col="who", item_col="what", rating_col="stars", max_reject_fraction=0.9
    )
    pd.testing.assert_frame_equal(from_file.ratings, loaded.ratings)
    assert list(from_file.rejects["reason"]) == list(loaded.rejects["reason"])
    assert list(from_file.rejects["line"]) == [ln + 1 for ln in loaded.rejects["line"]]  # header


def test_reject_limit_duplicates_and_missing_columns() -> None:
    with pytest.raises(DataError, match="max_reject_fraction"):
        movierec.load_ratings(
            _dirty(), user_col="who", item_col="what", rating_col="stars", max_reject_fraction=0.4
        )
    dup = pd.DataFrame({"userId": [1, 1], "movieId": [5, 5], "rating": [3.0, 4.0]})
    assert movierec.load_ratings(dup, duplicates="last").ratings["rating"].tolist() == [4.0]
    with pytest.raises(DataError, match=r"more than once|duplicate"):
        movierec.load_ratings(dup, duplicates="error")
    with pytest.raises(DataError, match="cannot find the user_id"):
        movierec.load_ratings(pd.DataFrame({"x": [1], "movieId": [1], "rating": [3.0]}))
    with pytest.raises(DataError, match="'nope'"):
        movierec.load_ratings(dup, user_col="nope")
    with pytest.raises(ConfigError, match="cannot load ratings from a int"):
        movierec.load_ratings(42)


def test_movies_frame_and_usual_header_names(ml_small: Path) -> None:
    ratings = pd.read_csv(ml_small / "ratings.csv").head(500)
    movies = pd.read_csv(ml_small / "movies.csv")
    loaded = movierec.load_ratings(ratings, movies=movies)
    assert loaded.report.rows_kept == 500 and loaded.report.has_timestamp
    assert loaded.movies is not None
    title = loaded.movies.set_index("movie_id").loc[1, "title"]
    assert title == "Toy Story (1995)"
    by_file = movierec.load_ratings(ratings, movies=ml_small / "movies.csv")
    pd.testing.assert_frame_equal(by_file.movies, loaded.movies)


def test_path_folder_and_config_load_as_the_reader_does(ml_small: Path) -> None:
    from movierec.data import load_ratings as load_config

    expected = load_config(DataConfig(path=ml_small))
    for source in (ml_small, str(ml_small), DataConfig(path=ml_small)):
        got = movierec.load_ratings(source)
        pd.testing.assert_frame_equal(got.ratings, expected.ratings)
        assert got.movies is not None
