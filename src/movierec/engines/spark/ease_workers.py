"""The functions the Spark engine's EASE ships to the Python workers (``applyInPandas``).

Each is built inside a factory so that Spark (cloudpickle) pickles it by value: the workers
need numpy and pandas, not movierec. :func:`user_scores_fn` scores one user; the other two
score a block of users grouped by :meth:`SparkEaseModel._grouped
<movierec.engines.spark.ease.SparkEaseModel>` — rows of kind 0 (the block's users), 1 (their
interactions, movie rows ``_j``), 2 (seen movies to exclude), 3 (asked pairs), 4 (a blend
partner's user factor in ``_f``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from movierec.schema import ITEM, RANK, SCORE, USER

_J, _C, _KIND, _F, _ROW = "_j", "_c", "_kind", "_f", "_row"


def user_scores_fn() -> Any:
    """A function ``scores(payload, src, uf)``: one user's float64 score row — the sum of the
    rows ``src`` (ascending movie rows) of the broadcast B, in the local kernel's order, and
    with a blend, (1 − w)·z(that) + w·z(item factors · ``uf``) (the partner's user factor;
    None = zeros), z measured outside ``src``, as :mod:`movierec.engines.ease_blend`
    computes it.

    Built as a nested function so Spark pickles it by value (workers need numpy only).
    ``payload`` is a dict: ``item_ids``, ``blend`` (w), ``item_factors`` (float64, aligned to
    ``item_ids``; None without a blend) and ``b`` (dense B) or ``indptr``/``indices``/
    ``values`` (its sparse rows).
    """

    def z(v: np.ndarray, src: np.ndarray | None) -> np.ndarray:
        # mean and std over the movies outside the user's interactions ``src``
        measured = v
        if src is not None and 0 < len(src) < len(v):
            keep = np.ones(len(v), dtype=bool)
            keep[src] = False
            measured = v[keep]
        sd = measured.std()
        return (v - measured.mean()) / (sd if sd > 0 else 1.0)

    def scores(payload: dict[str, Any], src: np.ndarray | None, uf: Any) -> np.ndarray:
        s = np.zeros(len(payload["item_ids"]), dtype=np.float64)
        if src is not None and len(src):
            if "b" in payload:
                b = payload["b"]
                for i in src:
                    s += b[i]
            else:
                indptr, indices, values = payload["indptr"], payload["indices"], payload["values"]
                lens = indptr[src + 1] - indptr[src]
                starts = np.repeat(indptr[src] - np.cumsum(lens) + lens, lens)
                pos = starts + np.arange(int(lens.sum()))
                s += np.bincount(
                    indices[pos], weights=values[pos].astype(np.float64), minlength=len(s)
                )
        w = payload["blend"]
        if w <= 0:
            return s
        itf = payload["item_factors"]
        a = np.zeros(len(s)) if uf is None else itf @ np.asarray(uf, dtype=np.float64)
        return (1.0 - w) * z(s, src) + w * z(a, src)

    return scores


def top_block_fn(bc: Any, n: int, user_scores: Any) -> Any:
    """``top_block(pdf)``: the top-``n`` (USER, ITEM, SCORE, RANK) rows of every user of a
    block, seen movies excluded, ties to the lower movie id; ``bc`` the broadcast payload of
    :func:`user_scores_fn`'s ``scores``."""
    user_col, item_col, score_col, rank_col = USER, ITEM, SCORE, RANK

    def top_block(pdf: pd.DataFrame) -> pd.DataFrame:
        payload = bc.value
        item_ids = payload["item_ids"]
        kind = pdf[_KIND].to_numpy()
        users_ = np.sort(pdf.loc[kind == 0, USER].to_numpy())
        inter = (
            pdf.loc[kind == 1, [USER, _J]]
            .astype({_J: np.int64})
            .sort_values([USER, _J], kind="stable")
        )
        seen_ = pdf.loc[kind == 2, [USER, _J]].astype({_J: np.int64})
        inter_by = dict(tuple(inter.groupby(USER)[_J]))
        uf_by = dict(zip(pdf.loc[kind == 4, USER], pdf.loc[kind == 4, _F]))
        seen_by = dict(tuple(seen_.groupby(USER)[_J]))
        out_u, out_i, out_s, out_r = [], [], [], []
        for u in users_:
            rows = inter_by.get(u)
            s = user_scores(payload, None if rows is None else rows.to_numpy(), uf_by.get(u))
            seen_rows = seen_by.get(u)
            if seen_rows is not None:
                s[seen_rows.to_numpy()] = -np.inf
            valid = int(np.isfinite(s).sum())
            k = min(n, valid)
            if k == 0:
                continue
            # stable sort on -score: ties keep the lower movie row (= lower movie id)
            order = np.argsort(-s, kind="stable")[:k]
            out_u.append(np.full(k, u, dtype=np.int32))
            out_i.append(item_ids[order])
            out_s.append(s[order])
            out_r.append(np.arange(1, k + 1, dtype=np.int32))
        if not out_u:
            return pd.DataFrame(
                {
                    user_col: np.zeros(0, np.int32),
                    item_col: np.zeros(0, np.int32),
                    score_col: np.zeros(0, np.float64),
                    rank_col: np.zeros(0, np.int32),
                }
            )
        return pd.DataFrame(
            {
                user_col: np.concatenate(out_u),
                item_col: np.concatenate(out_i).astype(np.int32),
                score_col: np.concatenate(out_s),
                rank_col: np.concatenate(out_r),
            }
        )

    return top_block


def score_cells_fn(bc: Any, user_scores: Any) -> Any:
    """``score_cells(block)``: (USER, ``_j``, ``_c``) — the score of every asked (user, movie
    row) pair of a block (kind 3 rows)."""
    user_col = USER

    def score_cells(block: pd.DataFrame) -> pd.DataFrame:
        payload = bc.value
        kind = block[_KIND].to_numpy()
        inter = (
            block.loc[kind == 1, [user_col, _J]]
            .astype({_J: np.int64})
            .sort_values([user_col, _J], kind="stable")
        )
        inter_by = dict(tuple(inter.groupby(user_col)[_J]))
        uf_by = dict(zip(block.loc[kind == 4, user_col], block.loc[kind == 4, _F]))
        asked_ = block.loc[kind == 3, [user_col, _J]].astype({_J: np.int64})
        us, js, vals = [], [], []
        for u, grp in asked_.groupby(user_col):
            rows = inter_by.get(u)
            s = user_scores(payload, None if rows is None else rows.to_numpy(), uf_by.get(u))
            cols = grp[_J].to_numpy()
            us.append(np.full(len(cols), u, dtype=np.int32))
            js.append(cols.astype(np.int32))
            vals.append(s[cols])
        if not us:
            return pd.DataFrame(
                {user_col: np.zeros(0, np.int32), _J: np.zeros(0, np.int32), _C: np.zeros(0)}
            )
        return pd.DataFrame(
            {user_col: np.concatenate(us), _J: np.concatenate(js), _C: np.concatenate(vals)}
        )

    return score_cells


def score_pairs_fn(bc: Any, user_scores: Any) -> Any:
    """``score_pairs(block)``: (``_row``, SCORE) — the score of every asked pair of a block
    (kind 3 rows carrying the caller's row number in ``_row``)."""

    def score_pairs(block: pd.DataFrame) -> pd.DataFrame:
        payload = bc.value
        kind = block[_KIND].to_numpy()
        inter = (
            block.loc[kind == 1, [USER, _J]]
            .astype({_J: np.int64})
            .sort_values([USER, _J], kind="stable")
        )
        inter_by = dict(tuple(inter.groupby(USER)[_J]))
        uf_by = dict(zip(block.loc[kind == 4, USER], block.loc[kind == 4, _F]))
        asked = block.loc[kind == 3, [USER, _J, _ROW]].astype({_J: np.int64, _ROW: np.int64})
        rows_out, vals_out = [], []
        for u, grp in asked.groupby(USER):
            rows = inter_by.get(u)
            s = user_scores(payload, None if rows is None else rows.to_numpy(), uf_by.get(u))
            rows_out.append(grp[_ROW].to_numpy())
            vals_out.append(s[grp[_J].to_numpy()])
        if not rows_out:
            return pd.DataFrame({_ROW: np.zeros(0, np.int64), SCORE: np.zeros(0)})
        return pd.DataFrame({_ROW: np.concatenate(rows_out), SCORE: np.concatenate(vals_out)})

    return score_pairs
