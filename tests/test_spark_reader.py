"""The Spark reader (movierec.engines.spark) against the local reader, on the same inputs.

Every corpus is written by the tests (``spark_corpus.py``): good rows and every kind of bad
cell (each reject reason, quoted fields, string, 64-bit and beyond-int64 ids, half stars,
NaN/inf, empty fields, with and without a header). Both readers load it; the kept rows,
rejects (line, column, reason, raw), id tables, movies and load report must be the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movierec import schema
from movierec.config import DataConfig
from movierec.data import LoadedRatings, load_ratings
from movierec.errors import DataError
from spark_corpus import (
    BIG_ID_CORPUS,
    BREAKS_CORPUS,
    HEADER_CORPUS,
    QUOTED_CORPUS,
    STRING_ID_CORPUS,
    WIDE_ID_CORPUS,
    WS_CRLF_CORPUS,
    assert_same,
    both,
    errors_of,
    write,
)

pytestmark = pytest.mark.spark

# ---------------------------------------------------------------------- text corpora


@pytest.mark.parametrize(
    ("name", "text", "extra"),
    [
        ("header.csv", HEADER_CORPUS, {}),
        ("strings.tsv", STRING_ID_CORPUS, {}),
        ("big.txt", BIG_ID_CORPUS, {}),
        ("wide.csv", WIDE_ID_CORPUS, {}),
        ("ws.txt", WS_CRLF_CORPUS, {}),
        ("breaks.csv", BREAKS_CORPUS, {}),
        ("quoted.csv", QUOTED_CORPUS, {}),
        ("header.csv", HEADER_CORPUS, {"duplicates": "first"}),
        ("header.csv", HEADER_CORPUS, {"duplicates": "last"}),
        ("header.csv", HEADER_CORPUS, {"duplicates": "mean"}),
        ("strings.tsv", STRING_ID_CORPUS, {"duplicates": "latest"}),
        ("big.txt", BIG_ID_CORPUS, {"duplicates": "mean"}),
        ("header.csv", HEADER_CORPUS, {"rating_min": 1, "rating_max": 4}),
        ("strings.tsv", STRING_ID_CORPUS, {"sep": "\\t", "header": False}),
    ],
)
def test_text_corpus_loads_the_same_on_both_readers(
    spark: Any, tmp_path: Path, name: str, text: str, extra: dict[str, Any]
) -> None:
    path = write(tmp_path, name, text)
    local, remote = both(spark, DataConfig(path=path, max_reject_fraction=1.0, **extra))
    assert local.report.rows_read > 0
    assert_same(local, remote)
    r = remote.report
    assert r.rows_read == r.rows_kept + sum(r.rejected.values())
    remote.unpersist()


def test_the_corpus_holds_every_reject_reason(spark: Any, tmp_path: Path) -> None:
    from movierec.data.report import REASONS

    path = write(tmp_path, "header.csv", HEADER_CORPUS)
    _, remote = both(spark, DataConfig(path=path, max_reject_fraction=1.0))
    assert set(remote.report.rejected) == set(REASONS)
    assert remote.report.ids_mapped  # 1e17 is a valid user id beyond int32


# ---------------------------------------------------------------------- MovieLens layouts


def test_ml_latest_small_loads_the_same(spark: Any, ml_small: Path) -> None:
    local, remote = both(spark, DataConfig(path=ml_small))
    assert remote.report.rows_kept == 100_836 and remote.movies is not None
    assert_same(local, remote)
    remote.unpersist()


_FLAGS = "|".join(["0"] * 18)


def _ml100k(folder: Path) -> Path:
    folder.mkdir()
    ratings = "1\t10\t4\t881250949\n2\t20\t6\t881250950\n1\t30\t3\t881250951\n3\t10\t2\t8812x\n"
    (folder / "u.data").write_text(ratings, encoding="latin-1")
    movies = (
        f"10|Café (1995)|01-Jan-1995||http://x|1|{_FLAGS}\n"
        f"20|Pipe | Title (1996)|01-Jan-1996||http://y|0|{'|'.join(['1'] * 18)}\n"
        "30|Broken line|1995\n"
        f"10|Repeated (1995)|01-Jan-1995||http://z|0|{_FLAGS}\n"
        f"99|Never rated (1997)|01-Jan-1997||http://w|0|{_FLAGS}\n"
    )
    (folder / "u.item").write_bytes(movies.encode("latin-1"))
    return folder


def test_ml_100k_layout_with_latin1_movies(spark: Any, tmp_path: Path) -> None:
    folder = _ml100k(tmp_path / "ml-100k")
    local, remote = both(spark, DataConfig(path=folder, max_reject_fraction=1.0))
    assert remote.report.format == "ml-100k" and remote.report.rating_max == 5.0
    titles = dict(remote.movies.select(schema.ITEM, schema.TITLE).collect())
    assert titles[10] == "Café (1995)" and titles[20] == "Pipe | Title (1996)"
    assert_same(local, remote)


def test_ml_1m_layout_and_text_ids_mapped_into_the_movies(spark: Any, tmp_path: Path) -> None:
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n")
    movies = "1193::One Flew (1975)::Drama\n661::James::Peach (1996)::Animation|Children's\n"
    (folder / "movies.dat").write_bytes(movies.encode("latin-1"))
    local, remote = both(spark, DataConfig(path=folder))
    assert_same(local, remote)

    ratings = write(tmp_path, "r.csv", "user,movie,rating\nu1,m2,4\nu2,m1,3\nu1,m1,5\n")
    movies_csv = write(
        tmp_path,
        "movies.csv",
        'movieId,title,genres\nm1,"Title, The (1999)",Drama\n m2 ,Other,Comedy\nm9,Unrated,\n',
    )
    local, remote = both(spark, DataConfig(path=ratings, movies=movies_csv))
    assert remote.report.ids_mapped
    assert sorted(remote.movies.toPandas()[schema.TITLE]) == ["Other", "Title, The (1999)"]
    assert_same(local, remote)


# ---------------------------------------------------------------------- typed sources


def _typed_frame() -> pd.DataFrame:
    """Typed ratings with bad cells in float columns (NaN, fractions, infinities)."""
    inf = float("inf")
    return pd.DataFrame(
        {
            "userId": np.array([1, 2, 3_000_000_000, 4, 5, 6, 7, 8, 2, 9], dtype=np.int64),
            "movieId": [10.0, 11.0, 12.0, np.nan, 1.5, inf, 13.0, 14.0, 11.0, 15.0],
            "rating": [4.0, 3.5, 5.0, 4.0, 4.0, 4.0, np.nan, 7.0, 2.0, -inf],
            "timestamp": np.arange(10, dtype=np.int64) + 964_982_703,
            "other": ["a"] * 10,
        }
    )


def _string_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user": ["u1", "u2", None, "u3", "it's", "u5", "u1"],
            "item": ["m1", "m2", "m3", "1.5", "m4", "NA", "m1"],
            "stars": ["4", "3.5", "4", "4", "x", "4", "2"],
        }
    )


@pytest.mark.parametrize("frame", [_typed_frame, _string_frame])
def test_parquet_loads_the_same(spark: Any, tmp_path: Path, frame: Any) -> None:
    path = tmp_path / "ratings.parquet"
    frame().to_parquet(path, index=False)
    local, remote = both(spark, DataConfig(path=path, max_reject_fraction=1.0))
    assert local.report.rejected
    assert_same(local, remote)


def _same_rows(local: LoadedRatings, sl: Any, line_shift: int = 0) -> None:
    """Same kept ratings and the same rejects by (line, reason, column); ``raw`` may differ."""
    keys = [schema.USER, schema.ITEM]
    a = local.ratings.sort_values(keys).reset_index(drop=True)
    b = sl.ratings.toPandas().sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(b, a, check_dtype=False)
    want = sorted(
        (int(r.line) + line_shift, r.reason, r.column) for r in local.rejects.itertuples()
    )
    got = sorted((int(r.line), r.reason, r.column) for r in sl.rejects.collect())
    assert got == want
    for field in ("rows_read", "rows_kept", "rejected", "duplicates", "has_timestamp"):
        assert getattr(sl.report, field) == getattr(local.report, field), field


def test_json_orc_and_part_folders_load_like_the_parquet(spark: Any, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.orc as orc

    from movierec.engines.spark.reader import read_ratings

    df = _typed_frame()
    df.to_parquet(tmp_path / "r.parquet", index=False)
    local = load_ratings(DataConfig(path=tmp_path / "r.parquet", max_reject_fraction=1.0))
    orc.write_table(pa.Table.from_pandas(df, preserve_index=False), str(tmp_path / "r.orc"))
    sdf = spark.read.parquet(str(tmp_path / "r.parquet")).coalesce(1)
    sdf.write.parquet(str(tmp_path / "parts"))
    # JSON has no infinities (pandas writes null): its reference is the same without them
    finite = df.replace([np.inf, -np.inf], np.nan)
    finite.to_json(tmp_path / "r.json", orient="records", lines=True)
    finite.to_parquet(tmp_path / "finite.parquet", index=False)
    local_finite = load_ratings(DataConfig(path=tmp_path / "finite.parquet", max_reject_fraction=1))
    for name, fmt, want in (
        ("r.json", "json", local_finite),
        ("r.orc", "orc", local),
        ("parts", "parquet", local),
    ):
        remote = read_ratings(spark, DataConfig(path=tmp_path / name, max_reject_fraction=1.0))
        assert remote.report.format == fmt
        _same_rows(want, remote)
        remote.unpersist()
    bad = tmp_path / "bad.json"
    bad.write_text('{"userId": 1, "movieId": 2, "rating": 4}\n{"userId": 2, "movieId":\n')
    remote = read_ratings(spark, DataConfig(path=bad, max_reject_fraction=1.0))
    assert [(r.line, r.reason) for r in remote.rejects.collect()] == [(2, "wrong_field_count")]


def test_text_part_files_a_glob_and_compressed_text(spark: Any, tmp_path: Path) -> None:
    import gzip

    from movierec.engines.spark.reader import read_ratings

    lines = HEADER_CORPUS.splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    half = len(body) // 2
    single = write(tmp_path, "all.csv", HEADER_CORPUS)
    local = load_ratings(DataConfig(path=single, max_reject_fraction=1.0))
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "part-00000.csv").write_text(header + "".join(body[:half]))
    (parts / "part-00001.csv").write_text(header + "".join(body[half:]))
    (parts / "_SUCCESS").write_text("")
    for source in (parts, str(parts / "part-*.csv")):
        remote = read_ratings(spark, DataConfig(path=source, max_reject_fraction=1.0))
        assert remote.report.rows_read == local.report.rows_read
        assert remote.report.rejected == local.report.rejected
        rejects = remote.rejects.toPandas()
        assert list(rejects.columns) == [*local.rejects.columns, "file"]
        second = rejects["file"].str.endswith("part-00001.csv")
        shifted = rejects[schema.LINE].where(~second, rejects[schema.LINE] + half)
        assert sorted(zip(shifted, rejects[schema.REASON])) == sorted(
            zip(local.rejects[schema.LINE], local.rejects[schema.REASON])
        )
        remote.unpersist()
    gz = tmp_path / "all.csv.gz"
    gz.write_bytes(gzip.compress(HEADER_CORPUS.encode()))
    remote = read_ratings(spark, DataConfig(path=str(gz), max_reject_fraction=1.0))
    _same_rows(local, remote)


def test_a_spark_sql_table(spark: Any, tmp_path: Path) -> None:
    from movierec.engines.spark.reader import read_ratings

    df = _typed_frame()
    df.to_parquet(tmp_path / "r.parquet", index=False)
    local = load_ratings(DataConfig(path=tmp_path / "r.parquet", max_reject_fraction=1.0))
    warehouse = tmp_path / "warehouse"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS mr_reader LOCATION '{warehouse.as_uri()}'")
    try:
        spark.read.parquet(str(tmp_path / "r.parquet")).coalesce(1).write.saveAsTable(
            "mr_reader.ratings"
        )
        assert list(warehouse.iterdir())  # the table's files are in the temporary warehouse
        remote = read_ratings(spark, DataConfig(table="mr_reader.ratings", max_reject_fraction=1))
        assert remote.report.path == "mr_reader.ratings" and remote.report.format == "table"
        _same_rows(local, remote)
        remote.unpersist()
        with pytest.raises(DataError, match=r"no table 'mr_reader\.nope'"):
            read_ratings(spark, DataConfig(table="mr_reader.nope"))
    finally:
        spark.sql("DROP DATABASE IF EXISTS mr_reader CASCADE")


@pytest.fixture()
def lake(spark: Any, tmp_path: Path) -> tuple[str, Path]:
    """A ViewFs mount ``viewfs://NAME/lake`` onto ``tmp_path/lake`` (as in test_hadoopfs)."""
    import uuid

    name = f"mr{uuid.uuid4().hex[:10]}"
    root = tmp_path / "lake"
    root.mkdir()
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    conf.set(f"fs.viewfs.mounttable.{name}.link./lake", root.resolve().as_uri())
    return f"viewfs://{name}/lake", root


def test_a_hadoop_uri_is_read_by_the_executors(
    spark: Any, lake: tuple[str, Path], ml_small: Path
) -> None:
    import dataclasses

    from movierec.engines.spark.reader import read_ratings

    uri, root = lake
    folder = root / "ml"
    folder.mkdir()
    lines = (ml_small / "ratings.csv").read_text(encoding="utf-8").splitlines()[:3001]
    (folder / "ratings.csv").write_text("\n".join([*lines, "1,2,x,3"]) + "\n")
    (folder / "movies.csv").write_bytes((ml_small / "movies.csv").read_bytes())
    local = load_ratings(DataConfig(path=folder))
    remote = read_ratings(spark, DataConfig(path=f"{uri}/ml"))
    assert remote.report.path == f"{uri}/ml/ratings.csv"
    assert remote.report.rejected == {"non_numeric_rating": 1}
    want = dataclasses.replace(
        local, report=dataclasses.replace(local.report, path=f"{uri}/ml/ratings.csv")
    )
    assert_same(want, remote)
    with pytest.raises(DataError, match="no such file or folder"):
        read_ratings(spark, DataConfig(path=f"{uri}/missing.csv"))


# ---------------------------------------------------------------------- refusals


def _good_lines(n: int) -> str:
    return "".join(f"{i % 97 + 1},{i // 97 + 1},4.0,{1_000_000 + i}\n" for i in range(n))


def test_errors_are_the_local_readers_one_line_messages(spark: Any, tmp_path: Path) -> None:
    cases: list[tuple[Path, dict[str, Any]]] = [
        (write(tmp_path, "empty.csv", ""), {}),
        (write(tmp_path, "header.csv", "userId,movieId,rating\n"), {}),
        (write(tmp_path, "page.csv", "<html><body>nope</body></html>\n"), {}),
        (write(tmp_path, "two.csv", "1,2\n3,4\n"), {}),
        (tmp_path / "missing.csv", {}),
        (
            write(tmp_path, "dup.csv", "1,2,4,10\n1,3,4,11\n1,2,5,12\n1,2,3,13\n"),
            {"duplicates": "error"},
        ),
        (write(tmp_path, "bad.csv", "1,2,4\n1,3,x\nu,4,4\n2,2,9\n"), {}),
        (write(tmp_path, "allbad.csv", "1,2,x\n1,3,y\n"), {"max_reject_fraction": 1.0}),
    ]
    png = tmp_path / "image.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    cases.append((png, {}))
    # UTF-8 text on line 1, then a byte that is not UTF-8 past the 64 KiB the layout is
    # detected from: a mix of encodings, refused naming the line
    enc = tmp_path / "enc.csv"
    first = "é,1,4.0,1\n".encode() + _good_lines(3999).encode()
    enc.write_bytes(first + b"7,7,4.0,99\xff\n" + _good_lines(3).encode())
    cases.append((enc, {}))
    empty_dir = tmp_path / "folder"
    empty_dir.mkdir()
    (empty_dir / "notes.txt").write_text("hello\n")
    cases.append((empty_dir, {}))
    for path, extra in cases:
        local, remote = errors_of(spark, DataConfig(path=path, **extra))
        assert remote == local, path.name
        assert "\n" not in remote and len(remote) < 400
    assert "line 4001" in errors_of(spark, DataConfig(path=enc))[1]
    # the same byte in a file that is otherwise ASCII is Windows-1252 text to both readers
    cp = tmp_path / "cp1252.csv"
    cp.write_bytes(_good_lines(4000).encode() + b"7,7,4.0,99\xff\n" + _good_lines(3).encode())
    local, remote = both(spark, DataConfig(path=cp))
    assert remote.report.encoding == "cp1252" and remote.report.rejected["bad_timestamp"] == 1
    assert_same(local, remote)


def test_the_layout_is_detected_from_windows_across_the_file(spark: Any, tmp_path: Path) -> None:
    """Bad rows filling the first 64 KiB do not hide the layout: both readers sample windows
    over the rest of the file (rule F2) and detect the same layout from them."""
    junk = "".join(f"junk line {i} " + "x" * 400 + "\n" for i in range(200))
    path = write(tmp_path, "top.csv", junk + _good_lines(20_000))
    local, remote = both(spark, DataConfig(path=path, max_reject_fraction=1.0))
    assert remote.report.rejected == {"wrong_field_count": 200}
    assert_same(local, remote)
    remote.unpersist()


def test_the_reject_limit_refuses_like_the_local_reader(spark: Any, tmp_path: Path) -> None:
    path = write(tmp_path, "r.csv", HEADER_CORPUS)
    local, remote = errors_of(spark, DataConfig(path=path, max_reject_fraction=0.3))
    assert "rows rejected" in remote and "max_reject_fraction 30%" in remote
    assert remote == local


# ---------------------------------------------------------------------- the driver


def test_the_driver_never_receives_the_ratings(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While ``read_ratings`` runs, nothing that grows with the ratings reaches the driver:
    every collect stays small, and no frame is converted to pandas or built from local rows
    beyond a small table."""
    from pyspark.sql import SparkSession
    from pyspark.sql.classic.dataframe import DataFrame

    from movierec.engines.spark.reader import read_ratings

    n = 30_000
    path = write(tmp_path, "big.csv", "user,movie,rating,ts\n" + _good_lines(n) + "x,1,4,1\n")
    seen: list[tuple[str, int]] = []

    def guard(name: str, real: Any) -> Any:
        def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
            out = real(self, *args, **kwargs)
            rows = len(out) if isinstance(out, list) else 1
            seen.append((name, rows))
            return out

        return wrapped

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the ratings went to pandas on the driver")

    real_create = SparkSession.createDataFrame

    def create(self: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(("createDataFrame", len(data)))
        return real_create(self, data, *args, **kwargs)

    for name in ("collect", "take", "tail", "head"):
        monkeypatch.setattr(DataFrame, name, guard(name, getattr(DataFrame, name)))
    monkeypatch.setattr(DataFrame, "toPandas", refuse)
    monkeypatch.setattr(DataFrame, "toLocalIterator", refuse)
    monkeypatch.setattr(DataFrame, "toArrow", refuse)
    monkeypatch.setattr(SparkSession, "createDataFrame", create)
    loaded = read_ratings(spark, DataConfig(path=path))
    monkeypatch.undo()
    assert loaded.report.rows_read == n + 1 and loaded.report.rows_kept == n
    assert seen and max(rows for _, rows in seen) <= 20, seen
