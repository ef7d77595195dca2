"""The Spark reader (movierec.engines.spark) against the local reader, on the same inputs.

Every corpus here is written by the test: good rows and every kind of bad cell (each reject
reason, quoted fields, string, 64-bit and beyond-int64 ids, half stars, NaN/inf, empty
fields, with and without a header). Both readers load it; the kept rows, rejects (line,
column, reason, raw), id tables, movies and load report must be the same.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movierec import schema
from movierec.config import DataConfig
from movierec.data import LoadedRatings, load_ratings
from movierec.errors import MovierecError

pytestmark = pytest.mark.spark

HEADER_CORPUS = """userId,movieId,rating,timestamp
1,10,4.0,964982703
1,11,3.5,964982704
2,10,5,964982705
 3 , 12 , 2.5 , 964982706
4,13,4.0
5,14,4.0,964982707,extra
,15,4.0,964982708
6,,4.0,964982709
7,16,,964982710
8,17,4.0,
NA,18,4.0,1
abc,19,4.0,1
9,1.5,4.0,1
10,20,abc,1
11,21,nan,1
12,22,inf,1
13,23,7,1
14,24,0,1
15,25,4.0,1.5
16,26,4.0,abc
17,27,-inf,1
18,28,3.5x,1
19,29,1e400,1
20,30,4.5,1e9
21,31,4.0,0x10
22,1e3,4.0,1
23,32.0,4.0,1
+24,33,4.0,1
0025,34,4.0,1
1,10,2.0,964982799
2,10,5,964982705

<SPACES>
,,
,,,
26,35,NaN,1
27,36,N/A,1
28,37,null,1
29,38,None,1
30,39,-1,1
31,40,5.0000001,1
32,41,0.5,1
33,42,4,-5
35,44,4,\t7\t
36,45,4,+8
37,46,.5,9
38,47,5.,10
39,48,4e0,11
40,49,4,1_000
41,50,4,1e17
42,51,4,9007199254740993
1_000,52,4,1
0x10,53,4,1
1e17,54,4,1
-0,55,4,1
1.0e1,56,4,1
\xa043\xa0,57,4,1
44,58, 4.5 ,1
45,59,4.5\xa0,1
""".replace("<SPACES>", "   ")

STRING_ID_CORPUS = (
    "u1\tm1\t4\n"
    "u1\tm2\t3.5\n"
    '"u2"\t"m1"\t5\n'
    "u3\t1.5\t4\n"
    "\tm3\t4\n"
    "u4\tm4\t\n"
    "ü5\tm5\t4\n"
    " u6 \t m6\t4\n"
    "u7\tm7\t4\tx\n"
    "u8\tm8\n"
    "nan\tm9\t4\n"
    "u9\t42\t4\n"
    "u9\t42.0\t4\n"
    "u10\tm1\t0.5\n"
    "u1\tm1\t2\n"
    "\n"
    "Zed\tm1\t1\n"
    "ant\tm1\t1\n"
)
"""Tab-separated, no header, text ids (quoted once: every double quote is dropped)."""

BIG_ID_CORPUS = (
    "9007199254740993::1::5::978300760\n"
    "4294967296::2::4::978300761\n"
    "1::3::3::978300762\n"
    "99999999999999999999999::4::2::978300763\n"
    "-000099999999999999999999999::5::1::978300764\n"
    "-5::2147483648::1::978300765\n"
    "7::-2147483649::2::978300766\n"
    "+8::3::1::978300767\n"
    "1::3::4::978300768\n"
)
"""``::``-separated: 64-bit ids, ids beyond int32 and beyond int64 (text keys), a dup."""

WIDE_ID_CORPUS = "1,2147483648,4\n2,5,3\n3,9223372036854775807,2\n1,2147483648,5\n"
"""Movie ids beyond int32 but within int64: mapped by value, no text keys."""

WS_CRLF_CORPUS = (
    "\ufeff1 10 4 100\r\n"
    "  2\t 11   3.5 101  \r\n"
    "\r\n"
    "3 12 2\r\n"
    "4 13 5 102 9\r\n"
    "   \r\n"
    "5 14 abc 103\r\n"
    "6 15 4 104"
)
"""Whitespace-separated with a BOM, CRLF endings, blank lines and no final newline."""

QUOTED_CORPUS = (
    '"user","item","stars"\n"1","2","4.5"\n"2","3","4,5"\n"3","4","5"\n3,4,"1"\n"x","5","3"\n'
)
"""A header with unusual names (mapped by position), every field quoted."""


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _local_ids(ids: np.ndarray | None) -> list[Any] | None:
    return None if ids is None else [v.item() if isinstance(v, np.generic) else v for v in ids]


def _spark_ids(df: Any, col: str) -> list[Any] | None:
    if df is None:
        return None
    rows = df.orderBy(col).collect()
    assert [r[col] for r in rows] == list(range(len(rows)))  # dense 0..n-1
    return [r["original"] for r in rows]


def assert_same(local: LoadedRatings, sl: Any) -> None:
    """The Spark load ``sl`` equals the local load in every table and the report."""
    assert sl.report == local.report
    got = sl.rejects.toPandas()
    assert list(got.columns) == list(local.rejects.columns)
    got = got.sort_values([schema.LINE, schema.REASON]).reset_index(drop=True)
    want = local.rejects.sort_values([schema.LINE, schema.REASON]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    keys = [schema.USER, schema.ITEM]
    a = local.ratings.sort_values(keys).reset_index(drop=True)
    b = sl.ratings.toPandas().sort_values(keys).reset_index(drop=True)
    assert list(b.columns) == list(a.columns)
    assert dict(b.dtypes) == dict(a.dtypes)
    pd.testing.assert_frame_equal(b, a, check_exact=False, rtol=1e-12)
    assert _spark_ids(sl.user_ids, schema.USER) == _local_ids(local.user_ids)
    assert _spark_ids(sl.item_ids, schema.ITEM) == _local_ids(local.item_ids)
    if local.movies is None:
        assert sl.movies is None
    else:
        m = sl.movies.toPandas().sort_values(schema.ITEM).reset_index(drop=True)
        want_m = local.movies.sort_values(schema.ITEM).reset_index(drop=True)
        pd.testing.assert_frame_equal(m, want_m, check_dtype=False)


def both(spark: Any, cfg: DataConfig) -> tuple[LoadedRatings, Any]:
    from movierec.engines.spark.reader import read_ratings

    return load_ratings(cfg), read_ratings(spark, cfg)


def errors_of(spark: Any, cfg: DataConfig) -> tuple[str, str]:
    """The one-line messages both readers fail with."""
    from movierec.engines.spark.reader import read_ratings

    with pytest.raises(MovierecError) as local:
        load_ratings(cfg)
    with pytest.raises(MovierecError) as remote:
        read_ratings(spark, cfg)
    assert type(remote.value) is type(local.value)
    return str(local.value), str(remote.value)


# ---------------------------------------------------------------------- text corpora


@pytest.mark.parametrize(
    ("name", "text", "extra"),
    [
        ("header.csv", HEADER_CORPUS, {}),
        ("strings.tsv", STRING_ID_CORPUS, {}),
        ("big.txt", BIG_ID_CORPUS, {}),
        ("wide.csv", WIDE_ID_CORPUS, {}),
        ("ws.txt", WS_CRLF_CORPUS, {}),
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
    path = _write(tmp_path, name, text)
    local, remote = both(spark, DataConfig(path=path, max_reject_fraction=1.0, **extra))
    assert local.report.rows_read > 0
    assert_same(local, remote)
    r = remote.report
    assert r.rows_read == r.rows_kept + sum(r.rejected.values())
    remote.unpersist()


def test_the_corpus_holds_every_reject_reason(spark: Any, tmp_path: Path) -> None:
    from movierec.data.report import REASONS

    path = _write(tmp_path, "header.csv", HEADER_CORPUS)
    _, remote = both(spark, DataConfig(path=path, max_reject_fraction=1.0))
    assert set(remote.report.rejected) == set(REASONS)
    assert remote.report.ids_mapped  # 1e17 is a valid user id beyond int32


# ---------------------------------------------------------------------- cell rules


def _cells(seed: int, n: int) -> list[str]:
    """Random cells from a grammar of numbers, signs, exponents, spaces (ASCII and Unicode),
    missing markers and junk; digit runs stay below 19 digits (see the timestamp note in
    :mod:`movierec.data.rules`)."""
    rng = np.random.default_rng(seed)
    spaces = [" ", "\t", "\xa0", "\u2003", "\r", "\x0b"]
    pieces = ["+", "-", ".", "e", "E", "x", "_", ",", "inf", "nan", "a", "1e400"]
    markers = ["", "NA", "n/a", "None", "null", "NaT", "nan", "NaN"]
    out: list[str] = []
    for _ in range(n):
        kind = rng.integers(0, 4)
        if kind == 0:
            out.append(str(rng.choice(markers)))
            continue
        parts: list[str] = []
        for _ in range(int(rng.integers(1, 5))):
            if rng.random() < 0.6:
                parts.append(str(int(rng.integers(0, 10 ** int(rng.integers(1, 18))))))
            else:
                parts.append(str(rng.choice(pieces)))
        cell = "".join(parts)
        if rng.random() < 0.3:
            cell = str(rng.choice(spaces)) + cell
        if rng.random() < 0.3:
            cell = cell + str(rng.choice(spaces))
        out.append(cell)
    # pandas.to_numeric crashes (SIGSEGV) on exponents of 2**31 and more and wraps larger ones
    # ("4e4294967296" -> 4.0): the local reader's bug, not a rule; keep exponents short.
    out = [c for c in out if not re.search(r"[eE][+-]?\d{10}", c)]
    return [*out, "99999999999999999999", "-000123", "+7", "1.0", "2.5", "1e17", "9.5e1"]


def test_cell_rules_agree_with_the_local_parsers(spark: Any) -> None:
    from pyspark.sql import functions as F

    from movierec.data.validate import parse_ids, parse_ratings, parse_timestamps
    from movierec.engines.spark import cells as C

    cells = _cells(7, 3000)
    s = pd.Series(cells, dtype=object)
    df = spark.createDataFrame([(i, c) for i, c in enumerate(cells)], "i long, s string")
    num = df.select("i", *C.stage_text(F.col("s"), "c")).select("i", *C.stage_number("c"))
    txt = df.select("i", *C.stage_text(F.col("s"), "c")).select(
        "i", *C.stage_number("c", of_text=True)
    )
    iid, sid = C.text_int_id("c"), C.text_str_id("c")
    rat, ts = C.text_rating("c", 0.5, 5.0), C.text_timestamp("c")
    rows = (
        num.select(
            "i",
            iid.status.alias("is"),
            iid.value.alias("iv"),
            iid.text.alias("it"),  # type: ignore[union-attr]
            rat.status.alias("rs"),
            rat.value.alias("rv"),
            ts.status.alias("ts"),
            ts.value.alias("tv"),
        )
        .join(txt.select("i", sid.status.alias("ss"), sid.text.alias("st")), on="i")  # type: ignore[union-attr]
        .orderBy("i")
        .collect()
    )
    got = {k: pd.Series([r[k] for r in rows], dtype=object) for k in rows[0].asDict()}
    ids = parse_ids(s, "int")
    assert got["is"].tolist() == ids.status.tolist()
    ok = ids.status == 0
    text = ids.text if ids.text is not None else np.full(len(s), None, dtype=object)
    assert [t for t, k in zip(text, ok) if k] == [t for t, k in zip(got["it"], ok) if k]
    want_int = [v for v, t, k in zip(ids.ints, text, ok) if k and t is None]
    assert want_int == [int(v) for v, t, k in zip(got["iv"], text, ok) if k and t is None]
    sids = parse_ids(s, "str")
    assert got["ss"].tolist() == sids.status.tolist()
    assert [t for t, k in zip(sids.text, sids.status == 0) if k] == got["st"][
        sids.status == 0
    ].tolist()
    r, r_status = parse_ratings(s, 0.5, 5.0)
    assert got["rs"].tolist() == r_status.tolist()
    rv = got["rv"][r_status == 0].to_numpy(float)
    # pandas' number parser is not correctly rounded for long mantissas (Java's is): <= 1 ulp
    assert np.allclose(rv, r[r_status == 0], rtol=4e-16, atol=0)
    t, t_status = parse_timestamps(s)
    # 19-digit timestamps: the local string fallback takes at most 18 digits, its typed path
    # (every clean file) any int64; the Spark rule is "digits within int64". Compared apart.
    short = ~s.str.contains(r"\d{19}").to_numpy(bool)
    assert got["ts"][short].tolist() == t_status[short].tolist()
    assert got["tv"][short & (t_status == 0)].tolist() == t[short & (t_status == 0)].tolist()
    assert (~short).sum() > 0 and set(got["ts"][~short]) <= {0, 1, 2}
    assert set(r_status) == {0, 1, 2, 3} and set(ids.status) == {0, 1, 2}


def test_plain_cells_skip_the_number_pattern_without_changing_the_result(spark: Any) -> None:
    from pyspark.sql import functions as F

    from movierec.engines.spark import cells as C

    rng = np.random.default_rng(3)
    alphabet = list("0123456789.eE+-")
    cells = ["".join(rng.choice(alphabet, int(rng.integers(0, 7)))) for _ in range(5000)]
    df = spark.createDataFrame([(c,) for c in cells], "s string")
    fast = df.select("s", *C.stage_text(F.col("s"), "c")).select("s", *C.stage_number("c"))
    slow = df.select(
        "s",
        F.col("s").alias("c_t"),
        F.col("s").alias("c_n"),
        F.lit(False).alias("c_plain"),  # force the pattern
    ).select("s", *C.stage_number("c"))
    a = fast.select("s", F.col("c_f").alias("fast")).join(
        slow.select("s", F.col("c_f").alias("slow")), on="s"
    )
    differ = a.where(~F.col("fast").eqNullSafe(F.col("slow"))).limit(5).collect()
    assert differ == []
    assert a.where(F.col("fast").isNotNull()).count() > 500  # many plain cells are numbers
