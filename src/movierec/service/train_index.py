"""Each user's seen movies as a CSR over user rows, from a training-ratings table.

The reader of model folders without a ``serving/`` index (written before it existed, or by
a writer that skips it): ``train_ratings.parquet`` — one file or a folder of part files —
is grouped by user here. Tables stored sorted by user (MovieLens files are) need no sort:
the row offsets come from a binary search per user. Otherwise the ratings are grouped by a
stable 16-bit radix sort (~2 s for 25M ratings). Also the id → row helpers the reader
shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from movierec.errors import ModelError


@dataclass(frozen=True)
class SeenIndex:
    """Training ratings grouped by user row: ``seen_items[seen_indptr[u]:seen_indptr[u+1]]``
    are user row u's item rows, ``seen_ratings`` the ratings in the same order."""

    seen_indptr: np.ndarray
    seen_items: np.ndarray
    seen_ratings: np.ndarray
    item_counts: np.ndarray


def rows_of(sorted_ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Row of each value in ``sorted_ids`` (int32), −1 where absent.

    O(n): a subtraction when the ids are consecutive, a lookup table when their range is
    small; binary search otherwise.
    """
    vals = np.asarray(values)
    if not np.issubdtype(vals.dtype, np.integer):
        vals = vals.astype(np.int64)
    n = len(sorted_ids)
    if n == 0 or len(vals) == 0:
        return np.full(vals.shape, -1, dtype=np.int32)
    lo, hi = int(sorted_ids[0]), int(sorted_ids[-1])
    vmin, vmax = int(vals.min()), int(vals.max())
    inside = lo <= vmin and vmax <= hi
    span = hi - lo + 1
    if inside and span == n:
        if vals.dtype == np.int32:
            return np.subtract(vals, np.int32(lo), dtype=np.int32)
        return np.subtract(vals, lo, dtype=np.int64).astype(np.int32)
    if span <= 4 * (n + len(vals)) + 1_000_000:
        table = np.full(span, -1, dtype=np.int32)
        table[np.asarray(sorted_ids, dtype=np.int64) - lo] = np.arange(n, dtype=np.int32)
        if inside:
            # In chunks: the int64 index temporaries stay small (fresh memory is slow).
            out = np.empty(vals.shape, dtype=np.int32)
            step = 1 << 20
            for i in range(0, len(vals), step):
                np.take(
                    table,
                    np.subtract(vals[i : i + step], lo, dtype=np.int64),
                    out=out[i : i + step],
                )
            return out
        ok = (vals >= lo) & (vals <= hi)
        out = np.full(vals.shape, -1, dtype=np.int32)
        out[ok] = table[vals[ok].astype(np.int64) - lo]
        return out
    v64 = vals.astype(np.int64, copy=False)
    pos = np.minimum(np.searchsorted(sorted_ids, v64), n - 1)
    return np.where(sorted_ids[pos] == v64, pos, -1).astype(np.int32)


def column(table: Any, name: str, file: Path) -> np.ndarray:
    """A numeric column of a ``pyarrow.Table`` as a numpy array, zero-copy when possible.

    Goes through the Arrow buffer directly: ``to_numpy`` would import pandas (0.4 s).

    Raises:
        ModelError: no such column, missing values, or not numbers.
    """
    import pyarrow as pa

    if name not in table.column_names:
        raise ModelError(f"{file}: no {name} column")
    col = table.column(name)
    if col.null_count:
        raise ModelError(f"{file}: column {name} has {col.null_count} missing values")
    arr = col.chunk(0) if col.num_chunks == 1 else pa.concat_arrays(col.chunks)
    kinds = {
        pa.int8(): np.int8,
        pa.int16(): np.int16,
        pa.int32(): np.int32,
        pa.int64(): np.int64,
        pa.float32(): np.float32,
        pa.float64(): np.float64,
    }
    if arr.type not in kinds:
        if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
            raise ModelError(f"{file}: column {name} has type {arr.type}, expected numbers")
        arr = arr.cast(pa.float64() if pa.types.is_floating(arr.type) else pa.int64())
    dtype = np.dtype(kinds[arr.type])
    if len(arr) == 0:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(
        arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize
    )


def bincount(values: np.ndarray, n: int) -> np.ndarray:
    """``np.bincount`` in chunks of 1M (its int64 copy of the input stays small)."""
    counts = np.zeros(n, dtype=np.int64)
    step = 1 << 20
    for i in range(0, len(values), step):
        counts += np.bincount(values[i : i + step], minlength=n)
    return counts


def _group_order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """A stable permutation sorting non-negative ``keys`` < ``n_keys`` (LSD radix, 16 bits)."""
    if n_keys <= 1 << 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    high = (keys >> 16).astype(np.uint16)[order]
    return order[np.argsort(high, kind="stable")]


def seen_index(table: Any, user_ids: np.ndarray, item_ids: np.ndarray, file: Path) -> SeenIndex:
    """The CSR of the ``user_id``, ``movie_id``, ``rating`` columns of ``table`` over the
    rows of the id-sorted ``user_ids`` / ``item_ids`` (module docstring).

    Raises:
        ModelError: a missing column, or ratings of users or movies that have no factors
            (the folder mixes files of different models).
    """
    users = column(table, "user_id", file)
    items = column(table, "movie_id", file)
    ratings = column(table, "rating", file)
    n_users = len(user_ids)
    mismatch = ModelError(
        f"{file}: training ratings name users or movies that have no factors "
        "(the folder mixes files of different models)"
    )
    if len(users) < 2 or not (users[1:] < users[:-1]).any():
        ids = user_ids.astype(users.dtype) if len(users) else user_ids
        left = np.searchsorted(users, ids, side="left")
        right = np.searchsorted(users, ids, side="right")
        if int((right - left).sum()) != len(users):
            raise mismatch
        indptr = np.append(left, len(users)).astype(np.int64)
        irows = rows_of(item_ids, items)
        seen_ratings = np.asarray(ratings, dtype=np.float64)
    else:
        urows = rows_of(user_ids, users)
        if (urows < 0).any():
            raise mismatch
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(bincount(urows, n_users), out=indptr[1:])
        order = _group_order(urows, n_users)
        del urows
        irows = rows_of(item_ids, items[order])
        seen_ratings = np.asarray(ratings[order], dtype=np.float64)
    if len(irows) and int(irows.min()) < 0:
        raise mismatch
    return SeenIndex(indptr, irows, seen_ratings, bincount(irows, len(item_ids)))
