"""The bad-input corpus (issue 16): every kind of hostile input, generated here, 0 silent losses.

Each case is a file (or folder, or missing path) built in the test, with what it holds: the
number of data records a user would count in it. Loading it must either refuse it cleanly —
a :class:`~movierec.errors.MovierecError` whose message is ONE line of at most 300
characters — or read exactly those records, with read = kept + rejected and every rejected
row in the rejects table with a line number in the file and a known reason. Some cases may
go either way (``EITHER``): then the refusal must be clean, or the count exact.

Every case goes through :func:`load_ratings`; a representative subset also goes through the
real CLI (``eda``, ``train`` and ``run`` with ``--engine local``): exit 0 with the same
counts in the JSON and a rejects.csv holding every reject, or exit 2 with one short
``error:`` line.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from movierec import schema
from movierec.cli import cli
from movierec.config import DataConfig
from movierec.data import REASONS, load_ratings
from movierec.errors import MovierecError

HEADER = "userId,movieId,rating,timestamp"
REFUSE = -1
EITHER = -2


def _base(n: int = 300, seed: int = 7) -> list[tuple[int, int, float, int]]:
    """``n`` good ratings with unique (user, movie) pairs, as values."""
    rng = np.random.default_rng(seed)
    pairs = rng.choice(40 * 60, size=n, replace=False)
    return [
        (1 + int(p) // 60, 1 + int(p) % 60, float(rng.integers(1, 11)) / 2, 1_000_000 + k)
        for k, p in enumerate(pairs)
    ]


BASE = _base()
ROWS = [f"{u},{m},{r:g},{t}" for u, m, r, t in BASE]


@dataclass
class Case:
    """A corpus entry: ``make(folder) -> path``; ``records`` data rows (or REFUSE / EITHER)."""

    make: Callable[[Path], Path]
    records: int
    options: dict[str, Any] | None = None


def text(lines: list[str], name: str = "ratings.txt", end: str = "\n", enc: str = "utf-8"):  # type: ignore[no-untyped-def]
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes((end.join(lines) + end).encode(enc))
        return path

    return make


def raw(data: bytes, name: str = "ratings.txt"):  # type: ignore[no-untyped-def]
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return make


def mixed_endings(lines: list[str]) -> bytes:
    return "".join(t + ("\n", "\r\n", "\r")[k % 3] for k, t in enumerate(lines)).encode()


def replace(rows: list[str], every: int, value: Callable[[int, str], str]) -> list[str]:
    return [value(k, r) if k % every == 3 else r for k, r in enumerate(rows)]


def cell(k: int, row: str, pos: int, new: str) -> str:
    parts = row.split(",")
    parts[pos] = new
    return ",".join(parts)


def reorder(row: str, order: tuple[int, ...]) -> str:
    parts = row.split(",")
    return ",".join(parts[i] for i in order)


def folder_case(kind: str):  # type: ignore[no-untyped-def]
    def make(folder: Path) -> Path:
        target = folder / "dir"
        target.mkdir()
        if kind == "junk":
            (target / "notes.txt").write_text("hello\n")
        return target

    return make


RANDOM_BYTES = np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8).tobytes()
LATIN1_ROWS = [f"u\xe9{u},m{m},{r:g},{t}" for u, m, r, t in BASE]
STRING_ROWS = [f"user-{u:03d}x,tt{m:07d},{r:g},{t}" for u, m, r, t in BASE]
INT64_ROWS = [f"{2**40 + u},{2**33 + m},{r:g},{t}" for u, m, r, t in BASE]
HUGE_ROWS = [f"{10**30 + u},{m},{r:g},{t}" for u, m, r, t in BASE]

CASES: dict[str, Case] = {
    # separators
    "wrong_separator_hash": Case(text([r.replace(",", "#") for r in ROWS]), REFUSE),
    "wrong_separator_flag": Case(text(ROWS), REFUSE, {"sep": ";"}),
    "semicolon_with_decimal_commas": Case(
        text([f"{u};{m};{r:g};{t}".replace(".", ",") for u, m, r, t in BASE]), EITHER
    ),
    "whitespace_tabs_and_spaces": Case(text([r.replace(",", " \t ") for r in ROWS]), 300),
    # header drift
    "header_extra_column": Case(text([HEADER + ",extra"] + [r + ",x" for r in ROWS]), 300),
    "header_missing_column": Case(
        text(["userId,rating,timestamp", *[reorder(r, (0, 2, 3)) for r in ROWS]]),
        REFUSE,
    ),
    "header_without_rating": Case(
        text(["userId,movieId,timestamp", *[reorder(r, (0, 1, 3)) for r in ROWS]]),
        REFUSE,
    ),
    "header_renamed_aliases": Case(text(["uid,iid,stars,ts", *ROWS]), 300),
    "header_renamed_unknown": Case(text(["a,b,c,d", *ROWS]), 301),
    "header_reordered": Case(
        text(["rating,timestamp,movieId,userId", *[reorder(r, (2, 3, 1, 0)) for r in ROWS]]), 300
    ),
    "header_repeated_midfile_with_drift": Case(
        text(
            [HEADER]
            + ROWS[:200]
            + ["userId,movieId,rating"]
            + [r.rsplit(",", 1)[0] for r in ROWS[200:]]
        ),
        301,
    ),
    # line endings
    "crlf": Case(text([HEADER, *ROWS], end="\r\n"), 300),
    "lone_cr": Case(text([HEADER, *ROWS], end="\r"), 300),
    "lone_cr_headerless": Case(text(ROWS, end="\r"), 300),
    "mixed_endings": Case(raw(mixed_endings([HEADER, *ROWS])), 300),
    # encodings
    "latin1_string_ids": Case(
        text(["user,movie,rating,timestamp", *LATIN1_ROWS], enc="latin-1"), 300
    ),
    "utf8_bom_header": Case(
        raw(b"\xef\xbb\xbf" + ("\n".join([HEADER, *ROWS]) + "\n").encode()), 300
    ),
    "utf8_bom_headerless": Case(raw(b"\xef\xbb\xbf" + ("\n".join(ROWS) + "\n").encode()), 300),
    # nulls, empty fields, NaN/inf, scale
    "nulls_and_empty_fields": Case(
        text(
            [
                HEADER,
                *replace(
                    ROWS,
                    10,
                    lambda k, r: [",,,", "NA,1,4,5", "1,null,3,4", "1,2,,4", "1,2,3,"][k % 5],
                ),
            ]
        ),
        300,
    ),
    "nan_and_inf_ratings": Case(
        text(
            [
                HEADER,
                *replace(ROWS, 9, lambda k, r: cell(k, r, 2, ["NaN", "inf", "-inf", "nan"][k % 4])),
            ]
        ),
        300,
    ),
    "ratings_out_of_scale": Case(
        text(
            [
                HEADER,
                *replace(ROWS, 8, lambda k, r: cell(k, r, 2, ["-1", "0", "5.5", "1e9"][k % 4])),
            ]
        ),
        300,
    ),
    "all_ratings_out_of_scale": Case(text([cell(0, r, 2, "9") for r in ROWS]), REFUSE),
    # duplicates
    "duplicate_pairs": Case(text([HEADER, *ROWS, *ROWS[:40]]), 340),
    "duplicate_pairs_policy_error": Case(
        text([HEADER, *ROWS, *ROWS[:1]]), REFUSE, {"duplicates": "error"}
    ),
    # ids
    "string_ids": Case(text(["user,movie,rating,timestamp", *STRING_ROWS]), 300),
    "int64_ids": Case(text([HEADER, *INT64_ROWS]), 300),
    "ids_beyond_int64": Case(text([HEADER, *HUGE_ROWS]), 300),
    "hundred_thousand_digit_id": Case(
        text([HEADER, *ROWS[:150], "7" * 100000 + ",1,4,5", *ROWS[150:]]), 301
    ),
    "ids_in_doubled_quotes": Case(
        text(
            ['"User-ID";"ISBN";"Book-Rating"']
            + [f'"{u}";"""03{m:08d}X""";"{int(r)}"' for u, m, r, _ in BASE]
        ),
        300,
        {"rating_min": 0, "rating_max": 10},
    ),
    # empty, header-only, truncated
    "empty_file": Case(raw(b""), REFUSE),
    "blank_lines_only": Case(raw(b"\n\r\n  \n\r"), REFUSE),
    "header_only": Case(text([HEADER]), REFUSE),
    "header_only_cr": Case(raw(HEADER.encode() + b"\r"), REFUSE),
    "truncated_mid_line": Case(raw(("\n".join([HEADER, *ROWS])).encode()[:-7]), 300),
    "truncated_mid_field_count": Case(raw(("\n".join([HEADER, *ROWS]) + "\n1,2").encode()), 301),
    # not text
    "binary": Case(raw(RANDOM_BYTES), REFUSE),
    "gzip": Case(raw(gzip.compress(("\n".join([HEADER, *ROWS])).encode()), "ratings.csv"), REFUSE),
    "utf16_with_bom": Case(raw(("\n".join([HEADER, *ROWS])).encode("utf-16")), REFUSE),
    "utf16_without_bom": Case(raw(("\n".join([HEADER, *ROWS])).encode("utf-16-le")), REFUSE),
    "json": Case(text([json.dumps([{"userId": 1, "movieId": 2, "rating": 4.0}])]), REFUSE),
    "html": Case(text(["<!DOCTYPE html>", "<html><body>ratings</body></html>"]), REFUSE),
    "parquet_magic_garbage": Case(raw(b"PAR1" + RANDOM_BYTES), REFUSE),
    "one_megabyte_line": Case(text(["9" * 1_000_000]), REFUSE),
    # paths
    "empty_folder": Case(folder_case("empty"), REFUSE),
    "folder_without_ratings": Case(folder_case("junk"), REFUSE),
    "missing_path": Case(lambda folder: folder / "nope.csv", REFUSE),
    # tiny
    "one_rating": Case(text(["1,1,4.0"]), 1),
    "one_rating_with_header": Case(text([HEADER, "1,1,4.0,5"]), 1),
    "one_bad_rating": Case(text(["1,1,9.0"]), REFUSE),
    # bad first rows, with and without a header
    **{
        f"bad_first_row_{name}_{'header' if hdr else 'headerless'}": Case(
            text(([HEADER] if hdr else []) + [bad] + ROWS), 301
        )
        for name, bad in (
            ("na", "1,NA,3.0,5"),
            ("abc", "abc,2,3.0,5"),
            ("3.5x", "1,2,3.5x,5"),
            ("decimal_comma", "1,2,4,5,5"),
        )
        for hdr in (False, True)
    },
    "two_hundred_bad_rows_at_the_top": Case(text([HEADER, *["x;y;z"] * 200, *ROWS]), 500),
    "nul_byte_in_a_timestamp": Case(
        text([HEADER, *ROWS[:100], "1,2,3.0,12\x0034", *ROWS[100:]]), 301
    ),
    "runs_of_empty_rows": Case(text([HEADER] + ROWS + [",,,"] * 100), 400),
}


def check_message(exc: BaseException) -> str:
    msg = str(exc)
    assert isinstance(exc, MovierecError), f"{type(exc).__name__}: {msg}"
    assert "\n" not in msg and "\r" not in msg, msg
    assert 0 < len(msg) <= 300, (len(msg), msg[:400])
    return msg


def check_loaded(loaded: Any, records: int, path: Path) -> None:
    rep = loaded.report
    assert rep.rows_read == records, f"{rep.rows_read} rows read, the file holds {records}"
    assert rep.rows_read == rep.rows_kept + sum(rep.rejected.values())
    assert rep.rows_kept == len(loaded.ratings)
    rej = loaded.rejects
    assert len(rej) == sum(rep.rejected.values())
    assert set(rej[schema.REASON]) <= set(REASONS)
    assert rej[schema.LINE].is_unique
    if path.is_file():
        total = len(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"))
        assert rej[schema.LINE].between(1, total).all()


MESSAGES: dict[str, str] = {}


@pytest.mark.parametrize("name", list(CASES))
def test_corpus_case_through_load_ratings(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    path = case.make(tmp_path)
    try:
        loaded = load_ratings(DataConfig(path=path, **(case.options or {})))
    except Exception as exc:
        assert case.records in (REFUSE, EITHER), f"refused: {exc}"
        MESSAGES[name] = check_message(exc)
        return
    assert case.records != REFUSE, f"loaded {loaded.report}; expected a refusal"
    if case.records != EITHER:
        check_loaded(loaded, case.records, path)
    else:
        rep = loaded.report
        assert rep.rows_read == rep.rows_kept + sum(rep.rejected.values())


def test_every_corpus_error_message_is_one_bounded_line(tmp_path: Path) -> None:
    """Walk every refusal of the corpus (again, in one place): one line, <= 300 characters."""
    refused = 0
    for name, case in CASES.items():
        folder = tmp_path / name
        folder.mkdir()
        try:
            load_ratings(DataConfig(path=case.make(folder), **(case.options or {})))
        except Exception as exc:
            check_message(exc)
            refused += 1
    assert refused >= sum(c.records == REFUSE for c in CASES.values())


# --------------------------------------------------------------------------- the real CLI

CLI_CASES = [
    "lone_cr",
    "mixed_endings",
    "latin1_string_ids",
    "bad_first_row_na_headerless",
    "bad_first_row_decimal_comma_header",
    "two_hundred_bad_rows_at_the_top",
    "hundred_thousand_digit_id",
    "nulls_and_empty_fields",
    "gzip",
    "utf16_with_bom",
    "header_without_rating",
    "missing_path",
    "empty_folder",
    "one_megabyte_line",
]


def _invoke(args: list[str]) -> Any:
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _check_cli(
    result: Any,
    case: Case,
    path: Path,
    out: Path,
    load_of: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    if case.records == REFUSE:
        assert result.exit_code == 2, (result.exit_code, result.output)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines and lines[-1].startswith("error: "), result.stderr
        assert len(lines[-1]) <= 300, lines[-1]
        assert not out.exists()
        return
    assert result.exit_code == 0, result.output
    load = load_of(json.loads(result.stdout))
    assert load["rows_read"] == case.records
    assert load["rows_read"] == load["rows_kept"] + sum(load["rejected"].values())
    n_rejected = sum(load["rejected"].values())
    rejects = out / "rejects.csv"
    if n_rejected:
        back = pd.read_csv(rejects, keep_default_na=False)
        assert len(back) == n_rejected and set(back["reason"]) <= set(REASONS)
    else:
        assert not rejects.exists()


@pytest.mark.parametrize("name", CLI_CASES)
def test_corpus_case_through_cli_eda(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    path = case.make(tmp_path)
    out = tmp_path / "out"
    args = ["eda", "--engine", "local", "--data", str(path), "--out", str(out), "--json", "-q"]
    _check_cli(_invoke(args), case, path, out, lambda d: d["load"])


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["lone_cr_headerless", "bad_first_row_abc_header", "utf16_without_bom"]
)
def test_corpus_case_through_cli_train(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    path = case.make(tmp_path)
    out = tmp_path / "model"
    args = ["train", "--engine", "local", "--data", str(path), "--out", str(out), "--rank", "3",
            "--max-iter", "2", "--json", "-q"]  # fmt: skip
    result = _invoke(args)
    if case.records == REFUSE:
        _check_cli(result, case, path, out, lambda d: d)
        return
    assert result.exit_code == 0, result.output
    load = json.loads(result.stdout)["load"]
    assert load["rows_read"] == case.records == load["rows_kept"] + sum(load["rejected"].values())


@pytest.mark.slow
def test_corpus_case_through_cli_run(tmp_path: Path) -> None:
    case = CASES["mixed_endings"]
    path = case.make(tmp_path)
    out = tmp_path / "run"
    # A one-configuration grid: the point is the load's counts, not the search.
    args = ["run", "--engine", "local", "--data", str(path), "--out", str(out), "--rank", "3",
            "--max-iter", "2", "-q", "--models", "als", "--ranks", "3", "--reg-params", "0.1",
            "--max-iters", "2", "--folds", "2", "--train-fractions", "0.8",
            "--recommender", "rating-model"]  # fmt: skip
    result = _invoke(args)
    assert result.exit_code == 0, result.output
    load = json.loads((out / "summary.json").read_text())["data"]["load"]
    assert load["rows_read"] == case.records == load["rows_kept"] + sum(load["rejected"].values())
    bad = CASES["bad_first_row_3.5x_headerless"]
    result = _invoke(
        [*args[:3], "--data", str(bad.make(tmp_path)), "--out", str(tmp_path / "r2"), *args[7:]]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "r2" / "summary.json").read_text())["data"]["load"]
    assert summary["rows_read"] == 301 and summary["rejected"] == {"non_numeric_rating": 1}
