"""Delimited ratings text (MovieLens layouts, CSV/TSV, part files) parsed on the executors.

The layout (separator, header, columns, id kinds) is detected on the driver from a sample
of one file (its first 64 KiB and 8 windows of 16 KiB spread over the rest, as
:func:`movierec.data.textio.read_sample` takes it) with the local reader's own functions
(:mod:`movierec.data.detect`), so both readers agree on it. The lines are then read by
``spark.read.text`` with Hadoop's default line reader, which ends a line at LF, CRLF or a
lone CR in any mix (rule R1), exactly the local reader's line numbering. Unless
``data.encoding`` is set, one aggregation on the executors chooses the encoding
(:mod:`movierec.engines.spark.encoding`); each line is then decoded, its control characters
made SUB (rule C2), split and counted as :mod:`movierec.data.textscan` does (double quotes
removed, ``::`` and whitespace runs as separators), and its cells go through the rules of
:mod:`movierec.engines.spark.cells`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from movierec import schema
from movierec.config import DataConfig
from movierec.data.detect import TextLayout, detect_layout, normalize_sep
from movierec.data.sources import INT_ID_LAYOUTS, LAYOUT_SEP
from movierec.data.textio import (
    _MAGIC,
    _NON_CONTROL,
    BINARY_CONTROL_SHARE,
    BOM,
    EncodingGuess,
    decode_error,
    sample_of,
)
from movierec.engines.spark import cells as C
from movierec.engines.spark.encoding import (
    MIXED_HINT,
    charset,
    choose_encoding,
    decode,
    invalid,
    scan_encoding,
)
from movierec.engines.spark.numbering import FILE, FIRST, LINE, ORD, number_rows, scan_columns
from movierec.engines.spark.parsed import PREFIX, Parsed, cell_columns
from movierec.engines.spark.source import Located, read_head, read_windows
from movierec.errors import DataError

__all__ = ["charset", "check_not_binary", "decode", "detect", "encoding_error", "parse_text"]

_UNIT = "\x1f"
_SUB = "\x1a"
_REGEX_META = ".$|()[]{}^?*+\\"


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


@dataclass(frozen=True)
class Detected:
    """What :func:`detect` found: the layout, the encoding the sample was decoded with
    (``data.encoding``, or guessed from the head as the local reader does), the header
    text ("" without one) and whether the sampled file starts with a UTF-8 BOM."""

    layout: TextLayout
    encoding: str
    header: str
    bom: bool


def detect(spark: SparkSession, loc: Located, cfg: DataConfig) -> Detected:
    """Detect the layout of ``loc`` from a sample of its sample file: its first 64 KiB and
    windows spread over the rest (:func:`movierec.data.textio.read_sample`).

    Raises:
        ConfigError: an encoding the Spark reader does not support.
        DataError: what :func:`movierec.data.detect.detect_layout` raises (one-line
            DataErrors), a binary file, or a head that is not valid text.
    """
    if cfg.encoding:
        charset(cfg.encoding)
    assert loc.sample is not None
    raw, whole = read_head(spark, loc.sample, keep_bom=True)
    check_not_binary(raw, loc.shown)
    bom = raw.startswith(BOM)
    head = raw[len(BOM) :] if bom else raw
    cut = head if whole else head[: max(head.rfind(b"\n"), head.rfind(b"\r")) + 1]
    enc = EncodingGuess(Path(loc.shown), cfg.encoding or None, bom).feed(cut, 1)
    windows = [] if whole else read_windows(spark, loc.sample)
    sample = sample_of(head, whole, enc, windows)
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
    return Detected(layout, enc, header, bom)


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


def parse_text(spark: SparkSession, loc: Located, cfg: DataConfig, lo: float, hi: float) -> Parsed:
    """Read and parse the delimited text at ``loc`` into a :class:`Parsed` frame (lazy; runs
    the sample read, one numbering job and, unless ``data.encoding`` is set, one encoding
    scan). ``Parsed.encoding`` is the encoding the lines are decoded with.

    Raises:
        ConfigError: an unsupported encoding.
        DataError: the file is binary, not a ratings file, its head is not valid text, or
            (detecting) it mixes UTF-8 with another encoding (names the first bad line).
    """
    found = detect(spark, loc, cfg)
    layout, header_text = found.layout, found.header
    # Rule R1: Hadoop's default line reader ends a line at LF, CRLF or a lone CR, in any mix.
    scan = spark.read.text(loc.uri).select(
        F.col("value").cast("binary").alias("_bin"), *scan_columns()
    )
    nonblank = None
    if header_text and loc.sample != loc.uri:  # a folder or glob: each file may have a header
        bom = F.expr("substr(_bin, 1, 3)") == F.unhex(F.lit("EFBBBF"))
        text = decode(
            F.when(bom, F.expr("substr(_bin, 4)")).otherwise(F.col("_bin")), charset(found.encoding)
        )
        nonblank = C.strip_text(text) != ""
    numbered = number_rows(spark, scan, per_file=True, nonblank=nonblank)
    df = numbered.df
    bom = (F.col(LINE) == 1) & (F.expr("substr(_bin, 1, 3)") == F.unhex(F.lit("EFBBBF")))
    data = F.when(bom, F.expr("substr(_bin, 4)")).otherwise(F.col("_bin"))
    lines = df.select(LINE, ORD, FILE, data.alias("_data"))
    if cfg.encoding:
        enc = cfg.encoding
        bad_enc = invalid(data, charset(enc))
    else:
        scanned = scan_encoding(lines, "_data", ORD)
        guessed = choose_encoding(scanned, found.bom)
        if guessed is None:
            assert scanned.first_bad is not None
            raise encoding_error(lines, scanned.first_bad, loc.shown, "utf-8", "UTF-8", MIXED_HINT)
        enc = guessed
        bad_enc = F.lit(False)
    cs = charset(enc)
    # Stages (each a select over the previous) keep Spark from inlining one expression
    # into every test that reads it.
    keep = [LINE, ORD, FILE, FIRST, "_bad_enc"]
    s0 = df.select(
        LINE, ORD, FILE, FIRST, bad_enc.alias("_bad_enc"), decode(data, cs).alias("_dec")
    )
    dec = F.col("_dec")
    # Rule C2: a control character makes its cell bad (SUB fails every cell rule); vertical
    # tab and form feed separate whitespace fields.
    controls = (
        C.CONTROLS.replace("\x0b", "").replace("\x0c", "") if layout.sep == "ws" else C.CONTROLS
    )
    body = F.translate(dec, controls, _SUB * len(controls))
    body = F.translate(body, '"', "")  # rule R3: a double quote is never part of a value
    fields, line = _split(body, layout.sep)
    s1 = s0.select(
        *keep,
        dec.alias("_raw"),
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


def encoding_error(
    lines: DataFrame, first: int, shown: str, codec: str, label: str, hint: str
) -> DataError:
    """The local reader's error (:func:`movierec.data.textio.decode_error`) for the line at
    position ``first`` (``_ord``) of ``lines`` (``_line``, ``_ord``, ``_file``, ``_data``),
    which is not valid ``codec`` text: reads that line and the next, at most 64 KiB of
    each (the message quotes 4 bytes from the first bad one, which may run into the next
    line)."""
    at = lines.where(F.col(ORD) == first).select(FILE).first()
    if at is None:  # pragma: no cover - ``first`` comes from a scan of these lines
        return DataError(f"not valid {label} text", path=shown)
    rows = (
        lines.where(F.col(ORD).between(first, first + 1))
        .where(F.col(FILE) == at[FILE])
        .orderBy(ORD)
        .select(LINE, F.expr("substr(_data, 1, 65536)").alias("b"))
        .collect()
    )
    line = int(rows[0][LINE])
    data = b"\n".join(bytes(r["b"]) for r in rows)
    try:
        data.decode(codec)
    except UnicodeDecodeError as exc:
        return decode_error(exc, data, line, Path(shown), label, hint)
    return DataError(f"not valid {label} text", path=shown, line=line)


def bad_line_error(parsed: Parsed, shown: str) -> DataError:
    """The error for the first line of ``parsed`` that is not valid text in the declared
    ``data.encoding`` (``parsed.encoding``); runs two small jobs."""
    assert parsed.lines is not None
    enc = parsed.encoding
    first = parsed.lines.where("_bad_enc").agg(F.min(ORD)).first()
    if first is None or first[0] is None:  # pragma: no cover - only called after a count
        return DataError(f"not valid {enc} text", path=shown)
    codec = "utf-8" if enc == "utf-8-sig" else enc
    return encoding_error(parsed.lines, int(first[0]), shown, codec, enc, "set data.encoding")
