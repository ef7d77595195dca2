"""Validation: reject reasons and line numbers, scale, ids, duplicate policies, reject share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movierec import schema
from movierec.config import DataConfig
from movierec.data import REASONS, LoadedRatings, load_ratings
from movierec.data.validate import (
    BAD,
    MISSING,
    OK,
    OUT_OF_RANGE,
    parse_ids,
    parse_ratings,
    parse_timestamps,
    quote,
)
from movierec.errors import DataError

# --------------------------------------------------------------------------- helpers


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path, **kw: Any) -> LoadedRatings:
    return load_ratings(DataConfig(path=path, **kw))


def rows(loaded: LoadedRatings) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in loaded.ratings.itertuples(index=False)]


def rejects(loaded: LoadedRatings) -> list[tuple[int, str, str]]:
    r = loaded.rejects
    return list(zip(r[schema.LINE].tolist(), r["column"].tolist(), r[schema.REASON].tolist()))


def check_invariant(loaded: LoadedRatings) -> None:
    rep = loaded.report
    assert rep.rows_read == rep.rows_kept + sum(rep.rejected.values())
    assert rep.rows_kept == len(loaded.ratings)
    assert len(loaded.rejects) == sum(rep.rejected.values())
    assert set(rep.rejected) <= set(REASONS)
    assert rep.rejected.get("duplicate", 0) == rep.duplicates


# --------------------------------------------------------------------------- reasons and lines


def test_bad_rating_on_line_5(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.csv",
        "userId,movieId,rating,timestamp\n1,1,4.0,10\n1,2,3.5,11\n2,1,5.0,12\n2,2,four,13\n"
        "3,1,1.0,14\n",
    )
    loaded = load(path)
    assert rejects(loaded) == [(5, "rating", "non_numeric_rating")]
    assert loaded.rejects[schema.RAW].tolist() == ["2,2,four,13"]
    assert rows(loaded) == [(1, 1, 4.0, 10), (1, 2, 3.5, 11), (2, 1, 5.0, 12), (3, 1, 1.0, 14)]
    assert loaded.report.rejected == {"non_numeric_rating": 1}
    check_invariant(loaded)


def test_every_reason_with_line_numbers(tmp_path: Path) -> None:
    text = (
        "userId,movieId,rating,timestamp\n"  # 1
        "1,1,4.0,100\n"  # 2 ok
        "1,2,4.0\n"  # 3 wrong_field_count
        "1,3,4.0,100,extra\n"  # 4 wrong_field_count
        "\n"  # 5 blank: skipped, not counted
        ",4,4.0,100\n"  # 6 missing_value userId
        "1,,4.0,100\n"  # 7 missing_value movieId
        "1,5,NA,100\n"  # 8 missing_value rating
        "1,6,4.0,\n"  # 9 missing_value timestamp
        "1.5,7,4.0,100\n"  # 10 bad_user_id (fractional)
        "abc,7,4.0,100\n"  # 11 bad_user_id (text in an integer column)
        "1,7.25,4.0,100\n"  # 12 bad_movie_id
        "1,8,great,100\n"  # 13 non_numeric_rating
        "1,9,inf,100\n"  # 14 non_numeric_rating
        "1,10,5.5,100\n"  # 15 rating_out_of_range
        "1,11,0,100\n"  # 16 rating_out_of_range
        "1,12,4.0,yesterday\n"  # 17 bad_timestamp
        "1,13,4.0,12.5\n"  # 18 bad_timestamp
        "2,1,0.5,200\n"  # 19 ok
    )
    loaded = load(write(tmp_path / "r.csv", text), max_reject_fraction=1.0)
    assert rejects(loaded) == [
        (3, "", "wrong_field_count"),
        (4, "", "wrong_field_count"),
        (6, "userId", "missing_value"),
        (7, "movieId", "missing_value"),
        (8, "rating", "missing_value"),
        (9, "timestamp", "missing_value"),
        (10, "userId", "bad_user_id"),
        (11, "userId", "bad_user_id"),
        (12, "movieId", "bad_movie_id"),
        (13, "rating", "non_numeric_rating"),
        (14, "rating", "non_numeric_rating"),
        (15, "rating", "rating_out_of_range"),
        (16, "rating", "rating_out_of_range"),
        (17, "timestamp", "bad_timestamp"),
        (18, "timestamp", "bad_timestamp"),
    ]
    assert loaded.rejects[schema.RAW].iloc[0] == "1,2,4.0"
    assert rows(loaded) == [(1, 1, 4.0, 100), (2, 1, 0.5, 200)]
    assert loaded.report.rows_read == 17
    assert loaded.report.rejected == {
        "wrong_field_count": 2,
        "missing_value": 4,
        "bad_user_id": 2,
        "bad_movie_id": 1,
        "non_numeric_rating": 2,
        "rating_out_of_range": 2,
        "bad_timestamp": 2,
    }
    check_invariant(loaded)


def test_headerless_reject_columns_use_canonical_names(tmp_path: Path) -> None:
    loaded = load(write(tmp_path / "r.tsv", "1\t2\t4\n1\t3\tx\n1\t4\t4\n"))
    assert rejects(loaded) == [(2, schema.RATING, "non_numeric_rating")]


def test_line_numbers_in_later_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import movierec.data.textio as textio
    import movierec.data.textscan as textscan

    monkeypatch.setattr(textio, "BLOCK_SIZE", 64)  # many blocks, lines split across reads
    monkeypatch.setattr(textscan, "MIN_PIECE", 2)
    lines = [f"{u},{u + 1},{(u % 9 + 1) / 2},{1000 + u}" for u in range(1, 301)]
    lines[149] = "150,151,bad,1150"  # line 150
    lines[276] = "277,278"  # line 277
    loaded = load(write(tmp_path / "r.csv", "\n".join(lines)), max_reject_fraction=0.1)
    assert rejects(loaded) == [
        (150, "rating", "non_numeric_rating"),
        (277, "", "wrong_field_count"),
    ]
    assert loaded.rejects[schema.RAW].tolist() == ["150,151,bad,1150", "277,278"]
    assert len(loaded.ratings) == 298
    assert loaded.ratings[schema.USER].tolist()[:3] == [1, 2, 3]
    assert loaded.ratings[schema.TIMESTAMP].iloc[-1] == 1300


def test_whitespace_and_dat_raw_text_is_original(tmp_path: Path) -> None:
    loaded = load(write(tmp_path / "r.txt", "1  2  4\n1   3   x\n"), max_reject_fraction=1.0)
    assert loaded.rejects[schema.RAW].tolist() == ["1   3   x"]
    loaded = load(write(tmp_path / "r.dat", "1::2::4::5\n1::3::x::5\n"), max_reject_fraction=1.0)
    assert loaded.rejects[schema.RAW].tolist() == ["1::3::x::5"]


# --------------------------------------------------------------------------- reject share


def test_too_many_rejects_fails_with_first_three(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "1,2,4\n2,3,abc\n3,3,99\n4,3\n5,3,x\n6,1,1\n")
    with pytest.raises(DataError) as info:
        load(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "4 of 6 rows rejected" in msg
    assert "line 2 (non_numeric_rating in 'rating'): '2,3,abc'" in msg
    assert "line 3 (rating_out_of_range in 'rating'): '3,3,99'" in msg
    assert "line 4 (wrong_field_count): '4,3'" in msg
    assert "line 5" not in msg
    loaded = load(path, max_reject_fraction=0.7)
    assert len(loaded.ratings) == 2


def test_all_rejected_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "1,2,9\n2,3,8\n")
    with pytest.raises(DataError, match="no valid ratings: all 2 rows were rejected"):
        load(path, max_reject_fraction=1.0)


# --------------------------------------------------------------------------- scale


def test_scale_override(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "1,2,7\n1,3,10\n1,4,0.5\n")
    loaded = load(path, rating_min=1, rating_max=10)
    assert rejects(loaded) == [(3, schema.RATING, "rating_out_of_range")]
    assert (loaded.report.rating_min, loaded.report.rating_max) == (1.0, 10.0)
    with pytest.raises(DataError, match="2 of 3 rows rejected"):
        load(path)  # default 0.5-5 rejects 7 and 10


# --------------------------------------------------------------------------- ids


def test_int32_ids_kept_as_is(tmp_path: Path) -> None:
    loaded = load(write(tmp_path / "r.csv", "2147483647,5,4\n7,-3,3\n"))
    assert rows(loaded) == [(2147483647, 5, 4.0), (7, -3, 3.0)]
    assert loaded.user_ids is None and not loaded.report.ids_mapped


def test_ids_beyond_int32_and_int64_mapped(tmp_path: Path) -> None:
    text = "2147483648,1,4\n5,1,3\n2147483648,2,2\n"
    loaded = load(write(tmp_path / "a.csv", text))
    assert loaded.user_ids is not None and loaded.user_ids.dtype == np.int64
    assert list(loaded.user_ids) == [5, 2147483648]
    assert loaded.ratings[schema.USER].tolist() == [1, 0, 1]
    assert loaded.report.ids_mapped
    huge = "123456789012345678901234"
    loaded = load(write(tmp_path / "b.csv", f"{huge},1,4\n5,1,3\n"))
    assert loaded.user_ids is not None and list(loaded.user_ids) == [huge, "5"]


def test_string_ids_in_sorted_order(tmp_path: Path) -> None:
    loaded = load(write(tmp_path / "r.csv", "bob,x1,4\nann,x2,3\nbob,x2,2\ncid,x1,5\n"))
    assert loaded.user_ids is not None and loaded.item_ids is not None
    assert list(loaded.user_ids) == ["ann", "bob", "cid"]
    assert list(loaded.item_ids) == ["x1", "x2"]
    assert loaded.ratings[schema.USER].tolist() == [1, 0, 1, 2]
    assert loaded.ratings[schema.ITEM].tolist() == [0, 1, 1, 0]


def test_mapped_ids_and_splits_do_not_depend_on_row_order(tmp_path: Path) -> None:
    """Shuffling a file with string ids changes neither the dense ids nor the split."""
    from movierec.model_io import fingerprint
    from movierec.split import random_split

    rng = np.random.default_rng(3)
    rows = sorted({(f"u{rng.integers(0, 60)}", f"m{rng.integers(0, 90)}") for _ in range(2500)})
    lines = [f"{u},{m},{rng.integers(1, 6)}" for u, m in rows]
    a = load(write(tmp_path / "a.csv", "\n".join(lines) + "\n"))
    shuffled = [lines[i] for i in rng.permutation(len(lines))]
    b = load(write(tmp_path / "b.csv", "\n".join(shuffled) + "\n"))
    assert a.user_ids is not None and b.user_ids is not None
    assert list(a.user_ids) == list(b.user_ids) and list(a.item_ids) == list(b.item_ids)
    assert fingerprint(a.ratings) == fingerprint(b.ratings)

    def originals(loaded: LoadedRatings, frame: pd.DataFrame) -> set[tuple[str, str]]:
        users = loaded.user_ids[frame[schema.USER].to_numpy()]
        items = loaded.item_ids[frame[schema.ITEM].to_numpy()]
        return set(zip(users.tolist(), items.tolist()))

    _, test_a = random_split(a.ratings, 0.2, seed=5)
    _, test_b = random_split(b.ratings, 0.2, seed=5)
    assert originals(a, test_a) == originals(b, test_b)


def test_fractional_id_in_string_column_is_bad(tmp_path: Path) -> None:
    loaded = load(write(tmp_path / "r.csv", "u1,m1,4\nu2,m1,3\n1.5,m1,3\n"))
    assert rejects(loaded) == [(3, schema.USER, "bad_user_id")]


# --------------------------------------------------------------------------- duplicates

DUP = (
    "userId,movieId,rating,timestamp\n"
    "1,10,4.0,100\n"  # 2
    "1,20,3.0,100\n"  # 3
    "1,10,2.0,300\n"  # 4
    "2,10,5.0,50\n"  # 5
    "1,10,3.0,200\n"  # 6
    "1,20,5.0,100\n"  # 7  same timestamp as line 3: the later line wins for "latest"
)


@pytest.mark.parametrize(
    ("policy", "expected", "removed"),
    [
        ("latest", [(1, 10, 2.0, 300), (2, 10, 5.0, 50), (1, 20, 5.0, 100)], [2, 3, 6]),
        ("first", [(1, 10, 4.0, 100), (1, 20, 3.0, 100), (2, 10, 5.0, 50)], [4, 6, 7]),
        ("last", [(2, 10, 5.0, 50), (1, 10, 3.0, 200), (1, 20, 5.0, 100)], [2, 3, 4]),
        ("mean", [(1, 10, 3.0, 300), (1, 20, 4.0, 100), (2, 10, 5.0, 50)], [4, 6, 7]),
    ],
)
def test_duplicate_policies(
    tmp_path: Path, policy: str, expected: list[tuple[Any, ...]], removed: list[int]
) -> None:
    loaded = load(write(tmp_path / "r.csv", DUP), duplicates=policy)
    assert rows(loaded) == expected
    assert rejects(loaded) == [(ln, "", "duplicate") for ln in removed]
    raw = dict(zip(loaded.rejects[schema.LINE], loaded.rejects[schema.RAW]))
    lines = DUP.splitlines()
    assert all(raw[ln] == lines[ln - 1] for ln in removed)
    assert loaded.report.duplicates == 3
    assert loaded.report.rejected == {"duplicate": 3}
    check_invariant(loaded)


def test_latest_without_timestamps_is_last(tmp_path: Path) -> None:
    text = "1,10,4\n1,10,2\n2,10,5\n1,10,3\n"
    loaded = load(write(tmp_path / "r.csv", text), duplicates="latest")
    assert rows(loaded) == [(2, 10, 5.0), (1, 10, 3.0)]
    assert [r[0] for r in rejects(loaded)] == [1, 2]


def test_duplicate_error_names_pair_and_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", DUP)
    with pytest.raises(DataError) as info:
        load(path, duplicates="error")
    msg = str(info.value)
    assert "duplicate rating for user 1, movie 10 on lines 2, 4, 6" in msg
    assert str(path) in msg and info.value.line == 4


def test_duplicate_error_uses_original_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "ann,m1,4\nbob,m1,3\nbob,m1,2\n")
    with pytest.raises(DataError, match="user bob, movie m1 on lines 2, 3"):
        load(path, duplicates="error")


def test_duplicates_mixed_with_rejects_and_mapping(tmp_path: Path) -> None:
    text = "u1,m1,4,10\nu1,m1,x,11\nu2,m1,3,12\nu1,m1,5,13\n"
    loaded = load(write(tmp_path / "r.csv", text), duplicates="latest")
    assert rows(loaded) == [(1, 0, 3.0, 12), (0, 0, 5.0, 13)]
    assert rejects(loaded) == [
        (1, "", "duplicate"),
        (2, schema.RATING, "non_numeric_rating"),
    ]
    check_invariant(loaded)


# --------------------------------------------------------------------------- parse functions


def test_parse_ids_text() -> None:
    values = pd.Series(["1", " 2 ", "1.0", "1.5", "", "NA", "abc", "99999999999999999999", "-7"])
    parsed = parse_ids(values, "int")
    assert parsed.status.tolist() == [OK, OK, OK, BAD, MISSING, MISSING, BAD, OK, OK]
    assert parsed.ints[[0, 1, 2, 8]].tolist() == [1, 2, 1, -7]
    assert parsed.text is not None and parsed.text[7] == "99999999999999999999"


def test_parse_ids_string_kind_and_numeric() -> None:
    parsed = parse_ids(pd.Series(["u1", " u2", "2.5", "null", "7"]), "str")
    assert parsed.status.tolist() == [OK, OK, BAD, MISSING, OK]
    assert parsed.text is not None and list(parsed.text[[0, 1, 4]]) == ["u1", "u2", "7"]
    parsed = parse_ids(pd.Series([1.0, np.nan, 2.5, 4.0]))
    assert parsed.status.tolist() == [OK, MISSING, BAD, OK]
    assert parsed.ints[[0, 3]].tolist() == [1, 4]
    parsed = parse_ids(pd.Series(np.array([1, 2**63], dtype=np.uint64)))
    assert parsed.text is not None and parsed.text[1] == str(2**63)


def test_parse_ratings_and_timestamps() -> None:
    r, status = parse_ratings(pd.Series(["4", "x", "", "nan", "6", "0.5", "-inf"]), 0.5, 5.0)
    assert status.tolist() == [OK, BAD, MISSING, MISSING, OUT_OF_RANGE, OK, BAD]
    assert r[[0, 5]].tolist() == [4.0, 0.5]
    ts, status = parse_timestamps(pd.Series(["100", "1.0e3", "1.5", "", "x", "-5"]))
    assert status.tolist() == [OK, OK, BAD, MISSING, BAD, OK]
    assert ts[[0, 1, 5]].tolist() == [100, 1000, -5]
    dt = pd.Series(pd.to_datetime(["1970-01-01 00:01:40", None]))
    ts, status = parse_timestamps(dt)
    assert ts[0] == 100 and status.tolist() == [OK, MISSING]


def test_quote_truncates_on_one_line() -> None:
    assert quote("a\nb") == "'a\\nb'"
    assert quote("x" * 100, 10) == "'" + "x" * 10 + "...'"
