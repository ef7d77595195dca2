"""Shared by the Spark reader tests: corpora of good and bad ratings rows, and comparisons of
the Spark reader's result with the local reader's on the same input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movierec import schema
from movierec.config import DataConfig
from movierec.data import LoadedRatings, load_ratings
from movierec.errors import MovierecError

HEADER_CORPUS = (
    """userId,movieId,rating,timestamp
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
46,60,4\x07,1
4\x017,61,4,1
<LONG_USER>,62,4,1
48,6\x1b3,4,1
49,<LONG_ITEM>,4,1
""".replace("<SPACES>", "   ")
    .replace("<LONG_USER>", "u" * 257)
    .replace("<LONG_ITEM>", "1" * 257)
)

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

BREAKS_CORPUS = "userId,movieId,rating\r1,10,4\r\n2,11,3.5\n\r3,12,5\r\r\n4,13,x\r5,14,2"
"""Lone CR, CRLF and LF line ends in one file (rule R1), blank lines between them."""

QUOTED_CORPUS = (
    '"user","item","stars"\n"1","2","4.5"\n"2","3","4,5"\n"3","4","5"\n3,4,"1"\n"x","5","3"\n'
)
"""A header with unusual names (mapped by position), every field quoted."""


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
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
