"""The cell rules of :mod:`movierec.data.rules` as Spark column expressions.

Each ``*_cell`` function takes one raw column and returns a :class:`Cell`: a status column
(:data:`~movierec.data.rules.OK`, ``MISSING``, ``BAD``, ``OUT_OF_RANGE``) and the parsed
value. Text cells (delimited files, string columns) follow the text rules; typed columns
(Parquet, ORC, JSON, tables) the typed rules. Everything is a column expression, evaluated
on the executors; nothing here runs a job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from movierec.data import rules
from movierec.data.validate import CONTROL_CHARS, MAX_ID_LENGTH
from movierec.errors import DataError

_TEXT_SPACE = rules.java_class(rules.TEXT_SPACE)
_NUM_SPACE = rules.java_class(rules.NUMBER_SPACE)
_NUMBER = rf"\A{rules.NUMBER_PATTERN}\z"
_DIGITS = rf"\A{rules.INT_DIGITS_PATTERN}\z"
_MARKERS = sorted(rules.MISSING_MARKERS)
CONTROLS = "".join(chr(c) for c in range(128) if re.fullmatch(CONTROL_CHARS, chr(c)))
"""The control characters of rule C2 (:data:`movierec.data.validate.CONTROL_CHARS`)."""
_CONTROL = f"[{rules.java_class(CONTROLS)}]"
_INF = float("inf")
_PLAIN = "0123456789.eE+-"
_INTEGRAL_TYPES = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
_FLOAT_TYPES = (T.FloatType, T.DoubleType)


@dataclass(frozen=True)
class Cell:
    """A parsed cell: ``status`` (int code), ``value`` (long for ids and timestamps, double
    for ratings; null unless OK) and, for ids, ``text`` (a text key, else null)."""

    status: Column
    value: Column
    text: Column | None = None


def strip_text(c: Column) -> Column:
    """``c`` without leading and trailing whitespace as Python's ``str.strip()`` sees it."""
    return F.regexp_replace(c, rf"\A[{_TEXT_SPACE}]+|[{_TEXT_SPACE}]+\z", "")


def _strip_number(c: Column) -> Column:
    return F.regexp_replace(c, rf"\A[{_NUM_SPACE}]+|[{_NUM_SPACE}]+\z", "")


def is_missing(t: Column) -> Column:
    """True where the stripped text ``t`` is a missing-value marker (never null)."""
    return F.coalesce(F.lower(t).isin(_MARKERS), F.lit(True))


def _true(c: Column) -> Column:
    return F.coalesce(c, F.lit(False))


def _integral(f: Column) -> Column:
    return _true((f % F.lit(1.0)) == 0)


def _status(*pairs: tuple[Column, int], default: int) -> Column:
    out = None
    for cond, code in pairs:
        out = F.when(cond, F.lit(code)) if out is None else out.when(cond, F.lit(code))
    assert out is not None
    return out.otherwise(F.lit(default))


def stage_text(s: Column, p: str) -> list[Column]:
    """First stage of a text cell ``s``: ``{p}_t`` (stripped text), ``{p}_n`` (text
    stripped for the number parser) and ``{p}_plain`` (only number characters, so neither
    strip applies: the fast path, no regular expression). Parsers select the stages one
    after the other, so Spark computes each expression once per cell."""
    s0 = F.coalesce(s, F.lit(""))
    plain = F.translate(s0, _PLAIN, "") == ""
    return [
        F.when(plain, s0).otherwise(strip_text(s0)).alias(f"{p}_t"),
        F.when(plain, s0).otherwise(_strip_number(s0)).alias(f"{p}_n"),
        plain.alias(f"{p}_plain"),
    ]


def stage_number(p: str, of_text: bool = False) -> list[Column]:
    """Second stage: ``{p}_t`` carried on and ``{p}_f``, the finite number of ``{p}_n``
    (of ``{p}_t`` when ``of_text``: text ids), else null. A plain cell (digits, ``.``,
    ``e``, signs) skips the pattern: for those characters Spark's (Java's) number parser
    accepts exactly :data:`~movierec.data.rules.NUMBER_PATTERN`."""
    n = F.col(f"{p}_t" if of_text else f"{p}_n")
    d = n.try_cast("double")
    syntax = F.when(F.col(f"{p}_plain"), F.lit(True)).otherwise(n.rlike(_NUMBER))
    f = F.when(syntax & (F.abs(d) < F.lit(_INF)), d)
    return [F.col(f"{p}_t"), f.alias(f"{p}_f")]


def _tf(p: str) -> tuple[Column, Column]:
    return F.col(f"{p}_t"), F.col(f"{p}_f")


def text_int_id(p: str) -> Cell:
    """An integer id from the staged text cell ``p``: exact digits (a text key beyond
    int64), integral numbers; a cell longer than
    :data:`~movierec.data.validate.MAX_ID_LENGTH` is only an id when it is an exact
    integral number (rule C3: ``000…01`` is 1; a longer digit run or ``1e17`` is BAD)."""
    t, f = _tf(p)
    good = _integral(f) & (F.abs(f) <= F.lit(float(rules.EXACT_FLOAT_INT)))
    exact = t.try_cast("long")
    short = F.length(t) <= F.lit(MAX_ID_LENGTH)
    digits = t.rlike(_DIGITS) & short
    near = _integral(f) & (F.abs(f) < F.lit(2.0**63)) & short
    missing = is_missing(t)
    status = _status((missing, rules.MISSING), (good | digits | near, rules.OK), default=rules.BAD)
    value = F.when(good, f.try_cast("long")).when(digits, exact).when(near, f.try_cast("long"))
    big = F.regexp_replace(F.regexp_replace(t, r"\A\+", ""), r"\A(-?)0+(?=\d)", "$1")
    text = F.when(~good & digits & exact.isNull() & ~missing, big)
    return Cell(status, value, text)


def text_str_id(p: str) -> Cell:
    """A text id from the staged cell ``p`` (staged ``of_text``): any stripped text except
    missing markers, fractional numbers, texts holding a control character (rule C2) and
    texts longer than :data:`~movierec.data.validate.MAX_ID_LENGTH` (rule C3)."""
    t, f = _tf(p)
    bad = (f.isNotNull() & ~_integral(f)) | t.rlike(_CONTROL) | (F.length(t) > F.lit(MAX_ID_LENGTH))
    status = _status((is_missing(t), rules.MISSING), (bad, rules.BAD), default=rules.OK)
    return Cell(status, F.lit(None).cast("long"), F.when(status == rules.OK, t))


def text_rating(p: str, lo: float, hi: float) -> Cell:
    """A rating from the staged text cell ``p``: a finite number within ``[lo, hi]``."""
    t, f = _tf(p)
    status = _status(
        (f.isNull() & is_missing(t), rules.MISSING),
        (f.isNull(), rules.BAD),
        ((f < F.lit(lo)) | (f > F.lit(hi)), rules.OUT_OF_RANGE),
        default=rules.OK,
    )
    return Cell(status, f)


def text_timestamp(p: str) -> Cell:
    """Epoch seconds from the staged text cell ``p``: an exact integral number, or digits
    within int64."""
    t, f = _tf(p)
    good = _integral(f) & (F.abs(f) <= F.lit(float(rules.EXACT_FLOAT_INT)))
    exact = F.when(t.rlike(_DIGITS), t.try_cast("long"))
    status = _status(
        (is_missing(t), rules.MISSING), (good | exact.isNotNull(), rules.OK), default=rules.BAD
    )
    return Cell(status, F.when(good, f.try_cast("long")).otherwise(exact))


def _unsupported(name: str, dtype: T.DataType, what: str) -> DataError:
    return DataError(
        f"column {name!r} has type {dtype.simpleString()}, which cannot hold {what}; "
        "use numbers or text"
    )


def is_text(dtype: T.DataType) -> bool:
    """True for column types read with the text rules (strings; decimals as their digits)."""
    return isinstance(dtype, (T.StringType, T.DecimalType))


def text_source(c: Column, dtype: T.DataType) -> Column:
    """The text a text-typed column (:func:`is_text`) is read as."""
    return c if isinstance(dtype, T.StringType) else c.cast("string")


def _numeric(c: Column, dtype: T.DataType) -> Column:
    return c.cast("long" if isinstance(dtype, T.BooleanType) else "double")


def typed_id(c: Column, dtype: T.DataType, name: str) -> Cell:
    """An id from a typed, non-text column: integer types as they are, integral floats.

    Raises:
        DataError: the column's type cannot hold ids (dates, arrays, structs, binary).
    """
    if isinstance(dtype, (*_INTEGRAL_TYPES, T.BooleanType)):
        v = c.cast("long")
        return Cell(_status((v.isNull(), rules.MISSING), default=rules.OK), v)
    if isinstance(dtype, _FLOAT_TYPES):
        f = c.cast("double")
        ok = _integral(f) & (F.abs(f) < F.lit(2.0**63))
        status = _status(
            (f.isNull() | F.isnan(f), rules.MISSING), (ok, rules.OK), default=rules.BAD
        )
        return Cell(status, F.when(ok, f.try_cast("long")))
    raise _unsupported(name, dtype, "ids")


def typed_rating(c: Column, dtype: T.DataType, name: str, lo: float, hi: float) -> Cell:
    """A rating from a typed, non-text column (numbers).

    Raises:
        DataError: the column's type cannot hold ratings.
    """
    if not isinstance(dtype, (*_INTEGRAL_TYPES, *_FLOAT_TYPES, T.DecimalType, T.BooleanType)):
        raise _unsupported(name, dtype, "ratings")
    f = _numeric(c, dtype).cast("double")
    status = _status(
        (f.isNull() | F.isnan(f), rules.MISSING),
        (F.abs(f) == F.lit(_INF), rules.BAD),
        ((f < F.lit(lo)) | (f > F.lit(hi)), rules.OUT_OF_RANGE),
        default=rules.OK,
    )
    return Cell(status, F.when(status == rules.OK, f))


def typed_timestamp(c: Column, dtype: T.DataType, name: str) -> Cell:
    """Epoch seconds from a typed, non-text column: integers, exact integral floats,
    timestamps (floored to whole seconds).

    Raises:
        DataError: the column's type cannot hold timestamps (dates, arrays, structs).
    """
    if isinstance(dtype, (*_INTEGRAL_TYPES, T.BooleanType)):
        v = c.cast("long")
        return Cell(_status((v.isNull(), rules.MISSING), default=rules.OK), v)
    if isinstance(dtype, T.TimestampType):
        v = F.unix_seconds(c)
        return Cell(_status((v.isNull(), rules.MISSING), default=rules.OK), v)
    if isinstance(dtype, T.TimestampNTZType):
        epoch = F.lit("1970-01-01 00:00:00").cast("timestamp_ntz")
        v = F.timestamp_diff("SECOND", epoch, c)
        return Cell(_status((c.isNull(), rules.MISSING), default=rules.OK), v)
    if isinstance(dtype, _FLOAT_TYPES):
        f = c.cast("double")
        ok = _integral(f) & (F.abs(f) <= F.lit(float(rules.EXACT_FLOAT_INT)))
        status = _status(
            (f.isNull() | F.isnan(f), rules.MISSING), (ok, rules.OK), default=rules.BAD
        )
        return Cell(status, F.when(ok, f.try_cast("long")))
    raise _unsupported(name, dtype, "timestamps")


def _quote_py(s: Column) -> Column:
    """Python's ``repr`` of a str (quotes, backslash, tab, newline and CR escapes)."""
    body = F.regexp_replace(s, r"\\", r"\\\\")
    for ch, esc in (("\t", r"\\t"), ("\n", r"\\n"), ("\r", r"\\r")):
        body = F.regexp_replace(body, ch, esc)
    dq = s.contains("'") & ~s.contains('"')
    single = F.concat(F.lit("'"), F.regexp_replace(body, "'", r"\\'"), F.lit("'"))
    return F.when(dq, F.concat(F.lit('"'), body, F.lit('"'))).otherwise(single)


def py_repr(c: Column, dtype: T.DataType) -> Column:
    """How the local reader shows a typed value in ``raw`` (Python ``repr`` of the value
    pandas gives: ``7.0``, ``'abc'``, ``None``, ``nan``); fractional doubles use Spark's
    formatting, which can differ from Python's for very large or small numbers."""
    if isinstance(dtype, T.StringType):
        return F.when(c.isNull(), F.lit("None")).otherwise(_quote_py(c))
    if isinstance(dtype, _INTEGRAL_TYPES):
        return F.when(c.isNull(), F.lit("nan")).otherwise(c.cast("string"))
    if isinstance(dtype, _FLOAT_TYPES):
        f = c.cast("double")
        whole = _integral(f) & (F.abs(f) < F.lit(1e16))
        return (
            F.when(f.isNull() | F.isnan(f), F.lit("nan"))
            .when(f == F.lit(_INF), F.lit("inf"))
            .when(f == F.lit(-_INF), F.lit("-inf"))
            .when(whole, F.concat(f.try_cast("long").cast("string"), F.lit(".0")))
            .otherwise(f.cast("string"))
        )
    if isinstance(dtype, T.BooleanType):
        return F.when(c.isNull(), F.lit("None")).when(c, F.lit("True")).otherwise(F.lit("False"))
    if isinstance(dtype, T.DecimalType):
        return F.when(c.isNull(), F.lit("None")).otherwise(
            F.concat(F.lit("Decimal('"), c.cast("string"), F.lit("')"))
        )
    return F.coalesce(c.cast("string"), F.lit("None"))
