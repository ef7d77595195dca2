"""Property-based tests of the ratings reader (issue 16): nothing lost, nothing corrupt.

Hypothesis writes delimited ratings files that mix good rows with every kind of bad cell
and row, under every separator, quoting, padding, encoding (UTF-8, UTF-8 with BOM,
cp1252), line ending (LF, CRLF, lone CR, mixed), blank lines, duplicate pairs, with and
without a header (whose columns may come in any order). The generator knows what each row
is, so the invariants are checked against an independent expectation:

* rows read = rows kept + rows rejected (and the report's counts agree with the tables);
* every bad row is rejected, with its line number (records counted under every ending
  style) and the reason of its one defect; nothing else is rejected; the rejects file
  written by ``save_rejects`` holds exactly those lines and reasons;
* every kept row equals its source values (original ids, rating, timestamp), in file order.

The number of examples is bounded for CI (``MOVIEREC_HYPOTHESIS_EXAMPLES``, default 150;
deadline off; derandomized, so a run is reproducible — set ``MOVIEREC_HYPOTHESIS_RANDOM=1``
to explore new examples).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from movierec import schema
from movierec.config import DataConfig
from movierec.data import load_ratings, save_rejects

EXAMPLES = int(os.environ.get("MOVIEREC_HYPOTHESIS_EXAMPLES", "150"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("MOVIEREC_HYPOTHESIS_RANDOM") != "1",
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SEPS = [",", "\t", ";", "|", "::", " "]
ENDINGS = ["\n", "\r\n", "\r"]
HEADERS = [
    {"user": "userId", "item": "movieId", "rating": "rating", "ts": "timestamp"},
    {"user": "user_id", "item": "item_id", "rating": "stars", "ts": "ts"},
    {"user": "User", "item": "Movie", "rating": "Score", "ts": "Time"},
]
ACCENTS = ["", "", "\u00e9", "\u00fc", "\u00f1", "\u20ac"]

# one defect per bad row: (column, cell text or None for a row-level defect, reason)
DEFECTS: list[tuple[str, str, str]] = [
    ("user", "", "missing_value"),
    ("user", "NA", "missing_value"),
    ("user", "1.5", "bad_user_id"),
    ("user", "u\x00x", "bad_user_id"),
    ("user", "9" * 300, "bad_user_id"),
    ("item", "null", "missing_value"),
    ("item", "2.25", "bad_movie_id"),
    ("rating", "", "missing_value"),
    ("rating", "NaN", "missing_value"),
    ("rating", "four", "non_numeric_rating"),
    ("rating", "3.5x", "non_numeric_rating"),
    ("rating", "inf", "non_numeric_rating"),
    ("rating", "4,5", "non_numeric_rating"),
    ("rating", "0", "rating_out_of_range"),
    ("rating", "-1", "rating_out_of_range"),
    ("rating", "5.5", "rating_out_of_range"),
    ("rating", "1e9", "rating_out_of_range"),
    ("ts", "", "missing_value"),
    ("ts", "12.5", "bad_timestamp"),
    ("ts", "yesterday", "bad_timestamp"),
    ("ts", "12\x0034", "bad_timestamp"),
    ("row", "drop", "wrong_field_count"),
    ("row", "extra", "wrong_field_count"),
]
INT_ONLY = {("user", "9" * 300)}  # a 300-digit id: bad in an int column (text ids: too long)
TEXT_BAD = {("user", "abc", "bad_user_id"), ("item", "m-x", "bad_movie_id")}


@dataclass
class Expected:
    """What the reader must make of a generated file."""

    records: int = 0  # rows read: good, duplicate and bad rows (not blank lines)
    kept: list[tuple[Any, ...]] = field(default_factory=list)
    rejects: dict[int, str] = field(default_factory=dict)


@st.composite
def ratings_files(draw: st.DrawFn) -> tuple[bytes, Expected, bool]:
    sep = draw(st.sampled_from(SEPS))
    ws = sep == " "
    text_ids = draw(st.booleans())
    has_ts = draw(st.booleans())
    header = draw(st.booleans())
    names = draw(st.sampled_from(HEADERS))
    order = ["user", "item", "rating"] + (["ts"] if has_ts else [])
    if header:
        order = draw(st.permutations(order))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    ending_mode = draw(st.sampled_from(["\n", "\r\n", "\r", "mixed"]))
    quote_p = draw(st.sampled_from([0.0, 0.2]))
    pad_p = 0.0 if ws else draw(st.sampled_from([0.0, 0.2]))
    n_good = draw(st.integers(1, 30))
    defects = [d for d in DEFECTS if (d[0] != "ts" or has_ts)]
    defects = [d for d in defects if not (d[1] == "" and ws)]  # no empty cells between spaces
    defects = [d for d in defects if not (d[1] == "4,5" and sep == ",")]
    if text_ids:
        defects = [d for d in defects if (d[0], d[1]) not in INT_ONLY] + [
            ("user", "x" * 300, "bad_user_id")
        ]
    else:
        defects += sorted(TEXT_BAD)
    bad = draw(st.lists(st.sampled_from(defects), max_size=(2 * n_good) // 3))
    controls = [d for d in bad if "\x00" in d[1]]
    if len(controls) > 2:  # a few NULs are rows to reject; many make the file binary
        bad = [d for d in bad if "\x00" not in d[1]] + controls[:2]
    n_dup = draw(st.integers(0, min(2, n_good - 1)))
    kinds = ["good"] * n_good + ["dup"] * n_dup + ["bad"] * len(bad)
    kinds = list(draw(st.permutations(kinds)))
    if "dup" in kinds and kinds.index("dup") < kinds.index("good"):
        kinds.remove("good")
        kinds.insert(0, "good")  # a duplicate repeats an earlier good row
    blanks = draw(st.lists(st.integers(0, len(kinds)), max_size=4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)

    def cell(text: str) -> str:
        if text and rng.random() < quote_p:
            text = (
                ('"' if rng.random() < 0.5 else '"""')
                + text
                + ('"' if rng.random() < 0.5 else '"""')
            )
        elif rng.random() < quote_p and not ws:
            text = '"' + text + '"'
        if rng.random() < pad_p:
            text = " " + text + "  "
        return text

    def ident(prefix: str, k: int) -> tuple[str, Any]:
        if text_ids:
            accent = ACCENTS[int(rng.integers(len(ACCENTS)))]
            value = f"{prefix}{accent}{k}"
            return value, value
        value = 1 + k
        return (f"{value}.0" if rng.random() < 0.1 else str(value)), value

    exp = Expected()
    lines: list[str] = []
    line_no = 0

    def emit(text: str) -> int:
        nonlocal line_no
        lines.append(text)
        line_no += 1
        return line_no

    def blank_lines(at: int) -> None:
        for _ in range(blanks.count(at)):
            emit("" if rng.random() < 0.5 else "   ")

    blank_lines(0)
    if header:
        emit(sep.join(cell(names[c]) for c in order))
    pairs: list[tuple[tuple[str, Any], tuple[str, Any]]] = []
    bad_iter = iter(bad)
    for j, kind in enumerate(kinds):
        if kind == "dup":
            (ut, uv), (it, iv) = pairs[int(rng.integers(len(pairs)))]
        else:
            k = j
            (ut, uv), (it, iv) = ident("u", k // 5), ident("m", k)
        rating = float(rng.integers(1, 11)) / 2
        r_text = [f"{rating:g}", f"{rating:.1f}", f"{rating:.2f}", f"{rating}e0"][
            int(rng.integers(4))
        ]
        ts = int(rng.integers(0, 2_000_000_000))
        values = {"user": ut, "item": it, "rating": r_text, "ts": str(ts)}
        if kind == "bad":
            column, text, reason = next(bad_iter)
            if column != "row":
                values[column] = text
        cells = [cell(values[c]) for c in order]
        if kind == "bad" and column == "row":
            cells = cells[:-1] if text == "drop" else [*cells, "x"]
        ln = emit(sep.join(cells))
        exp.records += 1
        if kind == "good":
            pairs.append(((ut, uv), (it, iv)))
            exp.kept.append((uv, iv, rating, ts) if has_ts else (uv, iv, rating))
        elif kind == "dup":
            exp.rejects[ln] = "duplicate"
        else:
            exp.rejects[ln] = reason
        blank_lines(j + 1)
    if ending_mode == "mixed":
        parts, prev = [], ""
        for t in lines:
            end = ENDINGS[int(rng.integers(3))]
            if prev == "\r" and not t and end == "\n":
                end = "\r"  # CR then LF is one CRLF, not two line ends
            parts.append(t + end)
            prev = end
        body = "".join(parts)
    else:
        body = ending_mode.join(lines) + (ending_mode if rng.random() < 0.8 else "")
    data = body.encode("utf-8" if encoding == "utf-8-sig" else encoding)
    if encoding == "utf-8-sig":
        data = b"\xef\xbb\xbf" + data
    return data, exp, text_ids


@SETTINGS
@given(ratings_files())
def test_reader_loses_nothing_and_corrupts_nothing(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[bytes, Expected, bool]
) -> None:
    data, exp, text_ids = case
    folder = tmp_path_factory.mktemp("prop")
    path = folder / "ratings.txt"
    path.write_bytes(data)
    loaded = load_ratings(DataConfig(path=path, duplicates="first"))
    rep = loaded.report
    # read = kept + rejected, and the report agrees with the tables
    assert rep.rows_read == exp.records
    assert rep.rows_read == rep.rows_kept + sum(rep.rejected.values())
    assert rep.rows_kept == len(loaded.ratings)
    assert len(loaded.rejects) == sum(rep.rejected.values())
    # every bad row rejected with its line and reason, nothing else
    got = dict(zip(loaded.rejects[schema.LINE].tolist(), loaded.rejects[schema.REASON].tolist()))
    assert got == exp.rejects
    out = folder / "rejects.csv"
    save_rejects(loaded.rejects, out)
    back = pd.read_csv(out, keep_default_na=False)
    assert dict(zip(back[schema.LINE].tolist(), back[schema.REASON].tolist())) == exp.rejects
    # every kept row equals its source values, in file order
    ratings = loaded.ratings
    users = ratings[schema.USER].to_numpy()
    items = ratings[schema.ITEM].to_numpy()
    if loaded.user_ids is not None:
        users = loaded.user_ids[users]
    if loaded.item_ids is not None:
        items = loaded.item_ids[items]
    cols = [users.tolist(), items.tolist(), ratings[schema.RATING].tolist()]
    if schema.TIMESTAMP in ratings.columns:
        cols.append(ratings[schema.TIMESTAMP].tolist())
    assert list(zip(*cols)) == exp.kept
    assert (loaded.user_ids is not None) == text_ids
