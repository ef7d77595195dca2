"""Text encodings on the executors: decoding, validity and the automatic choice.

The Spark twin of :class:`movierec.data.textio.EncodingGuess`. When ``data.encoding`` is not
set, one aggregation over the lines of the input (:func:`scan_encoding`, computed by the
executors; the driver receives one row) finds whether any byte is non-ASCII, the first line
that is not valid UTF-8, the first valid non-ASCII line, and whether a byte undefined in
Windows-1252 occurs; :func:`choose_encoding` then applies the local reader's rule: UTF-8
(``utf-8-sig`` with a BOM) when the text is valid UTF-8, otherwise ``cp1252``, or
``latin-1`` when a byte undefined in cp1252 occurs; text whose first invalid UTF-8 byte
follows valid non-ASCII UTF-8 (or a BOM) is refused as a mix of encodings.

The local reader decides block by block (16 MiB blocks); this decides over the whole input
as one block, which is the same for files up to one block. Beyond that the two can differ
only on files mixing cp1252-only characters with bytes undefined in cp1252 in different
blocks (the local reader refuses those, this reads them as Latin-1).

Spark SQL decodes only a few charsets; Windows-1252 is decoded as Latin-1 with its 27
characters of the 0x80-0x9F range translated (the table comes from Python's codec).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from movierec.data.textio import _decodes
from movierec.errors import ConfigError

_C1 = range(0x80, 0xA0)
CP1252_UNDEFINED = bytes(b for b in _C1 if not _decodes(bytes([b]), "cp1252"))
"""Bytes Python's cp1252 codec refuses (0x81, 0x8D, 0x8F, 0x90, 0x9D)."""
_CP1252_FROM = "".join(chr(b) for b in _C1 if b not in CP1252_UNDEFINED)
_CP1252_TO = "".join(bytes([b]).decode("cp1252") for b in _C1 if b not in CP1252_UNDEFINED)
_UNDEFINED_CLASS = "[" + "".join(f"\\x{b:02X}" for b in CP1252_UNDEFINED) + "]"
_NON_ASCII = "[^\\x00-\\x7F]"

CHARSETS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "iso8859-1": "ISO-8859-1",
    "cp1252": "windows-1252",
    "ascii": "US-ASCII",
}
"""Python codec name -> the Java charset the Spark reader decodes it as."""


def charset(encoding: str) -> str:
    """The Java charset Spark decodes ``encoding`` (a Python codec name) with.

    Raises:
        ConfigError: an encoding the Spark reader does not support.
    """
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        name = ""
    if name not in CHARSETS:
        raise ConfigError(
            f"data.encoding {encoding!r} is not supported by the Spark reader; "
            "use utf-8, cp1252, latin-1 or ascii"
        )
    return CHARSETS[name]


def _latin1(data: Column) -> Column:
    return F.decode(data, "ISO-8859-1")


def decode(data: Column, cs: str) -> Column:
    """Binary ``data`` as text in charset ``cs`` (from :func:`charset`); bytes that are not
    valid in it become U+FFFD (UTF-8) or their Latin-1 character (never an error: such
    lines are flagged by :func:`invalid` and refused apart)."""
    if cs == "UTF-8":
        return F.make_valid_utf8(data.cast("string"))
    if cs == "windows-1252":
        return F.translate(_latin1(data), _CP1252_FROM, _CP1252_TO)
    return _latin1(data)  # latin-1, and ASCII (bytes >= 0x80 are flagged)


def invalid(data: Column, cs: str) -> Column:
    """True where binary ``data`` is not valid text in charset ``cs``."""
    if cs == "UTF-8":
        return ~F.is_valid_utf8(data.cast("string"))
    if cs == "windows-1252":
        return _latin1(data).rlike(_UNDEFINED_CLASS)
    if cs == "US-ASCII":
        return _latin1(data).rlike(_NON_ASCII)
    return F.lit(False)


@dataclass(frozen=True)
class EncodingScan:
    """What :func:`scan_encoding` found over the lines of an input (positions are the
    ``order`` column's values)."""

    non_ascii: bool
    undefined: bool
    """A byte undefined in cp1252 occurs."""
    first_bad: int | None
    """The first line that is not valid UTF-8."""
    bad_after_utf8: bool
    """That line holds valid non-ASCII UTF-8 before its first invalid byte."""
    first_utf8: int | None
    """The first non-ASCII line that is valid UTF-8."""


def scan_encoding(lines: DataFrame, data: str, order: str) -> EncodingScan:
    """One aggregation job over binary column ``data`` of ``lines`` (BOM removed), ordered
    by the long column ``order``; the driver receives one row."""
    raw = F.col(data)
    non_ascii = _latin1(raw).rlike(_NON_ASCII)
    valid = F.is_valid_utf8(raw.cast("string"))
    before = F.substring_index(F.make_valid_utf8(raw.cast("string")), "\ufffd", 1)
    bad = F.struct(F.col(order).alias("o"), before.rlike(_NON_ASCII).alias("mixed"))
    row = lines.agg(
        F.max(non_ascii.cast("int")).alias("non_ascii"),
        F.max(_latin1(raw).rlike(_UNDEFINED_CLASS).cast("int")).alias("undefined"),
        F.min(F.when(~valid, bad)).alias("bad"),
        F.min(F.when(valid & non_ascii, F.col(order))).alias("utf8"),
    ).first()
    assert row is not None
    first_bad = row["bad"]
    return EncodingScan(
        non_ascii=bool(row["non_ascii"]),
        undefined=bool(row["undefined"]),
        first_bad=None if first_bad is None else int(first_bad["o"]),
        bad_after_utf8=bool(first_bad is not None and first_bad["mixed"]),
        first_utf8=None if row["utf8"] is None else int(row["utf8"]),
    )


MIXED_HINT = (
    "earlier lines are UTF-8, so the file mixes encodings; convert it, or set data.encoding"
)
"""The local reader's hint for text that mixes UTF-8 and another encoding."""


def choose_encoding(scan: EncodingScan, bom: bool) -> str | None:
    """The encoding :class:`~movierec.data.textio.EncodingGuess` picks for the scanned
    text (see the module docstring), or None when the text mixes encodings (its first
    line not valid UTF-8 is ``scan.first_bad``; the error quotes it with
    :data:`MIXED_HINT`)."""
    utf8 = "utf-8-sig" if bom else "utf-8"
    if not scan.non_ascii or scan.first_bad is None:
        return utf8
    earlier = scan.first_utf8 is not None and scan.first_utf8 < scan.first_bad
    if bom or earlier or scan.bad_after_utf8:
        return None
    return "latin-1" if scan.undefined else "cp1252"
