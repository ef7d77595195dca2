"""Translate ids as a person or another file spells them into a model's dense ids.

When a dataset's ids were remapped at load time (strings, or integers beyond 32 bits), the
originals are kept by dense index; otherwise dense ids *are* the original integers. These
helpers work in both cases, comparing ids by their text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

INT32_MAX = 2**31 - 1


def positions(sorted_ids: np.ndarray, query: object) -> np.ndarray:
    """Row of each ``query`` id in ``sorted_ids`` (ascending; int64 result), −1 where the id
    is absent: how a model finds the factor or score row of a dense id."""
    q = np.asarray(query).astype(np.int64, copy=False)
    if len(sorted_ids) == 0:
        return np.full(q.shape, -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(sorted_ids, q), len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == q, pos, -1).astype(np.int64)


def lookup_ids(values: np.ndarray, originals: np.ndarray | None, known: np.ndarray) -> np.ndarray:
    """Dense id of each value (compared as text), or -1 when the model does not know it.

    ``originals`` holds the model's original ids by dense index (None when ids were not
    remapped); ``known`` lists the dense ids the model has factors for.
    """
    text = pd.Index(np.asarray(values).astype(str))
    known = np.asarray(known)
    if originals is not None:
        dense = pd.Index(np.asarray(originals).astype(str)).get_indexer(text).astype(np.int64)
    else:
        numbers = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy(dtype=np.float64)
        integral = np.isfinite(numbers) & (numbers == np.round(numbers))
        dense = np.where(integral, numbers, -1).astype(np.int64)
    dense[~np.isin(dense, known)] = -1
    return dense


def fresh_ids(codes: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Int32 ids for ``codes`` (0, 1, ...) that collide with none of ``known``.

    Used for users or movies a model has never seen, so they count as cold start instead of
    borrowing a real user's or movie's id.
    """
    codes = np.asarray(codes, dtype=np.int64)
    known = np.asarray(known, dtype=np.int64)
    need = int(codes.max()) + 1 if len(codes) else 0
    top = int(known.max()) if len(known) else -1
    if top + need <= INT32_MAX:
        return (top + 1 + codes).astype(np.int32)
    bottom = int(known.min()) if len(known) else 0
    return (bottom - 1 - codes).astype(np.int32)


def align_column(
    dense: np.ndarray, test_map: np.ndarray | None, model_map: np.ndarray | None, known: np.ndarray
) -> np.ndarray:
    """One id column of a separately loaded table in a model's dense ids (int32).

    ``dense`` are the table's own dense ids, ``test_map`` its original ids by dense id (None
    when not remapped), ``model_map`` the model's (None likewise), ``known`` the model's
    dense ids. Ids are matched through their original values compared as text; an unknown
    one gets a fresh id (:func:`fresh_ids`, the same for every row of the same original),
    so it counts as cold start.
    """
    originals = np.asarray(test_map)[dense] if test_map is not None else np.asarray(dense)
    mapped = lookup_ids(originals, model_map, known)
    missing = mapped < 0
    if missing.any():
        codes, _ = pd.factorize(pd.Series(originals[missing]).astype(str))
        mapped[missing] = fresh_ids(codes, known)
    return mapped.astype(np.int32)
