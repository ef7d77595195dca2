"""The per-rating random key every split is drawn from: SplitMix64 of (seed, salt, user, movie).

The salts keep the draws of different splits (hold-out, split comparison, folds, …)
independent of each other for the same seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from movierec.schema import ITEM, USER

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

# Distinct salts keep the hold-out split, the split comparison and the folds independent.
SALT_HOLDOUT = 1
SALT_COMPARE = 2
SALT_FOLDS = 3
SALT_PER_USER = 4
SALT_USER_FOLDS = 5
SALT_RECOMMENDER = 6


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic)."""
    x = x.copy()
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def uniform_keys(ratings: pd.DataFrame, seed: int, salt: int) -> np.ndarray:
    """A reproducible pseudo-random number in [0, 1) for every (user, movie) row.

    Computed as SplitMix64(SplitMix64(seed·φ + salt) XOR (user << 32 | movie)) / 2^64
    with 53-bit resolution, so it is a pure function of the row's ids, the seed and the salt.
    """
    users = ratings[USER].to_numpy().astype(np.int64).astype(np.uint64)
    items = ratings[ITEM].to_numpy().astype(np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        base = np.array([(seed & 0xFFFFFFFFFFFFFFFF)], dtype=np.uint64) * _GOLDEN + np.uint64(salt)
        key = _mix64(base)[0]
        x = ((users << np.uint64(32)) | (items & np.uint64(0xFFFFFFFF))) ^ key
        h = _mix64(x)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
