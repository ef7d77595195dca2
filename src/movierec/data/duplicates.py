"""The duplicates policy (rule F1 of :mod:`movierec.data.validate`): repeated (user, movie)
pairs are resolved by ``data.duplicates``; the rows dropped become ``duplicate`` rejects."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from movierec.errors import DataError

logger = logging.getLogger(__name__)


def apply_duplicate_policy(
    policy: str,
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    ts: np.ndarray | None,
    lines: np.ndarray,
    *,
    describe: Callable[[int, int], tuple[object, object]] = lambda u, i: (u, i),
    path: str | None = None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Resolve repeated (user, movie) pairs.

    Returns ``(keep, ratings, ts)``: ``keep`` is a boolean mask of rows to keep (None when
    there are no duplicates); ``ratings``/``ts`` are possibly updated copies (for "mean",
    the kept first occurrence carries the group's mean rating and latest timestamp).
    Policies: "latest" keeps the row with the largest timestamp (ties and files without
    timestamps: the later line), "first"/"last" keep by file order, "mean" averages.

    Raises:
        DataError: ``policy == "error"`` and a pair repeats (names the first repeated pair
            and its lines); or an unknown policy.
    """
    key = (users.astype(np.int64) << 32) | (items.astype(np.int64) & 0xFFFFFFFF)
    dup_any = pd.Series(key).duplicated(keep=False).to_numpy()
    if not dup_any.any():
        return None, ratings, ts
    # from here on only the rows of repeated pairs are looked at
    idx = np.flatnonzero(dup_any)
    sub_key = key[idx]
    sub = pd.Series(sub_key)
    if policy == "error":
        first = int(idx[np.flatnonzero(sub.duplicated(keep="first").to_numpy())[0]])
        same = idx[sub_key == key[first]]
        shown = ", ".join(str(x) for x in lines[same[:5]]) + (", ..." if len(same) > 5 else "")
        u, i = describe(int(users[first]), int(items[first]))
        raise DataError(
            f"duplicate rating for user {u}, movie {i} on lines {shown} "
            "(duplicates policy 'error'; use latest, first, last or mean to merge them)",
            path=path,
            line=int(lines[first]),
        )
    keep = ~dup_any
    if policy in ("first", "mean"):
        keep[idx[~sub.duplicated(keep="first").to_numpy()]] = True
    elif policy == "last" or (policy == "latest" and ts is None):
        if policy == "latest":
            logger.warning(
                "%s has no timestamps: duplicates policy 'latest' keeps the later line of "
                "each repeated (user, movie) pair instead",
                path or "the ratings file",
            )
        keep[idx[~sub.duplicated(keep="last").to_numpy()]] = True
    elif policy == "latest":
        assert ts is not None
        order = np.lexsort((idx, ts[idx], sub_key))
        sk = sub_key[order]
        last_in_group = np.r_[sk[1:] != sk[:-1], True]
        keep[idx[order][last_in_group]] = True
    else:
        raise DataError(
            f"unknown duplicates policy {policy!r}; use latest, first, last, mean or error"
        )
    if policy == "mean":
        frame = pd.DataFrame({"k": sub_key, "r": ratings[idx]})
        ratings = ratings.copy()
        ratings[idx] = frame.groupby("k", sort=False)["r"].transform("mean").to_numpy()
        if ts is not None:
            ts = ts.copy()
            frame["t"] = ts[idx]
            ts[idx] = frame.groupby("k", sort=False)["t"].transform("max").to_numpy()
    return keep, ratings, ts
