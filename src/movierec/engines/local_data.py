"""The local engine's data handle: ratings as a pandas frame plus, built once, the dense id
index and the CSR (by user) and CSC (by movie) arrays every fit and top-N uses."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from movierec.engines import _local_kernels as K
from movierec.engines.base import (
    EngineData,
)
from movierec.errors import EngineError
from movierec.schema import ITEM, RATING, USER

if TYPE_CHECKING:
    pass

log = logging.getLogger("movierec.engines.local_als")

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


def _dense_index(ids: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique ids as int32, dense index of every entry as int32).

    Uses a lookup table when the id range is at most a few times the number of entries
    (O(n), the usual case), else ``np.unique``.

    Raises:
        EngineError: an id is not an integer in the 32-bit range (as Spark requires).
    """
    arr = np.asarray(ids)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
    if not np.issubdtype(arr.dtype, np.integer):
        as_int = arr.astype(np.int64)
        if not np.array_equal(as_int, arr):
            raise EngineError(f"{what} ids must be integers")
        arr = as_int
    lo, hi = int(arr.min()), int(arr.max())
    if lo < _INT32_MIN or hi > _INT32_MAX:
        raise EngineError(f"{what} ids must fit in 32 bits, got range [{lo}, {hi}]")
    span = hi - lo + 1
    if span <= 4 * arr.size + 1_000_000:
        offset = (arr.astype(np.int64) - lo) if lo != 0 else arr
        present = np.zeros(span, dtype=np.bool_)
        present[offset] = True
        unique = (np.flatnonzero(present) + lo).astype(np.int32)
        lookup = np.cumsum(present, dtype=np.int32) - 1
        return unique, lookup[offset].astype(np.int32, copy=False)
    unique, inverse = np.unique(arr, return_inverse=True)
    return unique.astype(np.int32), inverse.astype(np.int32)


_INDEX = (
    "csr_indptr",
    "csr_indices",
    "csr_values",
    "csr_perm",
    "csc_indptr",
    "csc_indices",
    "csc_values",
    "csc_from_csr",
)


class LocalData(EngineData):
    """A canonical ratings table plus its sparse index, built once (O(ratings)).

    Attributes (n = number of ratings; "row" = dense index into the sorted id arrays):
        user_ids, item_ids: sorted distinct ids (int32); user row u is ``user_ids[u]``.
        csr_indptr (int64, users + 1), csr_indices (int32 item rows), csr_values (float32):
            ratings by user, items ascending within a user.
        csc_indptr, csc_indices (int32 user rows), csc_values: ratings by item, users
            ascending within an item.
        csr_perm: ratings-table row of each CSR entry; csc_from_csr: CSR position of each
            CSC entry (both int32 below 2^31 ratings, else int64).

    Values are float32 because Spark's ALS reads ratings as float; the biases of
    ``biased-als`` are computed from the float64 ratings through ``csr_perm``, as Spark
    computes them from its double column.

    With ``index=False`` (tables the engine derives: splits, folds, predictions, lists) the
    index is built by :meth:`ensure_index` the first time a fit or an exclusion needs it,
    and kept until :meth:`release`.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    csr_indptr: np.ndarray
    csr_indices: np.ndarray
    csr_values: np.ndarray
    csr_perm: np.ndarray
    csc_indptr: np.ndarray
    csc_indices: np.ndarray
    csc_values: np.ndarray
    csc_from_csr: np.ndarray

    def __init__(self, ratings: pd.DataFrame, *, index: bool = True) -> None:
        self._ratings = ratings
        for name in ("user_ids", "item_ids", *_INDEX):
            setattr(self, name, None)
        if index:
            self.ensure_index()

    def ensure_index(self) -> LocalData:
        """Build the sparse index if it is not built yet; return ``self``.

        Raises:
            EngineError: ids are not 32-bit integers.
        """
        if self.csr_indptr is not None:
            return self
        ratings = self._ratings
        started = time.perf_counter()
        self.user_ids, uidx = _dense_index(ratings[USER].to_numpy(), "user")
        self.item_ids, iidx = _dense_index(ratings[ITEM].to_numpy(), "movie")
        n_users, n_items = len(self.user_ids), len(self.item_ids)
        # LSD radix sort: by item, then (stably) by user -> rows by user, items ascending.
        # Permutations are int32 below 2^31 ratings and written in place (no int64 copies,
        # no float64 gather): indexing never holds more than the finished index (24 bytes
        # per rating) beside the ratings frame.
        ptype = np.int32 if len(uidx) < 2**31 else np.int64
        perm = np.empty(len(uidx), dtype=ptype)
        self.csr_indptr = K.csr_order(uidx, iidx, n_users, n_items, perm)
        del uidx
        self.csr_indices = iidx[perm]
        del iidx
        rating = ratings[RATING].to_numpy()
        if rating.dtype != np.float32:
            rating = rating.astype(np.float64, copy=False)
        rating = np.ascontiguousarray(rating)
        self.csr_values = K.gather_f32(rating, perm)
        del rating
        self.csr_perm = perm
        self.csc_from_csr = np.empty(len(perm), dtype=ptype)
        self.csc_indptr, self.csc_indices, self.csc_values = K.transpose_csr(
            self.csr_indptr, self.csr_indices, self.csr_values, n_items, self.csc_from_csr
        )
        log.debug(
            "local data: %d ratings, %d users, %d movies indexed in %.3f s",
            len(ratings),
            n_users,
            n_items,
            time.perf_counter() - started,
        )
        return self

    @property
    def ratings(self) -> pd.DataFrame:
        return self._ratings

    def derive(self, frame: pd.DataFrame) -> LocalData:
        """A table of this engine on ``frame``, indexed when first fitted or excluded."""
        return LocalData(frame, index=False)

    @property
    def n_users(self) -> int:
        return len(self.ensure_index().user_ids)

    @property
    def n_items(self) -> int:
        return len(self.ensure_index().item_ids)

    @property
    def nnz(self) -> int:
        """Number of ratings."""
        return len(self._ratings)

    def csr_rows(self) -> np.ndarray:
        """User row of every CSR entry (int32; a fresh array of n entries)."""
        counts = np.diff(self.ensure_index().csr_indptr)
        return np.repeat(np.arange(self.n_users, dtype=np.int32), counts)

    def aggregates(self) -> tuple[pd.Series, pd.Series, pd.Series]:
        """(ratings per user, per movie, per rating value): int64 Series by id, ascending,
        read off the sparse index (a temporary one when this table is not indexed)."""
        data = self if self.csr_indptr is not None else LocalData(self._ratings)
        users = pd.Series(np.diff(data.csr_indptr).astype(np.int64), index=data.user_ids)
        items = pd.Series(np.diff(data.csc_indptr).astype(np.int64), index=data.item_ids)
        values = self._ratings[RATING].value_counts().sort_index()
        per_value = pd.Series(values.to_numpy(dtype=np.int64), index=values.index.to_numpy())
        return users, items, per_value

    def release(self) -> None:
        """Drop the index arrays (the handle must not be used afterwards)."""
        for name in _INDEX:
            setattr(self, name, None)
