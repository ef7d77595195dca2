"""Readers: MovieLens layouts, delimited auto-detection, Parquet, movies, wrong formats."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from movierec import schema
from movierec.config import DataConfig
from movierec.data import LoadedRatings, load_movies, load_ratings, save_rejects
from movierec.errors import ConfigError, DataError

# --------------------------------------------------------------------------- helpers


def write(path: Path, text: str | bytes, encoding: str = "utf-8") -> Path:
    """Write ``text`` (or bytes) to ``path``, creating folders; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_bytes(text.encode(encoding))
    return path


def load(path: Path, **kw: Any) -> LoadedRatings:
    return load_ratings(DataConfig(path=path, **kw))


def rows(loaded: LoadedRatings) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in loaded.ratings.itertuples(index=False)]


def flags(*names: str) -> str:
    genres = [
        "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
        "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
        "Romance", "Sci-Fi", "Thriller", "War", "Western",
    ]  # fmt: skip
    return "|".join("1" if g in names else "0" for g in genres)


def make_ml100k(root: Path) -> Path:
    folder = root / "ml-100k"
    kids = flags("Children's", "Comedy")
    noir = flags("Crime", "Film-Noir", "Mystery", "Thriller")
    wwr = flags("Drama", "Romance", "War", "Western")
    write(
        folder / "u.data",
        "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n"
        "244\t51\t2\t880606923\n166\t346\t1\t886397596\n",
    )
    write(
        folder / "u.item",
        f"242|Kolya (1996)|24-Jan-1997||http://us.imdb.com/M/title-exact?Kolya|{flags('Comedy')}\n"
        f"302|L.A. Confidential (1997)|01-Jan-1997||http://x|{noir}\n"
        f"377|Heavyweights (1994)|01-Jan-1994||http://x|{kids}\n"
        f"51|Légendes d'automne (1994)|01-Jan-1994||http://x|{wwr}\n"
        f"346|Jackie Brown (1997)|01-Jan-1997||http://x|{flags('Crime', 'Drama')}\n"
        f"267|unknown||||{flags('unknown')}\n",
        encoding="latin-1",
    )
    return folder


def make_ml1m(root: Path, name: str = "ml-1m", half: bool = False) -> Path:
    folder = root / name
    r = "3.5" if half else "3"
    write(
        folder / "ratings.dat",
        f"1::1193::5::978300760\n1::661::{r}::978302109\n2::914::3::978301968\n"
        "2::3408::4::978300275\n",
    )
    write(
        folder / "movies.dat",
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "914::My Fair Lady (1964)::Musical|Romance\n"
        "3408::Erin Brockovich (2000)::Drama\n"
        "3409::Étoile (1999)::Drama\n",
        encoding="latin-1",
    )
    return folder


def make_mlcsv(root: Path) -> Path:
    folder = root / "ml-latest-mini"
    write(
        folder / "ratings.csv",
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,11,0.5,964981247\n"
        "2,1,5.0,964982224\n",
    )
    write(
        folder / "movies.csv",
        "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
        '11,"American President, The (1995)",Comedy|Drama|Romance\n'
        '12,"Dracula: Dead and Loving It (1995)",(no genres listed)\n',
    )
    return folder


# --------------------------------------------------------------------------- real data


def test_ml_latest_small_loads_exactly(ml_small: Path) -> None:
    loaded = load(ml_small)
    ratings = loaded.ratings
    assert len(ratings) == 100_836
    assert ratings[schema.USER].nunique() == 610
    assert loaded.movies is not None and len(loaded.movies) == 9_742
    assert list(ratings.columns) == [schema.USER, schema.ITEM, schema.RATING, schema.TIMESTAMP]
    assert [str(t) for t in ratings.dtypes] == ["int32", "int32", "float64", "int64"]
    assert isinstance(ratings.index, pd.RangeIndex)
    assert tuple(ratings.iloc[0]) == (1, 1, 4.0, 964982703)
    assert ratings[schema.RATING].between(0.5, 5.0).all()
    assert loaded.rejects.empty and loaded.user_ids is None and loaded.item_ids is None
    rep = loaded.report
    assert rep.format == "ml-csv" and rep.path.endswith("ratings.csv")
    assert (rep.rows_read, rep.rows_kept, rep.duplicates) == (100_836, 100_836, 0)
    assert rep.rejected == {} and rep.has_timestamp and not rep.ids_mapped
    assert (rep.rating_min, rep.rating_max) == (0.5, 5.0)
    movies = loaded.movies
    assert [str(t) for t in movies.dtypes] == ["int32", "object", "object"]
    toy = movies[movies[schema.ITEM] == 1].iloc[0]
    assert toy[schema.TITLE] == "Toy Story (1995)"
    assert toy[schema.GENRES] == "Adventure|Animation|Children|Comedy|Fantasy"
    assert movies[schema.TITLE].str.contains(",").any()  # quoted commas survived


def test_ml_latest_small_is_fast(ml_small: Path) -> None:
    load(ml_small)  # warm imports and file cache
    t0 = time.perf_counter()
    load(ml_small)
    assert time.perf_counter() - t0 < 1.0


def test_ratings_file_path_finds_sibling_movies(ml_small: Path) -> None:
    loaded = load(ml_small / "ratings.csv")
    assert loaded.report.format == "ml-csv"
    assert loaded.movies is not None and len(loaded.movies) == 9_742


def test_report_to_dict_is_json_ready(ml_small: Path) -> None:
    import json

    d = load(ml_small).report.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert set(d) == {
        "path", "format", "rows_read", "rows_kept", "rejected", "duplicates",
        "has_timestamp", "rating_min", "rating_max", "ids_mapped", "encoding",
        "movies_encoding",
    }  # fmt: skip
    assert (d["encoding"], d["movies_encoding"]) == ("utf-8", "utf-8")


# --------------------------------------------------------------------------- MovieLens layouts


def test_ml100k_folder(tmp_path: Path) -> None:
    loaded = load(make_ml100k(tmp_path))
    assert loaded.report.format == "ml-100k"
    assert (loaded.report.rating_min, loaded.report.rating_max) == (1.0, 5.0)
    assert rows(loaded)[0] == (196, 242, 3.0, 881250949)
    assert len(loaded.ratings) == 5
    movies = loaded.movies
    assert movies is not None
    by_id = movies.set_index(schema.ITEM)
    assert by_id.loc[302, schema.GENRES] == "Crime|Film-Noir|Mystery|Thriller"
    assert by_id.loc[377, schema.GENRES] == "Children's|Comedy"
    assert by_id.loc[51, schema.TITLE] == "Légendes d'automne (1994)"  # latin-1 decoded
    assert by_id.loc[267, schema.GENRES] == "unknown"
    assert len(movies) == 6


def test_ml100k_u_data_file_and_scale(tmp_path: Path) -> None:
    folder = make_ml100k(tmp_path)
    write(folder / "u.data", "1\t2\t0.5\t100\n1\t3\t4\t100\n1\t4\t5\t100\n")
    loaded = load(folder / "u.data")
    assert loaded.report.format == "ml-100k"
    assert loaded.rejects[schema.REASON].tolist() == ["rating_out_of_range"]
    assert loaded.rejects[schema.LINE].tolist() == [1]
    assert loaded.movies is not None  # sibling u.item


def test_ml1m_folder(tmp_path: Path) -> None:
    loaded = load(make_ml1m(tmp_path))
    assert loaded.report.format == "ml-dat"
    assert loaded.report.rating_min == 1.0
    assert rows(loaded) == [
        (1, 1193, 5.0, 978300760),
        (1, 661, 3.0, 978302109),
        (2, 914, 3.0, 978301968),
        (2, 3408, 4.0, 978300275),
    ]
    movies = loaded.movies
    assert movies is not None and len(movies) == 5
    by_id = movies.set_index(schema.ITEM)
    assert by_id.loc[661, schema.GENRES] == "Animation|Children's|Musical"
    assert by_id.loc[3409, schema.TITLE] == "Étoile (1999)"


def test_ml10m_folder_has_half_stars(tmp_path: Path) -> None:
    loaded = load(make_ml1m(tmp_path, "ml-10M100K", half=True))
    assert loaded.report.format == "ml-dat"
    assert loaded.report.rating_min == 0.5
    assert loaded.rejects.empty
    assert rows(loaded)[1][2] == 3.5


def test_ml_csv_folder_with_quoted_titles(tmp_path: Path) -> None:
    loaded = load(make_mlcsv(tmp_path))
    assert loaded.report.format == "ml-csv"
    assert rows(loaded) == [(1, 1, 4.0, 964982703), (1, 11, 0.5, 964981247), (2, 1, 5.0, 964982224)]
    movies = loaded.movies
    assert movies is not None
    assert movies[schema.TITLE].tolist() == [
        "Toy Story (1995)",
        "American President, The (1995)",
        "Dracula: Dead and Loving It (1995)",
    ]
    assert movies[schema.GENRES].tolist()[2] == "(no genres listed)"


def test_folder_with_single_subfolder(tmp_path: Path) -> None:
    make_ml100k(tmp_path / "outer")
    assert load(tmp_path / "outer").report.format == "ml-100k"


def test_explicit_format_and_movies_path(tmp_path: Path) -> None:
    folder = make_ml1m(tmp_path)
    copy = write(tmp_path / "elsewhere" / "r.txt", (folder / "ratings.dat").read_text())
    loaded = load(copy, format="ml-dat", movies=folder / "movies.dat")
    assert loaded.report.format == "ml-dat" and len(loaded.ratings) == 4
    assert loaded.movies is not None and len(loaded.movies) == 5


# --------------------------------------------------------------------------- auto-detection


SEPS = {"tab": "\t", "comma": ",", "colons": "::", "whitespace": "   "}


@pytest.mark.parametrize("sep_name", list(SEPS))
@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("ncols", [3, 4])
def test_autodetect_separator_header_columns(
    tmp_path: Path, sep_name: str, header: bool, ncols: int
) -> None:
    sep = SEPS[sep_name]
    data = [(1, 10, 4.0, 100), (1, 20, 3.5, 101), (2, 10, 5.0, 102), (3, 30, 1.0, 103)]
    lines = [sep.join(str(v) for v in r[:ncols]) for r in data]
    if header:
        lines.insert(0, sep.join(["userId", "movieId", "rating", "timestamp"][:ncols]))
    path = write(tmp_path / "ratings.txt", "\n".join(lines) + "\n")
    loaded = load(path)
    assert loaded.report.format == "delimited"
    assert loaded.report.has_timestamp == (ncols == 4)
    assert rows(loaded) == [r[:ncols] for r in data]
    assert loaded.rejects.empty
    assert (schema.TIMESTAMP in loaded.ratings.columns) == (ncols == 4)


def test_whitespace_with_ragged_spacing(tmp_path: Path) -> None:
    path = write(tmp_path / "r.txt", "1  2   4\n 1 3 4.5  \n\n\n2\t4  1\n")
    loaded = load(path)
    assert rows(loaded) == [(1, 2, 4.0), (1, 3, 4.5), (2, 4, 1.0)]


def test_column_mapping_by_header_names(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "extra,uid,iid,stars,when\nx,1,2,4,10\ny,3,4,5,11\n")
    cols = {"user_id": "uid", "movie_id": "iid", "rating": "stars", "timestamp": "when"}
    loaded = load(path, columns=cols)
    assert rows(loaded) == [(1, 2, 4.0, 10), (3, 4, 5.0, 11)]


def test_column_mapping_missing_name(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "uid,iid,stars\n1,2,4\n")
    with pytest.raises(DataError, match=r"column 'score' \(for rating\) is not in the header"):
        load(path, columns={"rating": "score"})


def test_unknown_column_key_is_config_error(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "1,2,4\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load(path, columns={"stars": "rating"})


def test_explicit_sep_and_header_override(tmp_path: Path) -> None:
    path = write(tmp_path / "r.txt", "a;b;c\n1;2;4\n")
    assert rows(load(path, sep=";", header=True)) == [(1, 2, 4.0)]
    # an unknown first row is data unless header=True says otherwise (issue 16)
    loaded = load(path, sep=";")
    assert rows(loaded) == [(1, 2, 4.0)]
    assert loaded.rejects[schema.LINE].tolist() == [1]
    # header=True on a numeric first line is refused (that row is data); header=False keeps it
    path2 = write(tmp_path / "r2.csv", "9,9,1\n1,2,4\n")
    with pytest.raises(DataError, match=r"line 1 holds numbers, so it is data"):
        load(path2, header=True)
    assert rows(load(path2, header=False)) == [(9, 9, 1.0), (1, 2, 4.0)]


def test_crlf_bom_and_quotes(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.csv", '\ufeffuserId,movieId,rating\r\n"1","2","4"\r\n"1","3","5"\r\n'
    )
    loaded = load(path)
    assert rows(loaded) == [(1, 2, 4.0), (1, 3, 5.0)]


def test_encoding_error_names_line_and_override(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "ua,m,4\nu\xe9,m,3\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"line 2: not valid utf-8 text.*data.encoding"):
        load(path, encoding="utf-8")  # declared: strict
    loaded = load(path, encoding="latin-1")
    assert loaded.user_ids is not None and list(loaded.user_ids) == ["ua", "ué"]
    assert loaded.report.encoding == "latin-1"
    detected = load(path)  # not UTF-8: detected as cp1252 (issue 16)
    assert detected.user_ids is not None and list(detected.user_ids) == ["ua", "ué"]
    assert detected.report.encoding == "cp1252"


# --------------------------------------------------------------------------- wrong formats


WRONG = {
    "jpeg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + bytes(range(256)), "JPEG image"),
    "html": (
        "<!DOCTYPE html>\n<html><head><title>MovieLens</title></head>\n<body/></html>\n",
        "HTML",
    ),
    "json": (
        '[{"userId": 1, "movieId": 2, "rating": 4.0},\n {"userId": 1, "movieId": 3}]\n',
        "JSON",
    ),
    "one_column": ("1\n2\n3\n", "found 1 field per line"),
    "two_columns": ("1,2\n3,4\n", "found 2 fields per line"),
    "zip": (b"PK\x03\x04" + bytes(40), "zip archive"),
    "binary": (b"abc\x00\x01\x02" * 20, "binary data"),
}


@pytest.mark.parametrize("kind", list(WRONG))
def test_wrong_format_is_one_clear_error(tmp_path: Path, kind: str) -> None:
    content, expected = WRONG[kind]
    path = write(tmp_path / f"ratings.{kind}", content)
    with pytest.raises(DataError) as info:
        load(path)
    msg = str(info.value)
    assert expected in msg
    assert str(path) in msg
    assert "\n" not in msg
    if kind == "html":
        assert "line 1: '<!DOCTYPE html>'" in msg
    if kind == "one_column":
        assert "line 1: '1', line 2: '2'" in msg


def test_long_first_lines_are_truncated(tmp_path: Path) -> None:
    path = write(tmp_path / "r.txt", "x" * 500 + "\n" + "y" * 500 + "\n")
    with pytest.raises(DataError) as info:
        load(path)
    assert "'" + "x" * 40 + "...'" in str(info.value)
    assert len(str(info.value)) <= 300


@pytest.mark.parametrize(
    "content",
    ["", "\n\n  \n", "userId,movieId,rating,timestamp\n", "userId,movieId,rating\n\n"],
)
def test_empty_or_header_only_is_no_ratings(tmp_path: Path, content: str) -> None:
    path = write(tmp_path / "ratings.csv", content)
    with pytest.raises(DataError, match="no ratings"):
        load(path)


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        load(tmp_path / "nope.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no ratings file in this folder"):
        load(tmp_path / "empty")


def test_no_source_is_config_error() -> None:
    with pytest.raises(ConfigError, match="no ratings source"):
        load_ratings(DataConfig())


def test_scale_min_above_max_is_config_error(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "1,2,4\n")
    with pytest.raises(ConfigError, match="rating_min"):
        load(path, rating_min=5, rating_max=1)


# --------------------------------------------------------------------------- parquet


def test_parquet_file_movielens_names(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    table = pa.table(
        {
            "userId": pa.array([1, 1, 2], pa.int64()),
            "movieId": pa.array([10, 20, 10], pa.int32()),
            "rating": pa.array([4.0, 7.0, None]),
            "timestamp": pa.array([100, 101, 102], pa.int64()),
        }
    )
    pq.write_table(table, path)
    loaded = load(path, max_reject_fraction=1.0)
    assert loaded.report.format == "parquet"
    assert rows(loaded) == [(1, 10, 4.0, 100)]
    rej = loaded.rejects
    assert rej[schema.LINE].tolist() == [2, 3]
    assert rej[schema.REASON].tolist() == ["rating_out_of_range", "missing_value"]
    assert rej["column"].tolist() == ["rating", "rating"]
    assert "rating=7.0" in rej[schema.RAW].iloc[0]


def test_parquet_folder_with_mapping_and_string_ids(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(pa.table({"u": ["a", "b"], "m": [5, 6], "s": [1.0, 2.0]}), folder / "p0.parquet")
    pq.write_table(pa.table({"u": ["a", "c"], "m": [6, 5], "s": [3.0, 4.0]}), folder / "p1.parquet")
    loaded = load(folder, columns={"user_id": "u", "movie_id": "m", "rating": "s"})
    assert loaded.report.format == "parquet" and not loaded.report.has_timestamp
    assert rows(loaded) == [(0, 5, 1.0), (1, 6, 2.0), (0, 6, 3.0), (2, 5, 4.0)]
    assert loaded.user_ids is not None and list(loaded.user_ids) == ["a", "b", "c"]
    assert loaded.item_ids is None


def test_parquet_duplicates_raw(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"user_id": [1, 1], "movie_id": [2, 2], "rating": [3.0, 4.0]}), path)
    loaded = load(path, duplicates="first")
    assert rows(loaded) == [(1, 2, 3.0)]
    assert loaded.rejects.iloc[0][schema.LINE] == 2
    assert "rating=4.0" in loaded.rejects.iloc[0][schema.RAW]


def test_not_parquet(tmp_path: Path) -> None:
    path = write(tmp_path / "r.parquet", "1,2,3\n")
    with pytest.raises(DataError, match="not a readable Parquet"):
        load(path)


# --------------------------------------------------------------------------- ids and movies


def test_string_ids_mapped_and_round_trip(tmp_path: Path) -> None:
    text = "user,item,rating\nu7,m1,4\nu2,m1,3\nu7,m2,5\nu9,m3,1\n"
    path = write(tmp_path / "r.csv", text)
    loaded = load(path)
    assert loaded.report.ids_mapped
    assert loaded.user_ids is not None and loaded.item_ids is not None
    # Dense ids follow the sorted original ids, so they do not depend on row order.
    assert loaded.user_ids.dtype == object and list(loaded.user_ids) == ["u2", "u7", "u9"]
    assert loaded.ratings[schema.USER].tolist() == [1, 0, 1, 2]
    original = pd.read_csv(path)
    assert list(loaded.user_ids[loaded.ratings[schema.USER]]) == original["user"].tolist()
    assert list(loaded.item_ids[loaded.ratings[schema.ITEM]]) == original["item"].tolist()


def test_large_ids_mapped_with_movies(tmp_path: Path) -> None:
    folder = tmp_path / "big"
    write(folder / "ratings.csv", "userId,movieId,rating\n1,3000000000,4\n2,5,3\n2,3000000000,2\n")
    write(
        folder / "movies.csv",
        "movieId,title,genres\n5,Five,Drama\n3000000000,Big,Comedy\n77,Unrated,Horror\n",
    )
    loaded = load(folder)
    assert loaded.item_ids is not None and loaded.item_ids.dtype == np.int64
    assert list(loaded.item_ids) == [5, 3_000_000_000]
    assert loaded.user_ids is None
    assert loaded.ratings[schema.ITEM].tolist() == [1, 0, 1]
    movies = loaded.movies
    assert movies is not None
    assert dict(zip(movies[schema.TITLE], movies[schema.ITEM])) == {"Five": 0, "Big": 1}


def test_load_movies_formats(tmp_path: Path) -> None:
    u_item = make_ml100k(tmp_path) / "u.item"
    assert len(load_movies(u_item)) == 6
    dat = make_ml1m(tmp_path) / "movies.dat"
    assert load_movies(dat, "ml-dat")[schema.ITEM].tolist() == [1193, 661, 914, 3408, 3409]
    csv = make_mlcsv(tmp_path) / "movies.csv"
    assert load_movies(csv)[schema.ITEM].dtype == np.int32
    with pytest.raises(DataError, match="movies file not found"):
        load_movies(tmp_path / "none.csv")
    bad = write(tmp_path / "m.csv", "a,b\n1,2\n")
    with pytest.raises(DataError, match="movie id and a title"):
        load_movies(bad)


# --------------------------------------------------------------------------- save_rejects


def test_save_rejects_atomic_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", 'user,movie,rating\n1,2,4\n1,3,"x, y"\n1,4,9\n')
    loaded = load(path, max_reject_fraction=1.0)
    out = tmp_path / "out" / "rejects.csv"
    write(out, "old content")
    save_rejects(loaded.rejects, out)
    back = pd.read_csv(out, keep_default_na=False)
    assert list(back.columns) == [schema.LINE, "column", schema.REASON, schema.RAW]
    assert back[schema.LINE].tolist() == [3, 4]
    assert back[schema.REASON].tolist() == ["wrong_field_count", "rating_out_of_range"]
    assert back[schema.RAW].tolist() == ['1,3,"x, y"', "1,4,9"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["rejects.csv"]


def test_trailing_separator_on_every_line(tmp_path: Path) -> None:
    loaded = load(write(tmp_path / "r.csv", "1,2,4,\n1,3,5,\n"))
    assert rows(loaded) == [(1, 2, 4.0), (1, 3, 5.0)]
    assert not loaded.report.has_timestamp
    loaded = load(write(tmp_path / "r4.csv", "1,2,4,100,\n1,3,5,101,\n"))
    assert rows(loaded) == [(1, 2, 4.0, 100), (1, 3, 5.0, 101)]


def test_named_movielens_file_with_other_separator(tmp_path: Path) -> None:
    loaded = load(write(tmp_path / "ratings.dat", "1\t2\t4\t100\n1\t3\t5\t101\n"))
    assert loaded.report.format == "ml-dat" and len(loaded.ratings) == 2


def test_positional_column_mapping_without_header(tmp_path: Path) -> None:
    path = write(tmp_path / "r.txt", "10|1|4.5\n11|2|3\n")
    loaded = load(path, sep="|", columns={"user_id": "1", "movie_id": "0", "rating": "2"})
    assert rows(loaded) == [(1, 10, 4.5), (2, 11, 3.0)]


def test_parquet_datetime_and_nulls(tmp_path: Path) -> None:
    import datetime as dt

    path = tmp_path / "r.parquet"
    stamps = [dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 2), None]
    table = pa.table(
        {
            "userId": pa.array([1, None, 3], pa.int64()),
            "movieId": [1, 2, 3],
            "rating": [1.0, 2.0, 3.0],
            "timestamp": pa.array(stamps, pa.timestamp("ms")),
        }
    )
    pq.write_table(table, path)
    loaded = load(path, max_reject_fraction=1.0)
    assert rows(loaded) == [(1, 1, 1.0, 1_577_836_800)]
    assert loaded.rejects["column"].tolist() == ["userId", "timestamp"]
    assert loaded.rejects[schema.REASON].tolist() == ["missing_value", "missing_value"]
    pq.write_table(pa.table({"a": [1], "b": [2]}), tmp_path / "x.parquet")
    with pytest.raises(DataError, match="cannot find the user_id, movie_id, rating column"):
        load(tmp_path / "x.parquet")


# --------------------------------------------------------------------------- issue 16 regressions


def _good_lines(n: int = 60) -> list[str]:
    return [f"{1 + k // 6},{1 + k % 6},{1 + k % 5}.0,{1000 + k}" for k in range(n)]


def _accounted(loaded: LoadedRatings) -> None:
    rep = loaded.report
    assert rep.rows_read == rep.rows_kept + sum(rep.rejected.values())
    assert len(loaded.rejects) == sum(rep.rejected.values())


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        ("1,NA,3.0,5", "missing_value"),
        ("abc,2,3.0,5", "bad_user_id"),
        ("1,2,3.5x,5", "non_numeric_rating"),
        ("1,2,4,5,5", "wrong_field_count"),  # "4,5": a decimal comma
    ],
)
def test_headerless_first_row_with_bad_cell_is_rejected_not_taken_as_header(
    tmp_path: Path, first: str, reason: str
) -> None:
    loaded = load(write(tmp_path / "r.csv", "\n".join([first, *_good_lines()]) + "\n"))
    assert loaded.report.rows_read == 61 and loaded.report.rows_kept == 60
    assert loaded.rejects[schema.LINE].tolist() == [1]
    assert loaded.rejects[schema.REASON].tolist() == [reason]
    assert loaded.rejects[schema.RAW].tolist() == [first]
    _accounted(loaded)


def test_header_flag_on_headerless_file_does_not_swallow_a_row(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "\n".join(_good_lines()) + "\n")
    with pytest.raises(DataError, match=r"line 1 holds numbers, so it is data"):
        load(path, header=True)
    assert load(path).report.rows_read == 60


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r", "mixed"])
def test_every_line_ending_style_reads_every_record(tmp_path: Path, ending: str) -> None:
    records = ["userId,movieId,rating,timestamp", *_good_lines(3000)]
    if ending == "mixed":
        text = "".join(r + ("\n", "\r\n", "\r")[k % 3] for k, r in enumerate(records))
    else:
        text = ending.join(records) + ending
    loaded = load(write(tmp_path / "r.csv", text))
    assert loaded.report.rows_read == 3000 and loaded.report.rows_kept == 3000
    assert rows(loaded)[-1] == (500, 6, 5.0, 3999)
    bad = records.copy()
    bad[2000] = "1,2"  # line 2001, whatever the endings before it
    if ending == "mixed":
        text = "".join(r + ("\n", "\r\n", "\r")[k % 3] for k, r in enumerate(bad))
    else:
        text = ending.join(bad) + ending
    loaded = load(write(tmp_path / "r.csv", text))
    assert loaded.rejects[schema.LINE].tolist() == [2001]
    assert loaded.rejects[schema.RAW].tolist() == ["1,2"]
    _accounted(loaded)


def test_lone_cr_junk_error_is_one_short_line(tmp_path: Path) -> None:
    path = write(tmp_path / "r.txt", "\r".join(["a b c d e f g h i j k l m n o p"] * 5000))
    with pytest.raises(DataError) as info:
        load(path)
    assert len(str(info.value)) <= 300 and "\n" not in str(info.value)


@pytest.mark.parametrize("where", [0, 30])
def test_hundred_thousand_digit_id_is_a_clean_reject(tmp_path: Path, where: int) -> None:
    lines = _good_lines()
    lines.insert(where, "7" * 100_000 + ",2,3.0,5")
    lines.insert(where + 1, "1,2,3.0," + "9" * 100_000)
    loaded = load(write(tmp_path / "r.csv", "\n".join(lines) + "\n"))
    assert loaded.rejects[schema.REASON].tolist() == ["bad_user_id", "bad_timestamp"]
    assert loaded.rejects[schema.LINE].tolist() == [where + 1, where + 2]
    _accounted(loaded)


def test_long_digit_ids_of_a_text_column_are_bad_beyond_the_limit(tmp_path: Path) -> None:
    from movierec.data.validate import MAX_ID_LENGTH

    lines = [f"u{k},m{k % 7},4" for k in range(40)]
    lines.append("u" * (MAX_ID_LENGTH + 1) + ",m1,4")
    lines.append("u" * MAX_ID_LENGTH + ",m1,4")
    loaded = load(write(tmp_path / "r.csv", "\n".join(lines) + "\n"))
    assert loaded.rejects[schema.LINE].tolist() == [41]
    assert loaded.rejects[schema.REASON].tolist() == ["bad_user_id"]


@pytest.mark.parametrize("bad_rows", [200, 5000])
def test_bad_rows_at_the_top_do_not_refuse_a_good_file(tmp_path: Path, bad_rows: int) -> None:
    lines = ["userId,movieId,rating,timestamp"] + ["x;y;z"] * bad_rows
    lines += [f"{1 + k // 50},{1 + k % 50},{1 + k % 5}.0,{k}" for k in range(40_000)]
    loaded = load(write(tmp_path / "r.csv", "\n".join(lines) + "\n"))
    assert loaded.report.rows_read == 40_000 + bad_rows
    assert loaded.report.rejected == {"wrong_field_count": bad_rows}
    _accounted(loaded)
    headerless = write(tmp_path / "h.csv", "\n".join(lines[1:]) + "\n")
    assert load(headerless).report.rejected == {"wrong_field_count": bad_rows}


def test_latin1_movies_file_keeps_its_titles_and_names_the_encoding(tmp_path: Path) -> None:
    folder = tmp_path / "ml"
    write(folder / "ratings.csv", "userId,movieId,rating\n1,1,4\n1,2,3\n2,3,5\n")
    write(
        folder / "movies.csv",
        "movieId,title,genres\n1,Am\xe9lie (2001),Comedy\n2,L\xe9on (1994),Crime\n"
        "3,\xc0 bout de souffle (1960),Drama\n",
        encoding="latin-1",
    )
    loaded = load(folder)
    assert loaded.movies is not None
    assert loaded.movies[schema.TITLE].tolist() == [
        "Am\xe9lie (2001)", "L\xe9on (1994)", "\xc0 bout de souffle (1960)",
    ]  # fmt: skip
    assert not loaded.movies[schema.TITLE].str.contains("\ufffd").any()
    assert loaded.report.movies_encoding == "cp1252" and loaded.report.encoding == "utf-8"
    cp = write(tmp_path / "m.csv", b"movieId,title\n1,\x93Quoted\x94 \x80 title\n")
    assert load_movies(cp)[schema.TITLE].tolist() == ["\u201cQuoted\u201d \u20ac title"]
    bom = write(tmp_path / "b.csv", "\ufeffmovieId,title\r1,Caf\xe9\r")
    assert load_movies(bom)[schema.TITLE].tolist() == ["Caf\xe9"]


def test_mixed_utf8_and_latin1_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "u\u00e9,m,4\nu2,m,3\n".encode() + b"u\xe9,m,3\n")
    with pytest.raises(DataError, match=r"line 3: not valid UTF-8 .*mixes encodings"):
        load(path)


def test_nul_byte_inside_a_timestamp_rejects_the_row(tmp_path: Path) -> None:
    lines = _good_lines()
    lines[20] = "4,3,3.0,12\x0034"
    lines[40] = "7,5,3.0,1234\x00"
    loaded = load(write(tmp_path / "r.csv", "\n".join(lines) + "\n"))
    assert loaded.rejects[schema.LINE].tolist() == [21, 41]
    assert loaded.rejects[schema.REASON].tolist() == ["bad_timestamp", "bad_timestamp"]
    assert loaded.rejects[schema.RAW].tolist() == [lines[20], lines[40]]
    assert 12 not in loaded.ratings[schema.TIMESTAMP].tolist()


def test_control_character_in_a_text_id_is_a_bad_id(tmp_path: Path) -> None:
    lines = [f"u{k},m{k % 7},4" for k in range(40)] + ["u\x00x,m1,4", "u\x07y,m1,4"]
    loaded = load(write(tmp_path / "r.csv", "\n".join(lines) + "\n"))
    assert loaded.rejects[schema.REASON].tolist() == ["bad_user_id", "bad_user_id"]
    assert loaded.user_ids is not None and all("\x1a" not in u for u in loaded.user_ids)


def test_header_without_rating_column_names_the_header(tmp_path: Path) -> None:
    text = "userId,movieId,timestamp\n" + "\n".join(f"{k},{k},{1000 + k}" for k in range(20))
    with pytest.raises(DataError) as info:
        load(write(tmp_path / "r.csv", text + "\n"))
    msg = str(info.value)
    assert "no rating column in the header ['userId', 'movieId', 'timestamp']" in msg
    assert "rating_out_of_range" not in msg and len(msg) <= 300


def test_doubled_quoted_string_ids_load_like_book_crossing(tmp_path: Path) -> None:
    text = (
        '"User-ID";"ISBN";"Book-Rating"\n'
        '"276725";"""034545104X""";"0"\n'
        '"276726";"""0155061224""";"5"\n'
        '"276727";"""0446520802""";"0"\n'
        '"276729";"""052165615X""";"3"\n'
    )
    loaded = load(write(tmp_path / "BX-Book-Ratings.csv", text), rating_min=0, rating_max=10)
    assert loaded.item_ids is not None
    assert sorted(loaded.item_ids) == ["0155061224", "034545104X", "0446520802", "052165615X"]
    assert loaded.report.rows_kept == 4 and loaded.rejects.empty


def test_long_runs_of_empty_rows_are_counted_as_rejects(tmp_path: Path) -> None:
    lines = ["userId,movieId,rating", *[f"{k},{k},4" for k in range(1, 41)], *[",,"] * 30]
    loaded = load(write(tmp_path / "r.csv", "\n".join(lines) + "\n"))
    assert loaded.report.rejected == {"missing_value": 30}
    assert loaded.rejects[schema.LINE].tolist() == list(range(42, 72))
    quotes = load(write(tmp_path / "q.csv", "\n".join([*lines[:41], '""', '"",""']) + "\n"))
    assert quotes.report.rejected == {"wrong_field_count": 2}  # quotes are not blank lines


def test_zero_padded_ids_are_text_ids(tmp_path: Path) -> None:
    loaded = load(write(tmp_path / "r.csv", "user,item,rating\n007,0012,4\n7,12,3\n"))
    assert loaded.user_ids is not None and sorted(loaded.user_ids) == ["007", "7"]
    assert loaded.item_ids is not None and sorted(loaded.item_ids) == ["0012", "12"]


def test_declared_encoding_with_a_character_cut_at_the_sample_end(tmp_path: Path) -> None:
    from movierec.data.textio import SAMPLE_BYTES

    for pad in range(40):  # shift the text until a 2-byte character straddles the sample end
        lines = ["user,movie,rating", "x" * pad + "u,m,4"]
        size = sum(len(x.encode()) + 1 for x in lines)
        while size < 2 * SAMPLE_BYTES:
            k = len(lines)
            lines.append(f"\u00e9l\u00e8ve{k},m{k % 9},4")
            size += len(lines[-1].encode()) + 1
        data = ("\n".join(lines) + "\n").encode()
        if data[SAMPLE_BYTES - 1] == 0xC3:
            break
    assert data[SAMPLE_BYTES - 1] == 0xC3
    loaded = load(write(tmp_path / "r.csv", data), encoding="utf-8")
    assert loaded.report.rows_kept == len(lines) - 1 and loaded.report.encoding == "utf-8"
