"""Result types of the ratings loader: :class:`LoadReport` and :class:`LoadedRatings`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from movierec import schema

REASONS: tuple[str, ...] = (
    "wrong_field_count",
    "missing_value",
    "bad_user_id",
    "bad_movie_id",
    "non_numeric_rating",
    "rating_out_of_range",
    "bad_timestamp",
    "duplicate",
)
"""The fixed vocabulary of reject reasons, in the order they are checked."""

REJECT_COLUMNS: tuple[str, ...] = (schema.LINE, "column", schema.REASON, schema.RAW)
"""Columns of the rejects table: 1-based line (or Parquet row) number, offending column
("" when the whole row is at fault), reason from :data:`REASONS`, original text."""

LAYOUTS: tuple[str, ...] = ("ml-100k", "ml-dat", "ml-csv", "delimited", "parquet")
"""Source layouts a :class:`LoadReport` can name."""


@dataclass(frozen=True)
class LoadReport:
    """What :func:`movierec.data.load_ratings` read, kept and rejected.

    Invariant: ``rows_read == rows_kept + sum(rejected.values())`` (``rejected`` includes
    the ``"duplicate"`` count, which equals ``duplicates``).
    """

    path: str
    format: str
    rows_read: int
    rows_kept: int
    rejected: dict[str, int]
    duplicates: int
    has_timestamp: bool
    rating_min: float
    rating_max: float
    ids_mapped: bool
    encoding: str | None = None
    """Encoding the ratings text was decoded with (None for Parquet); see data.textio."""
    movies_encoding: str | None = None
    """Encoding of the movies file, when there is one."""

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict (plain ints, floats, strs and bools)."""
        out = asdict(self)
        out["rejected"] = {str(k): int(v) for k, v in self.rejected.items()}
        return out


@dataclass
class LoadedRatings:
    """Validated ratings in the canonical schema, with their rejects and provenance.

    ``ratings`` has columns :data:`schema.USER` (int32), :data:`schema.ITEM` (int32),
    :data:`schema.RATING` (float64) and, when the source has one, :data:`schema.TIMESTAMP`
    (int64), a RangeIndex, in file order. ``user_ids`` / ``item_ids`` hold the original ids
    indexed by the dense id when that column was remapped, else None. ``movies`` has
    :data:`schema.ITEM` (int32, same mapping as the ratings), :data:`schema.TITLE` and
    :data:`schema.GENRES` ("Comedy|Drama"), or is None when there is no movies file.
    """

    ratings: pd.DataFrame
    rejects: pd.DataFrame
    report: LoadReport
    user_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None
    movies: pd.DataFrame | None = None
    lines: np.ndarray | None = None
    """Source line (Parquet: row) of each row of ``ratings``, when loaded with ``keep_lines``."""


def empty_rejects() -> pd.DataFrame:
    """Return an empty rejects table with the canonical columns and dtypes."""
    return pd.DataFrame(
        {
            schema.LINE: pd.Series([], dtype="int64"),
            "column": pd.Series([], dtype=object),
            schema.REASON: pd.Series([], dtype=object),
            schema.RAW: pd.Series([], dtype=object),
        }
    )
