"""Title search: normalisation, MovieLens title forms, typos, years and ambiguity."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from movierec.titles import TitleIndex, find_movie, fold, parse_query, split_title, title_key


@pytest.fixture(scope="module")
def index(ml_small: Path) -> TitleIndex:
    movies = pd.read_csv(ml_small / "movies.csv")
    ratings = pd.read_csv(ml_small / "ratings.csv")
    counts = ratings["movieId"].value_counts().reindex(movies["movieId"], fill_value=0)
    return TitleIndex(
        movies["movieId"].tolist(),
        movies["title"].tolist(),
        movies["genres"].tolist(),
        counts.to_numpy(),
    )


def ids(index: TitleIndex, query: str) -> list[int]:
    return [c.movie_id for c in index.search(query).candidates]


def test_keys_fold_accents_case_punctuation_and_articles() -> None:
    assert fold("Amélie ÉTÉ") == "amelie ete"
    assert title_key("Matrix, The") == title_key("the matrix") == "matrix"
    assert title_key("Schindler's List") == title_key("schindlers list")
    assert title_key("Star Wars: Episode IV - A New Hope") == "star wars episode iv a new hope"
    assert title_key("Auberge espagnole, L'") == "lauberge espagnole"
    assert title_key("Fast & Furious") == "fast and furious"
    assert title_key("A") == "a"  # a lone article stays: it is the whole title


def test_movielens_titles_split_into_keys_and_year() -> None:
    keys, year = split_title("City of Lost Children, The (Cité des enfants perdus, La) (1995)")
    assert keys == ["city of lost children", "cite des enfants perdus"] and year == 1995
    assert split_title("Babylon 5") == (["babylon 5"], None)
    assert split_title("Toy Story 2 (1999)") == (["toy story 2"], 1999)


def test_query_year_gives_a_second_reading() -> None:
    assert parse_query("Toy Story (1995)") == [("toy story", 1995), ("toy story 1995", None)]
    assert parse_query("Blade Runner 2049") == [("blade runner", 2049), ("blade runner 2049", None)]
    assert parse_query("1984") == [("1984", None)]  # a year alone is a title, not a filter


def test_exact_forms_find_one_movie(index: TitleIndex) -> None:
    assert ids(index, "Matrix, The (1999)") == [2571]
    assert ids(index, "the matrix 1999") == [2571]
    assert ids(index, "Toy Story (1995)") == [1]
    assert ids(index, "toy story 1995") == [1]
    assert ids(index, "AMÉLIE") == [4973]  # main title, accents and case ignored
    assert ids(index, "cite des enfants perdus") == [29]  # the alternative title
    assert ids(index, "Blade Runner 2049") == [176371]  # a number that is part of the title
    assert ids(index, "schindlers list") == [527]
    assert index.search("pulp fiction").match is not None


def test_typos_are_forgiven(index: TitleIndex) -> None:
    found = index.search("pulp fictoin")
    assert found.match is not None and found.match.movie_id == 296
    assert ids(index, "shawshank redemtion") == [318]
    assert ids(index, "toy stroy 1995") == [1]


def test_series_are_ambiguous_and_ordered(index: TitleIndex) -> None:
    found = index.search("Toy Story")
    assert found.ambiguous and found.match is None
    got = [c.movie_id for c in found.candidates]
    assert got[:3] == [1, 3114, 78499]  # the exact title first, then by popularity
    assert found.candidates[0].score == 1.0 > found.candidates[1].score
    assert set(ids(index, "matrix")) >= {2571, 6365, 6934}
    # Two films with exactly this title: the year decides.
    assert set(ids(index, "heat")) >= {6, 103372}
    assert ids(index, "heat 1995") == [6]


def test_nothing_close_gives_no_candidates(index: TitleIndex) -> None:
    assert index.search("qwxzzy vbnm").candidates == []
    with pytest.raises(ValueError, match="no letters or digits"):
        index.search("?!")


def test_find_movie_validates_its_inputs() -> None:
    found = find_movie("alien", [10, 11], ["Alien (1979)", "Aliens (1986)"], ["Horror", "Action"])
    assert [c.movie_id for c in found.candidates] == [10, 11]  # "Aliens" is one typo away
    assert found.candidates[0].genres == "Horror" and found.candidates[0].year == 1979
    with pytest.raises(ValueError, match="same length"):
        find_movie("x", [1, 2], ["A (2000)"])
    with pytest.raises(ValueError, match="popularity"):
        find_movie("x", [1], ["A (2000)"], popularity=[1.0, 2.0])
