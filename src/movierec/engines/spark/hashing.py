"""SplitMix64 keys on Spark columns, bit for bit equal to :func:`movierec.split.uniform_keys`.

The key of a row is SplitMix64(SplitMix64(seed·φ + salt) XOR (user << 32 | movie)) / 2^64 with
53-bit resolution (see :func:`movierec.split.uniform_keys`). SplitMix64 multiplies 64-bit
words modulo 2^64; Spark 4 runs with ANSI mode on, where a 64-bit multiply that overflows
raises, so the product is built from 16/32-bit limbs whose partial products never exceed
2^50, and the words are reassembled with shifts, masks and XOR (which never overflow). Pure
SQL: no Python workers, so it runs under Spark Connect and on executors without numpy.

Measured with ``benchmarks/spark_split_keys.py`` (sum of the keys of 4M cached rows,
``local[2]``, 2 cores shared with other jobs, load average 25-35; min of 3 interleaved runs):
plain scan 1.5 s, :func:`with_uniform_keys` (each word a projected column) 2.3 s,
:func:`uniform_keys_col` (rounds bound by ``transform``, interpreted) 8.9 s, the same
arithmetic as one nested expression 10.0 s plus ~9 s to plan and compile each new seed, a
numpy pandas UDF 9.2 s (and it needs Python workers with numpy). The splits use
:func:`with_uniform_keys`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from movierec.schema import ITEM, USER

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

_MASK64 = (1 << 64) - 1
_LOW32 = 0xFFFFFFFF
_LOW16 = 0xFFFF
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_GOLDEN = 0x9E3779B97F4A7C15
_TO_UNIT = 1.0 / 9007199254740992.0  # 2^-53

KEY = "_key"
"""Default name of the key column that :func:`with_uniform_keys` adds."""

_H, _LO, _HI, _T, _U = "_mx_h", "_mx_lo", "_mx_hi", "_mx_t", "_mx_u"


def _mix64_int(x: int) -> int:
    """SplitMix64 finaliser on a Python int in [0, 2^64)."""
    x ^= x >> 30
    x = (x * _M1) & _MASK64
    x ^= x >> 27
    x = (x * _M2) & _MASK64
    return x ^ (x >> 31)


def seed_key(seed: int, salt: int) -> int:
    """The per-(seed, salt) word SplitMix64(seed·φ + salt) mod 2^64, as a signed 64-bit int
    (the bit pattern Spark's ``bigint`` holds)."""
    key = _mix64_int(((seed & _MASK64) * _GOLDEN + (salt & _MASK64)) & _MASK64)
    return key - (1 << 64) if key >= 1 << 63 else key


def _word(seed: int, salt: int, user: Column, item: Column) -> Column:
    """(user << 32 | movie & 0xFFFFFFFF) XOR key: the SplitMix64 input word of each row."""
    from pyspark.sql import functions as F

    packed = F.shiftleft(user.cast("long"), 32).bitwiseOR(
        item.cast("long").bitwiseAND(F.lit(_LOW32))
    )
    return packed.bitwiseXOR(F.lit(seed_key(seed, salt)))


def _xorshift(x: Column, s: int) -> Column:
    """x XOR (x >>> s), the logical shift of a 64-bit word."""
    from pyspark.sql import functions as F

    return x.bitwiseXOR(F.shiftrightunsigned(x, s))


def _limbs(m: int) -> tuple[int, int, int, int]:
    """The four 16-bit limbs of the constant m: (lo32 & 0xFFFF, lo32 >> 16, hi32 & 0xFFFF,
    hi32 >> 16)."""
    lo, hi = m & _LOW32, m >> 32
    return lo & _LOW16, lo >> 16, hi & _LOW16, hi >> 16


def _product_parts(x_lo: Column, x_hi: Column, m: int) -> tuple[Column, Column, Column]:
    """Parts of x·m mod 2^64 for x = x_hi·2^32 + x_lo (both in [0, 2^32)).

    With m = M_hi·2^32 + M_lo and M_lo = a1·2^16 + a0, M_hi = b1·2^16 + b0:
    t = x_lo·a1 and u = x_lo·a0 + (t mod 2^16)·2^16 give x_lo·M_lo = (t >> 16 + u >> 32)·2^32 +
    (u mod 2^32); the cross term (x_hi·M_lo + x_lo·M_hi) mod 2^32 needs only low halves.
    Every partial product is below 2^48 and every sum below 2^50, so nothing overflows.

    Returns (t, u, cross) with cross not yet reduced mod 2^32.
    """
    from pyspark.sql import functions as F

    a0, a1, b0, b1 = _limbs(m)
    mask16 = F.lit(_LOW16)
    t = x_lo * a1
    u = x_lo * a0 + F.shiftleft(t.bitwiseAND(mask16), 16)
    cross = (
        x_hi * a0
        + F.shiftleft((x_hi * a1).bitwiseAND(mask16), 16)
        + x_lo * b0
        + F.shiftleft((x_lo * b1).bitwiseAND(mask16), 16)
    )
    return t, u, cross


def _assemble(t: Column, u: Column, cross: Column) -> Column:
    """x·m mod 2^64 from :func:`_product_parts`: high word (t >> 16 + u >> 32 + cross) mod 2^32,
    low word u mod 2^32."""
    from pyspark.sql import functions as F

    high = (F.shiftright(t, 16) + F.shiftright(u, 32) + cross).bitwiseAND(F.lit(_LOW32))
    return F.shiftleft(high, 32).bitwiseOR(u.bitwiseAND(F.lit(_LOW32)))


def _mul(x: Column, m: int) -> Column:
    """x·m mod 2^64 as one expression (x appears nine times: bind it to a variable first)."""
    from pyspark.sql import functions as F

    x_lo = x.bitwiseAND(F.lit(_LOW32))
    x_hi = F.shiftrightunsigned(x, 32)
    return _assemble(*_product_parts(x_lo, x_hi, m))


def _to_unit(h: Column) -> Column:
    """(h >>> 11) · 2^-53: the top 53 bits of h as a double in [0, 1), exactly."""
    from pyspark.sql import functions as F

    return F.shiftrightunsigned(h, 11).cast("double") * _TO_UNIT


def _as_col(c: Column | str) -> Column:
    from pyspark.sql import functions as F

    return F.col(c) if isinstance(c, str) else c


def uniform_keys_col(
    seed: int, salt: int, user: Column | str = USER, item: Column | str = ITEM
) -> Column:
    """The :func:`movierec.split.uniform_keys` value of each row as one Column expression.

    Bit for bit equal to the numpy version (doubles in [0, 1)). Each SplitMix64 round is a
    ``transform`` over a one-element array, so the word is bound to a lambda variable once
    instead of being copied into every reference (written out as one nested expression the
    tree has ~650 copies of the input and takes seconds to optimise and compile for every
    new seed). Higher-order functions are interpreted rather than compiled: on millions of
    rows prefer :func:`with_uniform_keys` (same values; timings in the module docstring).
    """
    from pyspark.sql import functions as F

    words = F.array(_word(seed, salt, _as_col(user), _as_col(item)))
    words = F.transform(words, lambda v: _xorshift(v, 30))
    words = F.transform(words, lambda v: _xorshift(_mul(v, _M1), 27))
    words = F.transform(words, lambda v: _xorshift(_mul(v, _M2), 31))
    return _to_unit(words[0])


def with_uniform_keys(
    df: DataFrame,
    seed: int,
    salt: int,
    name: str = KEY,
    user: Column | str = USER,
    item: Column | str = ITEM,
) -> DataFrame:
    """``df`` plus a double column ``name`` = :func:`movierec.split.uniform_keys` of each row.

    Computed in stages (each intermediate word is its own projected column, so Spark
    evaluates it once per row instead of once per reference); the temporary columns are
    dropped. ``user``/``item`` default to the canonical id columns; pass a Column (e.g.
    ``lit(0)``) to hash something else.
    """
    from pyspark.sql import functions as F

    out = df.withColumn(_H, _xorshift(_word(seed, salt, _as_col(user), _as_col(item)), 30))
    for m, shift in ((_M1, 27), (_M2, 31)):
        h = F.col(_H)
        out = out.withColumn(_LO, h.bitwiseAND(F.lit(_LOW32))).withColumn(
            _HI, F.shiftrightunsigned(h, 32)
        )
        t, u, cross = _product_parts(F.col(_LO), F.col(_HI), m)
        out = out.withColumn(_T, t).withColumn(_U, u)
        out = out.withColumn(_H, _assemble(F.col(_T), F.col(_U), cross))
        out = out.withColumn(_H, _xorshift(F.col(_H), shift))
    # explode(array(k)) is a Generate: an optimiser barrier. Without it, a filter on the key
    # (every split filters on it) is pushed down through the stages with each alias replaced
    # by its expression, rebuilding the ~650-copy nested tree in the scan's filter.
    temporary = {_H, _LO, _HI, _T, _U, name}
    kept = [F.col(f"`{c}`") for c in out.columns if c not in temporary]
    return out.select(*kept, F.explode(F.array(_to_unit(F.col(_H)))).alias(name))
