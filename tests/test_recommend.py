"""Recommendation output: original ids and titles joined, files written atomically, id lookup."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from movierec.recommend import decorate, map_user_ids, save_recommendations, top_rated
from movierec.schema import GENRES, ITEM, RANK, RATING, SCORE, TITLE, USER

RECS = pd.DataFrame({USER: [1, 0, 0], ITEM: [2, 1, 0], SCORE: [4.0, 4.5, 4.2], RANK: [1, 1, 2]})
MOVIES = pd.DataFrame(
    {ITEM: [0, 1], TITLE: ["Alien (1979)", "Heat (1995)"], GENRES: ["Horror", "Crime"]}
)


def test_decorate_joins_titles_and_sorts() -> None:
    out = decorate(RECS, MOVIES)
    assert list(out.columns) == [USER, RANK, ITEM, TITLE, GENRES, SCORE]
    assert out[[USER, RANK, ITEM]].values.tolist() == [[0, 1, 1], [0, 2, 0], [1, 1, 2]]
    assert out[TITLE].tolist() == ["Heat (1995)", "Alien (1979)", ""]  # movie 2 has no title


def test_decorate_maps_back_to_original_ids() -> None:
    users = np.array(["ann", "bob"], dtype=object)
    items = np.array(["tt01", "tt02", "tt03"], dtype=object)
    out = decorate(RECS, MOVIES, users, items)
    assert out[USER].tolist() == ["ann", "ann", "bob"]
    assert out[ITEM].tolist() == ["tt02", "tt01", "tt03"]
    assert out[TITLE].tolist()[:2] == ["Heat (1995)", "Alien (1979)"]  # joined before mapping


def test_top_rated_orders_by_rating_then_id() -> None:
    train = pd.DataFrame(
        {USER: [5, 5, 5, 5, 6], ITEM: [3, 1, 0, 2, 1], RATING: [4.0, 5.0, 4.0, 2.0, 5.0]}
    )
    out = top_rated(train, np.array([5]), n=3, movies=MOVIES)
    assert out[ITEM].tolist() == [1, 0, 3]  # 5.0 first, then the two 4.0s by id
    assert out[RATING].tolist() == [5.0, 4.0, 4.0]
    assert out[TITLE].tolist() == ["Heat (1995)", "Alien (1979)", ""]


def test_save_writes_both_files_atomically(tmp_path: Path) -> None:
    table = decorate(RECS, MOVIES)
    written = save_recommendations(table, tmp_path / "recs")
    assert sorted(p.name for p in written) == ["recs.csv", "recs.parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "recs.parquet"), table)
    assert (
        pd.read_csv(tmp_path / "recs.csv", keep_default_na=False)[TITLE].tolist()
        == table[TITLE].tolist()
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recs.csv", "recs.parquet"]
    assert [p.name for p in save_recommendations(table, tmp_path / "only.csv")] == ["only.csv"]


def test_map_user_ids() -> None:
    dense, unknown = map_user_ids(["7", "x", "9"], None, np.array([7, 8]))
    assert dense.tolist() == [7] and unknown == ["x", "9"]
    dense, unknown = map_user_ids(["bob", "eve"], np.array(["ann", "bob"]), np.array([0, 1]))
    assert dense.tolist() == [1] and unknown == ["eve"]
