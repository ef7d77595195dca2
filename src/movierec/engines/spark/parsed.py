"""The frame every Spark input parser produces, before rows are classified.

Columns of :attr:`Parsed.df` (all computed on the executors):

* ``_line`` (long): 1-based line in its file (text) or row over all files (records);
  ``_ord`` (long): 0-based position over all input, in path order; ``_file`` (string);
* ``_skip`` (bool): blank line or header, not a row (not counted as read);
* ``_wrong`` (bool): wrong number of fields (or a malformed JSON record);
* ``_bad_enc`` (bool): the line is not valid text in the encoding (the load fails);
* ``_raw`` (string): the row's original text, for rejects;
* per canonical column ``c`` in (``_u``, ``_i``, ``_r``, ``_t``): ``c_st`` (int status),
  ``c`` (parsed value) and for ids ``c_txt`` (text key).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from movierec import schema
from movierec.engines.spark.cells import Cell

PREFIX = {schema.USER: "_u", schema.ITEM: "_i", schema.RATING: "_r", schema.TIMESTAMP: "_t"}
"""Column prefix of each canonical field in a parsed frame."""


@dataclass
class Parsed:
    """A parsed input: ``df`` (columns above), the source name of each canonical column
    (``names``, for the rejects' "column"), id kinds, and the report's ``format``."""

    df: DataFrame
    names: dict[str, str]
    has_timestamp: bool
    user_kind: str
    item_kind: str
    format: str
    files: list[str] = field(default_factory=list)
    encoding: str = "utf-8"
    lines: DataFrame | None = None
    """Text only: the numbered lines' bytes (``_line``, ``_ord``, ``_file``, ``_data``,
    ``_bad_enc``), read again only to quote the first undecodable line."""


def cell_columns(cells: dict[str, Cell]) -> list[Column]:
    """The ``_u_st``, ``_u``, ``_u_txt`` … columns of parsed ``cells`` (canonical → Cell)."""
    out: list[Column] = []
    for canon, cell in cells.items():
        p = PREFIX[canon]
        out += [cell.status.alias(f"{p}_st"), cell.value.alias(p)]
        if canon in (schema.USER, schema.ITEM):
            text = cell.text if cell.text is not None else F.lit(None).cast("string")
            out.append(text.alias(f"{p}_txt"))
    return out
