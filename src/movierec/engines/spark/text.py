"""Delimited ratings text (MovieLens layouts, CSV/TSV, part files) parsed on the executors.

The layout (separator, header, columns, id kinds) is detected on the driver from the first
64 KiB of one file with the local reader's own functions (:mod:`movierec.data.detect`), so
both readers agree on it. The lines are then read by ``spark.read.text`` split on ``\\n``
only, exactly the local reader's line numbering; each line is decoded, split and counted
as :mod:`movierec.data.textscan` does (``\\r\\n`` taken as ``\\n``, double quotes removed when
the sample has any, ``::`` and whitespace runs as separators), and its cells go through the
rules of :mod:`movierec.engines.spark.cells`.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from movierec import schema
from movierec.config import DataConfig
from movierec.data.detect import TextLayout, detect_layout, normalize_sep
from movierec.data.sources import INT_ID_LAYOUTS, LAYOUT_SEP
from movierec.data.textio import (
    _MAGIC,
    _NON_CONTROL,
    BINARY_CONTROL_SHARE,
    HEAD_FIRST,
    HEAD_LINES,
    Sample,
    decode_error,
    normalize_breaks,
)
from movierec.engines.spark import cells as C
from movierec.engines.spark.numbering import FILE, FIRST, LINE, ORD, number_rows, scan_columns
from movierec.engines.spark.parsed import PREFIX, Parsed, cell_columns
from movierec.engines.spark.source import Located, read_head
from movierec.errors import ConfigError, DataError

_CHARSETS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "iso8859-1": "ISO-8859-1", "ascii": "US-ASCII"}
_UNIT = "\x1f"
_REGEX_META = ".$|()[]{}^?*+\\"


def charset(encoding: str) -> str:
    """The Java charset Spark decodes ``encoding`` (a Python codec name) with.

    Raises:
        ConfigError: an encoding the Spark reader does not support.
    """
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        name = ""
    if name not in _CHARSETS:
        raise ConfigError(
            f"data.encoding {encoding!r} is not supported by the Spark reader; "
            "use utf-8, latin-1 or ascii"
        )
    return _CHARSETS[name]


def decode(data: Column, cs: str) -> Column:
    """Binary ``data`` as text in charset ``cs`` (from :func:`charset`); bytes that are not
    valid UTF-8 become U+FFFD (never an error: such lines are flagged and refused apart)."""
    if cs == "UTF-8":
        return F.make_valid_utf8(data.cast("string"))
    return F.decode(data, "ISO-8859-1")  # latin-1, and ASCII (bytes >= 0x80 are flagged)


def _split(body: Column, sep: str) -> tuple[Column, Column]:
    """(fields, transformed line) of ``body`` under separator ``sep`` (internal form).
    Single-character patterns keep Java's fast split (no regular expression)."""
    if sep == "::":
        line = F.replace(body, F.lit("::"), F.lit(_UNIT))
    elif sep == "ws":
        line = F.regexp_replace(body, "[ \\t\\x0B\\f]+", _UNIT)
        line = F.regexp_replace(line, f"\\A{_UNIT}|{_UNIT}\\z", "")
    else:
        return F.split(body, "\\" + sep if sep in _REGEX_META else sep, -1), body
    return F.split(line, _UNIT, -1), line


def detect(spark: SparkSession, loc: Located, cfg: DataConfig) -> tuple[TextLayout, str, str]:
    """Detect the layout of ``loc`` from the head of its sample file.

    Returns (layout, Python encoding, header text or ""). Raises what
    :func:`movierec.data.detect.detect_layout` raises (one-line DataErrors).
    """
    enc = cfg.encoding or ("latin-1" if loc.layout in INT_ID_LAYOUTS else "utf-8")
    charset(enc)
    assert loc.sample is not None
    head, whole = read_head(spark, loc.sample)
    check_not_binary(head, loc.shown)
    sample = sample_head(head, whole, enc, loc.shown)
    if cfg.sep:
        sep: str | None = normalize_sep(cfg.sep)
    elif loc.explicit and loc.layout in LAYOUT_SEP:
        sep = LAYOUT_SEP[loc.layout]
    else:
        sep = None
    layout = detect_layout(
        sample,
        Path(loc.shown),
        sep=sep,
        header=cfg.header,
        columns=cfg.columns,
        int_ids=loc.layout in INT_ID_LAYOUTS,
    )
    header = next((t for ln, t in sample.head if ln == layout.header_line), "")
    return layout, enc, header


def check_not_binary(head: bytes, shown: str, what: str = "ratings") -> None:
    """:func:`movierec.data.textio.check_not_binary` on the first bytes of a file (read by
    Spark), with the same checks and messages.

    Raises:
        DataError: magic bytes of a binary format, or too many control bytes.
    """
    sample = head[:8192]
    for magic, kind in _MAGIC:
        if sample.startswith(magic):
            raise DataError(f"not a text {what} file: it is {kind}", path=shown)
    controls = len(sample.translate(None, _NON_CONTROL))
    if controls > 2 and controls > BINARY_CONTROL_SHARE * len(sample):
        utf16 = sample.count(b"\x00") * 3 > len(sample)
        hint = " (it looks like UTF-16 or UTF-32 text; convert it to UTF-8)" if utf16 else ""
        raise DataError(
            f"not a text {what} file: binary data{hint}; first bytes: {sample[:16]!r}",
            path=shown,
        )


def sample_head(head: bytes, whole: bool, encoding: str, shown: str) -> Sample:
    """The head records of :func:`movierec.data.textio.read_sample` from the first bytes of
    a file (no windows from the rest of the file: the Spark reader detects the layout from
    the head only), decoded strictly in ``encoding``.

    Raises:
        DataError: the head is not valid text in ``encoding``.
    """
    head = normalize_breaks(head)
    if not whole:
        cut = head.rfind(b"\n")
        head = head[: cut + 1] if cut >= 0 else b""
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    try:
        text = head.decode(codec)
    except UnicodeDecodeError as exc:
        raise decode_error(exc, head, 1, shown, encoding, "set data.encoding") from exc  # type: ignore[arg-type]
    out = [(i, t) for i, t in enumerate(text.split("\n"), start=1) if t.strip()]
    if len(out) > HEAD_LINES:
        rest = out[HEAD_FIRST:]
        step = len(rest) / (HEAD_LINES - HEAD_FIRST)
        out = out[:HEAD_FIRST] + [rest[int(k * step)] for k in range(HEAD_LINES - HEAD_FIRST)]
    return Sample(out, [], whole, text[:64].split("\n")[0])


def parse_text(spark: SparkSession, loc: Located, cfg: DataConfig, lo: float, hi: float) -> Parsed:
    """Read and parse the delimited text at ``loc`` into a :class:`Parsed` frame (lazy; runs
    the head read and one numbering job).

    Raises:
        ConfigError: an unsupported encoding.
        DataError: the file is binary, not a ratings file, or its head is not valid text.
    """
    layout, enc, header_text = detect(spark, loc, cfg)
    cs = charset(enc)
    scan = (
        spark.read.option("lineSep", "\n")
        .text(loc.uri)
        .select(F.col("value").cast("binary").alias("_bin"), *scan_columns())
    )
    nonblank = None
    if header_text and loc.sample != loc.uri:  # a folder or glob: each file may have a header
        bom = F.expr("substr(_bin, 1, 3)") == F.unhex(F.lit("EFBBBF"))
        text = decode(F.when(bom, F.expr("substr(_bin, 4)")).otherwise(F.col("_bin")), cs)
        nonblank = C.strip_text(text) != ""
    numbered = number_rows(spark, scan, per_file=True, nonblank=nonblank)
    df = numbered.df
    bom = (F.col(LINE) == 1) & (F.expr("substr(_bin, 1, 3)") == F.unhex(F.lit("EFBBBF")))
    data = F.when(bom, F.expr("substr(_bin, 4)")).otherwise(F.col("_bin"))
    if cs == "UTF-8":
        bad_enc = ~F.is_valid_utf8(data.cast("string"))
    elif cs == "US-ASCII":
        bad_enc = F.decode(data, "ISO-8859-1").rlike("[^\\x00-\\x7F]")
    else:
        bad_enc = F.lit(False)
    # Stages (each a select over the previous) keep Spark from inlining one expression
    # into every test that reads it.
    keep = [LINE, ORD, FILE, FIRST, "_bad_enc"]
    s0 = df.select(
        LINE, ORD, FILE, FIRST, bad_enc.alias("_bad_enc"), decode(data, cs).alias("_dec")
    )
    dec = F.col("_dec")
    body = F.when(dec.endswith("\r"), F.expr("substr(_dec, 1, length(_dec) - 1)")).otherwise(dec)
    body = F.translate(body, '"', "")  # rule R3: a double quote is never part of a value
    fields, line = _split(body, layout.sep)
    s1 = s0.select(
        *keep,
        F.rtrim(dec, F.lit("\r")).alias("_raw"),
        fields.alias("_fields"),
        (line == "").alias("_empty"),
    )
    nf = F.size("_fields")
    k = layout.nfields
    raw = F.col("_raw")
    blank = F.col("_empty") | ((nf != k) & (C.strip_text(raw) == ""))
    if layout.header_line is None:
        header = F.lit(False)
    else:
        sampled = numbered.files[0] if numbered.files else ""
        others = (F.col(LINE) == F.col(FIRST)) & (raw == F.lit(header_text))
        at = F.col(LINE) == layout.header_line
        header = F.coalesce(
            F.when(F.col(FILE) == F.lit(sampled), at).otherwise(others), F.lit(False)
        )
    skip = blank | header
    pos = layout.positions
    kinds = {schema.USER: layout.user_kind, schema.ITEM: layout.item_kind}
    canons = [c for c in schema.RATING_COLUMNS if c in pos]
    base = [LINE, ORD, FILE, "_skip", "_wrong", "_bad_enc", "_raw"]
    s2 = s1.select(
        LINE,
        ORD,
        FILE,
        skip.alias("_skip"),
        (~skip & (nf != k)).alias("_wrong"),
        "_bad_enc",
        "_raw",
        *[c for canon in canons for c in C.stage_text(F.get("_fields", pos[canon]), PREFIX[canon])],
    )
    s3 = s2.select(
        *base,
        *[c for canon in canons for c in C.stage_number(PREFIX[canon], kinds.get(canon) == "str")],
    )
    cells = {
        schema.USER: (C.text_str_id if layout.user_kind == "str" else C.text_int_id)("_u"),
        schema.ITEM: (C.text_str_id if layout.item_kind == "str" else C.text_int_id)("_i"),
        schema.RATING: C.text_rating("_r", lo, hi),
    }
    if layout.has_timestamp:
        cells[schema.TIMESTAMP] = C.text_timestamp("_t")
    out = s3.select(*base, *cell_columns(cells))
    parse_text.stages = (s0, s1, s2, s3, out)  # type: ignore[attr-defined]
    lines = df.select(LINE, ORD, FILE, data.alias("_data"), bad_enc.alias("_bad_enc"))
    fmt = loc.layout
    if fmt == "ml-csv" and not loc.explicit and (layout.sep != "," or layout.header_line is None):
        fmt = "delimited"
    return Parsed(
        out,
        dict(layout.names),
        layout.has_timestamp,
        layout.user_kind,
        layout.item_kind,
        fmt,
        numbered.files,
        enc,
        lines,
    )


def encoding_error(spark: SparkSession, parsed: Parsed, loc: Located, enc: str) -> DataError:
    """The local reader's error for the first line that is not valid ``enc`` text (reads
    that line and the next, at most 64 KiB of each: the message quotes 4 bytes from the
    first bad one, which may run into the next line)."""
    assert parsed.lines is not None
    first = parsed.lines.where("_bad_enc").orderBy(ORD).select(ORD, FILE).first()
    if first is None:  # pragma: no cover - only called when a bad line was counted
        return DataError(f"not valid {enc} text", path=loc.shown)
    rows = (
        parsed.lines.where(F.col(ORD).between(first[ORD], first[ORD] + 1))
        .where(F.col(FILE) == first[FILE])
        .orderBy(ORD)
        .select(LINE, F.expr("substr(_data, 1, 65536)").alias("b"))
        .collect()
    )
    line = int(rows[0][LINE])
    data = b"\n".join(bytes(r["b"]) for r in rows)
    try:
        data.decode(enc)
    except UnicodeDecodeError as exc:
        return decode_error(exc, data, line, Path(loc.shown), enc, "set data.encoding")
    return DataError(f"not valid {enc} text", path=loc.shown, line=line)
