"""Seeded, engine-independent train/test splits and k-fold assignment.

Every split is decided per rating by a counter-based hash of (seed, salt, user, movie),
so it depends neither on row order nor on how an engine partitions the data: the same seed
gives the same split on every run, every engine and every cluster layout.

The package root re-exports the public names; the modules hold one kind of split each:

* ``_hash``: the per-rating key (:func:`uniform_keys`, SplitMix64) and the ``SALT_*`` constants;
* ``uniform``: :func:`random_split`, :func:`train_fraction_splits`;
* ``folds``: :func:`fold_ids`, :func:`kfold`, :func:`user_fold_ids`, :func:`kfold_by_user`;
* ``per_user``: :func:`per_user_split`;
* ``temporal``: :func:`time_cut_seconds`, :func:`time_split`, :func:`leave_last_k_out`;
* ``holdout``: :func:`holdout_split` (the final split by method name), :func:`cold_start_counts`;
* ``_common``: the checks and the fold loop they share.
"""

from __future__ import annotations

from movierec.split._hash import (
    SALT_COMPARE,
    SALT_FOLDS,
    SALT_HOLDOUT,
    SALT_PER_USER,
    SALT_RECOMMENDER,
    SALT_USER_FOLDS,
    uniform_keys,
)
from movierec.split.folds import fold_ids, kfold, kfold_by_user, user_fold_ids
from movierec.split.holdout import cold_start_counts, holdout_split
from movierec.split.per_user import per_user_split
from movierec.split.temporal import leave_last_k_out, time_cut_seconds, time_split
from movierec.split.uniform import random_split, train_fraction_splits

__all__ = [
    "SALT_COMPARE",
    "SALT_FOLDS",
    "SALT_HOLDOUT",
    "SALT_PER_USER",
    "SALT_RECOMMENDER",
    "SALT_USER_FOLDS",
    "cold_start_counts",
    "fold_ids",
    "holdout_split",
    "kfold",
    "kfold_by_user",
    "leave_last_k_out",
    "per_user_split",
    "random_split",
    "time_cut_seconds",
    "time_split",
    "train_fraction_splits",
    "uniform_keys",
    "user_fold_ids",
]
