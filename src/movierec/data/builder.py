"""Accumulate validated chunks of ratings: rejects, id mapping, duplicates, reject share.

Readers hand over chunks of raw columns (strings from text files, or typed arrays from
Parquet) with their 1-based line numbers; :class:`RatingsBuilder` classifies each row
(first failing column wins, in the order user, movie, rating, timestamp), keeps the good
rows, records rejects with a reason from :data:`~movierec.data.report.REASONS`, and at the
end maps ids to dense ints where needed and applies the duplicate policy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from movierec import schema
from movierec.data.duplicates import apply_duplicate_policy
from movierec.data.report import REASONS, REJECT_COLUMNS, empty_rejects
from movierec.data.validate import (
    BAD,
    INT32_MAX,
    INT32_MIN,
    MISSING,
    OUT_OF_RANGE,
    IdKind,
    IdParse,
    parse_ids,
    parse_ratings,
    parse_timestamps,
)
from movierec.errors import MAX_MESSAGE, DataError, join_within, quote_cell, shorten_middle

logger = logging.getLogger(__name__)

_REASON_CODE = {name: code for code, name in enumerate(REASONS, start=1)}
_MAX_RAW = 1000


def _drain(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    """Concatenate ``parts`` (emptying the list to free memory early)."""
    out = np.concatenate(parts) if parts else np.zeros(0, dtype)
    parts.clear()
    return out


@dataclass
class _IdStore:
    kind: IdKind
    ints: list[np.ndarray] = field(default_factory=list)
    text: list[np.ndarray | None] = field(default_factory=list)

    def add(self, parsed: IdParse, keep: np.ndarray) -> None:
        ints = parsed.ints[keep]
        if len(ints) and ints.min() >= INT32_MIN and ints.max() <= INT32_MAX:
            ints = ints.astype(np.int32)  # halves the memory held until finish()
        self.ints.append(ints)
        self.text.append(None if parsed.text is None else parsed.text[keep])

    def finish(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Return (dense-or-original int32 ids, originals or None)."""
        texts, chunks = self.text, self.ints
        self.text, self.ints = [], []
        if self.kind == "str" or any(t is not None for t in texts):
            parts = []
            for i, t in zip(chunks, texts):
                if self.kind == "str" and t is not None:
                    parts.append(t)
                elif t is None:
                    parts.append(i.astype(str).astype(object))
                else:
                    part = i.astype(str).astype(object)
                    big = np.array([v is not None for v in t], dtype=bool)
                    part[big] = t[big]
                    parts.append(part)
            keys = np.concatenate(parts) if parts else np.zeros(0, dtype=object)
            codes, uniques = pd.factorize(keys, sort=True)
            return codes.astype(np.int32), np.asarray(uniques, dtype=object)
        ints = _drain(chunks, np.int64)
        if len(ints) == 0 or (ints.min() >= INT32_MIN and ints.max() <= INT32_MAX):
            return ints.astype(np.int32), None
        codes, uniques = pd.factorize(ints, sort=True)
        return codes.astype(np.int32), np.asarray(uniques, dtype=np.int64)


@dataclass
class BuildResult:
    """Output of :meth:`RatingsBuilder.finish`."""

    ratings: pd.DataFrame
    rejects: pd.DataFrame
    user_ids: np.ndarray | None
    item_ids: np.ndarray | None
    rows_read: int
    rejected: dict[str, int]
    duplicates: int
    lines: np.ndarray | None = None
    """1-based source line (or Parquet row) of each kept row, when asked for."""


class RatingsBuilder:
    """Accumulate validated chunks of ratings and their rejects.

    ``columns`` names the source column of each canonical field (used in the rejects'
    "column" field); ``user_kind`` / ``item_kind`` say whether ids are integers or text.
    """

    def __init__(
        self,
        *,
        path: str,
        has_timestamp: bool,
        rating_min: float,
        rating_max: float,
        user_kind: IdKind = "int",
        item_kind: IdKind = "int",
        columns: dict[str, str] | None = None,
    ) -> None:
        self.path = path
        self.has_timestamp = has_timestamp
        self.rating_min = rating_min
        self.rating_max = rating_max
        self.columns = {c: c for c in schema.RATING_COLUMNS} | dict(columns or {})
        self.rows_read = 0
        self._users = _IdStore(user_kind)
        self._items = _IdStore(item_kind)
        self._ratings: list[np.ndarray] = []
        self._ts: list[np.ndarray] = []
        self._lines: list[np.ndarray] = []
        self._rej_lines: list[np.ndarray] = []
        self._rej_codes: list[np.ndarray] = []
        self._rej_cols: list[str] = []
        self._rej_raw: list[str] = []

    def reject(self, lines: np.ndarray, reason: str, raws: Sequence[str], column: str = "") -> None:
        """Record rows rejected before parsing (e.g. wrong field count); they count as read."""
        if len(lines) == 0:
            return
        self.rows_read += len(lines)
        self._add_rejects(np.asarray(lines, dtype=np.int64), reason, [column] * len(lines), raws)

    def _add_rejects(
        self, lines: np.ndarray, reason: str | np.ndarray, cols: Sequence[str], raws: Sequence[str]
    ) -> None:
        codes = (
            np.full(len(lines), _REASON_CODE[reason], dtype=np.int8)
            if isinstance(reason, str)
            else reason.astype(np.int8)
        )
        self._rej_lines.append(lines)
        self._rej_codes.append(codes)
        self._rej_cols.extend(cols)
        self._rej_raw.extend(r if len(r) <= _MAX_RAW else r[:_MAX_RAW] for r in raws)

    def add(
        self,
        cols: dict[str, pd.Series],
        lines: np.ndarray,
        raw_of: Callable[[np.ndarray], list[str]],
    ) -> None:
        """Validate one chunk.

        ``cols`` maps canonical names (USER, ITEM, RATING and, with timestamps, TIMESTAMP)
        to equally long raw columns; ``lines`` are their 1-based line numbers;
        ``raw_of(positions)`` returns the original text of the given chunk positions.
        """
        n = len(lines)
        self.rows_read += n
        if n == 0:
            return
        users = parse_ids(cols[schema.USER], self._users.kind)
        items = parse_ids(cols[schema.ITEM], self._items.kind)
        ratings, r_status = parse_ratings(cols[schema.RATING], self.rating_min, self.rating_max)
        reason = np.zeros(n, dtype=np.int8)
        column = np.full(n, "", dtype=object)

        def mark(bad: np.ndarray, code: str, col: str) -> None:
            sel = bad & (reason == 0)
            reason[sel] = _REASON_CODE[code]
            column[sel] = self.columns[col]

        mark(users.status == MISSING, "missing_value", schema.USER)
        mark(users.status == BAD, "bad_user_id", schema.USER)
        mark(items.status == MISSING, "missing_value", schema.ITEM)
        mark(items.status == BAD, "bad_movie_id", schema.ITEM)
        mark(r_status == MISSING, "missing_value", schema.RATING)
        mark(r_status == BAD, "non_numeric_rating", schema.RATING)
        mark(r_status == OUT_OF_RANGE, "rating_out_of_range", schema.RATING)
        ts: np.ndarray | None = None
        if self.has_timestamp:
            ts, t_status = parse_timestamps(cols[schema.TIMESTAMP])
            mark(t_status == MISSING, "missing_value", schema.TIMESTAMP)
            mark(t_status == BAD, "bad_timestamp", schema.TIMESTAMP)
        keep = reason == 0
        bad = np.flatnonzero(~keep)
        if len(bad):
            self._add_rejects(
                np.asarray(lines, dtype=np.int64)[bad], reason[bad], list(column[bad]), raw_of(bad)
            )
        self._users.add(users, keep)
        self._items.add(items, keep)
        self._ratings.append(ratings[keep])
        if ts is not None:
            self._ts.append(ts[keep])
        self._lines.append(np.asarray(lines, dtype=np.int64)[keep])

    def _rejects_frame(self) -> pd.DataFrame:
        if not self._rej_lines:
            return empty_rejects()
        codes = np.concatenate(self._rej_codes)
        df = pd.DataFrame(
            {
                schema.LINE: np.concatenate(self._rej_lines).astype(np.int64),
                "column": pd.Series(self._rej_cols, dtype=object),
                schema.REASON: np.asarray(REASONS, dtype=object)[codes - 1],
                schema.RAW: pd.Series(self._rej_raw, dtype=object),
            },
            columns=list(REJECT_COLUMNS),
        )
        return df.sort_values(schema.LINE, kind="stable").reset_index(drop=True)

    def finish(
        self,
        duplicates: str,
        max_reject_fraction: float,
        raw_of_lines: Callable[[np.ndarray], list[str]],
        *,
        keep_lines: bool = False,
    ) -> BuildResult:
        """Check the reject share, map ids, apply the duplicate policy and build the frames.

        Raises:
            DataError: no rows at all ("no ratings"); the share of rejected rows exceeds
                ``max_reject_fraction``; no valid row is left; or ``duplicates="error"`` and a
                (user, movie) pair occurs more than once.
        """
        if self.rows_read == 0:
            raise DataError("no ratings (the file has no data rows)", path=self.path)
        rejects = self._rejects_frame()
        n_bad = len(rejects)
        if n_bad / self.rows_read > max_reject_fraction:
            head = (
                f"{n_bad:,} of {self.rows_read:,} rows rejected "
                f"({n_bad / self.rows_read:.1%} > max_reject_fraction {max_reject_fraction:.0%}); "
                "first bad lines: "
            )
            shown = [
                f"line {row[schema.LINE]} ({row[schema.REASON]}"
                + (f" in {quote_cell(row['column'])}" if row["column"] else "")
                + f"): {quote_cell(row[schema.RAW])}"
                for _, row in rejects.head(3).iterrows()
            ]
            budget = MAX_MESSAGE - len(head) - len(shorten_middle(self.path)) - 2
            raise DataError(head + join_within(shown, budget), path=self.path)
        users, user_ids = self._users.finish()
        items, item_ids = self._items.finish()
        ratings = _drain(self._ratings, np.float64)
        lines = _drain(self._lines, np.int64)
        ts = _drain(self._ts, np.int64) if self.has_timestamp else None
        if len(lines) == 0:
            raise DataError(
                f"no valid ratings: all {self.rows_read:,} rows were rejected", path=self.path
            )
        keep, ratings, ts = apply_duplicate_policy(
            duplicates,
            users,
            items,
            ratings,
            ts,
            lines,
            describe=lambda u, i: (_orig(user_ids, u), _orig(item_ids, i)),
            path=self.path,
        )
        n_dup = 0
        if keep is not None:
            removed = np.flatnonzero(~keep)
            n_dup = len(removed)
            dup_lines = lines[removed]
            dup = pd.DataFrame(
                {
                    schema.LINE: dup_lines,
                    "column": pd.Series([""] * n_dup, dtype=object),
                    schema.REASON: pd.Series(["duplicate"] * n_dup, dtype=object),
                    schema.RAW: pd.Series(raw_of_lines(dup_lines), dtype=object),
                }
            )
            rejects = (
                pd.concat([rejects, dup], ignore_index=True)
                .sort_values(schema.LINE, kind="stable")
                .reset_index(drop=True)
            )
            users, items, ratings = users[keep], items[keep], ratings[keep]
            ts = None if ts is None else ts[keep]
            lines = lines[keep]
        data: dict[str, Any] = {
            schema.USER: users.astype(np.int32, copy=False),
            schema.ITEM: items.astype(np.int32, copy=False),
            schema.RATING: ratings.astype(np.float64, copy=False),
        }
        if ts is not None:
            data[schema.TIMESTAMP] = ts.astype(np.int64, copy=False)
        counts = rejects[schema.REASON].value_counts()
        rejected = {r: int(counts[r]) for r in REASONS if r in counts.index}
        return BuildResult(
            ratings=pd.DataFrame(data),
            rejects=rejects,
            user_ids=user_ids,
            item_ids=item_ids,
            rows_read=self.rows_read,
            rejected=rejected,
            duplicates=n_dup,
            lines=lines if keep_lines else None,
        )


def _orig(ids: np.ndarray | None, dense: int) -> object:
    return dense if ids is None else ids[dense]
